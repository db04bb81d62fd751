package account

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/passkey"
	"github.com/kassa/kassa/web"
)

// sessionState is what the browser's session cookie amounts to.
type sessionState int

const (
	noSession      sessionState = iota // none, or unknown, expired or revoked
	pendingSession                     // a login that must pass a second factor
	liveSession                        // authenticated
)

// session authenticates the browser's session cookie.
func (h *Handler) session(v *visit) (identity.Session, sessionState, error) {
	if v.session == "" {
		return identity.Session{}, noSession, nil
	}
	sess, err := h.id.Authenticate(v.r.Context(), v.session)
	switch kassa.ErrorKind(err) {
	case kassa.EUnauthorized:
		return sess, noSession, nil
	case kassa.EForbidden:
		return sess, pendingSession, nil
	}
	if err != nil {
		return sess, noSession, err
	}
	return sess, liveSession, nil
}

// loggedIn returns the browser's authenticated session; a failure to
// check it is logged and taken as nobody logged in.
func (h *Handler) loggedIn(v *visit) (identity.Session, bool) {
	sess, st, err := h.session(v)
	if err != nil {
		h.log.ErrorContext(v.r.Context(), "account page: authenticate", "err", err)
	}
	return sess, st == liveSession
}

// requireLogin returns the authenticated session, or sends the browser to
// log in (or to pass its second factor) and come back.
func (h *Handler) requireLogin(v *visit) (identity.Session, bool) {
	sess, st, err := h.session(v)
	if err != nil {
		h.fail(v, err)
		return sess, false
	}
	back := "/account"
	if v.r.Method == http.MethodGet {
		back = safeNext(v.r.URL.RequestURI())
	}
	switch st {
	case noSession:
		h.redirect(v, withNext("/login", back))
		return sess, false
	case pendingSession:
		h.redirect(v, withNext("/login/verify", back))
		return sess, false
	}
	return sess, true
}

// logOutQuietly ends the browser's current session, if any, before a new
// login replaces it.
func (h *Handler) logOutQuietly(v *visit) {
	if v.session == "" {
		return
	}
	if err := h.id.Logout(v.r.Context(), v.session); err != nil {
		h.log.WarnContext(v.r.Context(), "account page: end the replaced session", "err", err)
	}
}

func loginPage(v *visit, next string) page {
	return page{Template: "login", Title: v.t("login.title"), Next: next, Errors: map[string]string{}, Values: map[string]string{}}
}

// showLogin is GET /login.
func (h *Handler) showLogin(v *visit) {
	q := v.r.URL.Query()
	next := safeNext(q.Get("next"))
	if _, ok := h.loggedIn(v); ok {
		h.redirect(v, orAccount(next))
		return
	}
	pg := loginPage(v, next)
	switch {
	case q.Get("out") != "":
		pg.Notice = v.t("login.out")
	case q.Get("expired") != "":
		pg.Notice = v.t("login.expired")
	case q.Get("reset") != "":
		pg.Notice = v.t("login.reset")
	}
	h.render(v, http.StatusOK, pg)
}

// login is POST /login. Whether the address has an account is never
// told: a wrong password, an unknown address and their lockouts read the
// same (identity throttles them alike).
func (h *Handler) login(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	next := safeNext(v.input("next"))
	pg := loginPage(v, next)
	pg.Values["email"] = v.input("email")
	res, err := h.id.Login(v.r.Context(), identity.LoginRequest{Email: pg.Values["email"],
		Password: v.secretInput("password"), Client: h.client(v)})
	if err != nil {
		e, ok := userFacing(err)
		switch {
		case !ok:
			h.fail(v, err)
			return
		case e.Kind == kassa.ERateLimited:
			pg.FormError = v.t("login.paused", retryAfter(v, err))
		case exclusionRefusal(e):
			// Said only once the password was right (identity asks the
			// registers after it): nothing for a stranger to learn.
			pg.FormError, _ = exclusionText(v, e)
		default:
			pg.FormError = v.t("login.wrong")
			pg.Focus = "password"
		}
		h.render(v, statusOf(err), pg)
		return
	}
	h.logOutQuietly(v)
	v.setSession(res.Token)
	if len(res.Factors) > 0 {
		h.redirect(v, withNext("/login/verify", next))
		return
	}
	h.redirect(v, orAccount(next))
}

// factorData is what the second-factor page offers: the factors the
// payer has, strongest first.
type factorData struct {
	Passkey, TOTP, OTP, Recovery bool
	Email, Phone                 string // masked; Phone "" when not confirmed
	Sent                         string // the channel a code just went to
	SentLabel                    string // the code field's label, naming where it went
	StepUp                       bool   // a logged-in payer confirming it is them, not a login
	// KnownDevice: the login is from a device the account knows, so the
	// factor was asked for another reason (the login's risk), not novelty.
	KnownDevice bool
}

// factorPage is the second-factor page of the browser's session.
func (h *Handler) factorPage(v *visit, next, sent string) (page, bool) {
	ch, err := h.id.LoginChallenge(v.r.Context(), v.session)
	if kassa.ErrorKind(err) == kassa.EUnauthorized {
		v.setSession("")
		h.redirect(v, withNext("/login?expired=1", next))
		return page{}, false
	} else if err != nil {
		h.fail(v, err)
		return page{}, false
	}
	_, st, err := h.session(v)
	if err != nil {
		h.fail(v, err)
		return page{}, false
	}
	d := factorData{Email: ch.Email, Phone: ch.Phone, StepUp: st == liveSession, KnownDevice: ch.KnownDevice}
	for _, f := range ch.Factors {
		switch f {
		case identity.FactorPasskey:
			d.Passkey = true
		case identity.FactorTOTP:
			d.TOTP = true
		case identity.FactorOTP:
			d.OTP = true
		case identity.FactorRecoveryCode:
			d.Recovery = true
		}
	}
	switch {
	case sent == string(identity.ChannelEmail):
		d.Sent, d.SentLabel = sent, v.t("factor.sentemail", d.Email)
	case sent == string(identity.ChannelSMS) && d.Phone != "":
		d.Sent, d.SentLabel = sent, v.t("factor.sentsms", d.Phone)
	}
	pg := page{Template: "factor", Title: v.t("factor.title"), Next: next, Passkeys: d.Passkey, Data: d,
		Errors: map[string]string{}, Values: map[string]string{}}
	return pg, true
}

// showSecondFactor is GET /login/verify: the second factor of a login
// from a new device, or of a logged-in payer stepping up to aal2.
func (h *Handler) showSecondFactor(v *visit) {
	q := v.r.URL.Query()
	next := safeNext(q.Get("next"))
	if v.session == "" {
		h.redirect(v, withNext("/login", next))
		return
	}
	pg, ok := h.factorPage(v, next, q.Get("sent"))
	if !ok {
		return
	}
	if d := pg.Data.(factorData); d.Sent != "" {
		pg.Notice = v.t("factor.sent")
		pg.Focus = "otp_code"
	}
	h.render(v, http.StatusOK, pg)
}

// codeFields are the second-factor forms' fields, by factor.
var codeFields = map[identity.Factor]string{
	identity.FactorOTP: "otp_code", identity.FactorTOTP: "totp_code", identity.FactorRecoveryCode: "recovery_code",
}

// verifySecondFactor is POST /login/verify: a code, or a passkey's answer.
// Passed, the session authenticates with a new token (identity rotates
// it), and a new device becomes known (the device cookie).
func (h *Handler) verifySecondFactor(v *visit) {
	if !h.form(v, passkeyFormBytesMax) {
		return
	}
	next := safeNext(v.input("next"))
	if v.session == "" {
		h.redirect(v, withNext("/login", next))
		return
	}
	f := identity.Factor(v.input("factor"))
	proof := identity.Proof{Factor: f}
	switch f {
	case identity.FactorPasskey:
		if v.input("ceremony_id") == "" {
			// The form sent without its script: no passkey was asked for,
			// so none was wrong.
			if pg, ok := h.factorPage(v, next, ""); ok {
				pg.FormError = v.t("factor.jsneeded")
				h.render(v, http.StatusUnprocessableEntity, pg)
			}
			return
		}
		data, err := json.Marshal(passkeyProof{CeremonyID: v.input("ceremony_id"),
			Response: json.RawMessage(v.r.PostForm.Get("response"))})
		if err != nil || len(v.r.PostForm.Get("response")) > passkey.ResponseBytesMax {
			data = nil // not JSON: identity's verifier refuses it as a wrong proof
		}
		proof.Data = data
	default:
		proof.Code = v.secretInput(codeFields[f])
	}
	res, err := h.id.VerifySecondFactor(v.r.Context(), v.session, proof, h.client(v))
	if err == nil {
		v.setSession(res.Token)
		v.setDevice(res.DeviceToken)
		h.redirect(v, orAccount(next))
		return
	}
	if msg, ok := exclusionText(v, kassa.AsError(err)); ok {
		// identity ended the login: back to the login page, with why.
		v.setSession("")
		pg := loginPage(v, next)
		pg.FormError = msg
		h.render(v, statusOf(err), pg)
		return
	}
	h.factorFailed(v, next, v.input("sent"), err, func(pg *page, e *kassa.Error) {
		switch {
		case e.Kind == kassa.ERateLimited:
			pg.FormError = v.t("factor.toomany", retryAfter(v, err))
		case e.Code == identity.CodeCodeInvalid && f == identity.FactorPasskey:
			pg.FormError = v.t("factor.passkeybad")
		case e.Code == identity.CodeCodeInvalid && codeFields[f] != "":
			pg.Errors[codeFields[f]] = v.t("factor.wrongcode")
		default:
			pg.FormError = v.payerText(e)
		}
	})
}

// factorFailed answers a second-factor step that failed with err: an
// expired login starts over, anything else the payer can act on shows on
// the factor page (show puts it there; sent is the channel a code went to).
func (h *Handler) factorFailed(v *visit, next, sent string, err error, show func(pg *page, e *kassa.Error)) {
	e, ok := userFacing(err)
	if !ok {
		h.fail(v, err)
		return
	}
	if e.Code == identity.CodeSessionInvalid {
		v.setSession("")
		h.redirect(v, withNext("/login?expired=1", next))
		return
	}
	pg, ok := h.factorPage(v, next, sent)
	if !ok {
		return
	}
	show(&pg, e)
	h.render(v, statusOf(err), pg)
}

// sendLoginCode is POST /login/send-code: a one-time code by email or SMS.
func (h *Handler) sendLoginCode(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	next := safeNext(v.input("next"))
	ch := v.input("channel")
	err := h.id.SendLoginCode(v.sendCtx(), v.session, identity.Channel(ch))
	if err == nil {
		h.redirect(v, withNext("/login/verify?sent="+url.QueryEscape(ch), next))
		return
	}
	h.factorFailed(v, next, ch, err, func(pg *page, e *kassa.Error) {
		switch e.Kind {
		case kassa.ERateLimited:
			pg.FormError = v.t("factor.resend", retryAfter(v, err))
		case kassa.EUnavailable:
			pg.FormError = v.t("factor.notsent")
		default:
			pg.FormError = v.payerText(e)
		}
	})
}

// loginPasskeyOptions is POST /login/passkey-options (JSON): a passkey
// login ceremony bound to the login's session. It names no user: the
// authenticator offers the payer's passkey, and identity checks that its
// owner is the session's customer.
func (h *Handler) loginPasskeyOptions(v *visit) {
	if !h.jsonForm(v) {
		return
	}
	ch, err := h.id.LoginChallenge(v.r.Context(), v.session)
	if err != nil {
		h.jsonError(v, err)
		return
	}
	if !slices.Contains(ch.Factors, identity.FactorPasskey) {
		h.writeJSON(v, http.StatusUnprocessableEntity, jsonMessage{v.t("json.nopasskey")})
		return
	}
	opts, ceremony, err := h.pk.BeginDiscoverableLogin(v.r.Context(), passkey.PurposeLogin, ch.SessionID)
	if err != nil {
		h.jsonError(v, err)
		return
	}
	h.writeJSON(v, http.StatusOK, passkeyOptions{CeremonyID: ceremony, Options: opts})
}

// logout is POST /logout: the session ends; the device stays known.
func (h *Handler) logout(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	h.logOutQuietly(v)
	v.setSession("")
	if next := safeNext(v.input("next")); next != "" {
		h.redirect(v, withNext("/login", next))
		return
	}
	h.redirect(v, "/login?out=1")
}

// passkeyOptions is what an options endpoint answers.
type passkeyOptions struct {
	CeremonyID string          `json:"ceremony_id"`
	Options    json.RawMessage `json:"options"`
}

type jsonMessage struct {
	Message string `json:"message"`
}

// jsonForm is form for the endpoints the script calls: failures answer
// in JSON.
func (h *Handler) jsonForm(v *visit) bool {
	refuse := func(status int, msg string) bool {
		h.writeJSON(v, status, jsonMessage{msg})
		return false
	}
	if !web.SameOrigin(v.r) {
		return refuse(http.StatusForbidden, v.t("json.origin"))
	}
	if !web.IsForm(v.r) {
		return refuse(http.StatusUnsupportedMediaType, v.t("json.form"))
	}
	v.r.Body = http.MaxBytesReader(v.w, v.r.Body, formBytesMax)
	if err := v.r.ParseForm(); err != nil {
		return refuse(http.StatusBadRequest, v.t("json.read"))
	}
	if !v.csrfOK() {
		return refuse(http.StatusForbidden, v.t("json.csrf"))
	}
	return true
}

// jsonError answers a service's refusal, or logs a failure.
func (h *Handler) jsonError(v *visit, err error) {
	e, ok := userFacing(err)
	if !ok {
		h.log.ErrorContext(v.r.Context(), "account page", "path", v.r.URL.Path, "err", err)
		h.writeJSON(v, http.StatusInternalServerError, jsonMessage{v.t("json.internal")})
		return
	}
	if e.Code == identity.CodeSessionInvalid {
		h.writeJSON(v, http.StatusUnauthorized, jsonMessage{v.t("json.expired")})
		return
	}
	h.writeJSON(v, statusOf(err), jsonMessage{v.payerText(e)})
}

func (h *Handler) writeJSON(v *visit, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		h.log.ErrorContext(v.r.Context(), "account page: encode JSON", "err", err)
		status, b = http.StatusInternalServerError, []byte(`{"message":"Something went wrong."}`)
	}
	hd := v.w.Header()
	hd.Set("Content-Type", "application/json")
	web.SetPageHeaders(hd)
	v.w.WriteHeader(status)
	v.w.Write(b)
}
