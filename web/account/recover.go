package account

import (
	"net/http"
	"slices"
	"strings"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
)

// Account recovery pages: GET /login/forgot asks for the email address;
// every later step is a POST /login/forgot answered with the next form
// (action start, email_code, send_sms, factor, password). The recovery's
// token (identity.StartRecovery) travels in the forms' hidden field: it
// is signed and says nothing a payer could use, and the steps are
// identity's to enforce — the email code, then a second factor when the
// account has one, then the new password, which ends every session.
// Nothing on these pages says whether an address has an account.

// Recovery page steps.
const (
	recoverStepEmail    = "email"
	recoverStepCode     = "code"
	recoverStepFactor   = "factor"
	recoverStepPassword = "password"
)

// recoverData is what the recovery page shows.
type recoverData struct {
	Step         string
	Token        string
	Email        string // as typed, on the code step
	TOTP         bool   // the second factors offered
	RecoveryCode bool
	SMS          bool
	Phone        string // masked
	Sent         bool   // an SMS code just went out
}

// tokenMax bounds the recovery token taken from a form.
const recoveryTokenMax = 1024

func recoverPage(v *visit, d recoverData) page {
	return page{Template: "recover", Title: v.t("recover.head"), Data: d, Errors: map[string]string{}, Values: map[string]string{}}
}

// showRecover is GET /login/forgot.
func (h *Handler) showRecover(v *visit) {
	h.render(v, http.StatusOK, recoverPage(v, recoverData{Step: recoverStepEmail}))
}

// answerRecover is POST /login/forgot.
func (h *Handler) answerRecover(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	tok := v.r.PostForm.Get("token")
	if len(tok) > recoveryTokenMax {
		tok = ""
	}
	d := recoverData{Token: tok}
	switch v.input("action") {
	case "start":
		h.recoverStart(v)
	case "email_code":
		d.Step = recoverStepCode
		d.Email = v.input("email")
		res, err := h.id.RecoveryEmailCode(v.r.Context(), tok, v.secretInput("code"), h.client(v))
		h.recoverNext(v, d, res, err, "code")
	case "send_sms":
		h.recoverFactorsFromForm(v, &d)
		err := h.id.SendRecoverySMS(v.sendCtx(), tok)
		if err == nil {
			d.Sent = true
			pg := recoverPage(v, d)
			pg.Notice, pg.Focus = v.t("recover.smssent", d.Phone), "otp_code"
			h.render(v, http.StatusOK, pg)
			return
		}
		h.recoverFailed(v, d, err, "")
	case "factor":
		h.recoverFactorsFromForm(v, &d)
		f := identity.Factor(v.input("factor"))
		field := map[identity.Factor]string{identity.FactorTOTP: "totp_code", identity.FactorRecoveryCode: "recovery_code",
			identity.FactorOTP: "otp_code"}[f]
		res, err := h.id.RecoveryFactor(v.r.Context(), tok, identity.Proof{Factor: f, Code: v.secretInput(field)}, h.client(v))
		h.recoverNext(v, d, res, err, field)
	case "password":
		d.Step = recoverStepPassword
		err := h.id.FinishRecovery(v.r.Context(), tok, v.secretInput("password"), h.client(v))
		if err == nil {
			h.log.InfoContext(v.r.Context(), "account page: password reset by recovery")
			v.setSession("")
			h.redirect(v, "/login?reset=1")
			return
		}
		h.recoverFailed(v, d, err, "password")
	default:
		h.render(v, http.StatusUnprocessableEntity, recoverPage(v, recoverData{Step: recoverStepEmail}))
	}
}

func (h *Handler) recoverStart(v *visit) {
	d := recoverData{Step: recoverStepEmail}
	email := v.input("email")
	res, err := h.id.StartRecovery(v.sendCtx(), email, h.client(v))
	if err != nil {
		pg := recoverPage(v, d)
		pg.Values["email"] = email
		e, ok := userFacing(err)
		switch {
		case !ok:
			h.fail(v, err)
			return
		case e.Param == "email":
			pg.Errors["email"] = v.t("signup.email_bad")
		case e.Kind == kassa.ERateLimited:
			pg.FormError = v.t("recover.toomany", retryAfter(v, err))
		default:
			pg.FormError = v.payerText(e)
		}
		h.render(v, statusOf(err), pg)
		return
	}
	d.Step, d.Token, d.Email = recoverStepCode, res.Token, email
	pg := recoverPage(v, d)
	pg.Focus = "code"
	h.render(v, http.StatusOK, pg)
}

// recoverNext shows the step after a passed one: the second factors, or
// the new password.
func (h *Handler) recoverNext(v *visit, d recoverData, res identity.Recovery, err error, field string) {
	if err != nil {
		h.recoverFailed(v, d, err, field)
		return
	}
	next := recoverData{Token: res.Token, Step: recoverStepPassword}
	if !res.Done {
		next.Step = recoverStepFactor
		next.TOTP = slices.Contains(res.Factors, identity.FactorTOTP)
		next.RecoveryCode = slices.Contains(res.Factors, identity.FactorRecoveryCode)
		next.SMS, next.Phone = slices.Contains(res.Factors, identity.FactorOTP), res.Phone
	}
	pg := recoverPage(v, next)
	if next.Step == recoverStepPassword {
		pg.Focus = "password"
	}
	h.render(v, http.StatusOK, pg)
}

// recoverFailed shows the step again with why it did not pass.
func (h *Handler) recoverFailed(v *visit, d recoverData, err error, field string) {
	e, ok := userFacing(err)
	if !ok {
		h.fail(v, err)
		return
	}
	if e.Code == identity.CodeRecoveryInvalid {
		pg := recoverPage(v, recoverData{Step: recoverStepEmail})
		pg.FormError = v.t("recover.gone")
		h.render(v, http.StatusUnauthorized, pg)
		return
	}
	pg := recoverPage(v, d)
	msg := v.payerText(e)
	switch {
	case e.Kind == kassa.ERateLimited && e.Code != identity.CodeResendLimited:
		msg = v.t("factor.toomany", retryAfter(v, err))
	case e.Code == identity.CodeCodeInvalid:
		msg = v.t("factor.wrongcode")
	}
	if field != "" && e.Kind != kassa.ERateLimited {
		pg.Errors[field] = msg
	} else {
		pg.FormError = msg
	}
	h.render(v, statusOf(err), pg)
}

// recoverFactorsFromForm reads back the factors the factor step showed
// (hidden fields: only what to show, identity decides what passes).
func (h *Handler) recoverFactorsFromForm(v *visit, d *recoverData) {
	d.Step = recoverStepFactor
	fs := strings.Split(v.input("factors"), ",")
	d.TOTP = slices.Contains(fs, string(identity.FactorTOTP))
	d.RecoveryCode = slices.Contains(fs, string(identity.FactorRecoveryCode))
	d.SMS = slices.Contains(fs, string(identity.FactorOTP))
	if phone := v.input("phone"); len(phone) <= 32 {
		d.Phone = phone
	}
}

// Factors is the factors of the factor step as the hidden field carries them.
func (d recoverData) Factors() string {
	var fs []string
	if d.TOTP {
		fs = append(fs, string(identity.FactorTOTP))
	}
	if d.RecoveryCode {
		fs = append(fs, string(identity.FactorRecoveryCode))
	}
	if d.SMS {
		fs = append(fs, string(identity.FactorOTP))
	}
	return strings.Join(fs, ",")
}
