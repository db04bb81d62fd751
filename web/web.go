// Package web serves Kassa's hosted pages for payers. So far that is the
// payment page: GET /pay/{id}?client_secret=... shows what the payer is
// about to pay and a form for up to ten voucher PINs; POST /pay/{id}
// confirms the payment with them and sends the payer back to the
// merchant's return_url. With the built-in test acquirer it also serves
// its issuer's 3-D Secure page, /3ds/{challenge_id} (issuer.go).
//
// Pages are rendered on the server from embedded templates and work
// without JavaScript; a small embedded script shows one PIN field at a
// time with a button to add more, and measures how the page was used
// (risk.Signals, sent with the form for the fraud checks; pay.js lists
// them). Nothing is loaded from elsewhere, and every response carries a
// strict Content-Security-Policy with a fresh nonce for the inline style
// and script.
//
// A PIN is never written back into a page, never logged and never part of
// a URL.
//
// The payer's account pages (sign-up, login, account, the step-up
// challenge a risk decision sends the payer to) are package web/account.
// They share this package's look, script and helpers (shared.go), and
// tell the payment page who is logged in (Config.Payers), so that a
// confirmation carries the payer's account and known device.
package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
)

// Limits of the payment form.
const (
	// FormBytesMax bounds a POST body: ten PINs and a client secret take
	// well under 1 KiB.
	FormBytesMax = 16 << 10
	// PINInputLengthMax bounds one PIN field: 16 digits with separators.
	PINInputLengthMax = 24
	// clientSecretLengthMax bounds the secret taken from a form or URL,
	// paymentIDLengthMax the payment id from the path.
	clientSecretLengthMax = 128
	paymentIDLengthMax    = 64
	// pinsVisibleMin is how many PIN fields the script shows at first.
	pinsVisibleMin = 1
)

//go:embed pay.html pay.css pay.js
var assets embed.FS

var (
	pageTemplates = template.Must(template.New("").Funcs(template.FuncMap{"cardField": newCardField}).ParseFS(assets, "pay.html"))
	pageCSS       = template.CSS(mustRead("pay.css"))
	pageJS        = template.JS(mustRead("pay.js"))
)

func mustRead(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Payments is what the pages need of the payment service.
type Payments interface {
	// Get returns a payment; merchant "" finds any merchant's.
	Get(ctx context.Context, merchantID, id string) (payment.Payment, error)
	Confirm(ctx context.Context, merchantID, id string, req payment.ConfirmRequest) (payment.Payment, error)
}

// Merchants names the merchant a payer pays.
type Merchants interface {
	Get(ctx context.Context, id string) (merchant.Merchant, error)
}

var (
	_ Payments  = (*payment.Service)(nil)
	_ Merchants = (*merchant.Service)(nil)
)

// Config wires a Handler.
type Config struct {
	Payments  Payments
	Merchants Merchants
	// Cards, when set, adds the card form (tokenized server-side).
	Cards Cards
	// Payers, when set, recognises a payer logged in to their Kassa
	// account (package web/account): their account and device go with
	// the confirmation, for risk and the payment's payer.
	Payers Payers
	// Wallets, when set with Payers, offers a logged-in payer with a
	// balance in the payment's currency to pay from it (wallet.go).
	Wallets Wallets
	// PayLater, when set with Payers, offers pay later (paylater.go).
	PayLater PayLater
	// Issuer, when set, serves the test acquirer's 3-D Secure page
	// (/3ds/{challenge_id}, issuer.go) the payment page sends a payer to.
	Issuer Issuer
	// Invoices, when set, serves the hosted invoice page /i/{id}
	// (invoice.go); PublicURL is the origin it sends the payer back to
	// from the checkout ("": the request's own).
	Invoices  Invoices
	PublicURL string
	Logger    *slog.Logger     // nil discards
	Clock     func() time.Time // nil: time.Now
}

// Handler serves GET and POST /pay/{id} and the issuer page's GET and
// POST /3ds/{id}. Mount it for exactly those patterns; it routes them
// itself as well, so it also works on its own.
type Handler struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	mux *http.ServeMux
}

// New returns the pages' handler.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, now: cfg.Clock, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /pay/{id}", h.showPayment)
	h.mux.HandleFunc("POST /pay/{id}", h.confirmPayment)
	h.mux.HandleFunc("POST /pay/{id}/pin", h.checkPIN)
	h.mux.HandleFunc("GET /3ds/{id}", h.showIssuer)
	h.mux.HandleFunc("POST /3ds/{id}", h.answerIssuer)
	h.mux.HandleFunc("GET /i/{id}", h.showInvoice)
	h.mux.HandleFunc("POST /i/{id}", h.payInvoice)
	h.mux.HandleFunc("GET /i/{id}/pdf", h.invoicePDF)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.render(w, r, http.StatusNotFound, notFoundPage(RequestLang(r, "")))
		return
	}
	h.mux.ServeHTTP(w, r)
}

// page is what the templates render.
type page struct {
	Template string // "pay", "status", "issuer" or "message"
	Lang     Lang   // the payer's language; render fills in the request's when ""
	Title    string
	Nonce    string
	CSS      template.CSS
	JS       template.JS

	Merchant string
	Amount   string // formatted for Lang with the currency's sign: "€25.00", "25,00 €"
	Currency string
	// Until is when an open payment expires, in UTC; pay.js writes it in
	// the payer's own time zone from UntilISO.
	Until       string
	UntilISO    string
	Description string
	Card        string // the issuer page's masked card

	// The payment form.
	Action       string
	ClientSecret string
	Inputs       []pinInput
	Visible      int
	FormError    string
	// PINWarning says one more wrong PIN locks vouchers out; PINLocked
	// says until when they are (and CardForm offers the card instead).
	PINWarning string
	PINLocked  string

	// The card form (when Config.Cards is set); its fields are never
	// filled back in.
	CardForm      bool
	CardErrors    map[string]string // by field name
	CardValues    map[string]string // the expiry and name typed, by field name
	CardFormError string

	// The wallet form (wallet.go): a logged-in payer's balance.
	WalletForm      bool
	WalletBalance   string
	WalletFormError string

	// The pay later form (paylater.go): both plans with their schedule.
	PayLaterForm  bool
	PayLaterPlans []payLaterPlan
	PayLaterFee   string
	PayLaterError string

	// Status and message pages.
	Heading   string
	Text      string
	NextURL   string // the step the payer takes next (the challenge page), when there is one
	NextText  string
	ReturnURL string // a link back to the merchant, when there is one
	// Left is the voucher receipt (receipt.go): what is left on each
	// voucher, right after paying.
	Left []voucherLeft

	formAction string // an extra CSP form-action source (the return_url's origin)
}

// pinInput is one PIN field of the form. Its value is never rendered.
type pinInput struct {
	N     int // 1-based, for ids and labels
	Error string
}

// T is the catalogue's text of key in the page's language.
func (pg page) T(key string, args ...any) string { return pg.Lang.T(key, args...) }

// UntilHTML is the sentence naming when the payment expires, the time in
// a <time> element pay.js rewrites in the payer's time zone.
func (pg page) UntilHTML() template.HTML {
	const mark = "\x01" // kept by HTMLEscapeString, in no text
	when := `<time id="until-time" class="local" datetime="` + template.HTMLEscapeString(pg.UntilISO) + `">` +
		template.HTMLEscapeString(pg.Until) + `</time>`
	return template.HTML(strings.Replace(template.HTMLEscapeString(pg.T("pay.until", mark)), mark, when, 1))
}

func notFoundPage(l Lang) page {
	return page{Template: "message", Lang: l, Title: l.T("notfound.title"), Heading: l.T("notfound.head"),
		Text: l.T("notfound.text")}
}

// messagePage is a page of one message: the catalogue's titleKey and
// textKey in l.
func messagePage(l Lang, titleKey, textKey string) page {
	return page{Template: "message", Lang: l, Title: l.T(titleKey), Heading: l.T(titleKey), Text: l.T(textKey)}
}

func internalErrorPage(l Lang) page { return messagePage(l, "internal.title", "internal.text") }

// lang is the language of the pages of p for the payer of r.
func (h *Handler) lang(r *http.Request, p payment.Payment) Lang { return RequestLang(r, p.Locale) }

// showPayment is GET /pay/{id}?client_secret=...
func (h *Handler) showPayment(w http.ResponseWriter, r *http.Request) {
	p, ok := h.lookup(w, r, r.URL.Query().Get("client_secret"))
	if !ok {
		return
	}
	if p.Status == payment.StatusRequiresAction && h.suspended(w, r, p) {
		return
	}
	if p.Status == payment.StatusRequiresAction && h.now().Before(p.ExpiresAt) && !challenged(p) && !bankChallenged(p) {
		pg, err := h.formPage(r, p, pinsVisibleMin, nil, "")
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.render(w, r, http.StatusOK, pg)
		return
	}
	h.showStatus(w, r, http.StatusOK, p)
}

// challenged reports whether Kassa's risk decision wants the payer to
// pass a second factor before p can go on.
func challenged(p payment.Payment) bool {
	return p.Status == payment.StatusRequiresAction && p.Risk.Challenge == payment.ChallengePending
}

// lookup finds the payment of the request and checks its client secret.
// A wrong or missing secret gets the same 404 as an unknown payment, so
// the page tells nobody whether a payment exists.
func (h *Handler) lookup(w http.ResponseWriter, r *http.Request, secret string) (payment.Payment, bool) {
	id := r.PathValue("id")
	if secret == "" || len(secret) > clientSecretLengthMax || id == "" || len(id) > paymentIDLengthMax {
		h.render(w, r, http.StatusNotFound, notFoundPage(RequestLang(r, "")))
		return payment.Payment{}, false
	}
	p, err := h.cfg.Payments.Get(r.Context(), "", id)
	if kassa.ErrorKind(err) == kassa.ENotFound {
		h.render(w, r, http.StatusNotFound, notFoundPage(RequestLang(r, "")))
		return p, false
	} else if err != nil {
		h.fail(w, r, err)
		return p, false
	}
	if subtle.ConstantTimeCompare([]byte(p.ClientSecret), []byte(secret)) != 1 {
		h.render(w, r, http.StatusNotFound, notFoundPage(RequestLang(r, "")))
		return payment.Payment{}, false
	}
	return p, true
}

// formPage is the payment form: visible PIN fields shown at first (the
// script hides the others; without it all ten show), errs by field index.
func (h *Handler) formPage(r *http.Request, p payment.Payment, visible int, errs map[int]string, formErr string) (page, error) {
	pg, err := h.basePage(r, p)
	if err != nil {
		return pg, err
	}
	pg.Template, pg.Title = "pay", pg.T("pay.title", pg.Merchant)
	pg.Action = "/pay/" + url.PathEscape(p.ID)
	pg.ClientSecret = p.ClientSecret
	pg.Visible = min(max(visible, pinsVisibleMin), payment.PINsMax)
	pg.FormError = formErr
	pg.CardForm = h.cfg.Cards != nil
	h.walletForm(r, p, &pg)
	h.payLaterForm(r, p, &pg)
	pg.Until, pg.UntilISO = FormatTime(p.ExpiresAt, pg.Lang), p.ExpiresAt.UTC().Format(time.RFC3339)
	pg.Inputs = make([]pinInput, payment.PINsMax)
	for i := range pg.Inputs {
		pg.Inputs[i] = pinInput{N: i + 1, Error: errs[i]}
	}
	if p.ReturnURL != "" {
		// The way back to the shop without paying: the payment stays as
		// it is (the shop learns it is still requires_action).
		pg.ReturnURL = returnURLWith(p)
	}
	h.pinTries(r, p, &pg)
	if declinedOpen(p) && formErr == "" && len(errs) == 0 {
		// The last try was declined: say why above its method's form.
		if d := methodPages[p.MethodType].declined; d != nil {
			d(pg.Lang, &pg, p)
		}
	}
	return pg, nil
}

// basePage fills in the merchant and what is being paid, in the payer's
// language.
func (h *Handler) basePage(r *http.Request, p payment.Payment) (page, error) {
	m, err := h.cfg.Merchants.Get(r.Context(), p.MerchantID)
	if err != nil {
		return page{}, fmt.Errorf("merchant of payment %s: %w", p.ID, err)
	}
	l := h.lang(r, p)
	pg := page{Lang: l, Merchant: m.Name, Amount: FormatMoney(p.Amount, p.Currency, l), Currency: string(p.Currency),
		Description: p.Description}
	if origin, ok := returnOrigin(p.ReturnURL); ok {
		pg.formAction = origin
	}
	return pg, nil
}

// statusPage tells the payer where a payment that no longer takes PINs
// stands.
func (h *Handler) statusPage(r *http.Request, p payment.Payment) (page, error) {
	pg, err := h.basePage(r, p)
	if err != nil {
		return pg, err
	}
	pg.Template = "status"
	set := func(titleKey, headKey, text string) {
		pg.Title, pg.Heading, pg.Text = pg.T(titleKey), pg.T(headKey), text
	}
	// What the page says of a risk decision names no score, rule or
	// reason: those would teach a fraudster what to change.
	switch st := p.Status; {
	case challenged(p) && h.now().Before(p.ExpiresAt):
		set("step.title", "step.head", pg.T("step.text", pg.T(factorKey(p.Risk.Factor)), pg.Merchant))
		pg.NextURL, pg.NextText = ChallengeURL(p), pg.T("status.next")
	case bankChallenged(p) && h.now().Before(p.ExpiresAt):
		set("bank.title", "bank.title", pg.T("bank.text", p.Card.Last4))
		if h.cfg.Issuer != nil {
			pg.NextURL, pg.NextText = IssuerURL(p), pg.T("status.bank")
		}
	case st == payment.StatusFailed && p.FailureCode == payment.FailureRiskBlocked:
		set("declined.title", "declined.head", pg.T("declined.text", pg.Merchant))
	case st == payment.StatusAuthorized || st == payment.StatusCaptured:
		set("paid.title", "paid.head", pg.T("paid.text", pg.Merchant))
		if p.AmountRefunded > 0 {
			pg.Text = pg.T("paid.refunded", pg.Merchant, FormatMoney(p.AmountRefunded, p.Currency, pg.Lang))
		}
	case st == payment.StatusCanceled:
		set("canceled.title", "canceled.head", pg.T("canceled.text", pg.Merchant))
	case st == payment.StatusFailed:
		set("failed.title", "failed.head", pg.T("failed.text"))
		if f := methodPages[p.MethodType].failed; f != nil {
			pg.Text = f(pg.Lang, p)
		}
	default: // expired, or requires_action past its time
		set("expired.title", "expired.head", pg.T("expired.text"))
	}
	if p.ReturnURL != "" {
		pg.ReturnURL = returnURLWith(p)
	}
	return pg, nil
}

// factorKey is the catalogue's name of the second factor a risk challenge
// asks for.
func factorKey(factor string) string {
	switch factor {
	case risk.FactorOTP:
		return "step.otp"
	case risk.FactorPasskey:
		return "step.passkey"
	}
	return "step.any"
}

// fail logs an internal error and shows a generic page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.log.ErrorContext(r.Context(), "payment page", "path", r.URL.Path, "err", err)
	h.render(w, r, http.StatusInternalServerError, internalErrorPage(RequestLang(r, "")))
}

// render writes a page with its security headers.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, pg page) {
	pg.Nonce = newNonce()
	if pg.Lang == "" {
		pg.Lang = RequestLang(r, "")
	}
	pg.CSS = pageCSS
	if pg.Template == "pay" {
		pg.JS = pageJS
	}
	var b strings.Builder
	if err := pageTemplates.ExecuteTemplate(&b, pg.Template, pg); err != nil {
		h.log.ErrorContext(r.Context(), "render payment page", "template", pg.Template, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", contentSecurityPolicy(pg.Nonce, pg.formAction))
	setPageHeaders(hd)
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		fmt.Fprint(w, b.String())
	}
}

func setPageHeaders(hd http.Header) {
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// contentSecurityPolicy allows the page's own nonce'd style and script
// and nothing else. form-action names the return_url's origin as well:
// Chrome applies form-action to the redirect that answers the form.
func contentSecurityPolicy(nonce, formOrigin string) string {
	formAction := "'self'"
	if formOrigin != "" {
		formAction += " " + formOrigin
	}
	return "default-src 'none'; connect-src 'self'; style-src 'nonce-" + nonce + "'; script-src 'nonce-" + nonce +
		"'; img-src 'none'; form-action " + formAction + "; frame-ancestors 'none'; base-uri 'none'"
}

func newNonce() string {
	var b [18]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:]) // CSP allows - and _; nothing to escape in HTML
}

// returnOrigin is the origin of a return_url as a CSP source, when it is
// plainly one (a scheme and a host of letters, digits, dots, dashes, a
// port or an IPv6 literal), so nothing in it can change the policy.
func returnOrigin(raw string) (string, bool) {
	if raw == "" {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", false
	}
	for _, c := range u.Host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)) {
			return "", false
		}
	}
	return u.Scheme + "://" + u.Host, true
}

// returnURLWith is the payment's return_url with payment_id and status
// appended to its query; what the merchant put there is kept as it is.
func returnURLWith(p payment.Payment) string {
	u, err := url.Parse(p.ReturnURL)
	if err != nil {
		return p.ReturnURL // validated at creation; not reached
	}
	add := url.Values{"payment_id": {p.ID}, "status": {string(p.Status)}}.Encode()
	if u.RawQuery == "" {
		u.RawQuery = add
	} else {
		u.RawQuery += "&" + add
	}
	return u.String()
}

// clientIP is the address the request came from. Kassa takes no
// forwarding headers: it terminates TLS itself.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// sameOrigin reports whether a POST may come from this page: browsers
// that send Sec-Fetch-Site must say same-origin (or none, for a request
// the user made directly); an Origin header, when it is not "null", must
// be ours. Under Referrer-Policy: no-referrer a browser may send
// "Origin: null" for our own form, so null alone is not refused.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return true
	}
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return strings.EqualFold(origin, scheme+"://"+r.Host)
}

// isForm reports whether the request body is a urlencoded form.
func isForm(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// tooLarge reports whether err is a body over its limit.
func tooLarge(err error) bool {
	_, ok := errors.AsType[*http.MaxBytesError](err)
	return ok
}
