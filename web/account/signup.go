package account

import (
	"net/http"
	"slices"
	"strings"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/web"
)

// Sign-up: email and phone (step 1), the email's code (2), the phone's
// code (3), a password (4), then optionally identity data for KYC (5, on
// /account/kyc). identity keeps the sign-up; the browser holds its token
// in the sign-up cookie until the password step ends it.

const signUpSteps = 5

// signUpStepNames number identity's steps for the page and name them
// (keys of texts).
var signUpStepNames = map[identity.SignUpStep]struct {
	n    int
	name string
}{
	identity.StepEmail:    {2, "signup.step.email"},
	identity.StepPhone:    {3, "signup.step.phone"},
	identity.StepPassword: {4, "signup.step.password"},
}

// client is what identity learns of the browser: its address, user agent,
// device cookie and the page's fingerprint (from the parsed form).
func (h *Handler) client(v *visit) identity.Client {
	sig, _ := web.ClientSignals(v.r)
	return identity.Client{IP: web.ClientIP(v.r), UserAgent: web.UserAgent(v.r),
		DeviceToken: cookieValue(v.r, h.names.device), Fingerprint: sig.Fingerprint}
}

func signUpPage(v *visit, next string) page {
	return page{Template: "signup", Title: v.t("signup.title"), Step: 1, Steps: signUpSteps,
		StepName: v.t("signup.step.contact"), Next: next, Errors: map[string]string{}, Values: map[string]string{}}
}

// showSignUp is GET /signup.
func (h *Handler) showSignUp(v *visit) {
	next := safeNext(v.r.URL.Query().Get("next"))
	if _, ok := h.loggedIn(v); ok {
		h.redirect(v, orAccount(next))
		return
	}
	h.render(v, http.StatusOK, signUpPage(v, next))
}

// startSignUp is POST /signup: identity sends the address its code (or,
// when it has an account, a note saying so: the page cannot tell).
func (h *Handler) startSignUp(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	next := safeNext(v.input("next"))
	pg := signUpPage(v, next)
	pg.Values["email"], pg.Values["phone"] = v.input("email"), v.input("phone")
	su, err := h.id.SignUp(v.sendCtx(), identity.SignUpRequest{Email: pg.Values["email"], Phone: pg.Values["phone"],
		Client: h.client(v)})
	if err != nil {
		e, ok := userFacing(err)
		if !ok {
			h.fail(v, err)
			return
		}
		switch {
		case e.Param == "email":
			pg.Errors["email"] = v.t("signup.email_bad")
		case e.Param == "phone":
			pg.Errors["phone"] = v.t("signup.phone_bad")
		case e.Kind == kassa.ERateLimited:
			pg.FormError = v.t("signup.toomany", retryAfter(v, err))
		case e.Kind == kassa.EUnavailable:
			pg.FormError = v.t("signup.notsent")
		default:
			pg.FormError = v.payerText(e)
		}
		h.render(v, statusOf(err), pg)
		return
	}
	v.setSignUp(su.Token, su.ExpiresAt)
	h.redirect(v, withNext("/signup/verify", next))
}

// signUpToken is the sign-up of the browser, or it is sent to start one.
func (h *Handler) signUpToken(v *visit, next string) (string, bool) {
	tok := cookieValue(v.r, h.names.signUp)
	if tok == "" {
		h.redirect(v, withNext("/signup", next))
		return "", false
	}
	return tok, true
}

// signUpGone answers for a sign-up identity no longer knows.
func (h *Handler) signUpGone(v *visit, next string) {
	v.setSignUp("", h.now())
	pg := signUpPage(v, next)
	pg.FormError = v.t("signup.gone")
	h.render(v, http.StatusUnauthorized, pg)
}

// stepPage is the page of a sign-up's current step.
func stepPage(v *visit, su identity.SignUp, next string) page {
	st := signUpStepNames[su.Step]
	pg := page{Template: "signup_code", Title: v.t(st.name), Step: st.n, Steps: signUpSteps, StepName: v.t(st.name),
		SignUpEmail: su.Email, SignUpPhone: su.Phone, Next: next, Errors: map[string]string{}, Values: map[string]string{}}
	if su.Step == identity.StepPassword {
		pg.Template = "signup_password"
	}
	return pg
}

// showSignUpStep is GET /signup/verify: the step the sign-up waits for.
func (h *Handler) showSignUpStep(v *visit) {
	q := v.r.URL.Query()
	next := safeNext(q.Get("next"))
	tok, ok := h.signUpToken(v, next)
	if !ok {
		return
	}
	su, err := h.id.SignUpStatus(v.r.Context(), tok)
	if kassa.ErrorKind(err) == kassa.EUnauthorized {
		h.signUpGone(v, next)
		return
	} else if err != nil {
		h.fail(v, err)
		return
	}
	if su.Step == identity.StepDone {
		v.setSignUp("", h.now())
		h.redirect(v, orAccount(next))
		return
	}
	pg := stepPage(v, su, next)
	if q.Get("resent") != "" {
		pg.Notice = v.t("signup.resent")
	}
	h.render(v, http.StatusOK, pg)
}

// signUpForm reads the form of a sign-up step: where to go after, and the
// sign-up's token. When ok is false the answer is given.
func (h *Handler) signUpForm(v *visit) (next, tok string, ok bool) {
	if !h.form(v, formBytesMax) {
		return "", "", false
	}
	next = safeNext(v.input("next"))
	tok, ok = h.signUpToken(v, next)
	return next, tok, ok
}

// signUpStepFailed answers a sign-up step that failed with err: an expired
// sign-up starts over, a step already done moves on, anything else the
// payer can act on shows on the current step's page (show puts it there).
func (h *Handler) signUpStepFailed(v *visit, tok, next string, err error, show func(pg *page, e *kassa.Error)) {
	e, ok := userFacing(err)
	switch {
	case !ok:
		h.fail(v, err)
	case e.Kind == kassa.EUnauthorized:
		h.signUpGone(v, next)
	case e.Code == identity.CodeSignUpStep:
		h.redirect(v, withNext("/signup/verify", next))
	default:
		su, serr := h.id.SignUpStatus(v.r.Context(), tok)
		if serr != nil {
			h.signUpGone(v, next)
			return
		}
		pg := stepPage(v, su, next)
		show(&pg, e)
		h.render(v, statusOf(err), pg)
	}
}

// confirmSignUp is POST /signup/verify: the code of the email or phone
// step.
func (h *Handler) confirmSignUp(v *visit) {
	next, tok, ok := h.signUpForm(v)
	if !ok {
		return
	}
	_, err := h.id.SignUpConfirm(v.sendCtx(), tok, v.secretInput("code"))
	if err == nil {
		h.redirect(v, withNext("/signup/verify", next))
		return
	}
	if e, ok := userFacing(err); ok && e.Code == identity.CodeEmailTaken {
		v.setSignUp("", h.now())
		h.render(v, http.StatusConflict, messagePage(v.t("signup.taken.title"), v.t("signup.taken.text"),
			withNext("/login", next), v.t("login.submit")))
		return
	}
	h.signUpStepFailed(v, tok, next, err, func(pg *page, _ *kassa.Error) {
		pg.Errors["code"] = v.t("signup.wrongcode")
	})
}

// resendSignUp is POST /signup/resend: the current step's code again.
func (h *Handler) resendSignUp(v *visit) {
	next, tok, ok := h.signUpForm(v)
	if !ok {
		return
	}
	err := h.id.SignUpResend(v.sendCtx(), tok)
	if err == nil {
		h.redirect(v, withNext("/signup/verify?resent=1", next))
		return
	}
	h.signUpStepFailed(v, tok, next, err, func(pg *page, e *kassa.Error) {
		pg.FormError = v.t("signup.notresent")
		if e.Kind == kassa.ERateLimited {
			pg.FormError = "A code was sent a moment ago. You can ask for another in " + retryAfter(v, err) + "."
		}
	})
}

// finishSignUp is POST /signup/password: the password ends the sign-up,
// logs the payer in and makes this browser a known device; KYC follows,
// optionally.
func (h *Handler) finishSignUp(v *visit) {
	next, tok, ok := h.signUpForm(v)
	if !ok {
		return
	}
	res, err := h.id.SignUpPassword(v.r.Context(), tok, v.secretInput("password"), h.client(v))
	if err != nil {
		h.signUpStepFailed(v, tok, next, err, func(pg *page, e *kassa.Error) {
			pg.Errors["password"] = v.payerText(e)
		})
		return
	}
	v.setSignUp("", h.now())
	h.logOutQuietly(v)
	v.setSession(res.Token)
	v.setDevice(res.DeviceToken)
	h.redirect(v, withNext("/account/kyc?signup=1", next))
}

// kycPage is the identity data form.
func kycPage(v *visit, next string, signUp bool) page {
	pg := page{Template: "kyc", Title: v.t("acct.verify"), Next: next, Optional: signUp,
		Errors: map[string]string{}, Values: map[string]string{}}
	if signUp {
		pg.Step, pg.Steps, pg.StepName = signUpSteps, signUpSteps, v.t("kyc.step")
	}
	return pg
}

// showKYC is GET /account/kyc.
func (h *Handler) showKYC(v *visit) {
	q := v.r.URL.Query()
	next := safeNext(q.Get("next"))
	sess, ok := h.requireLogin(v)
	if !ok {
		return
	}
	cus, err := h.id.Customer(v.r.Context(), sess.CustomerID)
	if err != nil {
		h.fail(v, err)
		return
	}
	pg := kycPage(v, next, q.Get("signup") != "")
	if cus.Level.AtLeast(identity.LevelKYCVerified) {
		pg.Notice = v.t("kyc.again")
	}
	pg.Values["given_name"], pg.Values["family_name"] = cus.GivenName, cus.FamilyName
	h.render(v, http.StatusOK, pg)
}

// kycFields are the form's fields; the address's are address_... for the
// service's address.... params.
var kycFields = []string{"given_name", "family_name", "birth_date", "address_line1", "address_line2", "address_city",
	"address_postal_code", "address_region", "address_country", "document_type", "document_country", "document_number"}

// submitKYC is POST /account/kyc.
func (h *Handler) submitKYC(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	next := safeNext(v.input("next"))
	sess, ok := h.requireLogin(v)
	if !ok {
		return
	}
	pg := kycPage(v, next, v.input("signup") != "")
	for _, f := range kycFields {
		if f != "document_number" { // not written back into the page
			pg.Values[f] = v.input(f)
		}
	}
	birth, err := identity.ParseBirthDate(v.input("birth_date"))
	if err != nil {
		pg.Errors["birth_date"] = v.t("kyc.birth")
		h.render(v, http.StatusUnprocessableEntity, pg)
		return
	}
	d := identity.IdentityData{GivenName: v.input("given_name"), FamilyName: v.input("family_name"), BirthDate: birth,
		Address: identity.Address{Line1: v.input("address_line1"), Line2: v.input("address_line2"),
			City: v.input("address_city"), PostalCode: v.input("address_postal_code"),
			Region: v.input("address_region"), Country: v.input("address_country")},
		DocumentType: identity.DocumentType(v.input("document_type")), DocumentCountry: v.input("document_country"),
		DocumentNumber: v.input("document_number")}
	if _, err := h.id.SubmitKYC(v.r.Context(), sess.CustomerID, d); err != nil {
		e, ok := userFacing(err)
		if !ok {
			h.fail(v, err)
			return
		}
		name := strings.ReplaceAll(e.Param, ".", "_")
		switch {
		case e.Code == identity.CodeUnderage:
			pg.Errors["birth_date"] = v.t("kyc.underage")
		case exclusionRefusal(e):
			pg.FormError, _ = exclusionText(v, e)
		case name != "" && slices.Contains(kycFields, name):
			pg.Errors[name] = v.payerText(e)
		default:
			pg.FormError = v.payerText(e)
		}
		h.render(v, statusOf(err), pg)
		return
	}
	if next == "" {
		next = "/account?done=kyc"
	}
	h.redirect(v, next)
}
