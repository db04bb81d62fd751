package main

import (
	"cmp"
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/identitytest"
	"github.com/kassa/kassa/payout"
)

// TestE2EPayouts: a casino takes deposits by card and by vouchers, pays
// winnings to a player's wallet and to bank accounts (one paid, one
// returned after it was paid) and back to the card; the player tops the
// wallet up on the account page, spends it at another merchant and
// withdraws to a test IBAN that is returned after it was paid; the
// casino pays back with one split original_method payout. Over TLS on
// both backends; reconcile and ledger verify are clean at the end.
func TestE2EPayouts(t *testing.T) { forEachBackend(t, testE2EPayouts) }

func testE2EPayouts(t *testing.T, b backend) {
	sk, pk := createMerchantKeys(t, b)
	out, err := runKassa(t, b, "vouchers", "issue", "--count", "6", "--amount", "1000", "--currency", "EUR", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var pins []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var v issuedVoucher
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatal(err)
		}
		pins = append(pins, v.PIN)
	}
	clean := func(phase string) {
		t.Helper()
		if out, err := runKassa(t, b, "reconcile"); err != nil || !strings.Contains(out, " 0 mismatches") {
			t.Errorf("%s: reconcile: %v %s", phase, err, out)
		}
		if out, err := runKassa(t, b, "ledger", "verify"); err != nil {
			t.Errorf("%s: ledger verify: %v %s", phase, err, out)
		}
	}
	pins, spare := pins[:3], pins[3:]
	payer, login := kycPayer(t, b, "jane@example.com", "+436641234567", "Jane", "Doe", time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC))
	flags := []string{"--rate-limit", "0", "--test-bank-settle-delay", "1s", "--test-bank-return-delay", "1s"}
	s := startServe(t, b, flags...)

	// Deposits: 12.34 by card, 25.00 by three vouchers.
	cardDeposit := cardPay(t, s, sk, pk, acquirer.CardApproved)
	if cardDeposit["status"] != "captured" {
		t.Fatalf("card deposit: %v", cardDeposit)
	}
	p := s.call(t, "POST", "/v1/payments", sk, "", map[string]any{"amount": 2500, "currency": "EUR"}, 201)
	if c := s.call(t, "POST", "/v1/payments/"+p["id"].(string)+"/confirm", pk, "", map[string]any{
		"client_secret": p["client_secret"], "payment_method": map[string]any{"type": "voucher", "pins": pins}}, 200); c["status"] != "captured" {
		t.Fatalf("voucher deposit: %v", c)
	}
	player := map[string]any{"id": payer, "email": "jane@example.com", "first_name": "Jane", "last_name": "Doe",
		"date_of_birth": "1990-05-17"}

	waitPayout := func(id, status string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		var got map[string]any
		for time.Now().Before(deadline) {
			if got = s.call(t, "GET", "/v1/payouts/"+id, sk, "", nil, 200); got["status"] == status {
				return
			}
			// The risk engine may hold a withdrawal for review (deposit
			// then withdraw with little play): the merchant, with one
			// key, approves it itself.
			if got["status"] == "requires_review" {
				s.call(t, "POST", "/v1/payouts/"+id+"/approve", sk, "", nil, 200)
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Fatalf("payout %s did not become %s: %v", id, status, got)
	}
	clean("after the deposits")
	// Winnings to the player's wallet: paid at once.
	w := s.call(t, "POST", "/v1/payouts", sk, "win-1", map[string]any{"amount": 1000, "currency": "EUR",
		"customer": player, "destination": map[string]any{"type": "wallet"}}, 201)
	if w["rail"] != "wallet" {
		t.Errorf("wallet payout: %v", w)
	}
	waitPayout(w["id"].(string), "paid")
	clean("after the winnings")
	// Back to the deposits (original_method): the card gets its 12.34
	// back through the acquirer; the vouchers' share goes to the wallet.
	back := s.call(t, "POST", "/v1/payouts", sk, "", map[string]any{"amount": 1234, "currency": "EUR", "customer": player,
		"destination": map[string]any{"type": "original_method", "payment": cardDeposit["id"]}}, 201)
	if back["rail"] != "card" {
		t.Errorf("card deposit paid back by %v", back)
	}
	more := s.call(t, "POST", "/v1/payouts", sk, "", map[string]any{"amount": 1, "currency": "EUR", "customer": player,
		"destination": map[string]any{"type": "card", "payment": cardDeposit["id"]}}, 422)
	if more["code"] != "amount_exceeds_deposit" || more["param"] != "amount" {
		t.Errorf("beyond the card deposit: %v", more)
	}
	vback := s.call(t, "POST", "/v1/payouts", sk, "", map[string]any{"amount": 800, "currency": "EUR", "customer": player,
		"destination": map[string]any{"type": "original_method", "payment": p["id"]}}, 201)
	if vback["rail"] != "wallet" {
		t.Errorf("voucher deposit paid back: %v", vback)
	}
	waitPayout(vback["id"].(string), "paid")
	clean("after original_method")
	// Another merchant's deposit: not found, nothing reserved.
	osk, _ := createMerchantKeys(t, b)
	if o := s.call(t, "POST", "/v1/payouts", osk, "", map[string]any{"amount": 1, "currency": "EUR", "customer": player,
		"destination": map[string]any{"type": "original_method", "payment": p["id"]}}, 400); o["code"] != "payment_not_found" || o["param"] != "destination.payment" {
		t.Errorf("another merchant's deposit: %v", o)
	}
	// Another person's data for the payer's wallet: refused by KYC.
	mallory := map[string]any{"id": payer, "first_name": "Mallory", "last_name": "Doe", "date_of_birth": "1990-05-17"}
	if k := s.call(t, "POST", "/v1/payouts", sk, "", map[string]any{"amount": 100, "currency": "EUR", "customer": mallory,
		"destination": map[string]any{"type": "wallet"}}, 400); k["code"] != "kyc_mismatch" {
		t.Errorf("wallet payout with another name: %v", k)
	}
	// A bad IBAN and more than the balance: problems, nothing reserved.
	bad := s.call(t, "POST", "/v1/payouts", sk, "", map[string]any{"amount": 100, "currency": "EUR", "customer": player,
		"destination": map[string]any{"type": "bank_account", "iban": "DE89370400440532013001", "account_holder": "Jane Doe"}}, 400)
	if bad["code"] != "iban_checksum_invalid" || bad["param"] != "destination.iban" {
		t.Errorf("bad IBAN: %v", bad)
	}
	big := s.call(t, "POST", "/v1/payouts", sk, "", map[string]any{"amount": 999_999, "currency": "EUR", "customer": player,
		"destination": map[string]any{"type": "wallet"}}, 422)
	if big["code"] != "balance_insufficient" {
		t.Errorf("above balance: %v", big)
	}
	// Withdrawals to test IBANs: one paid, one returned after it was paid.
	bank := func(iban string, amount int) string {
		po := s.call(t, "POST", "/v1/payouts", sk, "", map[string]any{"amount": amount, "currency": "EUR", "customer": player,
			"destination": map[string]any{"type": "bank_account", "iban": iban, "account_holder": "DOE, Jane"}}, 201)
		return po["id"].(string)
	}
	paid := bank(payout.IBANCheckDigits("DE", "100100100000000000"), 100)
	returned := bank(payout.IBANCheckDigits("DE", "100100100000000003"), 100)
	waitPayout(back["id"].(string), "paid")
	waitPayout(paid, "paid")
	waitPayout(returned, "returned")
	if got := s.call(t, "GET", "/v1/payouts/"+returned, sk, "", nil, 200); got["failure_code"] != "MD07" {
		t.Errorf("returned payout: %v", got)
	}
	list := s.call(t, "GET", "/v1/payouts?customer="+payer+"&limit=10", sk, "", nil, 200)
	if data, _ := list["data"].([]any); len(data) != 5 {
		t.Errorf("list: %v", list)
	}
	clean("after the withdrawals")
	// The balance: 37.34 deposited; 10.00 winnings and 8.00 of the
	// vouchers' to the wallet, 12.34 to the card, 1.00 to the bank (the
	// other 1.00 came back).
	bal := s.call(t, "GET", "/v1/balance", sk, "", nil, 200)
	if !strings.Contains(mustJSON(t, bal), `"available":[{"amount":600,"currency":"EUR"}]`) {
		t.Errorf("balance after payouts: %v", bal)
	}
	testE2EWallet(t, s, sk, osk, player, login, spare, clean)
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("stop: %v", err)
	}
	clean("after payouts")
}

// testE2EWallet goes on with the player of testE2EPayouts on the hosted
// pages over TLS: a top-up by voucher from the account page, the wallet
// spent at another merchant, a withdrawal to a test IBAN that is returned
// after it was paid; then the casino pays back with one split payout
// over the player's deposits.
func testE2EWallet(t *testing.T, s *server, sk, osk string, player map[string]any, login identity.LoginResult, pins []string, clean func(phase string)) {
	t.Helper()
	pc := newPayerClient(t, s, login)
	pc.get("/account")
	if !strings.Contains(pc.body, `id="topup"`) {
		t.Fatalf("the account page has no top-up form:\n%s", pc.body)
	}
	loc := pc.post("/account/topup", url.Values{"amount": {"10.00"}, "currency": {"EUR"}})
	if !strings.HasPrefix(loc, "/pay/pay_") {
		t.Fatalf("top-up went to %q", loc)
	}
	u, _ := url.Parse(loc)
	pc.get(loc)
	if back := pc.post(u.Path, url.Values{"client_secret": {u.Query().Get("client_secret")}, "pin": {pins[0]}}); !strings.Contains(back, "/account") {
		t.Fatalf("paying the top-up went to %q", back)
	}
	pc.get("/account")
	// 10.00 winnings + 8.00 vouchers' share + 10.00 top-up.
	if !strings.Contains(pc.body, "€28.00</strong> available") {
		t.Fatalf("wallet after the top-up:\n%s", pc.body)
	}
	clean("after the top-up")
	// The wallet spent at another merchant, on its hosted page.
	op := s.call(t, "POST", "/v1/payments", osk, "", map[string]any{"amount": 500, "currency": "EUR"}, 201)
	pc.get("/pay/" + op["id"].(string) + "?client_secret=" + url.QueryEscape(op["client_secret"].(string)))
	pc.post("/pay/"+op["id"].(string), url.Values{"client_secret": {op["client_secret"].(string)}, "method": {"kassa_balance"}})
	if got := s.call(t, "GET", "/v1/payments/"+op["id"].(string), osk, "", nil, 200); got["status"] != "captured" || got["payer"] == nil {
		t.Fatalf("paid with the wallet at another merchant: %v", got)
	}
	clean("after the wallet paid another merchant")
	// A withdrawal to a test IBAN that is paid, then returned.
	pc.get("/account")
	if done := pc.post("/account/withdraw", url.Values{"amount": {"3.00"}, "currency": {"EUR"}, "to": {"bank"},
		"iban": {payout.IBANCheckDigits("DE", "100100100000000003")}}); !strings.Contains(done, "done=withdrawal") {
		t.Fatalf("withdrawal went to %q\n%s", done, pc.body)
	}
	deadline := time.Now().Add(60 * time.Second)
	for pc.get("/account"); !strings.Contains(pc.body, "Returned to your balance"); pc.get("/account") {
		if time.Now().After(deadline) {
			t.Fatalf("the withdrawal was not returned:\n%s", pc.body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if !strings.Contains(pc.body, "€23.00</strong> available") {
		t.Fatalf("wallet after the returned withdrawal (28 - 5 spent, 3 back):\n%s", pc.body)
	}
	clean("after the returned withdrawal")
	// Another deposit by vouchers, for the player (customer.id), then one
	// original_method payout without a payment: the vouchers' 15.00 and
	// 5.00 winnings, both to the wallet, reserved together.
	p := s.call(t, "POST", "/v1/payments", sk, "", map[string]any{"amount": 1500, "currency": "EUR",
		"customer": map[string]any{"id": player["id"]}}, 201)
	s.call(t, "POST", "/v1/payments/"+p["id"].(string)+"/confirm", sk, "", map[string]any{
		"client_secret": p["client_secret"], "payment_method": map[string]any{"type": "voucher", "pins": pins[1:3]}}, 200)
	split := s.call(t, "POST", "/v1/payouts", sk, "split-1", map[string]any{"amount": 2000, "currency": "EUR", "customer": player,
		"destination": map[string]any{"type": "original_method"}}, 201)
	legs, _ := split["legs"].([]any)
	if len(legs) != 2 {
		t.Fatalf("split payout: %v", split)
	}
	for _, l := range legs {
		leg := l.(map[string]any)
		if leg["rail"] != "wallet" || leg["status"] != "paid" || leg["split_of"] != split["id"] {
			t.Errorf("leg: %v", leg)
		}
	}
	pc.get("/account")
	if !strings.Contains(pc.body, "€43.00</strong> available") {
		t.Fatalf("wallet after the split payout:\n%s", pc.body)
	}
}

// payerClient is a browser without JavaScript over TLS, logged in.
type payerClient struct {
	t    *testing.T
	s    *server
	c    *http.Client
	body string
}

func newPayerClient(t *testing.T, s *server, login identity.LoginResult) *payerClient {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(s.base)
	jar.SetCookies(u, []*http.Cookie{{Name: "__Host-kassa_session", Value: login.Token, Path: "/", Secure: true},
		{Name: "__Host-kassa_device", Value: login.DeviceToken, Path: "/", Secure: true}})
	return &payerClient{t: t, s: s, c: &http.Client{Transport: s.client.Transport, Jar: jar, Timeout: s.client.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (pc *payerClient) get(path string) {
	pc.t.Helper()
	resp, err := pc.c.Get(pc.s.base + path)
	if err != nil {
		pc.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pc.body = string(b)
	if resp.StatusCode != 200 {
		pc.t.Fatalf("GET %s = %d\n%s", path, resp.StatusCode, pc.body)
	}
}

// receiptBack finds the voucher receipt's way back.
var receiptBack = regexp.MustCompile(`id="vouchers-left"(?s:.*)<a class="button" id="back" href="([^"]+)"`)

// post sends a form with the last page's CSRF token (if any) and returns
// where the answer redirects to (or the voucher receipt's way back).
func (pc *payerClient) post(path string, form url.Values) string {
	pc.t.Helper()
	if m := csrfField.FindStringSubmatch(pc.body); m != nil {
		form.Set("csrf", m[1])
	}
	req, _ := http.NewRequest("POST", pc.s.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", pc.s.base)
	resp, err := pc.c.Do(req)
	if err != nil {
		pc.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	pc.body = string(b)
	// Paid with vouchers, the checkout answers with the receipt (what is
	// left on each voucher) and its way back.
	if m := receiptBack.FindStringSubmatch(pc.body); resp.StatusCode == http.StatusOK && m != nil {
		return strings.TrimPrefix(html.UnescapeString(m[1]), pc.s.base)
	}
	if resp.StatusCode != http.StatusSeeOther {
		pc.t.Fatalf("POST %s = %d\n%s", path, resp.StatusCode, pc.body)
	}
	return strings.TrimPrefix(resp.Header.Get("Location"), pc.s.base)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// kycPayer signs a payer up with the real identity service over b's
// database (codes from the development outbox), verifies their identity
// and returns the Kassa account's id and a login whose session passed a
// second factor just now (the account page lets it withdraw).
func kycPayer(t *testing.T, b backend, email, phone, given, family string, born time.Time) (string, identity.LoginResult) {
	t.Helper()
	ctx := context.Background()
	var cfg appConfig
	fs := newFlagSet("test", "", io.Discard)
	cfg.register(fs)
	if err := parseFlags(fs, b.args, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	a, err := newApp(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	client := identity.Client{IP: "192.0.2.7", UserAgent: "e2e"}
	su, err := a.identity.SignUp(ctx, identity.SignUpRequest{Email: email, Phone: phone, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{email, phone} {
		if _, err := a.identity.SignUpConfirm(ctx, su.Token, identitytest.LastCode(t, a.outbox, to)); err != nil {
			t.Fatalf("confirm %s: %v", to, err)
		}
	}
	res, err := a.identity.SignUpPassword(ctx, su.Token, "correct horse battery staple 42", client)
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.identity.SubmitKYC(ctx, res.Customer.ID, identity.IdentityData{GivenName: given, FamilyName: family, BirthDate: born,
		Address:      identity.Address{Line1: "Hauptstr. 1", City: "Wien", PostalCode: "1010", Country: "AT"},
		DocumentType: identity.DocumentPassport, DocumentCountry: "AT", DocumentNumber: "P1234567"})
	if err != nil || c.Level != identity.LevelKYCVerified {
		t.Fatalf("KYC: %+v %v", c, err)
	}
	// The second factor: an authenticator app (the codes by email and
	// SMS were just sent, and may not be sent again so soon).
	enr, err := a.identity.EnrolTOTP(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(enr.Secret, time.Now())
	if _, err := a.identity.ConfirmTOTP(ctx, c.ID, code); err != nil {
		t.Fatal(err)
	}
	code, _ = totp.GenerateCode(enr.Secret, time.Now().Add(identity.TOTPPeriod)) // not a replay
	fresh, err := a.identity.VerifySecondFactor(ctx, res.Token, identity.Proof{Factor: identity.FactorTOTP, Code: code}, client)
	if err != nil {
		t.Fatal(err)
	}
	fresh.DeviceToken = cmp.Or(fresh.DeviceToken, res.DeviceToken)
	return c.ID, fresh
}
