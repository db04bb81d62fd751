package account_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/kassa/kassa/internal/browser"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
)

// The browser tests drive headless Chromium (internal/browser: skipped
// loudly without it, failed when KASSA_TEST_REQUIRE names chromium) over
// the fixture on http://localhost:<port>, with the DevTools WebAuthn
// virtual authenticator for passkeys. A failing test saves a screenshot;
// KASSA_TEST_ARTIFACTS=dir saves one of every step too.

// clickTo clicks the element sel and waits for the next document to
// load with an element matching next. The current document is marked
// first, so that a next page that looks like the current one (the
// sign-up's code steps) is not taken for it.
func clickTo(sel, next string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.Evaluate(`window.kassaTestOld = true`, nil),
		chromedp.Click(sel, chromedp.ByQuery),
		newPage(next),
	}
}

// newPage waits for a document that clickTo did not mark to have loaded
// with an element matching sel.
func newPage(sel string) chromedp.Action {
	js, _ := json.Marshal(sel)
	expr := `!window.kassaTestOld && document.readyState === "complete" && document.querySelector(` + string(js) + `) !== null`
	return chromedp.ActionFunc(func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for {
			var ok bool
			if err := chromedp.Evaluate(expr, &ok).Do(ctx); err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for a new page with %s: %w", sel, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
}

// text is the text of the first element matching a CSS selector.
func text(b *browser.Browser, sel string) string {
	var s string
	b.Run(chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

// outboxCode reads the newest code sent to to from the development
// outbox page (it leaves the current page).
func (f *fixture) outboxCode(t *testing.T, b *browser.Browser, to string) string {
	t.Helper()
	b.Run(chromedp.Navigate(f.origin+"/dev/outbox?to="+url.QueryEscape(to)), browser.Loaded("#messages"))
	var body string
	b.Run(chromedp.Evaluate(`(document.querySelector("li.message pre.body") || {}).textContent || ""`, &body))
	m := codeRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no code to %s on the outbox page: %q", to, body)
	}
	return m[1]
}

// cookies are the browser's cookies of the fixture, HttpOnly ones too.
func (f *fixture) cookies(b *browser.Browser) map[string]string {
	var cs []*network.Cookie
	b.Run(chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cs, err = network.GetCookies().WithURLs([]string{f.origin}).Do(ctx)
		return err
	}))
	out := map[string]string{}
	for _, c := range cs {
		out[c.Name] = c.Value
	}
	return out
}

// setCookie gives the browser a cookie of the fixture.
func (f *fixture) setCookie(b *browser.Browser, name, value string) {
	b.Run(network.SetCookie(name, value).WithURL(f.origin).WithHTTPOnly(true).WithSameSite(network.CookieSameSiteLax))
}

// apiPayment is the payment as the merchant's server reads it.
func (f *fixture) apiPayment(t *testing.T, id string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("GET", f.origin+"/v1/payments/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+f.merchant.SecretKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// payToChallenge pays p with a voucher on the payment page and follows
// its challenge link to the challenge page.
func (f *fixture) payToChallenge(t *testing.T, b *browser.Browser, p payment.Payment, pin string) {
	t.Helper()
	b.Run(
		chromedp.Navigate(f.origin+"/pay/"+p.ID+"?client_secret="+url.QueryEscape(p.ClientSecret)),
		browser.Loaded("#pin-1"),
		chromedp.SendKeys("#pin-1", pin, chromedp.ByID),
		clickTo("#submit", "#next"),
	)
	b.Snap("payment-challenged")
	if got := f.payment(t, p.ID); got.Risk.Challenge != payment.ChallengePending || got.Risk.Factor != risk.FactorPasskey {
		t.Fatalf("payment %s: challenge %q factor %q", got.Status, got.Risk.Challenge, got.Risk.Factor)
	}
	b.Run(clickTo("#next", "#challenge-cancel"))
}

// TestBrowserSignUpPasskeyStepUp is the payer's whole way: sign up in
// steps with the codes read from the outbox page, log out and in, add a
// passkey through the virtual authenticator (user verification on), then
// pay 500.00 EUR, which the merchant's rule steps up with a passkey: the
// challenge page approves it with the passkey and the payer lands back on
// the shop, the payment captured with trans_status Y. No code, password,
// session or device token reaches the log.
func TestBrowserSignUpPasskeyStepUp(t *testing.T) {
	f := newFixture(t)
	f.addRule(t, "large payments need a passkey", "amount >= 50000", risk.Challenge, risk.FactorPasskey)
	f.allowAutomatedBrowser(t)
	shop := browser.NewShop(t)
	b := browser.New(t)
	const email, phone, phoneE164 = "pia@example.com", "+43 660 7654321", "+436607654321"
	secrets := []string{goodPassword}
	keep := func(cs map[string]string) {
		for _, v := range cs {
			secrets = append(secrets, v)
		}
	}

	// Sign up.
	b.Run(
		cdpwebauthn.Enable().WithEnableUI(false),
		chromedp.Navigate(f.origin+"/signup"),
		browser.Loaded("#signup"),
		chromedp.SendKeys("#email", email, chromedp.ByID),
		chromedp.SendKeys("#phone", phone, chromedp.ByID),
	)
	b.Snap("signup")
	b.Run(clickTo("#signup button", "#signup-code"))
	keep(f.cookies(b)) // the sign-up's token
	emailCode := f.outboxCode(t, b, email)
	b.Run(
		chromedp.Navigate(f.origin+"/signup/verify"),
		browser.Loaded("#signup-code"),
		chromedp.SendKeys("#code", emailCode, chromedp.ByID),
		clickTo("#signup-code button", "#signup-code"),
	)
	if s := text(b, ".steps"); !strings.Contains(s, "Step 3 of 5") {
		t.Fatalf("after the email code: %q", s)
	}
	phoneCode := f.outboxCode(t, b, phoneE164)
	b.Run(
		chromedp.Navigate(f.origin+"/signup/verify"),
		browser.Loaded("#signup-code"),
		chromedp.SendKeys("#code", phoneCode, chromedp.ByID),
		clickTo("#signup-code button", "#signup-password"),
		chromedp.SendKeys("#password", goodPassword, chromedp.ByID),
		clickTo("#signup-password button", "#kyc"),
	)
	secrets = append(secrets, emailCode, phoneCode)
	keep(f.cookies(b))
	b.Snap("signup-kyc")
	b.Run(clickTo("#skip", "#passkeys"))
	if s := text(b, "#level"); !strings.HasPrefix(s, "Verified ") {
		t.Errorf("level on the account page: %q", s)
	}

	// Log out, log in: this browser became a known device at sign-up, so
	// no second factor.
	b.Run(
		clickTo("#logout", "#login"),
		chromedp.SendKeys("#email", email, chromedp.ByID),
		chromedp.SendKeys("#password", goodPassword, chromedp.ByID),
		clickTo("#login button", "#passkeys"),
	)
	cs := f.cookies(b)
	keep(cs)
	sess, err := f.identity.Authenticate(context.Background(), cs["kassa_session"])
	if err != nil {
		t.Fatalf("the browser's session: %v", err)
	}
	customer := sess.CustomerID

	// A passkey, with user verification: adding one needs a fresh second
	// factor first (a code by email), which comes back to the passkeys.
	b.Run(clickTo("#verify-passkeys", "#send-email"), clickTo("#send-email", "#factor-otp"))
	loginCode := f.outboxCode(t, b, email)
	secrets = append(secrets, loginCode)
	b.Run(
		chromedp.Navigate(f.origin+"/login/verify?sent=email&next="+url.QueryEscape("/account#passkeys")),
		browser.Loaded("#factor-otp"),
		chromedp.SendKeys("#otp-code", loginCode, chromedp.ByID),
		clickTo("#factor-otp button", "#add-passkey-button"),
	)
	keep(f.cookies(b))
	auth := b.AddAuthenticator(true)
	b.Run(clickTo("#add-passkey-button", ".notice"))
	b.Snap("passkey-added")
	if s := text(b, ".notice"); !strings.Contains(s, "Your passkey was added") {
		t.Fatalf("after adding a passkey: %q", s)
	}
	creds, err := f.passkeys.Credentials(context.Background(), customer)
	if err != nil || len(creds) != 1 || !creds[0].UserVerified || len(auth.Credentials()) != 1 {
		t.Fatalf("stored passkeys %+v (%v); the authenticator holds %d", creds, err, len(auth.Credentials()))
	}

	// A large payment: stepped up with the passkey.
	pin := f.issue(t, 60000).PIN
	p := f.createPayment(t, 50000, shop.URL+"/done?order=77")
	f.payToChallenge(t, b, p, pin)
	got := f.payment(t, p.ID)
	if got.PayerID != customer {
		t.Errorf("the challenged payment's payer %q, want the logged-in %s", got.PayerID, customer)
	}
	if ev, err := f.risk.Evaluation(context.Background(), got.MerchantID, got.Risk.EvaluationID); err != nil ||
		ev.Event.DeviceID != sess.DeviceID || ev.Event.CustomerID != customer {
		t.Errorf("risk event device %q customer %q (%v), want identity's %s and %s", ev.Event.DeviceID, ev.Event.CustomerID, err,
			sess.DeviceID, customer)
	}
	na, _ := f.apiPayment(t, p.ID)["next_action"].(map[string]any)
	if na["type"] != "risk_challenge" || na["factor"] != "passkey" ||
		na["redirect_url"] != f.origin+"/challenge/"+p.ID+"?client_secret="+url.QueryEscape(p.ClientSecret) {
		t.Errorf("the merchant's next_action: %v", na)
	}
	b.Snap("challenge")
	var loc string
	b.Run(
		clickTo("#approve-passkey", "#thanks"),
		chromedp.Location(&loc),
	)
	if q := shop.Got(); q.Get("payment_id") != p.ID || q.Get("status") != "captured" || q.Get("order") != "77" {
		t.Errorf("landed on %s", loc)
	}
	api := f.apiPayment(t, p.ID)
	rj, _ := api["risk"].(map[string]any)
	ch, _ := rj["challenge"].(map[string]any)
	if api["status"] != "captured" || api["amount_captured"] != 50000.0 || ch["trans_status"] != "Y" || ch["eci"] != "05" ||
		ch["status"] != "passed" || api["payer"] != customer {
		t.Errorf("payment after the step-up: status %v captured %v challenge %v payer %v", api["status"], api["amount_captured"], ch, api["payer"])
	}
	if c, _ := f.passkeys.Credentials(context.Background(), customer); len(c) != 1 || c[0].LastUsed.IsZero() {
		t.Errorf("the passkey's last use was not recorded: %+v", c)
	}

	// The payment is in the payer's history.
	b.Run(chromedp.Navigate(f.origin+"/account"), browser.Loaded("#payment-"+p.ID))
	b.Snap("history")

	// Without its device cookie the browser is a new device: the login's
	// second factor is the passkey, offered first.
	b.Run(network.DeleteCookies("kassa_device").WithURL(f.origin))
	b.Run(
		clickTo("#logout", "#login"),
		chromedp.SendKeys("#email", email, chromedp.ByID),
		chromedp.SendKeys("#password", goodPassword, chromedp.ByID),
		clickTo("#login button", "#use-passkey"),
	)
	b.Snap("login-second-factor")
	b.Run(clickTo("#use-passkey", "#passkeys"))
	cs = f.cookies(b)
	keep(cs)
	if s, err := f.identity.Authenticate(context.Background(), cs["kassa_session"]); err != nil || s.AAL != 2 || cs["kassa_device"] == "" {
		t.Errorf("after the passkey login: session %+v (%v), device cookie %q", s, err, cs["kassa_device"])
	}

	checkLogs(t, f, secrets...)
}

// checkLogs fails t when any of secrets is in the fixture's log.
func checkLogs(t *testing.T, f *fixture, secrets ...string) {
	t.Helper()
	logs := f.logs.String()
	if !strings.Contains(logs, "identity message sent") || !strings.Contains(logs, `"path":"/login"`) {
		t.Fatalf("the log does not look like the flow's (%d bytes): the search looks in the wrong place", len(logs))
	}
	n := 0
	for _, s := range secrets {
		if s == "" {
			continue
		}
		n++
		if strings.Contains(logs, s) {
			t.Errorf("the log contains a secret %q", s)
		}
	}
	t.Logf("searched %d bytes of log for %d secrets", len(logs), n)
}

// TestBrowserPasskeyWithoutUserVerification: an authenticator that
// cannot verify its user adds no passkey and approves no payment.
// Chromium refuses such a ceremony itself (the options require user
// verification); a response whose UV bit is cleared on the way is
// refused by the server, which fails the payment (N).
func TestBrowserPasskeyWithoutUserVerification(t *testing.T) {
	f := newFixture(t)
	f.addRule(t, "large payments need a passkey", "amount >= 50000", risk.Challenge, risk.FactorPasskey)
	f.allowAutomatedBrowser(t)
	res := f.freshFactor(t, "uma@example.com", f.signUp(t, "uma@example.com", "+4915112346666")) // adding passkeys needs it
	b := browser.New(t)
	ctx := context.Background()
	b.Run(cdpwebauthn.Enable().WithEnableUI(false), chromedp.Navigate(f.origin+"/login"), browser.Loaded("#login"))
	f.setCookie(b, "kassa_session", res.Token)
	f.setCookie(b, "kassa_device", res.DeviceToken)
	stored := func() int {
		cs, err := f.passkeys.Credentials(ctx, res.Customer.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(cs)
	}

	// Enrolment on an authenticator without user verification.
	noUV := b.AddAuthenticator(false)
	var refused string
	b.Run(
		chromedp.Navigate(f.origin+"/account"),
		browser.Loaded("#add-passkey-button"),
		chromedp.Click("#add-passkey-button", chromedp.ByID),
	)
	b.Run(
		chromedp.WaitVisible("#add-passkey [data-passkey-error]", chromedp.ByQuery),
		chromedp.AttributeValue("#add-passkey [data-passkey-error]", "data-error", &refused, nil, chromedp.ByQuery),
	)
	b.Snap("enrol-no-uv")
	t.Logf("Chromium, registration requiring UV on an authenticator without UV: %s %q", refused, text(b, "#add-passkey [data-passkey-error]"))
	if refused != "NotAllowedError" || stored() != 0 {
		t.Errorf("enrolment without UV: %q, %d passkeys stored", refused, stored())
	}
	noUV.Remove()

	// An authenticator that verifies, whose answer has the UV bit
	// cleared on the way: the server refuses it.
	uv := b.AddAuthenticator(true)
	b.Run(cdpwebauthn.SetResponseOverrideBits(uv.ID).WithIsBadUV(true))
	b.Run(clickTo("#add-passkey-button", "#passkeys-error"))
	b.Snap("enrol-bad-uv")
	if s := text(b, "#passkeys-error"); !strings.Contains(s, "did not verify you") || stored() != 0 {
		t.Errorf("enrolment with the UV bit cleared: %q, %d passkeys stored", s, stored())
	}
	b.Run(cdpwebauthn.SetResponseOverrideBits(uv.ID))
	b.Run(chromedp.Navigate(f.origin+"/account"), browser.Loaded("#add-passkey-button"),
		clickTo("#add-passkey-button", ".notice"))
	if stored() != 1 {
		t.Fatalf("%d passkeys stored after an honest enrolment", stored())
	}
	key := uv.Credentials()[0]
	uv.Remove()

	// Step-up with the same key pair on an authenticator without UV:
	// nothing is approved, and the payment still waits.
	noUV = b.AddAuthenticator(false)
	b.Run(cdpwebauthn.AddCredential(noUV.ID, key))
	p := f.createPayment(t, 50000, "")
	f.payToChallenge(t, b, p, f.issue(t, 50000).PIN)
	b.Run(chromedp.Click("#approve-passkey", chromedp.ByID))
	b.Run(chromedp.WaitVisible("#passkey-error", chromedp.ByID),
		chromedp.AttributeValue("#passkey-error", "data-error", &refused, nil, chromedp.ByID))
	b.Snap("step-up-no-uv")
	t.Logf("Chromium, step-up requiring UV on an authenticator without UV: %s %q", refused, text(b, "#passkey-error"))
	if got := f.payment(t, p.ID); refused != "NotAllowedError" || got.Risk.Challenge != payment.ChallengePending || got.AmountCaptured != 0 {
		t.Errorf("step-up without UV: %q; payment %s, challenge %s", refused, got.Status, got.Risk.Challenge)
	}
	noUV.Remove()

	// The UV bit cleared on the way of the assertion: the server refuses
	// the passkey, and the payment fails.
	uv = b.AddAuthenticator(true)
	b.Run(cdpwebauthn.AddCredential(uv.ID, key), cdpwebauthn.SetResponseOverrideBits(uv.ID).WithIsBadUV(true))
	b.Run(chromedp.Reload(), browser.Loaded("#approve-passkey"), clickTo("#approve-passkey", ".status"))
	b.Snap("step-up-bad-uv")
	if s := text(b, ".status"); !strings.Contains(s, "did not verify you") || !strings.Contains(s, "declined") {
		t.Errorf("the page after a refused passkey: %q", s)
	}
	got := f.payment(t, p.ID)
	if got.Status != payment.StatusFailed || got.Risk.TransStatus != "N" || got.AmountCaptured != 0 {
		t.Errorf("payment %s %s %s after a passkey without UV", got.Status, got.FailureCode, got.Risk.TransStatus)
	}
}

// TestBrowserNewDeviceAsksForCode: a payer who signed up elsewhere logs
// in from a fresh browser (no device cookie): the second-factor page asks
// for a code, which the outbox page shows; entered, the payer is logged
// in and this browser is a known device, so the next login asks nothing.
func TestBrowserNewDeviceAsksForCode(t *testing.T) {
	f := newFixture(t)
	const email = "nina@example.com"
	res := f.signUp(t, email, "+4915112347777")
	b := browser.New(t)
	b.Run(
		chromedp.Navigate(f.origin+"/login"),
		browser.Loaded("#login"),
		chromedp.SendKeys("#email", email, chromedp.ByID),
		chromedp.SendKeys("#password", goodPassword, chromedp.ByID),
		clickTo("#login button", "#otp"),
	)
	b.Snap("second-factor")
	if s := text(b, "main"); !strings.Contains(s, "This device is new to your account") || strings.Contains(s, "Passkey") {
		t.Errorf("second-factor page: %q", s)
	}
	pending := f.cookies(b)["kassa_session"]
	if _, err := f.identity.Authenticate(context.Background(), pending); err == nil {
		t.Fatal("the pending session authenticates before the second factor")
	}
	b.Run(clickTo("#send-email", "#otp-code"))
	code := f.outboxCode(t, b, email)
	b.Run(
		chromedp.Navigate(f.origin+"/login/verify?sent=email"),
		browser.Loaded("#otp-code"),
		chromedp.SendKeys("#otp-code", "999999", chromedp.ByID),
		clickTo("#factor-otp button", "#otp-code-error"),
	)
	var focused string
	b.Run(chromedp.Evaluate(`document.activeElement.id`, &focused))
	if focused != "otp-code" || !strings.Contains(text(b, "#otp-code-error"), "wrong") {
		t.Errorf("after a wrong code: focus on %q, error %q", focused, text(b, "#otp-code-error"))
	}
	if code == "999999" {
		t.Skip("the code drawn was the wrong one the test types")
	}
	b.Run(
		chromedp.SendKeys("#otp-code", code, chromedp.ByID),
		clickTo("#factor-otp button", "#passkeys"),
	)
	b.Snap("logged-in")
	cs := f.cookies(b)
	if cs["kassa_device"] == "" || cs["kassa_session"] == pending {
		t.Errorf("after the second factor: device cookie %q, session rotated %v", cs["kassa_device"], cs["kassa_session"] != pending)
	}
	devs, _ := f.identity.Devices(context.Background(), res.Customer.ID)
	if len(devs) != 2 {
		t.Errorf("%d known devices, want the sign-up's and this browser", len(devs))
	}

	// The next login from this browser asks for nothing more.
	b.Run(
		clickTo("#logout", "#login"),
		chromedp.SendKeys("#email", email, chromedp.ByID),
		chromedp.SendKeys("#password", goodPassword, chromedp.ByID),
		clickTo("#login button", "#passkeys"),
	)
	checkLogs(t, f, goodPassword, code, pending, cs["kassa_session"], cs["kassa_device"], cs["kassa_csrf"], res.Token, res.DeviceToken)
}
