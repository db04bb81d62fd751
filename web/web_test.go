package web_test

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/web"
)

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		amount money.Amount
		cur    money.Currency
		want   string
	}{
		{123456, "EUR", "1,234.56"},
		{5, "EUR", "0.05"},
		{0, "EUR", "0.00"},
		{100000000, "USD", "1,000,000.00"},
		{500, "JPY", "500"},
		{1234567, "KWD", "1,234.567"},
		{7, "KWD", "0.007"},
		{-150, "EUR", "-1.50"},
		{42, "ZZZ", "42"},
	}
	for _, tt := range tests {
		if got := web.FormatAmount(tt.amount, tt.cur); got != tt.want {
			t.Errorf("FormatAmount(%d, %s) = %q, want %q", tt.amount, tt.cur, got, tt.want)
		}
	}
}

// noRedirect is a client that shows redirects instead of following them.
func noRedirect(f *fixture) *http.Client {
	c := *f.ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func get(t *testing.T, f *fixture, u string) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirect(f).Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// post sends the payment form; header adds request headers.
func post(t *testing.T, f *fixture, path string, form url.Values, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := noRedirect(f).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// payForm is the form the page posts: secret and the PIN fields.
func payForm(secret string, pins ...string) url.Values {
	v := url.Values{"client_secret": {secret}}
	for _, p := range pins {
		v.Add("pin", p)
	}
	return v
}

var nonceRE = regexp.MustCompile(`nonce="([^"]+)"`)

func TestPaymentPage(t *testing.T) {
	f := newFixture(t)
	p := f.createPayment(t, map[string]any{"amount": 123456, "currency": "EUR", "description": "Deposit <b>#42</b>",
		"return_url": "https://shop.example:8443/done?order=42"})
	resp, body := get(t, f, redirectURL(t, p))
	if resp.StatusCode != 200 {
		t.Fatalf("GET page = %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		"Acme Bets &amp; Games", "€1,234.56", "Deposit &lt;b&gt;#42&lt;/b&gt;",
		`name="client_secret" value="` + p["client_secret"].(string) + `"`,
		`<label for="pin-1">Voucher PIN 1</label>`, `<label for="pin-10">Voucher PIN 10</label>`,
		`inputmode="numeric"`, `autocomplete="off"`, `maxlength="24"`, `method="post" action="/pay/` + p["id"].(string) + `"`,
		`id="add-pin"`, `aria-describedby="pin-hint"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(body, `name="pin"`); n != 10 {
		t.Errorf("%d PIN fields, want 10 (all of them without JavaScript)", n)
	}
	if strings.Contains(body, "http://") && !strings.Contains(body, "https://") || strings.Contains(body, "src=") {
		t.Error("the page loads something from elsewhere")
	}
	m := nonceRE.FindAllStringSubmatch(body, -1)
	if len(m) != 2 || m[0][1] != m[1][1] {
		t.Fatalf("nonces %v, want one for the style and one for the script", m)
	}
	nonce := m[0][1]
	h := resp.Header
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'nonce-" + nonce + "'", "script-src 'nonce-" + nonce + "'",
		"form-action 'self' https://shop.example:8443;", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
		"Cache-Control": "no-store", "Content-Type": "text/html; charset=utf-8", "X-Content-Type-Options": "nosniff"} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// Every page has its own nonce.
	_, body2 := get(t, f, redirectURL(t, p))
	if m2 := nonceRE.FindStringSubmatch(body2); m2 == nil || m2[1] == nonce {
		t.Error("the nonce did not change between pages")
	}
}

func TestPaymentPageNotFound(t *testing.T) {
	f := newFixture(t)
	p := f.createPayment(t, map[string]any{"amount": 100, "currency": "EUR"})
	other := f.createPayment(t, map[string]any{"amount": 100, "currency": "EUR"})
	id := p["id"].(string)
	base := f.ts.URL + "/pay/"
	var bodies []string
	for _, u := range []string{
		base + id,
		base + id + "?client_secret=",
		base + id + "?client_secret=" + url.QueryEscape(p["client_secret"].(string)+"x"),
		base + id + "?client_secret=" + url.QueryEscape(other["client_secret"].(string)),
		base + "pay_nope?client_secret=" + url.QueryEscape(p["client_secret"].(string)),
		base + id + "?client_secret=" + strings.Repeat("a", 500),
		base + strings.Repeat("x", 5000) + "?client_secret=" + url.QueryEscape(p["client_secret"].(string)),
	} {
		resp, body := get(t, f, u)
		if resp.StatusCode != 404 {
			t.Errorf("GET %s = %d, want 404", u, resp.StatusCode)
		}
		if strings.Contains(body, "1.00") || strings.Contains(body, "Acme") {
			t.Errorf("GET %s reveals the payment:\n%s", u, body)
		}
		bodies = append(bodies, nonceRE.ReplaceAllString(body, ""))
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Error("404 pages differ, so they tell apart an unknown payment from a wrong secret")
		}
	}
	// A POST with a wrong secret is answered the same way, and pays nothing.
	resp, _ := post(t, f, "/pay/"+id, payForm(other["client_secret"].(string), f.issue(t, 1, 100, "EUR")[0].PIN), nil)
	if resp.StatusCode != 404 {
		t.Errorf("POST with another payment's secret = %d, want 404", resp.StatusCode)
	}
	if _, got := f.api(t, "GET", "/v1/payments/"+id, nil); got["status"] != "requires_action" {
		t.Errorf("payment is %v after a POST with a wrong secret", got["status"])
	}
}

func TestConfirmWrongPIN(t *testing.T) {
	f := newFixture(t)
	vs := f.issue(t, 2, 1000, "EUR")
	p := f.createPayment(t, map[string]any{"amount": 1500, "currency": "EUR", "return_url": "https://shop.example/done"})
	path := "/pay/" + p["id"].(string)
	wrong := "1234 5678 9012 3456"
	resp, body := post(t, f, path, payForm(p["client_secret"].(string), vs[0].PIN, wrong, vs[1].PIN, ""), nil)
	if resp.StatusCode != 422 {
		t.Fatalf("POST with a wrong second PIN = %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`id="pin-2" name="pin"`, `aria-describedby="pin-2-error pin-hint" aria-invalid="true"`,
		`<p class="error" id="pin-2-error" role="alert">This PIN is not valid.`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if n := strings.Count(body, `role="alert"`); n != 1 {
		t.Errorf("%d alerts, want 1", n)
	}
	for _, pin := range []string{vs[0].PIN, vs[1].PIN, wrong, "1234567890123456"} {
		if strings.Contains(body, pin) {
			t.Errorf("the page echoes PIN %s", pin)
		}
	}
	// Only the hidden fields (the client secret, the card form's method) have
	// a value; client_signals is filled in by the script when the form is sent.
	if strings.Contains(body, `value=""`) || strings.Count(body, "value=") !=
		strings.Count(body, `<input type="hidden" name="client_secret" value=`)+strings.Count(body, `<input type="hidden" name="method" value=`) {
		t.Error("PIN fields have a value; only the client secret may")
	}
	if !strings.Contains(body, `data-visible="3"`) {
		t.Error("the re-rendered form does not show the fields the payer used")
	}
	// The wrong PIN on its own, in field 1: the error moves there.
	_, body = post(t, f, path, payForm(p["client_secret"].(string), "", "", wrong), nil)
	if !strings.Contains(body, `id="pin-3-error"`) || strings.Contains(body, `id="pin-1-error"`) {
		t.Errorf("the error is not next to field 3:\n%s", body)
	}
	// No PIN at all.
	resp, body = post(t, f, path, payForm(p["client_secret"].(string), "", ""), nil)
	if resp.StatusCode != 422 || !strings.Contains(body, `id="pin-1-error"`) {
		t.Errorf("empty form = %d:\n%s", resp.StatusCode, body)
	}
	// Not enough money: the error is above the fields.
	resp, body = post(t, f, path, payForm(p["client_secret"].(string), vs[0].PIN), nil)
	if resp.StatusCode != 422 || !strings.Contains(body, `id="form-error" role="alert">Your vouchers do not cover the amount`) ||
		!strings.Contains(body, `<fieldset aria-describedby="form-error">`) {
		t.Errorf("insufficient vouchers = %d:\n%s", resp.StatusCode, body)
	}
	for _, pin := range []string{vs[0].PIN, vs[1].PIN} {
		if strings.Contains(f.logs.String(), pin) {
			t.Error("a PIN is in the log")
		}
	}
}

func TestConfirmRedirects(t *testing.T) {
	f := newFixture(t)
	vs := f.issue(t, 3, 1000, "EUR")
	p := f.createPayment(t, map[string]any{"amount": 2500, "currency": "EUR", "return_url": "https://shop.example/done?order=42#top"})
	path := "/pay/" + p["id"].(string)
	secret := p["client_secret"].(string)
	// Paid with vouchers: the receipt, with the way back to the shop.
	resp, body := post(t, f, path, payForm(secret, vs[0].PIN, " "+vs[1].PIN[:8]+"-"+vs[1].PIN[8:]+" ", "", vs[2].PIN), nil)
	want := "https://shop.example/done?order=42&payment_id=" + p["id"].(string) + "&status=captured#top"
	if resp.StatusCode != 200 || !strings.Contains(body, `id="vouchers-left"`) ||
		!strings.Contains(body, `id="back" href="`+html.EscapeString(want)+`"`) {
		t.Fatalf("POST = %d, want the receipt with a link to %s\n%s", resp.StatusCode, want, body)
	}
	_, got := f.api(t, "GET", "/v1/payments/"+p["id"].(string), nil)
	if got["status"] != "captured" || got["amount_captured"] != 2500.0 {
		t.Errorf("payment after the page = %v", got)
	}
	// A second submit (double click, back button) goes on to the shop.
	resp, _ = post(t, f, path, payForm(secret, vs[0].PIN), nil)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != want {
		t.Errorf("second POST = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The page now says it is paid, with a link back.
	resp, body = get(t, f, redirectURLOf(f, p))
	if resp.StatusCode != 200 || !strings.Contains(body, "<h1>Paid</h1>") || !strings.Contains(body, `href="https://shop.example/done?order=42&amp;payment_id=`) {
		t.Errorf("page of a paid payment = %d:\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, `name="pin"`) {
		t.Error("a paid payment still shows the PIN form")
	}

	// Without a return_url the receipt is the end of the way.
	v := f.issue(t, 1, 1000, "EUR")[0]
	q := f.createPayment(t, map[string]any{"amount": 300, "currency": "EUR"})
	resp, body = post(t, f, "/pay/"+q["id"].(string), payForm(q["client_secret"].(string), v.PIN), nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "<h1>Paid</h1>") || strings.Contains(body, `id="back"`) {
		t.Fatalf("POST without return_url = %d\n%s", resp.StatusCode, body)
	}
}

// redirectURLOf builds the page URL of a payment created earlier.
func redirectURLOf(f *fixture, p map[string]any) string {
	return f.ts.URL + "/pay/" + p["id"].(string) + "?client_secret=" + url.QueryEscape(p["client_secret"].(string))
}

func TestConfirmRefusesCrossSite(t *testing.T) {
	f := newFixture(t)
	v := f.issue(t, 1, 1000, "EUR")[0]
	p := f.createPayment(t, map[string]any{"amount": 100, "currency": "EUR"})
	path := "/pay/" + p["id"].(string)
	form := payForm(p["client_secret"].(string), v.PIN)
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Origin": "https://evil.example"},
		{"Origin": "http://127.0.0.1:1"},
	} {
		if resp, _ := post(t, f, path, form, h); resp.StatusCode != 403 {
			t.Errorf("POST with %v = %d, want 403", h, resp.StatusCode)
		}
	}
	if _, got := f.api(t, "GET", "/v1/payments/"+p["id"].(string), nil); got["status"] != "requires_action" {
		t.Fatalf("a cross-site POST changed the payment: %v", got["status"])
	}
	// Too large, or not a form.
	big := payForm(p["client_secret"].(string), strings.Repeat("1", web.FormBytesMax))
	if resp, _ := post(t, f, path, big, nil); resp.StatusCode != 413 {
		t.Errorf("POST of %d bytes = %d, want 413", len(big.Encode()), resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", f.ts.URL+path, strings.NewReader(`{"pins":[]}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := f.ts.Client().Do(req); err != nil || resp.StatusCode != 415 {
		t.Errorf("JSON POST = %v %v, want 415", resp.StatusCode, err)
	}
	// A field longer than any PIN is refused next to it, without a lookup.
	resp, body := post(t, f, path, payForm(p["client_secret"].(string), strings.Repeat("1", 30)), nil)
	if resp.StatusCode != 422 || !strings.Contains(body, `id="pin-1-error"`) {
		t.Errorf("long PIN = %d\n%s", resp.StatusCode, body)
	}
	// Our own origin passes.
	resp, _ = post(t, f, path, form, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": f.ts.URL})
	if resp.StatusCode != 200 {
		t.Errorf("same-origin POST = %d, want 200 (the receipt)", resp.StatusCode)
	}
}

func TestPaymentPageStates(t *testing.T) {
	f := newFixture(t)
	p := f.createPayment(t, map[string]any{"amount": 500, "currency": "JPY", "return_url": "https://shop.example/r"})
	if status, got := f.api(t, "POST", "/v1/payments/"+p["id"].(string)+"/cancel", nil); status != 200 {
		t.Fatalf("cancel = %d %v", status, got)
	}
	resp, body := get(t, f, redirectURL(t, p))
	if resp.StatusCode != 200 || !strings.Contains(body, "<h1>Canceled</h1>") || !strings.Contains(body, ">¥500<") {
		t.Errorf("canceled page = %d:\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, "<script") {
		t.Error("a status page carries the form's script")
	}
	// POSTing to it shows the state instead of taking PINs.
	v := f.issue(t, 1, 1000, "JPY")[0]
	resp, body = post(t, f, "/pay/"+p["id"].(string), payForm(p["client_secret"].(string), v.PIN), nil)
	if resp.StatusCode != 409 || !strings.Contains(body, "<h1>Canceled</h1>") {
		t.Errorf("POST to a canceled payment = %d:\n%s", resp.StatusCode, body)
	}
}
