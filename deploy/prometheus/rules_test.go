package prometheus

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// envRequire lists what must not be skipped (comma-separated); with
// "prometheus" in it, a missing promtool fails the test.
const envRequire = "KASSA_TEST_REQUIRE"

// needPromtool returns promtool's path, or skips t loudly (fails it when
// KASSA_TEST_REQUIRE names prometheus).
func needPromtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	if slices.Contains(strings.Split(os.Getenv(envRequire), ","), "prometheus") {
		t.Fatalf("promtool is required (%s names prometheus) but not found: %v; apt-get install prometheus", envRequire, err)
	}
	t.Skipf("SKIPPED: promtool not found (%v); apt-get install prometheus, or set %s=prometheus to fail instead", err, envRequire)
	return ""
}

// TestAlertRules checks alerts.yml and runs its unit tests in
// rules_test.yml with promtool.
func TestAlertRules(t *testing.T) {
	promtool := needPromtool(t)
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "rules_test.yml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestAlertRulesNameExportedMetrics: a rule over a metric Kassa does not
// export never fires. Every kassa_ metric the rules name must be
// registered somewhere in the code (a _total counter by its full name; a
// histogram's _bucket, _count and _sum series by the histogram's name).
func TestAlertRulesNameExportedMetrics(t *testing.T) {
	rules, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var code strings.Builder
	root := filepath.Join("..", "..")
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "deploy" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			code.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`\bkassa_[a-z0-9_]+`).FindAllString(string(rules), -1)
	if len(names) == 0 {
		t.Fatal("alerts.yml names no kassa_ metric")
	}
	for _, name := range names {
		if !strings.Contains(code.String(), `"`+name+`"`) && !registersHistogram(code.String(), name) {
			t.Errorf("alerts.yml uses %s, which no Go file registers", name)
		}
	}
}

// registersHistogram reports whether code registers the histogram whose
// series name is (name_bucket, name_count or name_sum).
func registersHistogram(code, name string) bool {
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			return regexp.MustCompile(`NewHistogram(Vec)?\(prometheus\.HistogramOpts\{\s*Name:\s*"` + regexp.QuoteMeta(base) + `"`).MatchString(code)
		}
	}
	return false
}
