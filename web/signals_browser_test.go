package web_test

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/kassa/kassa/internal/browser"
)

// browserProps are what pay.js reads of the browser, read here directly.
type browserProps struct {
	UserAgent   string   `json:"userAgent"`
	Languages   []string `json:"languages"`
	Language    string   `json:"language"`
	Platform    string   `json:"platform"`
	Cores       *float64 `json:"cores"`
	Memory      *float64 `json:"memory"`
	Width       float64  `json:"width"`
	Height      float64  `json:"height"`
	ColorDepth  float64  `json:"colorDepth"`
	Timezone    string   `json:"timezone"`
	TouchPoints float64  `json:"touchPoints"`
	Webdriver   bool     `json:"webdriver"`
}

const browserPropsJS = `({userAgent: navigator.userAgent, languages: navigator.languages, language: navigator.language,
  platform: navigator.platform, cores: navigator.hardwareConcurrency ?? null, memory: navigator.deviceMemory ?? null,
  width: screen.width, height: screen.height, colorDepth: screen.colorDepth,
  timezone: Intl.DateTimeFormat().resolvedOptions().timeZone, touchPoints: navigator.maxTouchPoints,
  webdriver: navigator.webdriver === true})`

// fingerprint is pay.js's fingerprint as its header documents it: FNV-1a
// 64 of the properties joined by "|", computed here with Go's hash/fnv.
func (b browserProps) fingerprint() string {
	num := func(x *float64) string {
		if x == nil {
			return ""
		}
		return strconv.FormatFloat(*x, 'f', -1, 64)
	}
	f := func(x float64) string { return num(&x) }
	h := fnv.New64a()
	h.Write([]byte(strings.Join([]string{b.UserAgent, strings.Join(b.Languages, ","), b.Platform, num(b.Cores), num(b.Memory),
		f(b.Width) + "x" + f(b.Height), f(b.ColorDepth), b.Timezone, f(b.TouchPoints)}, "|")))
	return fmt.Sprintf("%016x", h.Sum64())
}

// TestBrowserClientSignals pays with a mouse and a keyboard in Chromium
// and reads what pay.js measured back from the stored risk evaluation.
func TestBrowserClientSignals(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	v := f.issue(t, 1, 1000, "EUR")[0]
	p := f.createPayment(t, map[string]any{"amount": 800, "currency": "EUR"})
	const moves = 12
	var props browserProps
	b.Run(
		// A time zone other than the machine's shows it is the browser's.
		emulation.SetTimezoneOverride("America/Sao_Paulo"),
		// Letters beyond ASCII and beyond the BMP take pay.js's UTF-8 path.
		emulation.SetUserAgentOverride("Mozilla/5.0 (X11; Linux x86_64) Kassa-Test/1.0 (Ünïcödé 😀)"),
		chromedp.Navigate(redirectURL(t, p)),
		browser.Loaded("#pin-1"),
		chromedp.Evaluate(browserPropsJS, &props),
	)
	for i := range moves {
		b.Run(chromedp.MouseEvent(input.MouseMoved, float64(100+20*i), float64(150+9*i)))
	}
	b.Run(
		chromedp.Click("#pin-1", chromedp.ByID),
		chromedp.KeyEvent(v.PIN),
	)
	b.Snap("signals-typed")
	b.Run(
		chromedp.Click("#submit", chromedp.ByID),
		// Paid, or declined: what the decision is does not matter here.
		browser.Loaded(".status"),
	)
	b.Snap("signals-submitted")
	got, ev := f.evaluation(t, p["id"].(string))
	sig := ev.Event.Signals
	t.Logf("headless Chromium: navigator.webdriver %v; signals %+v; decision %s (score %d), payment %s",
		props.Webdriver, sig, ev.Decision, ev.Score, got.Status)
	if !sig.Present {
		t.Fatal("no signals stored")
	}
	if sig.PointerMoves <= 0 || sig.PointerMoves > moves+4 {
		t.Errorf("pointer_moves %d after %d moves", sig.PointerMoves, moves)
	}
	if sig.KeyEvents < len(v.PIN) {
		t.Errorf("key_events %d after typing %d digits", sig.KeyEvents, len(v.PIN))
	}
	// Timing regularity, measured once there are 6 events: chromedp's
	// keys and moves are a machine's, but how regular they come is the
	// browser's business; the script must measure them, within range.
	if sig.KeyIntervalCV <= 0 || sig.KeyIntervalCV > 100 || sig.PointerIntervalCV <= 0 || sig.PointerIntervalCV > 100 {
		t.Errorf("key_interval_cv %v, pointer_interval_cv %v after %d keys and %d moves: not measured",
			sig.KeyIntervalCV, sig.PointerIntervalCV, len(v.PIN), moves)
	}
	if sig.KeyIntervalMS < 0 || sig.KeyIntervalMS > sig.TimeToSubmitMS {
		t.Errorf("key_interval_ms %d, time_to_submit_ms %d", sig.KeyIntervalMS, sig.TimeToSubmitMS)
	}
	if sig.TimeOnPageMS <= 0 || sig.TimeToSubmitMS <= 0 || sig.TimeToSubmitMS > sig.TimeOnPageMS {
		t.Errorf("time_on_page_ms %d, time_to_submit_ms %d", sig.TimeOnPageMS, sig.TimeToSubmitMS)
	}
	if sig.PasteEvents != 0 || sig.FocusChanges < 1 {
		t.Errorf("paste_events %d, focus_changes %d; want 0 and at least the click into the field", sig.PasteEvents, sig.FocusChanges)
	}
	if want := props.fingerprint(); sig.Fingerprint != want {
		t.Errorf("fingerprint %q, want %q (FNV-1a 64 of the documented properties)", sig.Fingerprint, want)
	}
	if sig.Timezone != "America/Sao_Paulo" || sig.Timezone != props.Timezone {
		t.Errorf("timezone %q, the browser's %q", sig.Timezone, props.Timezone)
	}
	if want := strconv.Itoa(int(props.Width)) + "x" + strconv.Itoa(int(props.Height)); sig.Screen != want || props.Width <= 0 {
		t.Errorf("screen %q, want %q", sig.Screen, want)
	}
	if sig.Language != props.Language || sig.Platform != props.Platform || sig.Language == "" {
		t.Errorf("language %q, platform %q; the browser's %q, %q", sig.Language, sig.Platform, props.Language, props.Platform)
	}
	if sig.Webdriver != props.Webdriver || sig.Touch != (props.TouchPoints > 0) {
		t.Errorf("webdriver %v, touch %v; the browser's navigator.webdriver %v, maxTouchPoints %v",
			sig.Webdriver, sig.Touch, props.Webdriver, props.TouchPoints)
	}
	if ev.Event.UserAgent != props.UserAgent || !strings.HasPrefix(ev.Event.DeviceID, "dev_") {
		t.Errorf("user agent %q (the browser's %q), device %q", ev.Event.UserAgent, props.UserAgent, ev.Event.DeviceID)
	}
}
