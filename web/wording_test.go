package web_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/web"
)

// TestCatalogueComplete: every key of the pages' catalogue has a text in
// every language, with the same arguments, and every key the code and
// the template use is in the catalogue.
func TestCatalogueComplete(t *testing.T) {
	verbRE := regexp.MustCompile(`%\[\d+\][a-z]`)
	en := web.Catalogue[web.LangEN]
	for _, l := range web.Langs {
		for key, text := range web.Catalogue[l] {
			if _, ok := en[key]; !ok {
				t.Errorf("%s has %q, English does not", l, key)
			}
			if text == "" {
				t.Errorf("%s %q is empty", l, key)
			}
		}
		for key, text := range en {
			got, ok := web.Catalogue[l][key]
			if !ok {
				t.Errorf("%s lacks %q", l, key)
				continue
			}
			if a, b := verbs(verbRE, text), verbs(verbRE, got); a != b {
				t.Errorf("%s %q has arguments %s, English %s", l, key, b, a)
			}
		}
	}
	// The keys used: l.T("key"), pg.T("key"), {{.T "key"}}, messagePage(l, "key", "key")
	// and the maps of keys by error code.
	usedRE := regexp.MustCompile(`(?:\bT\(|\.T |messagePage\([^,]+, "[a-z_.]+", |messagePage\([^,]+, |:\s+)"([a-z_]+\.[a-z_]+)"`)
	files, _ := filepath.Glob("*.go")
	files = append(files, "pay.html")
	n := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || name == "catalogue.go" {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range usedRE.FindAllStringSubmatch(string(b), -1) {
			n++
			if _, ok := en[m[1]]; !ok {
				t.Errorf("%s uses %q, which the catalogue lacks", name, m[1])
			}
		}
	}
	if n < 50 {
		t.Errorf("found %d uses of catalogue keys; the pattern no longer finds them", n)
	}
}

func verbs(re *regexp.Regexp, s string) string {
	v := re.FindAllString(s, -1)
	sort.Strings(v)
	return strings.Join(dedupe(v), ",")
}

func dedupe(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func TestRequestLang(t *testing.T) {
	for _, tt := range []struct {
		accept, locale string
		want           web.Lang
	}{
		{"", "", web.LangEN},
		{"de-AT,de;q=0.9,en;q=0.8", "", web.LangDE},
		{"en-IE,en;q=0.9", "", web.LangEN},
		{"fr-FR,de;q=0.5", "", web.LangDE},
		{"fr-FR", "", web.LangEN},
		{"de-CH", "en-IE", web.LangEN},
		{"en", "de-AT", web.LangDE},
		{"de", "fr", web.LangDE},
		{"garbage;;q=x", "", web.LangEN},
		{strings.Repeat("de-AT,", 200), "", web.LangEN},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Language", tt.accept)
		if got := web.RequestLang(r, tt.locale); got != tt.want {
			t.Errorf("RequestLang(%q, %q) = %q, want %q", tt.accept, tt.locale, got, tt.want)
		}
	}
}

func TestFormatMoney(t *testing.T) {
	for _, tt := range []struct {
		amount int64
		cur    string
		lang   web.Lang
		want   string
	}{
		{2500, "EUR", web.LangDE, "25,00\u00a0€"},
		{2500, "EUR", web.LangEN, "€25.00"},
		{123456789, "EUR", web.LangDE, "1.234.567,89\u00a0€"},
		{123456789, "EUR", web.LangEN, "€1,234,567.89"},
		{4321, "USD", web.LangEN, "$43.21"},
		{500, "JPY", web.LangDE, "500\u00a0¥"},
		{2500, "CHF", web.LangEN, "CHF\u00a025.00"},
		{2500, "CHF", web.LangDE, "25,00\u00a0CHF"},
		{1234567, "KWD", web.LangDE, "1.234,567\u00a0KWD"},
		{-150, "EUR", web.LangEN, "-€1.50"},
		{-150, "EUR", web.LangDE, "-1,50\u00a0€"},
	} {
		if got := web.FormatMoney(money.Amount(tt.amount), money.Currency(tt.cur), tt.lang); got != tt.want {
			t.Errorf("FormatMoney(%d, %s, %s) = %q, want %q", tt.amount, tt.cur, tt.lang, got, tt.want)
		}
	}
}

// Words a payer must never read: the API's error codes and field names
// (snake_case), ids, its states and terms, and the shape of its English
// messages.
var (
	snakeRE   = regexp.MustCompile(`\b[a-z0-9]+_[a-z0-9_]+\b`)
	idRE      = regexp.MustCompile(`\b(pay|tok|card|ch|cus|dev|evt|rev|ref|whk|acq|auth)_[A-Za-z0-9]{4,}`)
	apiTermRE = regexp.MustCompile(`(?i)\b(client.secret|challenge.id|next.action|requires.action|payment.method|idempotency|` +
		`captured|authorized|token|api|param|null|nil|webhook|trans.status|eci|risk|score|rule|must be|no such|only a payment|send the|send a)\b`)
	tagRE    = regexp.MustCompile(`(?s)<style.*?</style>|<script.*?</script>|<[^>]*>`)
	titleRE  = regexp.MustCompile(`(?s)<title>(.*?)</title>`)
	spacesRE = regexp.MustCompile(`\s+`)
)

// pageText is what a payer reads of a page: its title and its text.
func pageText(body string) string {
	title := ""
	if m := titleRE.FindStringSubmatch(body); m != nil {
		title = m[1]
	}
	body = titleRE.ReplaceAllString(body, "")
	return spacesRE.ReplaceAllString(html.UnescapeString(title+" "+tagRE.ReplaceAllString(body, " ")), " ")
}

// checkWording fails t when text shows a payer an API word, or (for
// German) an English sentence of the catalogue.
func checkWording(t *testing.T, what string, l web.Lang, text string) {
	t.Helper()
	for _, re := range []*regexp.Regexp{snakeRE, idRE, apiTermRE} {
		if m := re.FindString(text); m != "" {
			t.Errorf("%s (%s): the page shows %q:\n%s", what, l, m, text)
		}
	}
	if l == web.LangEN {
		return
	}
	for key, en := range web.Catalogue[web.LangEN] {
		first, _, _ := strings.Cut(en, "%")
		if len(first) > 12 && web.Catalogue[l][key] != en && strings.Contains(text, first) {
			t.Errorf("%s (%s): the page shows English %q (%s):\n%s", what, l, first, key, text)
		}
	}
}

// TestPayerWording drives every error and state the payment and issuer
// pages can meet, in English and German, and checks that the payer reads
// the catalogue's text for it and no problem code, id or API term.
func TestPayerWording(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	addRule(t, f, "block 13.13", "amount == 1313", risk.Block, "")
	addRule(t, f, "codes for 42.42", "amount == 4242", risk.Challenge, risk.FactorOTP)
	addRule(t, f, "passkeys for 43.43", "amount == 4343", risk.Challenge, risk.FactorPasskey)

	type result struct {
		status int
		body   string
	}
	newPay := func(amount int, cur string) (string, string) {
		p := f.createPayment(t, map[string]any{"amount": amount, "currency": cur, "return_url": "https://shop.example/r"})
		return p["id"].(string), p["client_secret"].(string)
	}
	send := func(l web.Lang, method, path string, form url.Values, header map[string]string) result {
		h := map[string]string{"Accept-Language": map[web.Lang]string{web.LangEN: "en-IE,en;q=0.9", web.LangDE: "de-AT,de;q=0.9"}[l]}
		for k, v := range header {
			h[k] = v
		}
		if method == "GET" {
			req, _ := http.NewRequest("GET", f.ts.URL+path, nil)
			for k, v := range h {
				req.Header.Set(k, v)
			}
			resp, err := noRedirect(f).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return result{resp.StatusCode, string(b)}
		}
		resp, body := post(t, f, path, form, h)
		return result{resp.StatusCode, body}
	}
	pinCase := func(pins ...string) func(l web.Lang) result {
		return func(l web.Lang) result {
			id, secret := newPay(1500, "EUR")
			return send(l, "POST", "/pay/"+id, payForm(secret, pins...), nil)
		}
	}
	cardCase := func(amount int, edit func(url.Values)) func(l web.Lang) result {
		return func(l web.Lang) result {
			id, secret := newPay(amount, "EUR")
			form := cardForm(secret, acquirer.CardApproved)
			edit(form)
			return send(l, "POST", "/pay/"+id, form, nil)
		}
	}
	number := func(n string) func(url.Values) { return func(v url.Values) { v.Set("card_number", n) } }
	field := func(k, val string) func(url.Values) { return func(v url.Values) { v.Set(k, val) } }

	one := func(amount int, cur string) string {
		return f.issue(t, 1, money.Amount(amount), money.Currency(cur))[0].PIN
	}
	lockedPIN := func() string {
		v := f.issue(t, 1, 1000, "EUR")[0]
		if _, err := f.vouchers.Lock(ctx, f.issuer, v.Serial); err != nil {
			t.Fatal(err)
		}
		return v.PIN
	}
	invalidatedPIN := func() string {
		v := f.issue(t, 1, 1000, "EUR")[0]
		if _, err := f.vouchers.Invalidate(ctx, f.issuer, v.Serial); err != nil {
			t.Fatal(err)
		}
		return v.PIN
	}
	depletedPIN := func() string {
		pin := one(1000, "EUR")
		id, secret := newPay(1000, "EUR")
		if r, _ := post(t, f, "/pay/"+id, payForm(secret, pin), nil); r.StatusCode != http.StatusOK {
			t.Fatalf("paying with a fresh voucher = %d", r.StatusCode)
		}
		return pin
	}
	tests := []struct {
		name string
		key  string // the catalogue's text the page must show
		run  func(l web.Lang) result
	}{
		{"wrong PIN", "pin.invalid", pinCase("1234 5678 9012 3456")},
		{"PIN twice", "pin.duplicate", func(l web.Lang) result { p := one(1000, "EUR"); return pinCase(p, p)(l) }},
		{"PIN too long", "pin.long", pinCase(strings.Repeat("1", 30))},
		{"no PIN", "pin.required", pinCase("")},
		{"eleven PINs", "pin.max", pinCase("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11")},
		{"locked voucher", "pin.locked", func(l web.Lang) result { return pinCase(lockedPIN())(l) }},
		{"invalidated voucher", "pin.invalidated", func(l web.Lang) result { return pinCase(invalidatedPIN())(l) }},
		{"used-up voucher", "pin.depleted", func(l web.Lang) result { return pinCase(depletedPIN())(l) }},
		{"not enough", "pin.short", func(l web.Lang) result { return pinCase(one(1000, "EUR"))(l) }},
		{"other currency", "pin.currency", func(l web.Lang) result { return pinCase(one(2000, "USD"))(l) }},
		{"no card number", "card.num_missing", cardCase(700, number(""))},
		{"short card number", "card.num_bad", cardCase(700, number("4242 4242"))},
		{"card check digit", "card.num_bad", cardCase(700, number("4242424242424241"))},
		{"card network", "card.brand", cardCase(700, number("9999999999999995"))},
		{"CVC", "card.cvc_bad", cardCase(700, field("card_cvc", "1"))},
		{"card name", "card.name_bad", cardCase(700, field("card_name", "Ada\x01Lovelace"))},
		{"card field too long", "card.too_long", cardCase(700, field("card_name", strings.Repeat("A", 65)))},
		{"expiry shape", "card.exp_bad", cardCase(700, field("card_expiry", "1230"))},
		{"expiry month", "card.exp_bad", cardCase(700, field("card_expiry", "13/30"))},
		{"expired card", "card.exp_past", cardCase(700, field("card_expiry", "01/20"))},
		{"expiry far ahead", "card.exp_far", cardCase(700, field("card_expiry", "12/99"))},
		{"card declined", "decline.generic", cardCase(700, number(acquirer.CardDeclined))},
		{"insufficient funds", "decline.funds", cardCase(700, number(acquirer.CardInsufficientFunds))},
		{"stolen card", "decline.stolen", cardCase(700, number(acquirer.CardStolen))},
		{"3-D Secure", "bank.text", cardCase(700, number(acquirer.CardThreeDS))},
		{"3-D Secure declined", "decline.auth", func(l web.Lang) result {
			id, secret := newPay(700, "EUR")
			send(l, "POST", "/pay/"+id, cardForm(secret, acquirer.CardThreeDS), nil)
			p, err := f.payments.Get(ctx, "", id)
			if err != nil {
				t.Fatal(err)
			}
			return send(l, "POST", web.IssuerURL(p), url.Values{"decision": {"decline"}}, nil)
		}},
		{"issuer page", "issuer.hint", func(l web.Lang) result {
			id, secret := newPay(700, "EUR")
			send(l, "POST", "/pay/"+id, cardForm(secret, acquirer.CardThreeDS), nil)
			p, _ := f.payments.Get(ctx, "", id)
			return send(l, "GET", web.IssuerURL(p), nil, nil)
		}},
		{"issuer: no decision", "refused.choose", func(l web.Lang) result {
			return send(l, "POST", "/3ds/ch_x", url.Values{"decision": {"maybe"}}, nil)
		}},
		{"issuer gone", "issuer.gonetext", func(l web.Lang) result { return send(l, "GET", "/3ds/ch_unknown", nil, nil) }},
		{"risk declined", "declined.head", func(l web.Lang) result {
			id, secret := newPay(1313, "EUR")
			return send(l, "POST", "/pay/"+id, payForm(secret, one(2000, "EUR")), nil)
		}},
		{"one-time code", "step.otp", func(l web.Lang) result {
			id, secret := newPay(4242, "EUR")
			return send(l, "POST", "/pay/"+id, payForm(secret, one(5000, "EUR")), nil)
		}},
		{"passkey", "step.passkey", func(l web.Lang) result {
			id, secret := newPay(4343, "EUR")
			return send(l, "POST", "/pay/"+id, cardForm(secret, acquirer.CardApproved), nil)
		}},
		{"the receipt after paying with vouchers", "paid.left_head", func(l web.Lang) result {
			id, secret := newPay(1500, "EUR")
			return send(l, "POST", "/pay/"+id, payForm(secret, one(1000, "EUR"), one(1000, "EUR")), nil)
		}},
		{"paid, then the page again", "paid.text", func(l web.Lang) result {
			id, secret := newPay(700, "EUR")
			send(l, "POST", "/pay/"+id, payForm(secret, one(1000, "EUR")), nil)
			return send(l, "GET", "/pay/"+id+"?client_secret="+url.QueryEscape(secret), nil, nil)
		}},
		{"refunded", "paid.refunded", func(l web.Lang) result {
			id, secret := newPay(700, "EUR")
			send(l, "POST", "/pay/"+id, payForm(secret, one(1000, "EUR")), nil)
			if st, got := f.api(t, "POST", "/v1/refunds", map[string]any{"payment": id, "amount": 200}); st != 201 {
				t.Fatalf("refund = %d %v", st, got)
			}
			return send(l, "GET", "/pay/"+id+"?client_secret="+url.QueryEscape(secret), nil, nil)
		}},
		{"canceled", "canceled.head", func(l web.Lang) result {
			id, secret := newPay(700, "EUR")
			f.api(t, "POST", "/v1/payments/"+id+"/cancel", nil)
			return send(l, "POST", "/pay/"+id, payForm(secret, one(1000, "EUR")), nil)
		}},
		{"unknown payment", "notfound.text", func(l web.Lang) result {
			return send(l, "GET", "/pay/pay_nothere?client_secret=x", nil, nil)
		}},
		{"cross-site form", "refused.origin", func(l web.Lang) result {
			id, secret := newPay(700, "EUR")
			return send(l, "POST", "/pay/"+id, payForm(secret, "1"), map[string]string{"Sec-Fetch-Site": "cross-site"})
		}},
		{"open form", "pay.hint", func(l web.Lang) result {
			id, secret := newPay(2500, "EUR")
			return send(l, "GET", "/pay/"+id+"?client_secret="+url.QueryEscape(secret), nil, nil)
		}},
		// Last: the lockout holds for this client's address as well.
		{"too many wrong PINs", "pin.attempts", func(l web.Lang) result {
			id, secret := newPay(1500, "EUR")
			var r result
			for i := range 30 {
				r = send(l, "POST", "/pay/"+id, payForm(secret, fmt.Sprintf("9999 0000 0000 %04d", i)), nil)
				if r.status == http.StatusTooManyRequests {
					break
				}
			}
			return r
		}},
	}
	for _, tt := range tests {
		for _, l := range web.Langs {
			t.Run(tt.name+"/"+string(l), func(t *testing.T) {
				r := tt.run(l)
				text := pageText(r.body)
				want := web.Catalogue[l][tt.key]
				if i := strings.Index(want, "%"); i >= 0 {
					want = want[:i]
				}
				if !strings.Contains(text, strings.TrimSpace(want)) {
					t.Errorf("%d page lacks %s %q:\n%s", r.status, tt.key, want, text)
				}
				if !strings.Contains(r.body, `<html lang="`+string(l)+`">`) {
					t.Errorf("page is not marked lang=%s", l)
				}
				checkWording(t, tt.name, l, text)
			})
		}
	}
}

// TestPayerMessageFallback: a code the pages do not know yet gets a
// general text in the payer's words, never the API's message.
func TestPayerMessageFallback(t *testing.T) {
	e := kassa.Errorf(kassa.EConflict, "payment_something_new",
		"The payment is captured; only a payment that requires action can be confirmed")
	for _, l := range web.Langs {
		for _, got := range []string{web.PayerMessage(l, e), web.CardError(l, e)} {
			if strings.Contains(got, "captured") || strings.Contains(got, "requires action") || got == "" {
				t.Errorf("%s: %q", l, got)
			}
			checkWording(t, "fallback", l, got)
		}
	}
}

// TestPaymentLocale: the locale a merchant names on the payment chooses
// the page's language and how it writes money, before the browser's
// Accept-Language; without one the browser's language counts.
func TestPaymentLocale(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		locale, accept, want, lang string
	}{
		{"de-AT", "en-IE,en;q=0.9", "25,00\u00a0€", "de"},
		{"en-IE", "de-AT,de;q=0.9", "€25.00", "en"},
		{"", "de-AT,de;q=0.9", "25,00\u00a0€", "de"},
		{"", "en-IE", "€25.00", "en"},
		{"fr-FR", "de", "25,00\u00a0€", "de"},
		{"", "", "€25.00", "en"},
	} {
		body := map[string]any{"amount": 2500, "currency": "EUR"}
		if tt.locale != "" {
			body["locale"] = tt.locale
		}
		p := f.createPayment(t, body)
		if p["locale"] != nil && p["locale"] != tt.locale {
			t.Errorf("locale %q came back as %v", tt.locale, p["locale"])
		}
		req, _ := http.NewRequest("GET", redirectURL(t, p), nil)
		if tt.accept != "" {
			req.Header.Set("Accept-Language", tt.accept)
		}
		resp, err := noRedirect(f).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), `<span class="value">`+tt.want+`</span>`) || !strings.Contains(string(b), `<html lang="`+tt.lang+`">`) {
			t.Errorf("locale %q, Accept-Language %q: page is not %s with %q:\n%s", tt.locale, tt.accept, tt.lang, tt.want, pageText(string(b)))
		}
	}
	status, got := f.api(t, "POST", "/v1/payments", map[string]any{"amount": 100, "currency": "EUR", "locale": "de_AT<x>"})
	if status != 400 || got["code"] != "locale_invalid" {
		t.Errorf("a malformed locale = %d %v, want 400 locale_invalid", status, got)
	}
}
