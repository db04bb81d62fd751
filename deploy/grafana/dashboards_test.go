package grafana

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the dashboards' JSON files from dashboards.go")

// TestDashboardFiles: the JSON files are what Dashboards writes (run
// with -update after changing dashboards.go), each is a dashboard Grafana
// reads, and no stray dashboard file lies beside them.
func TestDashboardFiles(t *testing.T) {
	want := map[string]bool{}
	uids := map[string]bool{}
	for _, d := range Dashboards() {
		want[d.File] = true
		if uids[d.UID] {
			t.Errorf("uid %s twice", d.UID)
		}
		uids[d.UID] = true
		b, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(d.File, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(d.File)
		if err != nil {
			t.Fatalf("%v (go test ./deploy/grafana -update writes it)", err)
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s differs from what dashboards.go writes; run go test ./deploy/grafana -update", d.File)
		}
		var model struct {
			UID    string
			Panels []struct {
				ID      int
				Title   string
				GridPos struct{ X, Y, W, H int }
				Targets []struct{ RefID, Expr string }
			}
		}
		if err := json.Unmarshal(got, &model); err != nil {
			t.Fatalf("%s: %v", d.File, err)
		}
		if model.UID != d.UID || len(model.Panels) == 0 {
			t.Errorf("%s: uid %q, %d panels", d.File, model.UID, len(model.Panels))
		}
		for _, p := range model.Panels {
			if p.GridPos.X+p.GridPos.W > 24 || p.GridPos.W == 0 || len(p.Targets) == 0 {
				t.Errorf("%s panel %q: grid %+v, %d queries", d.File, p.Title, p.GridPos, len(p.Targets))
			}
		}
	}
	files, _ := filepath.Glob("*.json")
	for _, f := range files {
		if !want[f] {
			t.Errorf("%s is no dashboard of dashboards.go", f)
		}
	}
	if len(want) != 6 {
		t.Errorf("%d dashboards, want overview, payments, ledger, risk, webhooks and infrastructure", len(want))
	}
}

// TestDashboardsNameExportedMetrics: a panel over a metric Kassa does not
// export stays empty. Every kassa_ metric a query names must be registered
// somewhere in the code (a histogram's _bucket, _count and _sum series by
// the histogram's name).
func TestDashboardsNameExportedMetrics(t *testing.T) {
	var code strings.Builder
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
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
	metric := regexp.MustCompile(`\bkassa_[a-z0-9_]+`)
	for _, d := range Dashboards() {
		for _, p := range d.Panels {
			for _, q := range p.Queries {
				for _, name := range metric.FindAllString(q.Expr, -1) {
					base := name
					for _, suffix := range []string{"_bucket", "_count", "_sum"} {
						if b, ok := strings.CutSuffix(name, suffix); ok && strings.Contains(code.String(), `"`+b+`"`) {
							base = b
						}
					}
					if !strings.Contains(code.String(), `"`+base+`"`) {
						t.Errorf("%s %q uses %s, which no Go file registers", d.File, p.Title, name)
					}
				}
			}
		}
	}
}
