package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// envRequire lists what must not be skipped (comma-separated); with
// "systemd" in it, a missing systemd-analyze fails the test.
const envRequire = "KASSA_TEST_REQUIRE"

// unitBinary is the path ExecStart runs.
const unitBinary = "/usr/local/bin/kassa"

// needSystemdAnalyze returns systemd-analyze's path, or skips t loudly
// (fails it when KASSA_TEST_REQUIRE names systemd).
func needSystemdAnalyze(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("systemd-analyze")
	if err == nil {
		return path
	}
	if slices.Contains(strings.Split(os.Getenv(envRequire), ","), "systemd") {
		t.Fatalf("systemd-analyze is required (%s names systemd) but not found: %v; apt-get install systemd", envRequire, err)
	}
	t.Skipf("SKIPPED: systemd-analyze not found (%v); apt-get install systemd, or set %s=systemd to fail instead", err, envRequire)
	return ""
}

// buildKassa builds cmd/kassa into a temporary directory.
func buildKassa(t *testing.T) string {
	t.Helper()
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			t.Fatalf("no go command to build kassa with: %v", err)
		}
	}
	bin := filepath.Join(t.TempDir(), "kassa")
	out, err := exec.Command(gobin, "build", "-o", bin, "../../cmd/kassa").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/kassa: %v\n%s", err, out)
	}
	return bin
}

// serveFlags returns the flags `kassa serve -h` lists.
func serveFlags(t *testing.T, bin string) map[string]bool {
	t.Helper()
	out, _ := exec.Command(bin, "serve", "-h").CombinedOutput() // -h exits non-zero
	if !strings.Contains(string(out), "Usage: kassa serve") {
		t.Fatalf("kassa serve -h printed no usage:\n%s", out)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if len(flags) < 10 {
		t.Fatalf("kassa serve -h lists only %d flags:\n%s", len(flags), out)
	}
	return flags
}

// directives reads a unit file into its directives (continuation lines
// joined, comments dropped), in order, as "Key=value".
func directives(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, ";") || strings.HasPrefix(trimmed, "[")) {
			continue
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// execStart returns the ExecStart command line's words.
func execStart(t *testing.T, dirs []string) []string {
	t.Helper()
	for _, d := range dirs {
		if v, ok := strings.CutPrefix(d, "ExecStart="); ok {
			return strings.Fields(v)
		}
	}
	t.Fatal("kassa.service has no ExecStart")
	return nil
}

// TestUnitFlagsExist: every --flag in ExecStart is one `kassa serve`
// defines, so the example cannot rot when flags change. Runs without
// systemd.
func TestUnitFlagsExist(t *testing.T) {
	words := execStart(t, directives(t, "kassa.service"))
	if len(words) < 2 || words[0] != unitBinary || words[1] != "serve" {
		t.Fatalf("ExecStart runs %q, want %s serve ...", words, unitBinary)
	}
	flags := serveFlags(t, buildKassa(t))
	seen := 0
	for _, w := range words[2:] {
		name, ok := strings.CutPrefix(w, "--")
		if !ok {
			if strings.HasPrefix(w, "-") {
				t.Errorf("ExecStart word %q: write flags as --name", w)
			}
			continue
		}
		name, _, _ = strings.Cut(name, "=")
		seen++
		if !flags[name] {
			t.Errorf("ExecStart passes --%s, which kassa serve does not define", name)
		}
	}
	if seen == 0 {
		t.Error("ExecStart passes no flags")
	}
}

// TestUnitHardening: the directives the unit promises stay in it.
func TestUnitHardening(t *testing.T) {
	dirs := directives(t, "kassa.service")
	for _, want := range []string{
		"User=kassa", "Group=kassa", "StateDirectory=kassa", "StateDirectoryMode=0700", "UMask=0077",
		"NoNewPrivileges=yes", "CapabilityBoundingSet=", "ProtectSystem=strict", "ProtectHome=yes",
		"PrivateTmp=yes", "PrivateDevices=yes", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
		"SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes", "LockPersonality=yes",
		"Restart=on-failure",
	} {
		if !slices.Contains(dirs, want) {
			t.Errorf("kassa.service lacks %s", want)
		}
	}
	if !slices.Contains(execStart(t, dirs), "/var/lib/kassa") {
		t.Error("ExecStart does not pass the state directory /var/lib/kassa as --data")
	}
}

// TestUnitVerify runs systemd-analyze verify on the unit, with ExecStart
// pointing at a freshly built kassa (verify checks that the binary
// exists). Any output, warnings included, fails the test.
func TestUnitVerify(t *testing.T) {
	analyze := needSystemdAnalyze(t)
	b, err := os.ReadFile("kassa.service")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildKassa(t)
	unit := filepath.Join(t.TempDir(), "kassa.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), unitBinary+" ", bin+" ")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify kassa.service: %v\n%s", err, out)
	}
}
