package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/store/sqlstore"
)

// The fuzz targets below send arbitrary bodies to every POST route of the
// API, through the whole server (authentication, limits, idempotency,
// decoding, the domain, a real SQLite store). Whatever the body, the
// answer must be a success in JSON or a 4xx problem (RFC 9457) whose
// status matches the response's; never a 5xx (a panic recovered by the
// middleware is a 500) and never a card number echoed back.

// fuzzRoute is a POST route and the key it is called with.
type fuzzRoute struct {
	path   string
	secret bool // the secret key; else the publishable key
	seeds  []string
}

// fuzzFixture is one server for a fuzz target's whole run, with rate
// limits off (a fuzzer is one very busy client) and objects for the
// routes that name one.
type fuzzFixture struct {
	*fixture
	paymentID, secret, ruleID, endpointID string
}

func newFuzzFixture(tb testing.TB) *fuzzFixture {
	tb.Helper()
	db, err := sqlstore.OpenSQLite(context.Background(), tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	hooks := newWebhookService(db)
	eng := startRiskEngine(tb, db, hooks)
	led := newLedger(tb, db)
	vouchers := newVoucherService(tb, db, led, nil)
	vault := newVaultService(tb, db)
	pay := payment.New(payment.Config{Store: sqlstore.NewPayments(db), Ledger: led, Vouchers: vouchers, Vault: vault,
		Acquirer: acquirer.NewTest(), Risk: eng})
	ident, _ := newIdentityService(tb, db)
	f := &fuzzFixture{fixture: newFixtureDB(tb, db, httpapi.Config{Ledger: led, Webhooks: hooks, Vouchers: vouchers,
		Vault: vault, Payments: pay, Risk: eng, Identity: ident, RateLimit: -1}, nil)}
	created := func(path, body string) map[string]any {
		code, out := f.post(path, f.merchant.SecretKey, body, "")
		if code != 200 && code != 201 {
			tb.Fatalf("POST %s = %d %s", path, code, out)
		}
		var m map[string]any
		json.Unmarshal(out, &m)
		return m
	}
	p := created("/v1/payments", `{"amount":1000,"currency":"EUR"}`)
	f.paymentID, f.secret = p["id"].(string), p["client_secret"].(string)
	f.ruleID = created("/v1/risk/rules", `{"name":"big","expression":"amount > 100000","action":"review"}`)["id"].(string)
	f.endpointID = created("/v1/webhook_endpoints", `{"url":"https://hooks.example.com/k","events":["*"]}`)["id"].(string)
	return f
}

// post sends one request straight to the handler.
func (f *fuzzFixture) post(path, key, body, idemKey string) (int, []byte) {
	code, _, out := f.postFull(path, key, body, idemKey)
	return code, out
}

func (f *fuzzFixture) postFull(path, key, body, idemKey string) (int, http.Header, []byte) {
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, req)
	return w.Code, w.Header(), w.Body.Bytes()
}

// expand fills a route's {placeholders} with the fixture's objects.
func (f *fuzzFixture) expand(path string) string {
	return strings.NewReplacer("{payment}", f.paymentID, "{rule}", f.ruleID, "{endpoint}", f.endpointID,
		"{secret}", f.secret).Replace(path)
}

// checkAnswer asserts the properties every answer to untrusted input has.
func checkAnswer(t *testing.T, what string, code int, header http.Header, body []byte, sent string) {
	t.Helper()
	if code >= 500 {
		t.Fatalf("%s: status %d: %s", what, code, body)
	}
	ct := header.Get("Content-Type")
	if code >= 400 {
		if ct != "application/problem+json" {
			t.Fatalf("%s: status %d with content type %q", what, code, ct)
		}
		var p struct {
			Type, Title, Code string
			Status            int
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("%s: problem is not JSON: %v: %s", what, err, body)
		}
		if p.Status != code || p.Code == "" || p.Type == "" || p.Title == "" {
			t.Fatalf("%s: problem %s does not match status %d", what, body, code)
		}
	} else if !json.Valid(body) || !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: status %d, content type %q, body %s", what, code, ct, body)
	}
	// Secrets in the request (card numbers, CVCs, PINs, passwords, codes)
	// never come back.
	for _, secret := range secretsIn(sent) {
		if bytes.Contains(body, []byte(secret)) {
			t.Fatalf("%s: the answer repeats a secret of the request (%d bytes): %s", what, len(secret), body)
		}
	}
}

// secretFields are the request fields whose values are secrets.
var secretFields = map[string]bool{"number": true, "cvc": true, "pin": true, "pins": true, "password": true, "code": true}

// secretsIn returns the string values of secret fields anywhere in a JSON
// body, those of at least 6 bytes (shorter ones match by chance).
func secretsIn(body string) []string {
	var v any
	if json.Unmarshal([]byte(body), &v) != nil {
		return nil
	}
	var out []string
	var walk func(v any, secret bool)
	walk = func(v any, secret bool) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(x, secretFields[k])
			}
		case []any:
			for _, x := range v {
				walk(x, secret)
			}
		case string:
			if secret && len(v) >= 6 {
				out = append(out, v)
			}
		}
	}
	walk(v, false)
	return out
}

// fuzzPOST is a fuzz target over routes: the input picks a route and
// gives the body.
func fuzzPOST(f *testing.F, routes []fuzzRoute) {
	for i, r := range routes {
		for _, s := range append([]string{`{}`, `null`, `[]`, `{"x":1}`, ``, `{"x\u0000":1}`}, r.seeds...) {
			f.Add(uint8(i), s)
		}
	}
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		r := routes[int(which)%len(routes)]
		key := fx.merchant.PublishableKey
		if r.secret {
			key = fx.merchant.SecretKey
		}
		path := fx.expand(r.path)
		body = fx.expand(body)
		code, header, out := fx.postFull(path, key, body, "")
		checkAnswer(t, "POST "+r.path, code, header, out, body)
		if code < 300 && hasNUL(body) {
			t.Fatalf("POST %s took a NUL character (PostgreSQL cannot store it): %d %s", r.path, code, out)
		}
		if get, ok := readBack[r.path]; ok && code < 300 {
			fx.checkReadBack(t, get, out)
		}
	})
}

// hasNUL reports whether a JSON body holds a NUL character in a string
// or a member name.
func hasNUL(body string) bool {
	var v any
	if json.Unmarshal([]byte(body), &v) != nil {
		return false
	}
	found := false
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				found = found || strings.ContainsRune(k, 0)
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			found = found || strings.ContainsRune(v, 0)
		}
	}
	walk(v)
	return found
}

// readBack names, for the routes that create or change one object, where
// it is read: what a POST answered must be what a GET then reads (the
// object round-trips through the store).
var readBack = map[string]string{
	"/v1/payments":                   "/v1/payments/{id}",
	"/v1/payments/{payment}/capture": "/v1/payments/{id}",
	"/v1/payments/{payment}/cancel":  "/v1/payments/{id}",
	"/v1/refunds":                    "/v1/refunds/{id}",
	"/v1/ledger/accounts":            "/v1/ledger/accounts/{id}",
	"/v1/risk/rules":                 "/v1/risk/rules/{id}",
	"/v1/risk/rules/{rule}":          "/v1/risk/rules/{id}",
	"/v1/webhook_endpoints":          "/v1/webhook_endpoints/{id}",
	"/v1/tokens":                     "/v1/tokens/{id}",
	"/v1/cards":                      "/v1/cards/{id}",
}

// createOnly are members only the answer to a create carries (secrets
// shown once).
var createOnly = map[string]bool{"secret": true}

// checkReadBack reads the object a POST answered and compares the two.
func (f *fuzzFixture) checkReadBack(t *testing.T, get string, answer []byte) {
	t.Helper()
	var posted map[string]any
	if err := json.Unmarshal(answer, &posted); err != nil {
		t.Fatalf("answer %s: %v", answer, err)
	}
	objID, _ := posted["id"].(string)
	if objID == "" {
		t.Fatalf("answer %s has no id", answer)
	}
	path := strings.Replace(get, "{id}", url.PathEscape(objID), 1)
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Authorization", "Bearer "+f.merchant.SecretKey)
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s after the POST answered %s: %d %s", path, answer, w.Code, w.Body)
	}
	var read map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &read); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	for k := range createOnly {
		delete(posted, k)
	}
	if !reflect.DeepEqual(posted, read) {
		t.Fatalf("GET %s reads what the POST did not answer:\nPOST %s\n GET %s", path, answer, w.Body)
	}
}

func FuzzPaymentsBody(f *testing.F) {
	fuzzPOST(f, []fuzzRoute{
		{"/v1/payments", true, []string{
			`{"amount":1500,"currency":"EUR","capture_method":"manual","merchant_reference":"o-1","description":"d",
			"return_url":"https://shop.example/r","metadata":{"a":"b"},"customer":{"id":"c1","email":"a@b.example","billing_country":"AT"}}`,
			`{"amount":-1,"currency":"eur"}`, `{"amount":1e400,"currency":"EUR"}`, `{"amount":9223372036854775807,"currency":"EUR"}`,
			`{"amount":1,"currency":"EUR","metadata":"x"}`, `{"amount":1,"currency":"EUR","description":"a\u0000b","metadata":{"k":"\\u0000"}}`, `{"amount":1,"currency":"EUR","return_url":"javascript:alert(1)"}`,
		}},
		{"/v1/payments/{payment}/confirm", false, []string{
			`{"client_secret":"{secret}","payment_method":{"type":"voucher","pins":["1234-5678-9012-3456"]}}`,
			`{"client_secret":"{secret}","payment_method":{"type":"card","token":"tok_x"},"client_signals":{"time_on_page_ms":-1}}`,
			`{"client_secret":"{secret}","payment_method":{"type":"card","card":"card_x"},"challenge_id":"ch_1"}`,
			`{"client_secret":"x","payment_method":{"type":"voucher","pins":["","","","","","","","","","",""]}}`,
		}},
		{"/v1/payments/{payment}/capture", true, []string{`{"amount":500}`, `{"amount":-5}`, `{"amount":null}`}},
		{"/v1/payments/{payment}/cancel", true, []string{`{}`}},
	})
}

func FuzzRefundsBody(f *testing.F) {
	fuzzPOST(f, []fuzzRoute{
		{"/v1/refunds", true, []string{
			`{"payment":"{payment}","amount":100,"reason":"requested_by_customer"}`,
			`{"payment":"{payment}","amount":-100}`, `{"payment":"pay_nope"}`, `{"payment":"{payment}","amount":0,"reason":"` + strings.Repeat("r", 600) + `"}`,
		}},
	})
}

func FuzzVouchersBody(f *testing.F) {
	fuzzPOST(f, []fuzzRoute{
		{"/v1/vouchers", true, []string{`{"count":2,"amount":1000,"currency":"EUR","expires":"2030-01-01"}`,
			`{"count":100000,"amount":1,"currency":"EUR"}`, `{"count":1,"amount":1,"currency":"EUR","expires":"yesterday"}`}},
		{"/v1/vouchers/balance", false, []string{`{"pin":"1234 5678 9012 3456"}`, `{"pin":"12345678901234567890"}`, `{"pin":"١٢٣٤"}`}},
		{"/v1/vouchers/123456789012/lock", true, []string{`{"reason":"x"}`}},
		{"/v1/vouchers/123456789012/unlock", true, nil},
		{"/v1/vouchers/not-a-serial/invalidate", true, nil},
	})
}

func FuzzLedgerBody(f *testing.F) {
	fuzzPOST(f, []fuzzRoute{
		{"/v1/ledger/accounts", true, []string{`{"id":"a","currency":"EUR","code":1,"flags":["debits_must_not_exceed_credits"],"metadata":{"k":"v"}}`,
			`{"id":"","currency":"EUR"}`, `{"id":"a\u0000","currency":"EUR"}`, `{"id":"a","currency":"EUR","code":70000}`, `{"id":"a","currency":"EUR","flags":["nope"]}`}},
		{"/v1/ledger/transfers", true, []string{
			`{"transfers":[{"id":"t1","debit_account_id":"a","credit_account_id":"b","amount":1,"currency":"EUR","flags":["pending"],"timeout":60}]}`,
			`{"transfers":[{"id":"t2","pending_id":"t1","flags":["post_pending"]}]}`,
			`{"transfers":[{"id":"t3","debit_account_id":"a","credit_account_id":"a","amount":-1,"currency":"EUR","timeout":-1}]}`,
			`{"transfers":[]}`, `{"transfers":null}`,
		}},
	})
}

func FuzzRiskBody(f *testing.F) {
	fuzzPOST(f, []fuzzRoute{
		{"/v1/risk/evaluate", true, []string{
			`{"kind":"payment","amount":1000,"currency":"EUR","method":"card","card_fingerprint":"fp","email":"a@b.example",
			"ip":"203.0.113.9","user_agent":"ua","billing_country":"AT","device_id":"d","reference":"r",
			"client_signals":{"time_on_page_ms":1000,"pointer_moves":3,"fingerprint":"f","timezone":"Europe/Vienna"}}`,
			`{"kind":"login","ip":"not-an-ip"}`, `{"kind":"payment","amount":1,"currency":"EUR","voucher_serial":"123456789012"}`,
		}},
		{"/v1/risk/evaluations/rev_nope/outcome", true, []string{`{"outcome":"fraud"}`}},
		{"/v1/risk/labels", true, []string{`{"subject":"card:fp","label":"fraud","source":"analyst"}`, `{"subject":"","label":"x"}`}},
		{"/v1/risk/rules", true, []string{`{"name":"r","expression":"score > 80 && amount > 50000","action":"block"}`,
			`{"name":"r","expression":"let s = \"a\"; s + s + s == \"\"","action":"block"}`, `{"name":"r","expression":"(","action":"block"}`,
			`{"name":"n\u0000","expression":"amount > 1","action":"review"}`}},
		{"/v1/risk/rules/backtest", true, []string{`{"expression":"amount > 1","action":"block"}`}},
		{"/v1/risk/rules/{rule}", true, []string{`{"name":"n","position":-1}`, `{"expression":"method == \"card\"","factor":"otp"}`}},
		{"/v1/risk/lists", true, []string{`{"list":"block","type":"email","value":"a@b.example"}`, `{"list":"allow","type":"ip","value":"::1"}`}},
		{"/v1/reviews/rev_nope/approve", true, nil},
		{"/v1/reviews/rev_nope/reject", true, nil},
	})
}

func FuzzSignupsBody(f *testing.F) {
	fuzzPOST(f, []fuzzRoute{
		{"/v1/signups", false, []string{`{"email":"payer@example.com","phone":"+436641234567"}`, `{"email":"x","phone":"0"}`}},
		{"/v1/signups/verify", false, []string{`{"token":"st_x","code":"123456"}`, `{"token":"","code":"1"}`}},
		{"/v1/signups/resend", false, []string{`{"token":"st_x"}`}},
		{"/v1/signups/password", false, []string{`{"token":"st_x","password":"correct horse battery staple"}`}},
	})
}

func FuzzTokensBody(f *testing.F) {
	fuzzPOST(f, []fuzzRoute{
		{"/v1/tokens", false, []string{cardBody(acquirer.CardApproved, 12, 2031, "123"), cardBody("4000 0000 0000 0002", 1, 99, "12"),
			cardBody("378282246310005", 12, 2031, "1234"), `{"card":{"number":"4242424242424241"}}`}},
		{"/v1/cards", true, []string{`{"token":"tok_x","customer":"c1"}`, cardBody(acquirer.CardApproved, 12, 2031, "123")}},
	})
}

func FuzzWebhooksBody(f *testing.F) {
	fuzzPOST(f, []fuzzRoute{
		{"/v1/webhook_endpoints", true, []string{`{"url":"https://a.example.com/h","events":["payment.captured"],"description":"d"}`,
			`{"url":"https://127.0.0.1/","events":["*"]}`, `{"url":"https://[::ffff:10.0.0.1]/","events":["*"]}`, `{"url":"ftp://x","events":[]}`,
			`{"url":"https://a.example.com/h","events":["*"],"description":"d\u0000"}`}},
		{"/v1/webhook_endpoints/{endpoint}/rotate_secret", true, []string{`{"expire_current_in":3600}`, `{"expire_current_in":-1}`}},
		{"/v1/events/evt_nope/redeliver", true, []string{`{"endpoint":"{endpoint}"}`}},
	})
}

// FuzzIdempotencyKey sends one request under an arbitrary Idempotency-Key
// twice, then another body under the same key. A key is either refused
// as a 4xx or honoured: the retry replays the first answer byte for
// byte, and another request under the key is refused.
func FuzzIdempotencyKey(f *testing.F) {
	for _, k := range []string{"k1", "order-7f3e", strings.Repeat("k", 255), strings.Repeat("k", 256), " ", "ключ", "\xff\xfe", "a\tb", "\x7f",
		"k\u0085", "ключ\xd0"} {
		f.Add(k, int64(1000))
	}
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, key string, amount int64) {
		if !validHeaderValue(key) || strings.TrimSpace(key) == "" {
			return // net/http would not carry it (or would carry none)
		}
		key = id.New("k")[:8] + key // a fresh key per input: the store outlives one input
		if len(key) > 300 {
			key = key[:300]
		}
		body := `{"amount":` + itoa64(amount) + `,"currency":"EUR"}`
		code, h, out := fx.postFull("/v1/payments", fx.merchant.SecretKey, body, key)
		checkAnswer(t, "first", code, h, out, body)
		refused := code == http.StatusBadRequest && strings.Contains(string(out), `"idempotency_key_invalid"`)
		// The reference: at most 255 bytes of printable UTF-8 (what
		// PostgreSQL can store as text, unlike SQLite).
		if want := len(key) <= httpapi.IdempotencyKeyLengthMax && utf8.ValidString(key) &&
			!strings.ContainsFunc(key, unicode.IsControl); refused == want {
			t.Fatalf("key %q: %d %s; the reference says valid = %v", key, code, out, want)
		}
		if refused {
			return
		}
		code2, h2, out2 := fx.postFull("/v1/payments", fx.merchant.SecretKey, body, key)
		if code2 != code || !bytes.Equal(out2, out) || h2.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry under key %q: %d %s, first answer %d %s", key, code2, out2, code, out)
		}
		other := `{"amount":` + itoa64(amount+1) + `,"currency":"EUR"}`
		code3, h3, out3 := fx.postFull("/v1/payments", fx.merchant.SecretKey, other, key)
		checkAnswer(t, "other body", code3, h3, out3, other)
		if code3 != http.StatusUnprocessableEntity || !strings.Contains(string(out3), "idempotency_key_reused") {
			t.Fatalf("another body under key %q: %d %s, want 422 idempotency_key_reused", key, code3, out3)
		}
	})
}

// validHeaderValue is what net/http lets through as a header value: no
// control characters but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func itoa64(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func FuzzPayoutsBody(f *testing.F) {
	fuzzPOST(f, []fuzzRoute{
		{"/v1/payouts", true, []string{
			`{"amount":1500,"currency":"EUR","customer":{"id":"p1","email":"j@example.com","first_name":"Jane","last_name":"Doe","date_of_birth":"1990-05-17"},
			"destination":{"type":"bank_account","iban":"DE63100100100000000000","account_holder":"Jane Doe"},"merchant_reference":"w-1","metadata":{"g":"p"}}`,
			`{"amount":1,"currency":"EUR","validate_only":true,"customer":{"id":"cus_x","first_name":"J","last_name":"D","date_of_birth":"2999-01-01"},"destination":{"type":"wallet"}}`,
			`{"amount":1,"currency":"EUR","customer":{"id":"p","first_name":"J","last_name":"D","date_of_birth":"1990-02-30"},"destination":{"type":"original_method","payment":"{payment}"}}`,
			`{"amount":-1,"currency":"eur","customer":{},"destination":{"type":"bank_account","iban":"DE89 3704 0044 0532 0130 01"}}`,
			`{"amount":1e400,"currency":"EUR","customer":{"id":"` + strings.Repeat("x", 100) + `"},"destination":{"type":"card","card":"card_x"}}`,
			`{"amount":1,"currency":"EUR","metadata":"x","customer":null,"destination":null}`,
		}},
		{"/v1/payouts/po_nope/cancel", true, []string{`{}`}},
		{"/v1/payouts/po_nope/approve", true, nil},
	})
}
