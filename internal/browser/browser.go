// Package browser gives tests a headless Chromium driven over the DevTools
// protocol (chromedp).
//
// New starts a fresh browser (its own temporary profile) for one test and
// stops it when the test ends. When Chromium is not installed the test is
// skipped with a loud reason, unless the comma-separated list in
// KASSA_TEST_REQUIRE contains "chromium": then it fails, so that CI
// cannot pass by skipping.
package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Environment variables read by this package.
const (
	// EnvRequire lists test dependencies whose absence fails tests;
	// "chromium" is this package's.
	EnvRequire = "KASSA_TEST_REQUIRE"
	// EnvChromium overrides the browser's path.
	EnvChromium = "KASSA_TEST_CHROMIUM"
	// EnvArtifacts names a directory for screenshots; default the system
	// temporary directory.
	EnvArtifacts = "KASSA_TEST_ARTIFACTS"
)

// Path is where Debian's chromium package installs the browser.
const Path = "/usr/bin/chromium"

// Timeout bounds everything one test does with its browser.
const Timeout = 2 * time.Minute

// Browser is one test's Chromium.
type Browser struct {
	// Ctx runs chromedp actions in the browser's first tab.
	Ctx    context.Context
	t      testing.TB
	output *syncBuffer
}

// New starts headless Chromium for t, or skips t (fails it when
// KASSA_TEST_REQUIRE names chromium) when there is none. The browser stops
// when t ends; if t failed, its page is saved as a screenshot first.
func New(t testing.TB) *Browser {
	t.Helper()
	path := os.Getenv(EnvChromium)
	if path == "" {
		path = Path
	}
	if _, err := exec.LookPath(path); err != nil {
		msg := fmt.Sprintf("Chromium not found at %s (apt-get install -y chromium, or set %s): %v", path, EnvChromium, err)
		if required() {
			t.Fatalf("%s; %s=%q requires it", msg, EnvRequire, os.Getenv(EnvRequire))
		}
		t.Skip("SKIPPING browser test: " + msg)
	}
	b := &Browser{t: t, output: &syncBuffer{}}
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(900, 1000),
		chromedp.CombinedOutput(b.output),
	)
	timeout, cancelTimeout := context.WithTimeout(context.Background(), Timeout)
	alloc, cancelAlloc := chromedp.NewExecAllocator(timeout, opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start Chromium: %v\n%s", err, b.output)
	}
	b.Ctx = ctx
	// Registered after the browser's own cleanup, so it runs before it.
	t.Cleanup(func() {
		if t.Failed() {
			b.Screenshot("failure")
			t.Logf("Chromium output:\n%s", b.output)
		}
	})
	return b
}

func required() bool { return requires("chromium") }

// requires reports whether KASSA_TEST_REQUIRE names what.
func requires(what string) bool {
	for _, s := range strings.Split(os.Getenv(EnvRequire), ",") {
		if strings.TrimSpace(s) == what {
			return true
		}
	}
	return false
}

// Run runs chromedp actions in the browser and fails the test on error.
func (b *Browser) Run(actions ...chromedp.Action) {
	b.t.Helper()
	if err := chromedp.Run(b.Ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// Loaded waits until the current document has finished loading (its
// scripts have run) and has an element matching the CSS selector sel.
// After a click that navigates, waiting for an element alone can return
// while the new page is still being parsed.
func Loaded(sel string) chromedp.Action {
	js, _ := json.Marshal(sel)
	expr := `document.readyState === "complete" && document.querySelector(` + string(js) + `) !== null`
	return chromedp.ActionFunc(func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, loadTimeout)
		defer cancel()
		for {
			// Evaluated anew each time: a navigation under way replaces
			// the page's JavaScript context, which fails one evaluation.
			var ok bool
			err := chromedp.Evaluate(expr, &ok).Do(ctx)
			if err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s on a loaded page: %w (last: %v)", sel, ctx.Err(), err)
			case <-time.After(loadPollInterval):
			}
		}
	})
}

// Limits of Loaded.
const (
	loadTimeout      = 30 * time.Second
	loadPollInterval = 20 * time.Millisecond
)

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Screenshot saves the whole page as a PNG that outlives the test (in
// KASSA_TEST_ARTIFACTS, or the system's temporary directory), logs its
// path and returns it ("" if it could not be taken).
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	var png []byte
	ctx, cancel := context.WithTimeout(b.Ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		b.t.Logf("screenshot %q: %v", name, err)
		return ""
	}
	dir := os.Getenv(EnvArtifacts)
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Logf("screenshot %q: %v", name, err)
		return ""
	}
	f, err := os.CreateTemp(dir, unsafeName.ReplaceAllString(b.t.Name()+"-"+name, "_")+"-*.png")
	if err != nil {
		b.t.Logf("screenshot %q: %v", name, err)
		return ""
	}
	defer f.Close()
	if _, err := f.Write(png); err != nil {
		b.t.Logf("screenshot %q: %v", name, err)
		return ""
	}
	path, _ := filepath.Abs(f.Name())
	b.t.Logf("screenshot %q saved to %s", name, path)
	return path
}

// syncBuffer collects the browser's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 64<<10 {
		return len(p), nil // enough to diagnose; drop the rest
	}
	for _, line := range bytes.SplitAfter(p, []byte("\n")) {
		// Chromium's complaints about the missing D-Bus of a container
		// say nothing about the test.
		if !bytes.Contains(line, []byte("dbus/")) {
			s.b.Write(line)
		}
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
