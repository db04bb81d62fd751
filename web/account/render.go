package account

import (
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/passkey"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/web"
)

//go:embed account.html account.css account.js
var assets embed.FS

var (
	templates = template.Must(template.New("").Funcs(template.FuncMap{
		"field": newField, "amount": web.FormatAmount,
		"strength": sessionStrength, "levelKey": func(l identity.Level) string { return levelWords[l] },
	}).ParseFS(assets, "account.html"))
	pageCSS = web.PageCSS() + template.CSS(mustRead("account.css"))
	// Every page runs account.js (focus, double-submit guard) and the
	// signals half of pay.js; pages with a passkey ceremony add
	// passkey.js before them.
	pageJS        = template.JS(mustRead("account.js")) + "\n" + web.PageScript()
	pagePasskeyJS = template.JS(passkey.Script) + "\n" + pageJS
)

func mustRead(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Form limits.
const (
	// formBytesMax bounds a form's body; passkeyFormBytesMax one that
	// carries a passkey ceremony's response (urlencoded JSON).
	formBytesMax        = 16 << 10
	passkeyFormBytesMax = 4 * passkey.ResponseBytesMax
	// inputBytesMax bounds any one field read from a form.
	inputBytesMax = 512
	// nextLengthMax bounds the page a flow returns to.
	nextLengthMax = 1024
)

// page is what the templates render. Most fields serve one template.
type page struct {
	Template string
	Lang     web.Lang // the language of the page's texts (texts.go)
	Title    string
	Nonce    string
	CSS      template.CSS
	JS       template.JS
	CSRF     string
	Passkeys bool // the page runs a passkey ceremony: passkey.js is added

	Heading   string
	Text      string
	FormError string
	Notice    string            // a confirmation of what was just done
	Errors    map[string]string // by field name
	Values    map[string]string // by field name, to fill back in (never secrets)
	Focus     string            // the field that takes the focus
	Next      string            // the page the flow returns to ("" the account)
	LinkURL   string            // the way on from a message page
	LinkText  string
	Dev       bool // the development outbox is on: pages point to it

	// Sign-up and KYC.
	Step, Steps int
	StepName    string
	SignUpEmail string
	SignUpPhone string
	Optional    bool

	Data any // the page's own data (accountData, challengeData, ...)

	// Privacy is the privacy notice's URL (privacy.go).
	Privacy string

	// Paying is the payment a login or sign-up on the way to a step-up
	// is for, so that merchant and amount stay in view.
	Paying *paying

	formAction string // an extra CSP form-action source (a merchant's return origin)
}

// field is one labelled input; templates make it with "field".
type field struct {
	Name, ID, Label, Type, Auto, Mode, Hint, Value, Error string
	Focus, Required                                       bool
}

// newField is a field of pg: its value and error come from pg. kind is
// the input type; an empty auto turns autocomplete off.
func newField(pg page, name, label, kind, auto, hint string, required bool) field {
	f := field{Name: name, ID: strings.ReplaceAll(name, "_", "-"), Label: label, Type: kind, Auto: auto, Hint: hint,
		Error: pg.Errors[name], Focus: pg.Focus == name, Required: required}
	if f.Auto == "" {
		f.Auto = "off"
	}
	switch kind {
	case "password":
	default:
		f.Value = pg.Values[name]
	}
	if kind == "code" {
		f.Type, f.Mode, f.Auto = "text", "numeric", "one-time-code"
	}
	return f
}

func messagePage(title, text, link, linkText string) page {
	return page{Template: "message", Title: title, Heading: title, Text: text, LinkURL: link, LinkText: linkText}
}

// render writes a page with its security headers.
func (h *Handler) render(v *visit, status int, pg page) {
	var nonce [18]byte
	rand.Read(nonce[:])
	pg.Nonce = b64.EncodeToString(nonce[:])
	pg.CSS, pg.JS, pg.CSRF, pg.Dev = pageCSS, pageJS, v.csrfToken(), h.cfg.DevOutbox
	pg.Privacy = h.privacyURL()
	pg.Lang = v.lang()
	if pg.Paying == nil && pg.Template != "challenge" && pg.Template != "challenge_result" {
		pg.Paying = h.payingFor(v, pg.Next)
	}
	if pg.Passkeys {
		pg.JS = pagePasskeyJS
	}
	if pg.Focus == "" {
		for _, name := range fieldOrder {
			if pg.Errors[name] != "" {
				pg.Focus = name
				break
			}
		}
	}
	var b strings.Builder
	if err := templates.ExecuteTemplate(&b, pg.Template, pg); err != nil {
		h.log.ErrorContext(v.r.Context(), "render account page", "template", pg.Template, "err", err)
		http.Error(v.w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := v.w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", contentSecurityPolicy(pg.Nonce, pg.formAction))
	web.SetPageHeaders(hd)
	v.w.WriteHeader(status)
	if v.r.Method != http.MethodHead {
		fmt.Fprint(v.w, b.String())
	}
}

// fieldOrder is the order of the forms' fields, for the focus.
var fieldOrder = []string{"email", "phone", "code", "password", "given_name", "family_name", "birth_date",
	"address_line1", "address_line2", "address_city", "address_postal_code", "address_region", "address_country",
	"document_type", "document_country", "document_number", "name", "totp_code", "otp_code", "recovery_code"}

// contentSecurityPolicy allows the page's own nonce'd style and script,
// fetches to this origin (the passkey ceremonies' options), images from
// data: URLs (the TOTP QR code) and nothing else. form-action names the
// merchant's return origin on the challenge page: Chrome applies it to
// the redirect that answers the form.
func contentSecurityPolicy(nonce, formOrigin string) string {
	formAction := "'self'"
	if formOrigin != "" {
		formAction += " " + formOrigin
	}
	return "default-src 'none'; style-src 'nonce-" + nonce + "'; script-src 'nonce-" + nonce +
		"'; connect-src 'self'; img-src data:; form-action " + formAction +
		"; frame-ancestors 'none'; base-uri 'none'"
}

// redirect sends the browser on with 303 (it GETs the target).
func (h *Handler) redirect(v *visit, target string) {
	web.SetPageHeaders(v.w.Header())
	v.w.Header().Set("Location", target)
	v.w.WriteHeader(http.StatusSeeOther)
}

// fail logs an internal error and shows a generic page.
func (h *Handler) fail(v *visit, err error) {
	h.log.ErrorContext(v.r.Context(), "account page", "path", v.r.URL.Path, "err", err)
	h.render(v, http.StatusInternalServerError, messagePage(v.t("internal.title"), v.t("internal.text"), "", ""))
}

// form reads a POST's form after the checks every POST passes: from this
// origin, a urlencoded body within limit bytes, and the CSRF token. It
// answers the request itself when one fails.
func (h *Handler) form(v *visit, limit int64) bool {
	refuse := func(status int, text string) bool {
		h.render(v, status, messagePage(v.t("refused.title"), v.t(text), "", ""))
		return false
	}
	if !web.SameOrigin(v.r) {
		return refuse(http.StatusForbidden, "refused.origin")
	}
	if !web.IsForm(v.r) {
		return refuse(http.StatusUnsupportedMediaType, "refused.form")
	}
	v.r.Body = http.MaxBytesReader(v.w, v.r.Body, limit)
	if err := v.r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return refuse(http.StatusRequestEntityTooLarge, "refused.large")
		}
		return refuse(http.StatusBadRequest, "refused.read")
	}
	if !v.csrfOK() {
		h.log.InfoContext(v.r.Context(), "account page: form refused: CSRF token missing or wrong", "path", v.r.URL.Path)
		return refuse(http.StatusForbidden, "refused.csrf")
	}
	return true
}

// input is a form field trimmed, "" when over inputBytesMax.
func (v *visit) input(name string) string {
	s := v.r.PostForm.Get(name)
	if len(s) > inputBytesMax {
		return ""
	}
	return strings.TrimSpace(s)
}

// secretInput is a password or code as typed (not trimmed), "" when
// over inputBytesMax.
func (v *visit) secretInput(name string) string {
	s := v.r.PostForm.Get(name)
	if len(s) > inputBytesMax {
		return ""
	}
	return s
}

// safeNext returns s when it is a path of these pages or the payment page
// a flow may return to, "" otherwise: never another site.
func safeNext(s string) string {
	if s == "" || len(s) > nextLengthMax || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") ||
		strings.ContainsAny(s, "\\\r\n\t") {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	p := u.Path
	if p == "/account" || strings.HasPrefix(p, "/account/") || strings.HasPrefix(p, "/challenge/") || strings.HasPrefix(p, "/pay/") {
		return s
	}
	return ""
}

// withNext appends next to a path of these pages.
func withNext(path, next string) string {
	if next == "" {
		return path
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "next=" + url.QueryEscape(next)
}

// orAccount is next, or the account page.
func orAccount(next string) string {
	if next == "" {
		return "/account"
	}
	return next
}

// retryAfter sets Retry-After from a lockout and says the wait in words.
func retryAfter(v *visit, err error) string {
	var lo *identity.LockedOutError
	if !errors.As(err, &lo) {
		return v.t("wait.while")
	}
	s := lo.Seconds()
	v.w.Header().Set("Retry-After", strconv.Itoa(s))
	switch {
	case s < 60:
		return v.t("wait.seconds", s)
	case s < 120:
		return v.t("wait.minute")
	case s < 2*3600:
		return v.t("wait.minutes", (s+59)/60)
	}
	return v.t("wait.hours", (s+3599)/3600)
}

// statusOf is the HTTP status of a refusal by a service.
func statusOf(err error) int {
	switch kassa.ErrorKind(err) {
	case kassa.ERateLimited:
		return http.StatusTooManyRequests
	case kassa.EConflict:
		return http.StatusConflict
	case kassa.EForbidden:
		return http.StatusForbidden
	case kassa.EUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusUnprocessableEntity
}

// payerTexts say in a payer's words what the identity, passkey and
// payment services' error codes tell a developer. A page shows these, or
// payerTextOther, never a service's own message (which names fields and
// states as the API does).
var payerTexts = map[string]string{
	"erasure_blocked":                    "Your account still holds money or has a payment on its way. Withdraw your balance and let open payments finish, then try again.",
	identity.CodeLoginFailed:             "The email address or the password is wrong.",
	identity.CodeLoginLocked:             "Too many attempts. For your security, try again later.",
	identity.CodeCodeInvalid:             "This code is wrong or has expired.",
	identity.CodeResendLimited:           "A code was sent a moment ago; use that one, or ask again in a little while.",
	identity.CodeSessionInvalid:          "Your login expired. Log in again.",
	identity.CodeSecondFactorRequired:    "Confirm your login with your second factor first.",
	identity.CodeFactorUnavailable:       "This way of confirming is not set up for your account. Choose another.",
	identity.CodeSignUpInvalid:           "This sign-up has expired. Start again.",
	identity.CodeSignUpStep:              "This step of the sign-up is done already. Continue with the next.",
	identity.CodeEmailTaken:              "An account with this email address exists already. Log in instead.",
	identity.CodeLevelTooLow:             "Your account cannot do this yet. Verify your identity first.",
	identity.CodeKYCRejected:             "We could not verify your identity with these details. Check them and try again.",
	identity.CodeNotifyFailed:            "We could not send the message just now. Try again in a moment.",
	"password_invalid":                   "Enter your password as plain text.",
	"password_too_short":                 "Choose a longer password: at least " + strconv.Itoa(identity.PasswordLengthMin) + " characters.",
	"password_too_long":                  "Choose a shorter password: at most " + strconv.Itoa(identity.PasswordLengthMax) + " characters.",
	"password_common":                    "This password is too common. Choose another one.",
	"password_personal":                  "This password is too close to your email address. Choose another one.",
	"email_invalid":                      "Enter an email address like name@example.com.",
	"phone_invalid":                      "Enter your mobile number with its country code, like +43 660 1234567.",
	"birth_date_invalid":                 "Enter your date of birth as it is in your document.",
	identity.CodeUnderage:                "You need to be 18 or older to verify your identity.",
	"address.country_invalid":            "Choose the country of your address.",
	"document_type_invalid":              "Choose the kind of document: passport, ID card or driving licence.",
	"document_country_invalid":           "Choose the country that issued your document.",
	"document_number_invalid":            "Enter the document number as it is printed, letters, digits and dashes only.",
	passkey.CodeUserVerificationRequired: "Your authenticator did not verify you (fingerprint, face or device PIN). Use a passkey that can.",
	passkey.CodeUserPresenceRequired:     "Your authenticator did not confirm you were there. Try again.",
	passkey.CodeAlreadyRegistered:        "This passkey is added already.",
	passkey.CodeCeremonyExpired:          "That took too long or was already used. Try again.",
	passkey.CodeCeremonyUnknown:          "That took too long or was already used. Try again.",
	passkey.CodeCeremonyMismatch:         "That did not match this page. Try again.",
	passkey.CodeResponseInvalid:          "Your authenticator's answer could not be read. Try again.",
	passkey.CodeVerificationFailed:       "Your passkey was not accepted. Try again or use another passkey.",
	passkey.CodeUnknownCredential:        "This passkey is not one of this account's.",
	passkey.CodePossiblyCloned:           "This passkey may have been copied, so it is blocked. Use another one.",
	passkey.CodeLimitReached:             "You have as many passkeys as an account can have. Remove one first.",
	passkey.CodeNoPasskeys:               "This account has no passkey yet.",
	passkey.CodeNameInvalid:              "Give the passkey a name of up to 64 letters.",
	"payment_expired":                    "The payment was not completed in time.",
	"payment_unexpected_state":           "The payment changed meanwhile.",
	"payment_changed":                    "The payment changed meanwhile.",
	"challenge_not_pending":              "This payment has nothing left to confirm.",
	payment.CodeChallengePayerMismatch:   "This payment belongs to another account.",
	"amount_invalid":                     "Enter an amount like 20.00 within what is allowed.",
	"balance_insufficient":               "Your Kassa balance does not cover this amount.",
	"wallet_balance_insufficient":        "Your Kassa balance does not cover this amount.",
	"limit_exceeded":                     "This is more than you may withdraw today or this month.",
	"iban_required":                      "Enter the IBAN of your bank account.",
	"iban_invalid":                       "This is not an IBAN. Check it and try again.",
	"iban_checksum_invalid":              "This IBAN has a typing error: its check digits do not match.",
	"iban_country_unsupported":           "Withdrawals go to bank accounts in SEPA countries only.",
	"currency_mismatch":                  "Bank accounts are paid in euros only.",
	"kyc_required":                       "Verify your identity before you withdraw.",
	"account_holder_mismatch":            "Use a bank account in your own name.",
	"amount_exceeds_deposit":             "At most what you topped up with this card can go back to it.",
	"destination_unsupported":            "Choose a bank account or a card you topped up with.",
	"payment_not_found":                  "Choose a card you topped up with.",
	"customer_mismatch":                  "Choose a card you topped up with.",
	"payment_not_card":                   "Choose a card you topped up with.",
	"payment_not_captured":               "Choose a card you topped up with.",
	"risk_blocked":                       "We cannot make this withdrawal. Contact support if you think this is wrong.",
	identity.CodeDeviceNameInvalid:       "Give the device a name of up to 64 letters.",
	identity.CodeDeviceNotFound:          "This device is no longer in your account.",

	// Self-exclusion registers at login and sign-up (exclusion.go).
	identity.CodeSelfExcluded:              "A self-exclusion register lists you as excluded from gambling. Nothing was changed.",
	identity.CodeExclusionCheckUnavailable: "The self-exclusion register cannot be reached right now. Nothing was changed; try again in a few minutes.",
}

// payerTextOther is what a payer reads for a code payerTexts lacks.
const payerTextOther = "That did not work. Check what you entered and try again."

// payerText is what a payer reads for e in English; a field's own words
// come from the page when it has them.
func payerText(e *kassa.Error) string { return payerTextIn(web.LangEN, e) }

// payerText is what the visit's payer reads for e, in their language.
func (v *visit) payerText(e *kassa.Error) string { return payerTextIn(v.lang(), e) }

// payerTextIn is what a payer of language l reads for e: payerTexts, or
// payerTextsDE in German.
func payerTextIn(l web.Lang, e *kassa.Error) string {
	if l == web.LangDE {
		if t, ok := payerTextsDE[e.Code]; ok {
			return t
		}
		if _, ok := payerTexts[e.Code]; !ok {
			return payerTextOtherDE
		}
	}
	if t, ok := payerTexts[e.Code]; ok {
		return t
	}
	return payerTextOther
}

// userFacing reports whether err is a refusal the page can explain (a
// *kassa.Error other than internal), as opposed to a failure to log.
func userFacing(err error) (*kassa.Error, bool) {
	e := kassa.AsError(err)
	return e, e != nil && e.Kind != kassa.EInternal
}
