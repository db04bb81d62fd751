package console_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/kassa/kassa/audit"
	members "github.com/kassa/kassa/console"
	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/identitytest"
	"github.com/kassa/kassa/internal/shoptest"
	"github.com/kassa/kassa/internal/syncbuf"
	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/reqlog"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault/vaulttest"
	"github.com/kassa/kassa/voucher"
	webconsole "github.com/kassa/kassa/web/console"
	"github.com/kassa/kassa/webhook"
)

// fixture is the API with the console over a real SQLite store, served on
// http://localhost:<port>: two merchants (A, the shop's; B, another),
// payments scored by a started risk engine, webhooks, the ledger, and the
// console's members with the development outbox. The members' clock is
// injected: each login's authenticator code is of a step of its own.
type fixture struct {
	ts        *httptest.Server
	origin    string
	members   *members.Service
	audit     *audit.Log
	outbox    *identity.Outbox
	payments  *payment.Service
	vouchers  *voucher.Service
	risk      *risk.Engine
	webhooks  *webhook.Service
	led       *ledger.Ledger
	merchants *merchant.Service
	pages     *webconsole.Handler
	merchant  merchant.Created // A
	other     merchant.Created // B
	issuer    string
	clock     *testclock.Clock
	logs      *syncbuf.Buffer
	requests  *reqlog.Log
	fin       webconsole.Finance // finance_fixture_test.go
	db        *sqlstore.DB
}

var fastArgon = identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLength: 16, KeyLength: 32}

const password = "a long console password 1"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{logs: &syncbuf.Buffer{}, clock: testclock.New(time.Now().UTC()), requests: reqlog.New()}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.ts = httptest.NewUnstartedServer(nil)
	_, port, _ := net.SplitHostPort(f.ts.Listener.Addr().String())
	f.origin = "http://localhost:" + port
	shop := shoptest.New(t, logger)
	db := shop.DB
	f.db = db
	f.merchant, f.issuer, f.vouchers, f.led = shop.Merchant, shop.Issuer, shop.Vouchers, shop.Ledger
	var err error
	if f.other, err = shop.Merchants.Create(ctx, "Other Shop"); err != nil {
		t.Fatal(err)
	}
	if f.risk, err = risk.NewEngine(risk.Config{Store: sqlstore.NewRisk(db), Node: "test", DefaultModel: risk.DefaultModel,
		IDs: id.Generator{}, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	riskCtx, cancelRisk := context.WithCancel(ctx)
	if err := f.risk.Start(riskCtx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancelRisk(); f.risk.Close() })
	f.webhooks = webhook.New(webhook.Config{Store: sqlstore.NewWebhooks(db), Logger: logger,
		Sealer: vaulttest.Envelope(webhook.SealDomain), AllowPrivateTargets: true})
	f.payments = payment.New(payment.Config{Store: sqlstore.NewPayments(db), Ledger: f.led, Vouchers: f.vouchers,
		Risk: f.risk, Logger: logger})
	f.audit = audit.New(sqlstore.NewAudit(db), nil, id.Generator{})
	f.outbox = identity.NewOutbox(sqlstore.NewIdentity(db), identitytest.Sealer(t), nil, id.Generator{})
	if f.members, err = members.New(members.Config{Store: sqlstore.NewConsole(db), Sealer: identitytest.Sealer(t),
		Notifier: f.outbox, Audit: f.audit, BaseURL: f.origin, Hasher: &identity.Argon2id{Params: fastArgon},
		Clock: f.clock.Now}); err != nil {
		t.Fatal(err)
	}
	f.merchants = shop.Merchants
	pages, err := webconsole.New(webconsole.Config{Members: f.members, Merchants: shop.Merchants, Payments: f.payments,
		Audit: f.audit, Risk: f.risk, Webhooks: f.webhooks, Ledger: f.led, Vouchers: f.vouchers, Requests: f.requests, Logger: logger,
		Health:  webconsole.Health{Webhooks: sqlstore.NewWebhooks(db), Payouts: sqlstore.NewPayouts(db), Leases: sqlstore.NewLeases(db)},
		Finance: f.finance(t, shop)})
	if err != nil {
		t.Fatal(err)
	}
	f.pages = pages
	f.ts.Config.Handler = httpapi.New(httpapi.Config{Logger: logger, Merchants: shop.Merchants, DB: db, Ledger: f.led,
		Vouchers: f.vouchers, Payments: f.payments, Risk: f.risk, Webhooks: f.webhooks, Audit: f.audit, Console: pages,
		RateLimit: -1, Requests: f.requests})
	f.ts.Start()
	t.Cleanup(f.ts.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", f.logs.String())
		}
	})
	return f
}

var linkRE = regexp.MustCompile(`/console/invite\?token=([A-Za-z0-9_-]+)`)

// member is a console member of the fixture with their authenticator.
type member struct {
	members.Member
	secret string
}

// join invites email to org as role and accepts through the service.
func (f *fixture) join(t *testing.T, org, email string, role members.Role) member {
	t.Helper()
	ctx := context.Background()
	inv, err := f.members.Invite(ctx, "", org, email, role)
	if err != nil {
		t.Fatal(err)
	}
	tok := linkRE.FindStringSubmatch(inv.Link)[1]
	enr, err := f.members.StartAccept(ctx, tok, password)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(members.SessionIdle / 10) // a fresh TOTP step
	_, m, err := f.members.FinishAccept(ctx, tok, f.code(t, enr.Secret), members.Client{IP: "192.0.2.10"})
	if err != nil {
		t.Fatal(err)
	}
	return member{Member: m, secret: enr.Secret}
}

func (f *fixture) code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// client is a browser without JavaScript: cookies, no redirects followed
// unless asked.
type client struct {
	f   *fixture
	c   *http.Client
	jar *cookiejar.Jar
}

func (f *fixture) newClient() *client {
	jar, _ := cookiejar.New(nil)
	return &client{f: f, jar: jar, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches a page and returns its status and body.
func (c *client) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := c.c.Get(c.f.origin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// csrf is the CSRF token of a page the client can open.
func (c *client) csrf(t *testing.T, path string) string {
	t.Helper()
	_, body := c.get(t, path)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on %s:\n%s", path, body)
	}
	return m[1]
}

// post sends a form as the page's would (same origin).
func (c *client) post(t *testing.T, path string, form url.Values) (int, string, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest("POST", c.f.origin+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.f.origin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp
}

// login logs m in with password and code; the client holds the session.
func (c *client) login(t *testing.T, m member) {
	t.Helper()
	tok := c.csrf(t, "/console/login")
	st, body, _ := c.post(t, "/console/login", url.Values{"csrf": {tok}, "email": {m.Email}, "password": {password}})
	if st != http.StatusSeeOther {
		t.Fatalf("login = %d\n%s", st, body)
	}
	c.f.clock.Advance(members.SessionIdle / 10)
	tok = c.csrf(t, "/console/login/code")
	st, body, _ = c.post(t, "/console/login/code", url.Values{"csrf": {tok}, "code": {c.f.code(t, m.secret)}})
	if st != http.StatusSeeOther {
		t.Fatalf("code = %d\n%s", st, body)
	}
}

// do posts a console form as the logged-in member, with a fresh token.
func (c *client) do(t *testing.T, path string, form url.Values) (int, string) {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", c.csrf(t, "/console/login"))
	st, body, _ := c.post(t, path, form)
	return st, body
}

// issue makes a voucher of amount EUR minor units and returns its PIN.
func (f *fixture) issue(t *testing.T, amount money.Amount) string {
	t.Helper()
	vs, err := f.vouchers.Issue(context.Background(), voucher.IssueRequest{Count: 1, Amount: amount, Currency: "EUR", IssuedBy: f.issuer})
	if err != nil {
		t.Fatal(err)
	}
	return vs[0].PIN
}

// pay makes a payment of merchant and confirms it with a voucher.
func (f *fixture) pay(t *testing.T, merchantID string, amount money.Amount, capture string) payment.Payment {
	t.Helper()
	ctx := context.Background()
	p, err := f.payments.Create(ctx, merchantID, payment.CreateRequest{Amount: amount, Currency: "EUR",
		Description: "Deposit", CaptureMethod: capture})
	if err != nil {
		t.Fatal(err)
	}
	p, err = f.payments.Confirm(ctx, merchantID, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret,
		PINs: []string{f.issue(t, amount)}, ClientIP: "198.51.100.20", SecretKey: true})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// addRule gives a merchant a risk rule.
func (f *fixture) addRule(t *testing.T, merchantID, name, expr, action string) {
	t.Helper()
	p := risk.RuleParams{Name: &name, Expression: &expr, Action: &action}
	if _, err := f.risk.CreateRule(context.Background(), merchantID, p); err != nil {
		t.Fatal(err)
	}
}

// auditActions lists the merchant's audit entries' actions, newest first.
func (f *fixture) auditActions(t *testing.T, org string) []audit.Event {
	t.Helper()
	evs, _, err := f.audit.List(context.Background(), audit.Filter{Org: org, Limit: audit.PageLimitMax})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}
