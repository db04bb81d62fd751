package account_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/credit"
	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/identitytest"
	"github.com/kassa/kassa/identity/passkey"
	"github.com/kassa/kassa/internal/shoptest"
	"github.com/kassa/kassa/internal/syncbuf"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/privacy"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
	"github.com/kassa/kassa/vault/vaulttest"
	"github.com/kassa/kassa/voucher"
	"github.com/kassa/kassa/web"
	"github.com/kassa/kassa/web/account"
)

// fixture is Kassa's API with the payment page and the account pages over
// a real SQLite store, served on http://localhost:<port> (a secure
// context for WebAuthn): identity with the development outbox, passkeys
// for that origin, payments scored by a started risk engine with the
// built-in model, a merchant and a voucher kiosk.
type fixture struct {
	ts       *httptest.Server
	origin   string
	identity *identity.Service
	outbox   *identity.Outbox
	passkeys *passkey.Service
	payments *payment.Service
	vouchers *voucher.Service
	risk     *risk.Engine
	pages    *account.Handler
	payouts  *payout.Service // wallets and withdrawals, over the SEPA test bank
	bank     *payout.TestBank
	led      *ledger.Ledger
	merchant merchant.Created
	issuer   string
	logs     *syncbuf.Buffer

	// payLater is pay later (off for the merchant until a test switches
	// it on); merchants changes the merchant's profile.
	payLater  *credit.Service
	vault     *vault.Service
	acq       *acquirer.Test
	merchants *merchant.Service
	limits    *compliance.Service
}

// fixtureOptions change a fixture.
type fixtureOptions struct {
	secureCookies bool
	limits        identity.Limits
	pageClock     func() time.Time // the account pages' clock; nil: time.Now
	policy        identity.Policy  // nil: identity's default (new devices)
	exclusion     identity.ExclusionCheck
}

// fastArgon keeps the tests quick; identity's own tests check the
// production parameters.
var fastArgon = identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLength: 16, KeyLength: 32}

func newFixture(t *testing.T, change ...func(*fixtureOptions)) *fixture {
	t.Helper()
	opts := fixtureOptions{limits: identity.Limits{
		// Codes go to the same addresses again within a test.
		Sends: []identity.Rate{{Count: 100, Per: time.Minute}},
		// No backoff between wrong passwords or codes: tests run at
		// machine speed; the lockouts stay as in production.
		Account: identity.Lockout{Backoff: -1},
	}}
	for _, c := range change {
		c(&opts)
	}
	ctx := context.Background()
	f := &fixture{logs: &syncbuf.Buffer{}}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // the digits of timestamps could look like codes
			}
			return a
		}}))

	f.ts = httptest.NewUnstartedServer(nil)
	_, port, _ := net.SplitHostPort(f.ts.Listener.Addr().String())
	f.origin = "http://localhost:" + port

	shop := shoptest.New(t, logger)
	db, led, merchants := shop.DB, shop.Ledger, shop.Merchants
	f.merchants = merchants
	f.merchant, f.issuer, f.vouchers, f.led = shop.Merchant, shop.Issuer, shop.Vouchers, led
	var err error
	if f.risk, err = risk.NewEngine(risk.Config{Store: sqlstore.NewRisk(db), Node: "test", DefaultModel: risk.DefaultModel,
		IDs: id.Generator{}, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	riskCtx, cancelRisk := context.WithCancel(ctx)
	if err := f.risk.Start(riskCtx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancelRisk(); f.risk.Close() })

	if f.passkeys, err = passkey.New(passkey.Config{RPID: "localhost", RPDisplayName: "Kassa Test",
		Origins: []string{f.origin}, Store: sqlstore.NewPasskeys(db), Logger: logger}); err != nil {
		t.Fatal(err)
	}
	idStore := sqlstore.NewIdentity(db)
	f.outbox = identity.NewOutbox(idStore, identitytest.Sealer(t), nil, id.Generator{})
	if f.identity, err = identity.New(identity.Config{Store: idStore, Sealer: identitytest.Sealer(t), Notifier: f.outbox,
		Key: identity.GenerateKey(), Hasher: &identity.Argon2id{Params: fastArgon}, Limits: opts.limits, Policy: opts.policy, Exclusion: opts.exclusion,
		Factors: map[identity.Factor]identity.FactorVerifier{identity.FactorPasskey: account.PasskeyFactor(f.passkeys)},
		Logger:  logger}); err != nil {
		t.Fatal(err)
	}
	f.bank = payout.NewTestBank(nil)
	f.payouts = payout.New(payout.Config{Store: sqlstore.NewPayouts(db), Ledger: led, Logger: logger, KYC: kycOf{f.identity},
		Rails: map[string]payout.Rail{payout.DestBankAccount: f.bank}})
	personal, err := privacy.New(privacy.Config{Store: sqlstore.NewPrivacy(db), Sealer: identitytest.Sealer(t),
		KYC: f.identity.Identity, NewID: func() string { return id.New("gdpr") }, Logger: logger,
		Email: func(ctx context.Context, cus string) (string, error) {
			c, err := f.identity.Customer(ctx, cus)
			return c.Email, err
		}, Notify: f.identity.SendErasureNotice})
	if err != nil {
		t.Fatal(err)
	}
	// The vault and the test acquirer: payers fund plans with their own
	// cards.
	if f.vault, err = vault.New(vault.Config{Store: sqlstore.NewVault(db), Keys: vaulttest.Keys(),
		FingerprintKey: bytes.Repeat([]byte{7}, vault.FingerprintKeyLengthMin), Logger: logger}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.vault.Close)
	f.acq = acquirer.NewTest()
	if f.payLater, err = credit.New(credit.Config{Store: sqlstore.NewCredit(db), Ledger: led, Customers: f.identity,
		Merchants: merchants, Notifier: f.outbox, Logger: logger, Vault: f.vault, Acquirer: f.acq}); err != nil {
		t.Fatal(err)
	}
	f.payments = payment.New(payment.Config{Store: sqlstore.NewPayments(db), Ledger: led, Vouchers: f.vouchers,
		Risk: f.risk, Logger: logger, Credit: f.payLater})
	f.limits = compliance.New(compliance.Config{Store: sqlstore.NewCompliance(db), Merchants: merchants, Logger: logger})
	if f.pages, err = account.New(account.Config{Identity: f.identity, Passkeys: f.passkeys, Payments: f.payments,
		Merchants: merchants, Outbox: f.outbox, DevOutbox: true, SecureCookies: opts.secureCookies, Clock: opts.pageClock,
		Wallets: f.payouts, Withdrawals: f.payouts, PersonalData: personal,
		Limits:   f.limits,
		PayLater: f.payLater, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	f.ts.Config.Handler = httpapi.New(httpapi.Config{
		Logger: logger, Merchants: merchants, DB: db, Ledger: led, Vouchers: f.vouchers, Payments: f.payments, Risk: f.risk,
		Pages:    web.New(web.Config{Payments: f.payments, Merchants: merchants, Payers: f.pages, Wallets: f.payments, PayLater: f.payLater, Logger: logger}),
		Accounts: f.pages,
	})
	f.ts.Start()
	t.Cleanup(f.ts.Close)
	return f
}

// addRule gives the merchant a risk rule (factor may be ""); rules are
// tried in the order they were made.
func (f *fixture) addRule(t *testing.T, name, expr, action, factor string) {
	t.Helper()
	p := risk.RuleParams{Name: &name, Expression: &expr, Action: &action}
	if factor != "" {
		p.Factor = &factor
	}
	if _, err := f.risk.CreateRule(context.Background(), f.merchant.ID, p); err != nil {
		t.Fatal(err)
	}
}

// allowAutomatedBrowser lets the merchant's other payments through from
// a browser that says it is automated (headless Chromium sets
// navigator.webdriver, which the built-in model weighs heavily).
func (f *fixture) allowAutomatedBrowser(t *testing.T) {
	t.Helper()
	f.addRule(t, "our own browser tests", "webdriver > 0", risk.Allow, "")
}

// issue makes a voucher of amount EUR minor units and returns its PIN.
func (f *fixture) issue(t *testing.T, amount money.Amount) voucher.Issued {
	t.Helper()
	vs, err := f.vouchers.Issue(context.Background(), voucher.IssueRequest{Count: 1, Amount: amount, Currency: "EUR", IssuedBy: f.issuer})
	if err != nil {
		t.Fatal(err)
	}
	return vs[0]
}

// createPayment makes a payment as the merchant's server would.
func (f *fixture) createPayment(t *testing.T, amount money.Amount, returnURL string) payment.Payment {
	t.Helper()
	p, err := f.payments.Create(context.Background(), f.merchant.ID, payment.CreateRequest{Amount: amount, Currency: "EUR",
		Description: "Deposit", ReturnURL: returnURL})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) payment(t *testing.T, id string) payment.Payment {
	t.Helper()
	p, err := f.payments.Get(context.Background(), "", id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// outboxCount is how many messages went to to.
func (f *fixture) outboxCount(t *testing.T, to string) int {
	t.Helper()
	ms, err := f.outbox.Messages(context.Background(), to, identity.OutboxMessagesMax)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

const goodPassword = "correct horse battery staple"

var testClient = identity.Client{IP: "203.0.113.7", UserAgent: "test-setup/1.0"}

// signUp makes a verified customer through the service (not the pages)
// and returns the login of the sign-up: a session on a known device.
func (f *fixture) signUp(t *testing.T, email, phone string) identity.LoginResult {
	t.Helper()
	ctx := context.Background()
	su, err := f.identity.SignUp(ctx, identity.SignUpRequest{Email: email, Phone: phone, Client: testClient})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.identity.SignUpConfirm(ctx, su.Token, f.lastCode(t, email)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.identity.SignUpConfirm(ctx, su.Token, f.lastCode(t, phone)); err != nil {
		t.Fatal(err)
	}
	res, err := f.identity.SignUpPassword(ctx, su.Token, goodPassword, testClient)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// visitor is a browser without JavaScript: cookies kept (Secure ones
// too, on the plain-HTTP test server), no redirects followed, and the
// forms' CSRF token read from the last page.
type visitor struct {
	t          *testing.T
	f          *fixture
	c          *http.Client
	jar        *plainJar
	body       string   // the last page
	setCookies []string // every Set-Cookie header received
	// acceptLanguage is sent with every request when set.
	acceptLanguage string
}

func (f *fixture) visitor(t *testing.T) *visitor {
	jar := &plainJar{m: map[string]string{}}
	return &visitor{t: t, f: f, jar: jar, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// plainJar is a cookie jar for one host that also sends Secure cookies
// over plain HTTP, so the tests can follow the pages with
// Config.SecureCookies on; the attributes are checked on the Set-Cookie
// headers themselves.
type plainJar struct {
	mu sync.Mutex
	m  map[string]string
}

func (j *plainJar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range cs {
		if c.MaxAge < 0 || c.Value == "" {
			delete(j.m, c.Name)
		} else {
			j.m[c.Name] = c.Value
		}
	}
}

func (j *plainJar) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var cs []*http.Cookie
	for n, v := range j.m {
		cs = append(cs, &http.Cookie{Name: n, Value: v})
	}
	return cs
}

func (v *visitor) do(req *http.Request) *http.Response {
	v.t.Helper()
	if v.acceptLanguage != "" {
		req.Header.Set("Accept-Language", v.acceptLanguage)
	}
	resp, err := v.c.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	v.body = string(b)
	v.setCookies = append(v.setCookies, resp.Header.Values("Set-Cookie")...)
	return resp
}

// get loads a path of the fixture.
func (v *visitor) get(path string) *http.Response {
	v.t.Helper()
	req, _ := http.NewRequest("GET", v.f.origin+path, nil)
	return v.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the token of the last page's forms.
func (v *visitor) csrf() string {
	v.t.Helper()
	m := csrfRE.FindStringSubmatch(v.body)
	if m == nil {
		v.t.Fatalf("no CSRF token in the page:\n%s", v.body)
	}
	return m[1]
}

// post sends a form as the last page would: with its CSRF token unless
// form sets one (an empty value sends none).
func (v *visitor) post(path string, form url.Values, header ...string) *http.Response {
	v.t.Helper()
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", v.csrf())
	} else if form.Get("csrf") == "" {
		form.Del("csrf")
	}
	req, _ := http.NewRequest("POST", v.f.origin+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return v.do(req)
}

// follow GETs where a redirect points.
func (v *visitor) follow(resp *http.Response) *http.Response {
	v.t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		v.t.Fatalf("%s %s = %d, want 303\n%s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, v.shown())
	}
	loc := resp.Header.Get("Location")
	if strings.HasPrefix(loc, "http") {
		v.t.Fatalf("redirect to %s, outside the fixture", loc)
	}
	return v.get(loc)
}

var scriptRE = regexp.MustCompile(`(?s)<(script|style)[^>]*>.*?</(script|style)>`)

// shown is the last page without its style and script, for messages.
func (v *visitor) shown() string { return scriptRE.ReplaceAllString(v.body, "") }

// wantPage checks a response's status and that the page says each of texts.
func (v *visitor) wantPage(what string, resp *http.Response, status int, texts ...string) {
	v.t.Helper()
	if resp.StatusCode != status {
		v.t.Fatalf("%s = %d, want %d\n%s", what, resp.StatusCode, status, v.shown())
	}
	for _, s := range texts {
		if !strings.Contains(v.body, s) {
			v.t.Fatalf("%s: the page lacks %q\n%s", what, s, v.shown())
		}
	}
}

// cookie is the visitor's cookie of a name ("" when none).
func (v *visitor) cookie(name string) string {
	v.jar.mu.Lock()
	defer v.jar.mu.Unlock()
	return v.jar.m[name]
}

// logIn logs the visitor in with a password and follows to the account
// page (the visitor's device must be known, or no second factor asked).
func (v *visitor) logIn(email string) {
	v.t.Helper()
	v.get("/login")
	resp := v.post("/login", url.Values{"email": {email}, "password": {goodPassword}})
	v.wantPage("account page after login", v.follow(resp), 200, "Your Kassa account")
}

// setSession gives the visitor the cookies of a login made through the
// service.
func (v *visitor) setSession(res identity.LoginResult) {
	v.setCookie("kassa_session", res.Token)
	v.setCookie("kassa_device", res.DeviceToken)
}

func (v *visitor) setCookie(name, value string) {
	v.jar.SetCookies(nil, []*http.Cookie{{Name: name, Value: value}})
}

// lastCode is the code of the newest outbox message to to.
func (f *fixture) lastCode(t *testing.T, to string) string {
	return identitytest.LastCode(t, f.outbox, to)
}

var codeRE = identitytest.CodeRE
