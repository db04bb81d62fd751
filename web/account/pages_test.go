package account_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/passkey/passkeytest"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
)

// TestSignUpInSteps walks the sign-up without JavaScript: email and phone,
// both codes from the outbox, a password (refused when weak), the
// optional KYC step (refused when under 18), then the account page at
// level kyc_verified.
func TestSignUpInSteps(t *testing.T) {
	f := newFixture(t)
	v := f.visitor(t)
	const email, phone = "ada@example.com", "+43 660 1234567"

	v.wantPage("GET /signup", v.get("/signup"), 200, "Step 1 of 5", `autocomplete="email"`, `type="tel"`)
	resp := v.post("/signup", url.Values{"email": {"not-an-address"}, "phone": {phone}})
	v.wantPage("bad email", resp, 422, `id="email-error" role="alert"`, `aria-invalid="true"`, "autofocus", `value="&#43;43 660 1234567"`)

	resp = v.post("/signup", url.Values{"email": {email}, "phone": {phone}})
	v.wantPage("step 2", v.follow(resp), 200, "Step 2 of 5: Confirm your email", email)
	resp = v.post("/signup/verify", url.Values{"code": {"000000"}})
	v.wantPage("wrong email code", resp, 422, "This code is wrong or has expired", `id="code-error" role="alert"`)
	resp = v.post("/signup/verify", url.Values{"code": {f.lastCode(t, email)}})
	v.wantPage("step 3", v.follow(resp), 200, "Step 3 of 5: Confirm your phone", "<strong>+43********67</strong>")
	resp = v.post("/signup/verify", url.Values{"code": {f.lastCode(t, "+436601234567")}})
	v.wantPage("step 4", v.follow(resp), 200, "Step 4 of 5: Choose a password", `autocomplete="new-password"`)

	resp = v.post("/signup/password", url.Values{"password": {"tooshort"}})
	v.wantPage("weak password", resp, 422, `id="password-error" role="alert"`)
	if strings.Contains(v.body, "tooshort") {
		t.Error("the page shows the refused password")
	}
	resp = v.post("/signup/password", url.Values{"password": {goodPassword}})
	v.wantPage("step 5", v.follow(resp), 200, "Step 5 of 5: Verify your identity (optional)", "Skip for now")
	if v.cookie("kassa_session") == "" || v.cookie("kassa_device") == "" || v.cookie("kassa_signup") != "" {
		t.Errorf("after sign-up: session %q, device %q, sign-up %q", v.cookie("kassa_session"), v.cookie("kassa_device"), v.cookie("kassa_signup"))
	}

	kyc := url.Values{"signup": {"1"}, "given_name": {"Ada"}, "family_name": {"Lovelace"},
		"birth_date": {time.Now().AddDate(-17, 0, 0).Format(time.DateOnly)}, "address_line1": {"Ringstraße 1"},
		"address_postal_code": {"1010"}, "address_city": {"Wien"}, "address_country": {"AT"}, "document_type": {"passport"},
		"document_country": {"AT"}, "document_number": {"P1234567"}}
	resp = v.post("/account/kyc", kyc)
	v.wantPage("KYC under 18", resp, 422, "at least 18", `id="birth-date-error" role="alert"`, `value="Lovelace"`)
	if strings.Contains(v.body, "P1234567") {
		t.Error("the KYC page writes the document number back")
	}
	kyc.Set("birth_date", "1990-12-10")
	resp = v.post("/account/kyc", kyc)
	v.wantPage("account page", v.follow(resp), 200, "Thank you: your identity is verified", "Identity verified", email)

	// The same email again: the address hears that it has an account
	// (no code, so the visitor learns nothing), and a new code is that
	// message again.
	w := f.visitor(t)
	w.get("/signup")
	resp = w.post("/signup", url.Values{"email": {email}, "phone": {"+43 660 7654321"}})
	w.wantPage("again: step 2", w.follow(resp), 200, "Step 2 of 5: Confirm your email")
	resp = w.post("/signup/resend", url.Values{})
	w.wantPage("a new code", w.follow(resp), 200, "We sent a new code.")
	resp = w.post("/signup/verify", url.Values{"code": {"123456"}})
	w.wantPage("a guessed code", resp, 422, "This code is wrong or has expired")

	// Logged out, the account page sends to the login, which comes back.
	v.post("/logout", url.Values{})
	resp = v.get("/account")
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/login?next=%2Faccount" {
		t.Fatalf("GET /account logged out = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	v.get("/login?next=%2Faccount")
	resp = v.post("/login", url.Values{"email": {email}, "password": {goodPassword}, "next": {"/account"}})
	if resp.Header.Get("Location") != "/account" {
		t.Errorf("login from a known device went to %q, want the account page without a second factor", resp.Header.Get("Location"))
	}
}

// TestLoginBruteForce: wrong passwords through the login page hit the
// lockout, and an address with an account reads exactly like one
// without: the same messages, statuses and Retry-After.
func TestLoginBruteForce(t *testing.T) {
	f := newFixture(t)
	f.signUp(t, "known@example.com", "+4915112345678")
	pages := map[string][]string{}
	for _, email := range []string{"known@example.com", "nobody@example.com"} {
		v := f.visitor(t)
		v.get("/login")
		for i := range identity.DefaultLimits.Account.Failures + 1 {
			resp := v.post("/login", url.Values{"email": {email}, "password": {"wrong password number " + string(rune('a'+i))}})
			pages[email] = append(pages[email], resp.Status+" "+strconv.FormatBool(resp.Header.Get("Retry-After") != "")+" "+formError(v.body))
		}
		// The right password is refused while locked.
		resp := v.post("/login", url.Values{"email": {email}, "password": {goodPassword}})
		pages[email] = append(pages[email], resp.Status+" "+formError(v.body))
		if resp.StatusCode != http.StatusTooManyRequests || v.cookie("kassa_session") != "" {
			t.Errorf("%s: the right password during the lockout = %d, session cookie %q", email, resp.StatusCode, v.cookie("kassa_session"))
		}
	}
	known, unknown := pages["known@example.com"], pages["nobody@example.com"]
	t.Logf("answers: %q", known)
	for i := range known {
		if known[i] != unknown[i] {
			t.Errorf("attempt %d: an address with an account reads %q, one without %q", i+1, known[i], unknown[i])
		}
	}
	if !strings.Contains(known[0], "422") || !strings.Contains(known[0], "The email address or password is wrong.") {
		t.Errorf("first wrong password: %q", known[0])
	}
	last := known[len(known)-2]
	if !strings.Contains(last, "429") || !strings.Contains(last, "Too many failed attempts") || !strings.Contains(last, "minutes") {
		t.Errorf("past the limit: %q, want 429 and the lockout message", last)
	}
}

var formErrorRE = regexp.MustCompile(`id="form-error" role="alert">([^<]*)<`)

func formError(body string) string {
	if m := formErrorRE.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// TestAccountTOTP enrols an authenticator app (QR code and otpauth URI,
// a wrong then a right first code), shows the recovery codes once, and
// refuses to turn it off before the session passed a second factor.
func TestAccountTOTP(t *testing.T) {
	f := newFixture(t)
	res := f.signUp(t, "tess@example.com", "+4915112345679")
	v := f.visitor(t)
	v.setSession(res)
	v.wantPage("account", v.get("/account"), 200, "Set up an authenticator app")
	resp := v.post("/account/totp", url.Values{})
	v.wantPage("enrolment", resp, 200, `src="data:image/png;base64,`, `href="otpauth://totp/`, `id="totp-secret"`)
	secret := regexp.MustCompile(`secret=([A-Z2-7]+)`).FindStringSubmatch(v.body)
	uri := regexp.MustCompile(`name="uri" value="([^"]+)"`).FindStringSubmatch(v.body)
	if secret == nil || uri == nil {
		t.Fatalf("no secret in the page:\n%s", v.body)
	}
	resp = v.post("/account/totp/confirm", url.Values{"uri": {htmlUnescape(uri[1])}, "totp_code": {"000000"}})
	v.wantPage("wrong first code", resp, 422, "This code is wrong", secret[1])
	code, err := totp.GenerateCode(secret[1], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp = v.post("/account/totp/confirm", url.Values{"uri": {htmlUnescape(uri[1])}, "totp_code": {code}})
	v.wantPage("recovery codes", resp, 200, "Save your recovery codes", `id="recovery-codes"`)
	if n := len(regexp.MustCompile(`<li>[a-z2-7]{5}-[a-z2-7]{5}</li>`).FindAllString(v.body, -1)); n != identity.RecoveryCodeCount {
		t.Errorf("%d recovery codes shown", n)
	}
	v.wantPage("account", v.get("/account"), 200, "10 recovery codes left", "Turn off")
	if strings.Contains(v.body, "-") && regexp.MustCompile(`<li>[a-z2-7]{5}-[a-z2-7]{5}</li>`).MatchString(v.body) {
		t.Error("the account page shows recovery codes again")
	}

	// The sign-up's session is aal1: turning the app off asks for a
	// second factor first.
	resp = v.post("/account/totp/disable", url.Values{})
	if resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login/verify?next=") {
		t.Fatalf("disable at aal1 = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	v.wantPage("step-up page", v.follow(resp), 200, "To go on, confirm it is you", "Authenticator app", "Recovery code")
	code, _ = totp.GenerateCode(secret[1], time.Now().Add(identity.TOTPPeriod)) // the next step: not a replay
	resp = v.post("/login/verify", url.Values{"factor": {"totp"}, "totp_code": {code}, "next": {"/account#totp"}})
	v.wantPage("back on the account page", v.follow(resp), 200, "Turn off")
	resp = v.post("/account/totp/disable", url.Values{})
	v.wantPage("turned off", v.follow(resp), 200, "Your authenticator app was turned off")
	if c, _ := f.identity.Customer(context.Background(), res.Customer.ID); c.TOTP {
		t.Error("TOTP still on")
	}
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#61;", "=").Replace(s)
}

// TestCheckoutKnowsThePayer: a logged-in payer's confirmation on the
// payment page carries their account and device (the risk event has
// identity's device id), and the payment shows in their history.
func TestCheckoutKnowsThePayer(t *testing.T) {
	f := newFixture(t)
	res := f.signUp(t, "paula@example.com", "+4915112340000")
	v := f.visitor(t)
	v.setSession(res)
	vch := f.issue(t, 1000)
	p := f.createPayment(t, 700, "")
	v.get("/pay/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret))
	resp := v.post("/pay/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "pin": {vch.PIN}, "csrf": {""}})
	if resp.StatusCode != 200 || !strings.Contains(v.body, `id="vouchers-left"`) { // paid: the voucher receipt
		t.Fatalf("pay = %d\n%s", resp.StatusCode, v.body)
	}
	got := f.payment(t, p.ID)
	if got.Status != payment.StatusCaptured || got.PayerID != res.Customer.ID {
		t.Fatalf("payment %s, payer %q; want captured by %s", got.Status, got.PayerID, res.Customer.ID)
	}
	ev, err := f.risk.Evaluation(context.Background(), got.MerchantID, got.Risk.EvaluationID)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Event.DeviceID != res.Device.DeviceID || ev.Event.CustomerID != res.Customer.ID {
		t.Errorf("risk event device %q customer %q, want identity's %q and %q", ev.Event.DeviceID, ev.Event.CustomerID,
			res.Device.DeviceID, res.Customer.ID)
	}
	v.wantPage("history", v.get("/account"), 200, `id="payment-`+p.ID+`"`, "€7.00", "Acme Bets &amp; Games", "<td>Paid</td>")

	// A payer who is not logged in pays anonymously, as before.
	anon := f.visitor(t)
	vch = f.issue(t, 1000)
	p = f.createPayment(t, 700, "")
	anon.get("/pay/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret))
	anon.post("/pay/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "pin": {vch.PIN}, "csrf": {""}})
	if got := f.payment(t, p.ID); got.Status != payment.StatusCaptured || got.PayerID != "" {
		t.Errorf("anonymous payment %s, payer %q", got.Status, got.PayerID)
	}
}

// challenged makes a payment the merchant's rule challenges with factor
// and confirms it on the payment page as v; it returns the payment.
func challenged(t *testing.T, f *fixture, v *visitor, amount money.Amount, returnURL string) payment.Payment {
	t.Helper()
	vch := f.issue(t, 100000)
	p := f.createPayment(t, amount, returnURL)
	v.get("/pay/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret))
	resp := v.post("/pay/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "pin": {vch.PIN}, "csrf": {""}})
	v.wantPage("challenged payment", resp, 202, "One more step needed", `href="/challenge/`+p.ID+`?client_secret=`)
	got := f.payment(t, p.ID)
	if got.Risk.Challenge != payment.ChallengePending {
		t.Fatalf("payment %s, challenge %q", got.Status, got.Risk.Challenge)
	}
	return got
}

// TestChallengeWithCode: a payment its logged-in payer confirmed and
// Kassa challenged for a one-time code sends a browser without the
// payer's login to log in and back, then passes with the code sent by
// email; the payment is captured 3-D Secure style (Y/05) and the payer is
// the account.
func TestChallengeWithCode(t *testing.T) {
	f := newFixture(t)
	f.addRule(t, "codes from 100.00", "amount >= 10000", risk.Challenge, risk.FactorOTP)
	res := f.signUp(t, "otto@example.com", "+4915112341111")
	payer := f.visitor(t)
	payer.setSession(res)
	p := challenged(t, f, payer, 12000, "https://shop.example/done?order=9")
	page := "/challenge/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret)

	// The payer opens the challenge in another browser.
	v := f.visitor(t)
	v.wantPage("challenge, logged out", v.get(page), 200, "Log in", `href="/login?next=%2fchallenge%2f`+p.ID)
	if strings.Contains(v.body, "score") || strings.Contains(v.body, "rule") {
		t.Error("the challenge page names risk details")
	}
	v.get("/login?next=" + url.QueryEscape(page))
	v.setCookie("kassa_device", res.DeviceToken) // this device is known
	resp := v.post("/login", url.Values{"email": {"otto@example.com"}, "password": {goodPassword}, "next": {page}})
	if resp.Header.Get("Location") != page {
		t.Fatalf("login went to %q, want back to %q", resp.Header.Get("Location"), page)
	}
	v.wantPage("challenge, logged in", v.follow(resp), 200, "Confirm this payment with a one-time code", "Email me a code", "Text me a code")
	resp = v.post("/challenge/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "action": {"send_code"}, "channel": {"email"}})
	v.wantPage("code sent", v.follow(resp), 200, "We sent you a code", `id="code"`)
	resp = v.post("/challenge/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "action": {"verify_code"}, "sent": {"email"}, "code": {"000000"}})
	v.wantPage("wrong code", resp, 422, "This code is wrong or has expired")
	code := f.lastCode(t, "otto@example.com")
	// The message says what the code approves, never the payment's id.
	if ms, _ := f.outbox.Messages(context.Background(), "otto@example.com", 1); len(ms) == 0 ||
		!strings.HasPrefix(ms[0].Body, code+" approves €120.00 to Acme Bets & Games.") || strings.Contains(ms[0].Body+ms[0].Subject, p.ID) {
		t.Errorf("step-up message %+v: not dynamically linked, or names the payment", ms)
	}
	resp = v.post("/challenge/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "action": {"verify_code"}, "code": {code}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "https://shop.example/done?order=9&payment_id="+p.ID+"&status=captured" {
		t.Fatalf("passed challenge = %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), v.body)
	}
	got := f.payment(t, p.ID)
	if got.Status != payment.StatusCaptured || got.Risk.TransStatus != "Y" || got.Risk.ECI != "05" || got.PayerID != res.Customer.ID {
		t.Errorf("payment %s %s/%s payer %q", got.Status, got.Risk.TransStatus, got.Risk.ECI, got.PayerID)
	}
	// The code is spent, the challenge over: the page shows the outcome.
	v.wantPage("challenge after", v.get(page), 200, "Approved", "Back to Acme Bets &amp; Games")
}

// TestChallengeFails: the payer's cancel, and too many wrong codes, fail
// the payment (N/07) and the page says so; a factor other than the one
// asked for is refused.
func TestChallengeFails(t *testing.T) {
	f := newFixture(t)
	f.addRule(t, "codes from 100.00", "amount >= 10000 && amount < 50000", risk.Challenge, risk.FactorOTP)
	f.addRule(t, "passkeys from 500.00", "amount >= 50000", risk.Challenge, risk.FactorPasskey)
	res := f.signUp(t, "fay@example.com", "+4915112342222")
	v := f.visitor(t)
	v.setSession(res)

	t.Run("cancel", func(t *testing.T) {
		v.t = t
		p := challenged(t, f, v, 15000, "https://shop.example/r")
		v.get("/challenge/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret))
		resp := v.post("/challenge/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "action": {"cancel"}})
		v.wantPage("canceled", resp, 402, "Not approved", "You canceled the payment.", "nothing was charged",
			`href="https://shop.example/r?payment_id=`+p.ID+`&amp;status=failed"`)
		got := f.payment(t, p.ID)
		if got.Status != payment.StatusFailed || got.FailureCode != payment.FailureChallengeFailed || got.Risk.TransStatus != "N" {
			t.Errorf("payment %s %s %s", got.Status, got.FailureCode, got.Risk.TransStatus)
		}
	})
	t.Run("wrong codes", func(t *testing.T) {
		v.t = t
		p := challenged(t, f, v, 16000, "")
		v.get("/challenge/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret))
		v.follow(v.post("/challenge/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "action": {"send_code"}, "channel": {"sms"}}))
		right := f.lastCode(t, "+4915112342222")
		wrong := "111111"
		if right == wrong {
			wrong = "222222"
		}
		tok := v.csrf()
		var resp *http.Response
		for range identity.DefaultLimits.Account.Failures + 1 {
			resp = v.post("/challenge/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "action": {"verify_code"}, "code": {wrong}})
			if resp.StatusCode != 422 {
				break
			}
		}
		v.wantPage("too many wrong codes", resp, 402, "Too many wrong codes were entered.", "Not approved")
		if got := f.payment(t, p.ID); got.Status != payment.StatusFailed || got.Risk.Challenge != payment.ChallengeFailed {
			t.Errorf("payment %s, challenge %s", got.Status, got.Risk.Challenge)
		}
		// The right code afterwards changes nothing.
		v.post("/challenge/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "action": {"verify_code"}, "code": {right}, "csrf": {tok}})
		if got := f.payment(t, p.ID); got.Status != payment.StatusFailed {
			t.Errorf("payment %s after the right code", got.Status)
		}
	})
	t.Run("passkey asked, none enrolled", func(t *testing.T) {
		v.t = t
		p := challenged(t, f, v, 60000, "")
		v.wantPage("no passkey", v.get("/challenge/"+p.ID+"?client_secret="+url.QueryEscape(p.ClientSecret)), 200,
			`id="no-passkey"`, "A passkey added now cannot confirm it")
		if strings.Contains(v.body, "send_code") {
			t.Error("a payment that needs a passkey offers a code")
		}
		n := f.outboxCount(t, "fay@example.com")
		resp := v.post("/challenge/"+p.ID, url.Values{"client_secret": {p.ClientSecret}, "action": {"send_code"}, "channel": {"email"}})
		v.wantPage("code for a passkey challenge", resp, 409, "another kind of confirmation")
		if f.outboxCount(t, "fay@example.com") != n {
			t.Error("a code was sent for a passkey challenge")
		}
		if got := f.payment(t, p.ID); got.Risk.Challenge != payment.ChallengePending {
			t.Errorf("challenge %s", got.Risk.Challenge)
		}
	})
	t.Run("someone else's secret", func(t *testing.T) {
		v.t = t
		p := challenged(t, f, v, 17000, "")
		resp := v.get("/challenge/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret+"x"))
		v.wantPage("wrong secret", resp, 404, "does not exist")
		resp = v.post("/challenge/"+p.ID, url.Values{"client_secret": {"nope"}, "action": {"cancel"}, "csrf": {csrfOf(t, f, v, p)}})
		v.wantPage("cancel with a wrong secret", resp, 404)
		if got := f.payment(t, p.ID); got.Risk.Challenge != payment.ChallengePending {
			t.Errorf("challenge %s after a cancel with the wrong secret", got.Risk.Challenge)
		}
	})
}

// csrfOf loads a challenge page and returns its CSRF token.
func csrfOf(t *testing.T, f *fixture, v *visitor, p payment.Payment) string {
	t.Helper()
	v.get("/challenge/" + p.ID + "?client_secret=" + url.QueryEscape(p.ClientSecret))
	return v.csrf()
}

// TestPasskeyPages adds a passkey through the account page (after a
// fresh second factor) with a software authenticator (the browser tests use Chromium's), renames it,
// logs in from a new device with it as the second factor (refused
// without user verification), and deletes it.
func TestPasskeyPages(t *testing.T) {
	f := newFixture(t)
	res := f.signUp(t, "petra@example.com", "+4915112348888")
	v := f.visitor(t)
	v.setSession(res)
	a := passkeytest.New(f.origin)
	options := func(v *visitor, path string) (string, []byte) {
		t.Helper()
		if resp := v.post(path, url.Values{}); resp.StatusCode != 200 {
			t.Fatalf("POST %s = %d %s", path, resp.StatusCode, v.body)
		}
		var o struct {
			CeremonyID string          `json:"ceremony_id"`
			Options    json.RawMessage `json:"options"`
		}
		if err := json.Unmarshal([]byte(v.body), &o); err != nil {
			t.Fatal(err)
		}
		return o.CeremonyID, o.Options
	}

	stepUp(t, f, v, "petra@example.com", "/account#passkeys") // adding one needs a fresh second factor
	v.get("/account")
	tok := v.csrf()
	ceremony, opts := options(v, "/account/passkeys/options")
	answer, err := a.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	resp := v.post("/account/passkeys", url.Values{"csrf": {tok}, "ceremony_id": {ceremony}, "response": {string(answer)}, "name": {"Laptop"}})
	v.wantPage("added", v.follow(resp), 200, "Your passkey was added", `value="Laptop"`)
	creds, _ := f.passkeys.Credentials(context.Background(), res.Customer.ID)
	if len(creds) != 1 {
		t.Fatalf("%d passkeys", len(creds))
	}
	resp = v.post("/account/passkeys/"+creds[0].ID+"/rename", url.Values{"name": {"Work laptop"}})
	v.wantPage("renamed", v.follow(resp), 200, "Your passkey was renamed", `value="Work laptop"`)

	// A new device: the passkey is the first second factor offered.
	nv := f.visitor(t)
	nv.get("/login")
	resp = nv.post("/login", url.Values{"email": {"petra@example.com"}, "password": {goodPassword}})
	nv.wantPage("second factor", nv.follow(resp), 200, "Use your passkey", "Email a code")
	if strings.Index(nv.body, `id="passkey"`) > strings.Index(nv.body, `id="otp"`) {
		t.Error("the passkey is not offered first")
	}
	// Sent without the script (no ceremony), it counts as nothing.
	resp = nv.post("/login/verify", url.Values{"factor": {"passkey"}})
	nv.wantPage("passkey form without JavaScript", resp, 422, "needs JavaScript")
	tok = nv.csrf()
	a.UserVerified = false
	ceremony, opts = options(nv, "/login/passkey-options")
	answer, _ = a.Get(opts)
	resp = nv.post("/login/verify", url.Values{"csrf": {tok}, "factor": {"passkey"}, "ceremony_id": {ceremony}, "response": {string(answer)}})
	nv.wantPage("passkey without UV", resp, 422, "Your passkey was not accepted")
	a.UserVerified = true
	tok = nv.csrf()
	ceremony, opts = options(nv, "/login/passkey-options")
	answer, _ = a.Get(opts)
	resp = nv.post("/login/verify", url.Values{"csrf": {tok}, "factor": {"passkey"}, "ceremony_id": {ceremony}, "response": {string(answer)}})
	nv.wantPage("logged in with the passkey", nv.follow(resp), 200, "Your Kassa account", "Work laptop")
	if nv.cookie("kassa_device") == "" {
		t.Error("no device cookie after the second factor")
	}

	resp = v.post("/account/passkeys/"+creds[0].ID+"/delete", url.Values{"csrf": {v.csrf()}})
	v.wantPage("deleted", v.follow(resp), 200, "Your passkey was deleted", "No passkey yet.")
}
