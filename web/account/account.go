// Package account serves the payer's Kassa account pages: sign-up in
// steps, login with a second factor on new devices, the account page
// (devices, sessions, passkeys, authenticator app, KYC, payment history),
// the step-up challenge page a risk_challenge sends the payer to, and in
// development the outbox of sent codes.
//
// The pages are rendered on the server from embedded templates, in the
// look of the payment page (package web), under the same strict
// Content-Security-Policy: a fresh nonce for the one inline style and
// script, nothing loaded from elsewhere, no inline handlers. They work
// without JavaScript except for passkeys, which need WebAuthn; the script
// also fills in the device fingerprint and behaviour signals the payment
// page collects (web.PageScript).
//
// # Cookies
//
// The session cookie holds identity's session token and the device
// cookie identity's signed device token; both are HttpOnly, SameSite=Lax
// and, with Config.SecureCookies, Secure and __Host- prefixed. Lax, not
// Strict, because the payer arrives at the payment and challenge pages by
// a top-level navigation from the merchant's site and those pages must
// know who is logged in; Lax cookies go along only on such GETs, and GETs
// change nothing here. A sign-up in progress is a Strict cookie.
//
// # CSRF
//
// Every form carries a token: HMAC-SHA256 keyed by a random per-browser
// secret (the CSRF cookie, 256 bits, HttpOnly) over the session cookie's
// value, so a token works only in the browser and the session it was
// rendered for. A POST without the right token, or from another origin
// (Sec-Fetch-Site, Origin), is refused with 403 and changes nothing.
//
// Nothing secret is logged: no password, one-time code, recovery code,
// TOTP secret, session, device or CSRF token.
package account

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/passkey"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/web"
)

// Config wires a Handler.
type Config struct {
	Identity *identity.Service // required
	// Passkeys runs the WebAuthn ceremonies (required). For passkeys to be
	// a login's second factor, identity must have PasskeyFactor of the
	// same service in its Config.Factors.
	Passkeys *passkey.Service
	Payments *payment.Service // required: the challenge page and the payment history
	// Merchants names merchants on the challenge page and in the payment
	// history; nil shows their ids.
	Merchants web.Merchants
	// Outbox is identity's development Notifier; DevOutbox serves its
	// messages (with their codes) at GET /dev/outbox. Never in
	// production: whoever reads the page reads every code.
	Outbox    *identity.Outbox
	DevOutbox bool
	// SecureCookies marks cookies Secure and names them __Host-...; set it
	// whenever the pages are served over HTTPS (always, but for tests and
	// development on http://localhost).
	SecureCookies bool
	Logger        *slog.Logger     // nil discards
	Clock         func() time.Time // nil: time.Now
	// Wallets, when set, shows the payer's Kassa balance and its latest
	// movements on the account page (wallet.go), in WalletCurrencies
	// (nil: EUR) and the currencies of the payer's payments.
	Wallets          Wallets
	WalletCurrencies []money.Currency
	// Withdrawals, when set with Wallets, lets the payer withdraw from
	// the wallet (money.go); top-ups need only Wallets.
	Withdrawals Withdrawals
	// PublicURL is the origin the pages are served at (https://pay.example),
	// for the way back from a top-up's payment page; "" derives it from
	// the request.
	PublicURL string
	// PrivacyURL is the operator's privacy notice (https) the sign-up and
	// identity pages link to; "" links to the built-in one, /privacy.
	PrivacyURL string
	// PersonalData, when set, lets the payer download everything held on
	// their account from the account page (privacy.go).
	PersonalData PersonalData
	// Limits, when set, shows and changes the payer's gambling limits,
	// self-exclusion and cool-off (limits.go).
	Limits Limits
	// PayLater, when set, shows the payer's pay later limit and plans
	// with pay-now and push-back buttons (paylater.go).
	PayLater PayLater
}

// Handler serves the account pages for the patterns Routes lists. It
// routes them itself as well, so it also works on its own.
type Handler struct {
	cfg    Config
	id     *identity.Service
	pk     *passkey.Service
	pay    *payment.Service
	log    *slog.Logger
	now    func() time.Time
	names  cookieNames
	mux    *http.ServeMux
	routes []string
}

var _ web.Payers = (*Handler)(nil)

// New checks cfg and returns the pages' handler.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Identity == nil:
		return nil, errors.New("account: Config.Identity is required")
	case cfg.Passkeys == nil:
		return nil, errors.New("account: Config.Passkeys is required")
	case cfg.Payments == nil:
		return nil, errors.New("account: Config.Payments is required")
	case cfg.DevOutbox && cfg.Outbox == nil:
		return nil, errors.New("account: Config.DevOutbox needs Config.Outbox")
	}
	if err := checkPrivacyURL(cfg.PrivacyURL); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	h := &Handler{cfg: cfg, id: cfg.Identity, pk: cfg.Passkeys, pay: cfg.Payments, log: cfg.Logger, now: cfg.Clock,
		names: newCookieNames(cfg.SecureCookies), mux: http.NewServeMux()}
	h.register()
	return h, nil
}

// register routes every page.
func (h *Handler) register() {
	handle := func(pattern string, fn func(*visit)) {
		h.routes = append(h.routes, pattern)
		h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { fn(h.newVisit(w, r)) })
	}
	handle("GET /signup", h.showSignUp)
	handle("POST /signup", h.startSignUp)
	handle("GET /signup/verify", h.showSignUpStep)
	handle("POST /signup/verify", h.confirmSignUp)
	handle("POST /signup/resend", h.resendSignUp)
	handle("POST /signup/password", h.finishSignUp)

	handle("GET /login", h.showLogin)
	handle("POST /login", h.login)
	handle("GET /login/forgot", h.showRecover)
	handle("POST /login/forgot", h.answerRecover)
	handle("GET /login/verify", h.showSecondFactor)
	handle("POST /login/verify", h.verifySecondFactor)
	handle("POST /login/send-code", h.sendLoginCode)
	handle("POST /login/passkey-options", h.loginPasskeyOptions)
	handle("POST /logout", h.logout)

	handle("GET "+privacyPath, h.showPrivacy)

	handle("GET /account", h.showAccount)
	handle("GET /account/kyc", h.showKYC)
	handle("POST /account/kyc", h.submitKYC)
	handle("POST /account/devices/{id}/revoke", h.revokeDevice)
	handle("POST /account/devices/{id}/rename", h.renameDevice)
	handle("POST /account/sessions/{id}/revoke", h.revokeSession)
	handle("POST /account/sessions/revoke-others", h.revokeOtherSessions)
	handle("POST /account/passkeys/options", h.passkeyOptions)
	handle("POST /account/passkeys", h.addPasskey)
	handle("POST /account/passkeys/{id}/rename", h.renamePasskey)
	handle("POST /account/passkeys/{id}/delete", h.deletePasskey)
	handle("POST /account/totp", h.enrolTOTP)
	handle("POST /account/totp/confirm", h.confirmTOTP)
	handle("POST /account/totp/disable", h.disableTOTP)
	if h.cfg.Wallets != nil {
		handle("POST /account/topup", h.topUp)
		handle("POST /account/withdraw", h.withdraw)
	}
	if h.cfg.PersonalData != nil {
		handle("POST /account/privacy/export", h.exportPersonalData)
		handle("POST /account/privacy/erase", h.eraseAccount)
	}
	handle("POST /account/limits", h.setLimits)
	if h.cfg.PayLater != nil {
		handle("POST /account/plans/{id}/{seq}/pay", h.payInstalment)
		handle("POST /account/plans/{id}/{seq}/push-back", h.pushBackInstalment)
		handle("POST /account/plans/{id}/card", h.useCard)
		handle("POST /account/plans/{id}/wallet", h.useWallet)
	}

	handle("GET /challenge/{payment_id}", h.showChallenge)
	handle("POST /challenge/{payment_id}", h.answerChallenge)
	handle("POST /challenge/{payment_id}/passkey-options", h.challengePasskeyOptions)

	if h.cfg.DevOutbox {
		handle("GET /dev/outbox", h.showOutbox)
	}
}

// Routes lists the "METHOD /pattern"s the handler serves (for
// httpapi.Config.Accounts). GET patterns serve HEAD as well.
func (h *Handler) Routes() []string { return slices.Clone(h.routes) }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern == "" {
		v := h.newVisit(w, r)
		h.render(v, http.StatusNotFound, messagePage(v.t("notfound.title"), v.t("notfound.text"), "/account", v.t("acct.title")))
		return
	}
	h.mux.ServeHTTP(w, r)
}

// Payer recognises the logged-in payer of a request from its session
// and device cookies, for the payment page (web.Payers). Nobody logged
// in, or a session that is pending, expired or revoked, is no error.
func (h *Handler) Payer(ctx context.Context, r *http.Request) (web.Payer, error) {
	tok := cookieValue(r, h.names.session)
	if tok == "" {
		return web.Payer{}, nil
	}
	sess, err := h.id.Authenticate(ctx, tok)
	if err != nil {
		if k := kassa.ErrorKind(err); k == kassa.EUnauthorized || k == kassa.EForbidden {
			return web.Payer{}, nil
		}
		return web.Payer{}, err
	}
	who := web.Payer{CustomerID: sess.CustomerID}
	c, err := h.id.Customer(ctx, sess.CustomerID)
	if err != nil {
		return web.Payer{}, err
	}
	who.CredentialsChangedAt, who.CustomerCreatedAt = c.CredentialsChangedAt, c.Created
	rec, err := h.id.RecognizeDevice(ctx, sess.CustomerID, cookieValue(r, h.names.device), "")
	if err != nil {
		return web.Payer{}, err
	}
	if rec.Known {
		who.DeviceID = rec.DeviceID
	}
	return who, nil
}
