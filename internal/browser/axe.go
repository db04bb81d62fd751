package browser

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// EnvAxe names axe-core's axe.min.js when it is not where .ci/run's npm ci
// puts it (internal/browser/axe/node_modules/axe-core/axe.min.js).
const EnvAxe = "KASSA_AXE"

// axeSource is axe.min.js, read once; axeErr says why it could not be.
var axeSource = sync.OnceValues(func() (string, error) {
	path := os.Getenv(EnvAxe)
	if path == "" {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			return "", fmt.Errorf("no source path to find axe-core from")
		}
		path = filepath.Join(filepath.Dir(file), "axe", "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("axe-core not found (cd internal/browser/axe && npm ci, or set %s): %w", EnvAxe, err)
	}
	return string(b), nil
})

// AxeViolation is one rule axe-core found broken on a page, with the
// elements that break it.
type AxeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"` // each element's CSS selector and HTML
}

// axeRun runs every axe-core rule on the document and reports the
// violations of impact serious or critical as JSON.
const axeRun = `axe.run(document, {resultTypes: ["violations"]}).then(function (r) {
  return JSON.stringify(r.violations.filter(function (v) {
    return v.impact === "serious" || v.impact === "critical";
  }).map(function (v) {
    return {id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(function (n) {
      return n.target.join(" ") + " " + n.html.slice(0, 200);
    })};
  }));
})`

// Axe injects axe-core (the npm package) into the current page, runs it,
// and fails the test for every serious or critical violation, naming the
// page as what; a screenshot is kept then. Without axe-core the check is
// skipped loudly (logged), or fails when KASSA_TEST_REQUIRE names axe, as
// CI's does.
func (b *Browser) Axe(what string) []AxeViolation {
	b.t.Helper()
	src, err := axeSource()
	if err != nil {
		if requires("axe") {
			b.t.Fatalf("%v; %s=%q requires it", err, EnvRequire, os.Getenv(EnvRequire))
		}
		b.t.Logf("SKIPPING accessibility check of %s: %v", what, err)
		return nil
	}
	// Runtime.evaluate runs outside the page's Content-Security-Policy,
	// which allows no script but the page's own.
	var out string
	b.Run(
		chromedp.Evaluate(src, nil),
		chromedp.Evaluate(axeRun, &out, func(p *cdpruntime.EvaluateParams) *cdpruntime.EvaluateParams {
			return p.WithAwaitPromise(true)
		}),
	)
	var vs []AxeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		b.t.Fatalf("axe-core's result on %s: %v", what, err)
	}
	for _, v := range vs {
		b.t.Errorf("%s: accessibility: %s (%s): %s\n  %s", what, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n  "))
	}
	if len(vs) > 0 {
		b.Screenshot("axe-" + what)
	}
	return vs
}

// AxeAvailable reports whether axe-core is there to run.
func AxeAvailable() bool {
	_, err := axeSource()
	return err == nil
}
