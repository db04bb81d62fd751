// Package console serves the console at /console/: the workplace of
// merchants' teams and of the platform operator, server-rendered like the
// hosted pages (html/template, a strict Content-Security-Policy with a
// fresh nonce, no script or style from elsewhere, charts drawn as SVG on
// the server). Members log in with a password and an authenticator code
// (package console); every page and action checks the member's role in
// the role table, and every change is written to the audit log.
package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/audit"
	members "github.com/kassa/kassa/console"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/reqlog"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/voucher"
	"github.com/kassa/kassa/web"
	"github.com/kassa/kassa/webhook"
)

//go:embed console.html ops.html finance.html console.css console.js
var assets embed.FS

// Config wires the console to the domain services. Members, Merchants,
// Payments and Audit are required; a nil Risk, Webhooks or Ledger leaves
// their pages' parts out.
type Config struct {
	Members   *members.Service
	Merchants *merchant.Service
	Payments  *payment.Service
	Audit     *audit.Log
	Risk      *risk.Engine
	Webhooks  *webhook.Service
	Ledger    *ledger.Ledger
	// Vouchers lets the operator issue and invalidate voucher batches;
	// nil leaves that out.
	Vouchers *voucher.Service
	// Health is where the operator's page reads queue depths and leases.
	Health Health
	// Requests are the merchants' recent API requests (this process's);
	// nil leaves them out of the developers page.
	Requests *reqlog.Log
	// RefundStepUp is the refund, in minor units of the payment's
	// currency, from which the member must type a fresh authenticator
	// code too; zero means RefundStepUpDefault, negative never.
	RefundStepUp money.Amount
	// SecureCookies gives the cookies the __Host- prefix and Secure (every
	// TLS listener; off only for plain-HTTP tests).
	SecureCookies bool
	Clock         func() time.Time
	Logger        *slog.Logger
	Finance       // finance, payouts and support pages (finance.go)
}

// RefundStepUpDefault is Config.RefundStepUp's default: 500.00 in a
// currency of two decimals.
const RefundStepUpDefault money.Amount = 50000

// Handler serves the console.
type Handler struct {
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	names cookieNames
}

// Limits.
const (
	formBytesMax   = 16 << 10
	inputBytesMax  = 512
	cookieValueMax = 256
	csrfKeyBytes   = 32
)

var b64 = base64.RawURLEncoding

type cookieNames struct {
	session, csrf string
	secure        bool
}

// New returns the console's handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Members == nil || cfg.Merchants == nil || cfg.Payments == nil || cfg.Audit == nil {
		return nil, errors.New("console: Members, Merchants, Payments and Audit are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.RefundStepUp == 0 {
		cfg.RefundStepUp = RefundStepUpDefault
	}
	prefix := ""
	if cfg.SecureCookies {
		prefix = "__Host-"
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(),
		names: cookieNames{session: prefix + "kassa_console", csrf: prefix + "kassa_console_csrf", secure: cfg.SecureCookies}}
	for _, r := range h.routes() {
		h.mux.HandleFunc(r.pattern, r.fn)
	}
	return h, nil
}

type route struct {
	pattern string
	fn      http.HandlerFunc
}

func (h *Handler) routes() []route {
	return []route{
		{"GET /console/{$}", h.home},
		{"GET /console/login", h.loginPage},
		{"POST /console/login", h.login},
		{"GET /console/login/code", h.codePage},
		{"POST /console/login/code", h.code},
		{"POST /console/logout", h.logout},
		{"GET /console/invite", h.invitePage},
		{"POST /console/invite", h.invite},
		{"GET /console/payments", h.payments},
		{"GET /console/payments/{id}", h.payment},
		{"POST /console/payments/{id}/capture", h.capture},
		{"POST /console/payments/{id}/cancel", h.cancel},
		{"POST /console/payments/{id}/refund", h.refund},
		{"GET /console/reviews", h.reviews},
		{"GET /console/reviews/{id}", h.review},
		{"POST /console/reviews/{id}/approve", h.approveReview},
		{"POST /console/reviews/{id}/reject", h.rejectReview},
		{"GET /console/rules", h.rules},
		{"POST /console/rules", h.createRule},
		{"POST /console/rules/check", h.checkRule},
		{"POST /console/rules/{id}/{op}", h.changeRule},
		{"GET /console/developers", h.developers},
		{"POST /console/developers/keys/rotate", h.rotateKey},
		{"POST /console/developers/keys/{id}/revoke", h.revokeKey},
		{"POST /console/developers/events/{id}/replay", h.replayEvent},
		{"GET /console/developers/endpoints/{id}", h.endpoint},
		{"GET /console/members", h.membersPage},
		{"POST /console/members/invite", h.inviteMember},
		{"POST /console/members/{id}/remove", h.removeMember},
		{"GET /console/audit", h.auditPage},
		{"GET /console/operator", h.operator},
		{"POST /console/operator/merchants", h.createMerchant},
		{"POST /console/operator/locks/lift", h.liftLock},
		{"POST /console/operator/vouchers", h.issueVouchers},
		{"POST /console/operator/vouchers/invalidate", h.invalidateVoucher},

		// Risk lists, labels and models; recent API requests; suspension.
		{"GET /console/lists", h.lists},
		{"POST /console/lists", h.addListEntry},
		{"POST /console/lists/remove", h.removeListEntry},
		{"GET /console/labels", h.labels},
		{"POST /console/labels", h.labelPayment},
		{"POST /console/labels/undo", h.unlabelPayment},
		{"GET /console/models", h.models},
		{"POST /console/models/{op}", h.changeModel},
		{"GET /console/developers/requests", h.requests},
		{"POST /console/operator/locks", h.addLock},
		{"POST /console/members/{id}/role", h.setRole},
		{"POST /console/operator/merchants/{id}/suspend", h.suspendMerchant},
		{"POST /console/operator/merchants/{id}/unsuspend", h.unsuspendMerchant},
		// Finance, payouts and support (finance.go, payouts.go, customers.go).
		{"GET /console/finance", h.finance},
		{"GET /console/finance/transactions", h.balanceTxns},
		{"GET /console/finance/transactions.csv", h.balanceTxnsCSV},
		{"GET /console/finance/settlements", h.settlements},
		{"GET /console/finance/settlements/{id}", h.settlement},
		{"GET /console/finance/reports", h.reports},
		{"POST /console/finance/reports", h.createReport},
		{"GET /console/finance/reports/{id}/file", h.reportFile},
		{"GET /console/finance/invoices", h.invoices},
		{"POST /console/finance/invoices", h.createInvoice},
		{"GET /console/finance/invoices/{id}", h.invoice},
		{"POST /console/finance/invoices/{id}/finalize", h.finalizeInvoice},
		{"GET /console/finance/invoices/{id}/pdf", h.invoicePDF},
		{"GET /console/payouts", h.payouts},
		{"GET /console/payouts/{id}", h.payout},
		{"POST /console/payouts/{id}/approve", h.approvePayout},
		{"POST /console/payouts/{id}/reject", h.rejectPayout},
		{"GET /console/customers", h.customers},
		{"GET /console/customers/{id}", h.customer},
	}
}

// Routes lists the patterns the console serves (httpapi mounts them).
func (h *Handler) Routes() []string {
	var out []string
	for _, r := range h.routes() {
		out = append(out, r.pattern)
	}
	return out
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// visit is one request and the cookies its answer sets.
type visit struct {
	w       http.ResponseWriter
	r       *http.Request
	csrfKey []byte
	session string
	m       members.Member // the logged-in member; zero on the login pages
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil || len(c.Value) > cookieValueMax {
		return ""
	}
	return c.Value
}

func (h *Handler) newVisit(w http.ResponseWriter, r *http.Request) *visit {
	v := &visit{w: w, r: r, session: cookieValue(r, h.names.session)}
	if k, err := b64.DecodeString(cookieValue(r, h.names.csrf)); err == nil && len(k) == csrfKeyBytes {
		v.csrfKey = k
	}
	return v
}

func (h *Handler) setCookie(v *visit, name, value string) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: h.names.secure, SameSite: http.SameSiteStrictMode}
	if value == "" {
		c.MaxAge = -1
	}
	http.SetCookie(v.w, c)
}

func (h *Handler) setSession(v *visit, token string) {
	v.session = token
	h.setCookie(v, h.names.session, token)
}

// csrfToken binds the forms of a page to the browser's CSRF secret and
// to the session it holds: a token of another session, or of a session
// from before the login, does not pass.
func (h *Handler) csrfToken(v *visit) string {
	if v.csrfKey == nil {
		v.csrfKey = make([]byte, csrfKeyBytes)
		rand.Read(v.csrfKey)
		h.setCookie(v, h.names.csrf, b64.EncodeToString(v.csrfKey))
	}
	return csrfMAC(v.csrfKey, v.session)
}

func csrfMAC(key []byte, session string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("kassa/console/csrf/v1\x00" + session))
	return b64.EncodeToString(m.Sum(nil))
}

// form reads a POST after the checks every POST passes: this origin, a
// urlencoded body within bounds, the CSRF token. It answers the request
// itself when one fails.
func (h *Handler) form(v *visit) bool {
	if !web.SameOrigin(v.r) {
		h.message(v, http.StatusForbidden, "Refused", "This form came from another site.")
		return false
	}
	if !web.IsForm(v.r) {
		h.message(v, http.StatusUnsupportedMediaType, "Refused", "Send the form as the page does.")
		return false
	}
	v.r.Body = http.MaxBytesReader(v.w, v.r.Body, formBytesMax)
	if err := v.r.ParseForm(); err != nil {
		h.message(v, http.StatusBadRequest, "Refused", "The form could not be read.")
		return false
	}
	got, err := b64.DecodeString(v.r.PostForm.Get("csrf"))
	want, _ := b64.DecodeString(csrfMAC(v.csrfKey, cookieValue(v.r, h.names.session)))
	if v.csrfKey == nil || err != nil || !hmac.Equal(got, want) {
		h.log.InfoContext(v.r.Context(), "console: form refused: CSRF token missing or wrong", "path", v.r.URL.Path)
		h.message(v, http.StatusForbidden, "Refused", "The form expired. Go back, reload the page and try again.")
		return false
	}
	return true
}

func (v *visit) input(name string) string {
	s := v.r.PostForm.Get(name)
	if len(s) > inputBytesMax {
		return ""
	}
	return strings.TrimSpace(s)
}

func (v *visit) client() members.Client {
	return members.Client{IP: web.ClientIP(v.r), UserAgent: v.r.UserAgent()}
}

// ctx is the request's context with the member as the actor of audit
// entries.
func (v *visit) ctx() context.Context {
	return members.WithMember(v.r.Context(), v.m, v.client())
}

// auth finds the member of the request and checks that their role may
// do p: no session leads to the login page (for a GET) or 401, a role
// without p gets 403. It answers the request itself when it returns false.
func (h *Handler) auth(v *visit, p members.Permission) bool {
	return h.authBy(v, func(members.Member) members.Permission { return p })
}

// authBy is auth with the permission chosen by the member (the operator's
// differs from a merchant's member's on a page both use).
func (h *Handler) authBy(v *visit, perm func(members.Member) members.Permission) bool {
	m, _, err := h.cfg.Members.Authenticate(v.r.Context(), v.session)
	if err != nil {
		if kassa.ErrorKind(err) != kassa.EUnauthorized {
			h.fail(v, err)
			return false
		}
		if v.r.Method == http.MethodGet {
			h.redirect(v, "/console/login")
			return false
		}
		h.message(v, http.StatusUnauthorized, "Logged out", "Your session ended. Log in again.")
		return false
	}
	v.m = m
	if p := perm(m); !m.Role.Can(p) {
		h.log.InfoContext(v.r.Context(), "console: role refused", "member", m.ID, "role", m.Role, "permission", p)
		h.render(v, http.StatusForbidden, page{Template: "message", Title: "Not for your role",
			Text: "Your role (" + string(m.Role) + ") may not open this page or do this."})
		return false
	}
	return true
}

// org is the merchant the member works for; "" for the operator.
func (v *visit) org() string {
	if v.m.Org == members.Platform {
		return ""
	}
	return v.m.Org
}

// page is what the templates render.
type page struct {
	Template string
	Title    string
	Nonce    string
	CSS      template.CSS
	JS       template.JS
	CSRF     string
	Member   *members.Member
	Nav      []navItem
	Notice   string
	Error    string
	Text     string
	Data     any
	role     members.Role
}

// Can is the role check the templates use to show a button only to the
// roles that may press it.
func (p page) Can(perm string) bool { return p.Member != nil && p.role.Can(members.Permission(perm)) }

type navItem struct {
	Path, Label string
	Current     bool
}

var nav = []struct {
	path, label string
	perm        members.Permission
}{
	{"/console/", "Home", members.ViewHome},
	{"/console/payments", "Payments", members.ViewPayments},
	{"/console/reviews", "Reviews", members.ViewReviews},
	{"/console/rules", "Rules", members.ViewRules},
	{"/console/developers", "Developers", members.ViewDevelopers},
	{"/console/members", "Team", members.ViewMembers},
	{"/console/audit", "Audit log", members.ViewAudit},
	{"/console/operator", "Operator", members.OperatePlatform},
	{"/console/audit", "Audit log", members.OperatePlatform},
	{"/console/lists", "Lists", members.ViewLists},
	{"/console/labels", "Labels", members.ViewLists},
	{"/console/models", "Models", members.ViewModels},
	{"/console/finance", "Finance", members.ViewFinance},
	{"/console/payouts", "Payouts", members.ViewPayouts},
	{"/console/payouts", "Withdrawals", members.ReviewWithdrawals},
	{"/console/customers", "Customers", members.ViewCustomers},
}

var (
	templates = template.Must(template.New("").Funcs(template.FuncMap{
		"amount": web.FormatAmount,
		"list":   func(s ...string) []string { return s },
		"when":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") },
		"svg":    func(s string) template.HTML { return template.HTML(s) }, // charts.go escapes what it draws
		"ms":     func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 },
		"dict":   dict,
		"dest":   destText, // payouts.go
	}).ParseFS(assets, "console.html", "ops.html", "finance.html"))
	pageCSS = template.CSS(mustRead("console.css"))
	pageJS  = template.JS(mustRead("console.js"))
)

func mustRead(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// render writes a page with its security headers.
func (h *Handler) render(v *visit, status int, pg page) {
	var nonce [18]byte
	rand.Read(nonce[:])
	pg.Nonce = b64.EncodeToString(nonce[:])
	pg.CSS, pg.JS, pg.CSRF = pageCSS, pageJS, h.csrfToken(v)
	if v.m.ID != "" {
		m := v.m
		pg.Member, pg.role = &m, m.Role
		seen := map[string]bool{}
		for _, n := range nav {
			if m.Role.Can(n.perm) && !seen[n.path] {
				seen[n.path] = true
				pg.Nav = append(pg.Nav, navItem{Path: n.path, Label: n.label, Current: v.r.URL.Path == n.path})
			}
		}
	}
	var b strings.Builder
	if err := templates.ExecuteTemplate(&b, pg.Template, pg); err != nil {
		h.log.ErrorContext(v.r.Context(), "render console page", "template", pg.Template, "err", err)
		http.Error(v.w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := v.w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+pg.Nonce+"'; script-src 'nonce-"+pg.Nonce+
		"'; img-src data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	web.SetPageHeaders(hd)
	v.w.WriteHeader(status)
	if v.r.Method != http.MethodHead {
		fmt.Fprint(v.w, b.String())
	}
}

func (h *Handler) message(v *visit, status int, title, text string) {
	h.render(v, status, page{Template: "message", Title: title, Text: text})
}

func (h *Handler) redirect(v *visit, target string) {
	web.SetPageHeaders(v.w.Header())
	v.w.Header().Set("Location", target)
	v.w.WriteHeader(http.StatusSeeOther)
}

// fail shows what went wrong: a kassa.Error's message (never a secret),
// a generic page for anything else (logged).
func (h *Handler) fail(v *visit, err error) {
	if e := kassa.AsError(err); e != nil && e.Kind != kassa.EInternal {
		status := map[string]int{kassa.ENotFound: 404, kassa.EForbidden: 403, kassa.EConflict: 409,
			kassa.ERateLimited: 429, kassa.EUnauthorized: 401}[e.Kind]
		if status == 0 {
			status = http.StatusBadRequest
		}
		h.message(v, status, "Not done", e.Message+".")
		return
	}
	h.log.ErrorContext(v.r.Context(), "console page", "path", v.r.URL.Path, "err", err)
	h.message(v, http.StatusInternalServerError, "Something went wrong", "Try again in a moment.")
}
