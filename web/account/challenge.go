package account

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/url"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/passkey"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/web"
)

// The step-up challenge page: where a payment that Kassa's risk decision
// challenged (next_action risk_challenge) sends its payer, 3-D Secure
// style. The payment's client secret opens it; the payer logs in (or
// signs up) and comes back, then passes the factor the decision chose: a
// passkey (a WebAuthn assertion with user verification, bound to the
// payment) or a one-time code by email or SMS (bound to the payment).
// Passing it lets authorization go on (payment.CompleteChallenge with
// Passed); a passkey the server refuses, too many wrong codes or the
// payer's "Cancel" fail the payment. An abandoned challenge expires with
// the payment (the payment worker).
//
// There is no fallback from a passkey to a code: the decision asked for
// a passkey because the risk was high, and a code is what someone holding
// the payer's password and their mailbox or SIM could pass.
//
// The challenge proves the payer of record, so only a factor that
// already belonged to it before the challenge began passes it: the Kassa
// account that was the payment's payer (logged in on the payment page),
// with a passkey it had, or a code to an email address or phone number
// it had verified, by then. A payment made without an account has no
// payer an account could prove: an account created or logged into inside
// the challenge never passes it, and trying ends the challenge failed. A
// passkey added during the challenge does not count either (adding one
// takes only a second factor such as a code, which is what a passkey
// challenge refuses).

// Challenge page states.
const (
	stateLogin        = "login"         // nobody logged in
	statePendingLogin = "pending_login" // a login that must pass its second factor first
	stateOtherPayer   = "other_payer"   // logged in, but the payment is another account's
	stateNoPayer      = "no_payer"      // paid without an account: no account can confirm it
	statePasskey      = "passkey"       // approve with a passkey
	stateNoPasskey    = "no_passkey"    // a passkey is needed and the payer has none
	stateCode         = "code"          // approve with a one-time code
)

// challengeData is what the challenge page shows.
type challengeData struct {
	State                      string
	PaymentID, ClientSecret    string
	URL                        string // this page, with the secret (flows return here)
	Merchant, Amount, Currency string // Amount formatted for the page's language, with its sign: "€120.00", "120,00 €"
	Description                string
	Email                      string // who is logged in
	EmailOK, PhoneOK           bool   // where a code can go
	Sent                       string // the channel a code just went to
	// Customer is set when the code goes to the customer the merchant
	// named on the payment (no Kassa account): EmailTo and PhoneTo are
	// those destinations, masked.
	Customer         bool
	EmailTo, PhoneTo string
}

// lookupPayment finds the payment of the page and checks its client
// secret. A wrong or missing secret gets the same 404 as an unknown
// payment, as on the payment page.
func (h *Handler) lookupPayment(v *visit, secret string) (payment.Payment, bool) {
	id := v.r.PathValue("payment_id")
	notFound := func() (payment.Payment, bool) {
		h.render(v, http.StatusNotFound, messagePage(v.t("notfound.title"), v.t("ch.notfound"), "", ""))
		return payment.Payment{}, false
	}
	if secret == "" || len(secret) > 128 || id == "" || len(id) > 64 {
		return notFound()
	}
	p, err := h.pay.Get(v.r.Context(), "", id)
	if kassa.ErrorKind(err) == kassa.ENotFound {
		return notFound()
	} else if err != nil {
		h.fail(v, err)
		return p, false
	}
	if subtle.ConstantTimeCompare([]byte(p.ClientSecret), []byte(secret)) != 1 {
		return notFound()
	}
	// The page speaks the language the merchant named on the payment,
	// else the browser's.
	v.language, v.langSet = web.RequestLang(v.r, p.Locale), true
	return p, true
}

// pending reports whether p waits for its challenge now.
func (h *Handler) pending(p payment.Payment) bool {
	return p.Status == payment.StatusRequiresAction && p.Risk.Challenge == payment.ChallengePending &&
		h.now().Before(p.ExpiresAt)
}

// challengeBegan is when p's challenge began: the challenge decision is
// the last change of a payment until the challenge ends.
func challengeBegan(p payment.Payment) time.Time { return p.Updated }

// before reports whether t (a factor's enrolment) is set and not after
// the challenge of p began.
func before(t time.Time, p payment.Payment) bool {
	return !t.IsZero() && !t.After(challengeBegan(p))
}

// passkeyBefore reports whether the customer has a usable passkey
// registered before p's challenge began.
func (h *Handler) passkeyBefore(ctx context.Context, customerID string, p payment.Payment) (bool, error) {
	creds, err := h.pk.Credentials(ctx, customerID)
	if err != nil {
		return false, err
	}
	for _, c := range creds {
		if c.CloneSuspected.IsZero() && before(c.Created, p) {
			return true, nil
		}
	}
	return false, nil
}

// wantsPasskey reports whether the decision asked for a passkey; any
// other factor is a one-time code.
func wantsPasskey(p payment.Payment) bool { return p.Risk.Factor == risk.FactorPasskey }

// challengeBase is the page of p before anything about the payer.
func (h *Handler) challengeBase(v *visit, p payment.Payment) page {
	d := challengeData{PaymentID: p.ID, ClientSecret: p.ClientSecret, URL: web.ChallengeURL(p),
		Merchant: h.merchantName(v.r.Context(), map[string]string{}, p.MerchantID),
		Amount:   web.FormatMoney(p.Amount, p.Currency, v.lang()), Currency: string(p.Currency), Description: p.Description}
	pg := page{Template: "challenge", Title: v.t("ch.title"), Data: d,
		Errors: map[string]string{}, Values: map[string]string{}}
	if origin, ok := web.ReturnOrigin(p.ReturnURL); ok {
		pg.formAction = origin
	}
	return pg
}

// challengePage is the page of a pending challenge for whoever the
// browser is.
func (h *Handler) challengePage(v *visit, p payment.Payment, sent string) (pg page, err error) {
	pg = h.challengeBase(v, p)
	d := pg.Data.(challengeData)
	defer func() { pg.Data = d }()
	if p.PayerID == "" {
		d.State = stateNoPayer
		if customerCode(p) {
			d.State, d.Customer = stateCode, true
			d.EmailOK, d.PhoneOK = p.Customer.Email != "", p.Customer.Phone != ""
			if d.EmailOK {
				d.EmailTo = identity.MaskEmail(p.Customer.Email)
			}
			if d.PhoneOK {
				d.PhoneTo = identity.MaskPhone(p.Customer.Phone)
			}
			if (sent == string(identity.ChannelEmail) && d.EmailOK) || (sent == string(identity.ChannelSMS) && d.PhoneOK) {
				d.Sent = sent
				pg.Focus = "code"
			}
		}
		return pg, nil
	}
	sess, st, err := h.session(v)
	if err != nil {
		return pg, err
	}
	switch st {
	case noSession:
		d.State = stateLogin
		return pg, nil
	case pendingSession:
		d.State = statePendingLogin
		return pg, nil
	}
	cus, err := h.id.Customer(v.r.Context(), sess.CustomerID)
	if err != nil {
		return pg, err
	}
	d.Email = cus.Email
	switch {
	case p.PayerID != cus.ID:
		d.State = stateOtherPayer
	case wantsPasskey(p):
		on, err := h.passkeyBefore(v.r.Context(), cus.ID, p)
		if err != nil {
			return pg, err
		}
		d.State = stateNoPasskey
		if on {
			d.State, pg.Passkeys = statePasskey, true
		}
	default:
		d.State = stateCode
		d.EmailOK, d.PhoneOK = before(cus.EmailVerifiedAt, p), before(cus.PhoneVerifiedAt, p)
		if (sent == string(identity.ChannelEmail) && d.EmailOK) || (sent == string(identity.ChannelSMS) && d.PhoneOK) {
			d.Sent = sent
			pg.Focus = "code"
		}
	}
	return pg, nil
}

// resultPage tells where a payment that no longer waits for its
// challenge stands.
func (h *Handler) resultPage(v *visit, p payment.Payment, why string) page {
	pg := h.challengeBase(v, p)
	pg.Template = "challenge_result"
	d := pg.Data.(challengeData)
	switch st := p.Status; {
	case st == payment.StatusAuthorized || st == payment.StatusCaptured:
		pg.Title, pg.Heading = v.t("ch.approved.title"), v.t("ch.approved.head")
		pg.Text = v.t("ch.approved.text", d.Merchant)
	case st == payment.StatusFailed && p.FailureCode == payment.FailureChallengeFailed:
		pg.Title, pg.Heading = v.t("ch.notapproved.title"), v.t("ch.notapproved.head")
		pg.Text = v.t("ch.notapproved.text")
		if why != "" {
			pg.Text = v.t("ch.notapproved.why", why)
		}
	case st == payment.StatusFailed:
		pg.Title, pg.Heading = v.t("ch.failed.title"), v.t("ch.failed.head")
		pg.Text = v.t("ch.failed.text")
	case st == payment.StatusCanceled:
		pg.Title, pg.Heading = v.t("ch.canceled.title"), v.t("ch.canceled.head")
		pg.Text = v.t("ch.canceled.text", d.Merchant)
	case st == payment.StatusRequiresAction && h.now().Before(p.ExpiresAt):
		// Never challenged, or passed and still with the card's bank.
		pg.Title, pg.Heading = v.t("ch.nothing.title"), v.t("ch.nothing.title")
		pg.Text = v.t("ch.nothing.text")
		pg.LinkURL, pg.LinkText = payURL(p), v.t("ch.nothing.link")
	default: // expired, or requires_action past its time
		pg.Title, pg.Heading = v.t("ch.expired.title"), v.t("ch.expired.head")
		pg.Text = v.t("ch.expired.text")
	}
	if ret := web.ReturnURL(p); ret != "" && pg.LinkURL == "" {
		pg.LinkURL, pg.LinkText = ret, v.t("ch.back", d.Merchant)
	}
	return pg
}

// showChallenge is GET /challenge/{payment_id}?client_secret=...
func (h *Handler) showChallenge(v *visit) {
	q := v.r.URL.Query()
	p, ok := h.lookupPayment(v, q.Get("client_secret"))
	if !ok {
		return
	}
	if !h.pending(p) {
		h.render(v, http.StatusOK, h.resultPage(v, p, ""))
		return
	}
	pg, err := h.challengePage(v, p, q.Get("sent"))
	if err != nil {
		h.fail(v, err)
		return
	}
	if pg.Data.(challengeData).Sent != "" {
		pg.Notice = v.t("factor.sent")
	}
	h.render(v, http.StatusOK, pg)
}

// answerChallenge is POST /challenge/{payment_id}: action send_code,
// verify_code, passkey or cancel.
func (h *Handler) answerChallenge(v *visit) {
	if !h.form(v, passkeyFormBytesMax) {
		return
	}
	p, ok := h.lookupPayment(v, v.input("client_secret"))
	if !ok {
		return
	}
	back := web.ChallengeURL(p)
	if !h.pending(p) {
		h.redirect(v, back)
		return
	}
	action := v.input("action")
	sess, st, err := h.session(v)
	if err != nil {
		h.fail(v, err)
		return
	}
	if action == "cancel" {
		// The payer says no: whoever holds the payment's page may, as with
		// 3-D Secure's cancel.
		payer := ""
		if st == liveSession {
			payer = sess.CustomerID
		}
		h.completeChallenge(v, p, false, payer, v.t("ch.youcanceled"))
		return
	}
	if p.PayerID == "" && customerCode(p) {
		switch action {
		case "send_code":
			h.sendPayerCode(v, p)
		case "verify_code":
			h.verifyPayerCode(v, p)
		default:
			h.render(v, http.StatusConflict, messagePage(v.t("refused.title"), v.t("ch.otherkind"), back, v.t("ch.backshort")))
		}
		return
	}
	if p.PayerID == "" {
		// Nobody's factor can pass it (see the top of this file): the
		// challenge ends now rather than when the payment expires.
		h.log.InfoContext(v.r.Context(), "challenge page: answer for a payment without a payer", "payment", p.ID, "action", action)
		h.completeChallenge(v, p, false, "", v.t("ch.noaccount"))
		return
	}
	if st != liveSession || p.PayerID != sess.CustomerID {
		h.redirect(v, back)
		return
	}
	switch {
	case action == "send_code" && !wantsPasskey(p):
		h.sendChallengeCode(v, p, sess.CustomerID)
	case action == "verify_code" && !wantsPasskey(p):
		h.verifyChallengeCode(v, p, sess.CustomerID)
	case action == "passkey" && wantsPasskey(p):
		h.verifyChallengePasskey(v, p, sess.CustomerID)
	default:
		// Another factor than the one asked for is no way around it.
		h.render(v, http.StatusConflict, messagePage(v.t("refused.title"), v.t("ch.otherkind"), back, v.t("ch.backshort")))
	}
}

// challengeError shows the challenge page again with an error.
func (h *Handler) challengeError(v *visit, p payment.Payment, status int, sent, fieldName, msg string) {
	pg, err := h.challengePage(v, p, sent)
	if err != nil {
		h.fail(v, err)
		return
	}
	if fieldName != "" {
		pg.Errors[fieldName] = msg
	} else {
		pg.FormError = msg
	}
	h.render(v, status, pg)
}

func (h *Handler) sendChallengeCode(v *visit, p payment.Payment, customerID string) {
	ch := v.input("channel")
	cus, err := h.id.Customer(v.r.Context(), customerID)
	if err != nil {
		h.fail(v, err)
		return
	}
	if (ch == string(identity.ChannelEmail) && !before(cus.EmailVerifiedAt, p)) || (ch == string(identity.ChannelSMS) && !before(cus.PhoneVerifiedAt, p)) {
		// Only an address the payer had verified before the challenge.
		h.challengeError(v, p, http.StatusUnprocessableEntity, "", "", v.t("ch.nowhere"))
		return
	}
	err = h.id.SendStepUpCode(v.sendCtx(), customerID, p.ID, h.approves(v, p), identity.Channel(ch))
	if err == nil {
		h.redirect(v, web.ChallengeURL(p)+"&sent="+url.QueryEscape(ch))
		return
	}
	h.codeNotSent(v, p, ch, err, v.t("ch.nowhere"))
}

// codeNotSent answers a step-up code that could not be sent on channel
// ch: in the payer's words (invalid: what to say when the address does
// not take codes), or a failure page for an error not meant for payers.
func (h *Handler) codeNotSent(v *visit, p payment.Payment, ch string, err error, invalid string) {
	e, ok := userFacing(err)
	if !ok {
		h.fail(v, err)
		return
	}
	msg := v.t("signup.notsent")
	switch e.Kind {
	case kassa.ERateLimited:
		msg = v.t("factor.resend", retryAfter(v, err))
	case kassa.EInvalid:
		msg = invalid
	}
	h.log.InfoContext(v.r.Context(), "challenge page: code not sent", "payment", p.ID, "code", e.Code)
	h.challengeError(v, p, statusOf(err), ch, "", msg)
}

func (h *Handler) verifyChallengeCode(v *visit, p payment.Payment, customerID string) {
	err := h.id.VerifyCode(v.r.Context(), customerID, identity.PurposeStepUp, p.ID, v.secretInput("code"))
	if err == nil {
		h.completeChallenge(v, p, true, customerID, "")
		return
	}
	e, ok := userFacing(err)
	switch {
	case !ok:
		h.fail(v, err)
	case e.Kind == kassa.ERateLimited:
		// Locked out of second factors (identity: too many wrong codes
		// in a row): this payment cannot be confirmed any more.
		h.completeChallenge(v, p, false, customerID, v.t("ch.toomany"))
	default:
		h.challengeError(v, p, http.StatusUnprocessableEntity, v.input("sent"), "code",
			v.t("signup.wrongcode"))
	}
}

func (h *Handler) verifyChallengePasskey(v *visit, p payment.Payment, customerID string) {
	ctx := v.r.Context()
	resp := v.r.PostForm.Get("response")
	if len(resp) > passkey.ResponseBytesMax {
		resp = ""
	}
	cred, err := h.pk.FinishLogin(ctx, v.input("ceremony_id"), passkey.PurposeStepUp, p.ID, []byte(resp))
	if err == nil && cred.CustomerID != customerID {
		err = kassa.Errorf(kassa.EUnauthorized, passkey.CodeUnknownCredential, "this passkey is not the payer's")
	}
	if err == nil && !before(cred.Created, p) {
		h.log.InfoContext(ctx, "challenge page: passkey added after the payment", "payment", p.ID)
		h.completeChallenge(v, p, false, customerID,
			v.t("ch.passkeylate"))
		return
	}
	if err == nil {
		h.completeChallenge(v, p, true, customerID, "")
		return
	}
	e, ok := userFacing(err)
	switch {
	case !ok:
		h.fail(v, err)
	case e.Kind == kassa.EForbidden || e.Kind == kassa.EUnauthorized:
		// The passkey answered and was refused: no user verification, a
		// bad signature, a cloned or unknown passkey.
		h.log.InfoContext(ctx, "challenge page: passkey refused", "payment", p.ID, "code", e.Code)
		h.completeChallenge(v, p, false, customerID, passkeyMessage(v, e))
	default:
		// Nothing was proved either way (an expired or replayed ceremony,
		// a malformed answer): the payer may try again.
		h.challengeError(v, p, statusOf(err), "", "", passkeyMessage(v, e))
	}
}

// completeChallenge reports the challenge's outcome to the payment and
// shows it: approved goes back to the merchant (or to the payment page's
// "paid" state), declined is said here.
func (h *Handler) completeChallenge(v *visit, p payment.Payment, passed bool, payerID, why string) {
	ctx := v.r.Context()
	res, err := h.pay.CompleteChallenge(ctx, p.ID, payment.ChallengeResult{Passed: passed, PayerID: payerID})
	if err != nil {
		e, ok := userFacing(err)
		if !ok {
			h.fail(v, err)
			return
		}
		// Completed meanwhile (another tab), expired, or authorization
		// refused after the challenge: show where the payment stands.
		fresh, gerr := h.pay.Get(ctx, "", p.ID)
		if gerr != nil {
			h.fail(v, gerr)
			return
		}
		if h.pending(fresh) {
			h.challengeError(v, fresh, statusOf(err), "", "", v.t("ch.notcompleted", v.payerText(e)))
			return
		}
		h.render(v, http.StatusConflict, h.resultPage(v, fresh, ""))
		return
	}
	h.log.InfoContext(ctx, "challenge page: challenge completed", "payment", p.ID, "passed", passed,
		"factor", p.Risk.Factor, "status", string(res.Status))
	switch res.Status {
	case payment.StatusAuthorized, payment.StatusCaptured:
		target := web.ReturnURL(res)
		if target == "" {
			target = payURL(res)
		}
		h.redirect(v, target)
	case payment.StatusRequiresAction:
		// A card payment goes on with its bank: the payment page follows it.
		h.redirect(v, payURL(res))
	default:
		h.render(v, http.StatusPaymentRequired, h.resultPage(v, res, why))
	}
}

// payURL is the payment page of p.
func payURL(p payment.Payment) string {
	return "/pay/" + url.PathEscape(p.ID) + "?client_secret=" + url.QueryEscape(p.ClientSecret)
}

// challengePasskeyOptions is POST /challenge/{payment_id}/passkey-options
// (JSON): a passkey ceremony of the logged-in payer bound to this payment
// (passkey.PurposeStepUp, subject: the payment id).
func (h *Handler) challengePasskeyOptions(v *visit) {
	if !h.jsonForm(v) {
		return
	}
	ctx := v.r.Context()
	p, err := h.pay.Get(ctx, "", v.r.PathValue("payment_id"))
	if err != nil || subtle.ConstantTimeCompare([]byte(p.ClientSecret), []byte(v.input("client_secret"))) != 1 {
		if err != nil && kassa.ErrorKind(err) != kassa.ENotFound {
			h.jsonError(v, err)
			return
		}
		h.writeJSON(v, http.StatusNotFound, jsonMessage{v.t("ch.json.nopayment")})
		return
	}
	if !h.pending(p) || !wantsPasskey(p) {
		h.writeJSON(v, http.StatusConflict, jsonMessage{v.t("ch.json.nopasskey")})
		return
	}
	if p.PayerID == "" {
		h.writeJSON(v, http.StatusConflict, jsonMessage{v.t("ch.json.noaccount")})
		return
	}
	sess, ok := h.loggedIn(v)
	if !ok || p.PayerID != sess.CustomerID {
		h.writeJSON(v, http.StatusUnauthorized, jsonMessage{v.t("json.expired")})
		return
	}
	cus, err := h.id.Customer(ctx, sess.CustomerID)
	if err != nil {
		h.jsonError(v, err)
		return
	}
	opts, ceremony, err := h.pk.BeginLogin(ctx, passkeyUser(cus), passkey.PurposeStepUp, p.ID)
	if err != nil {
		h.jsonError(v, err)
		return
	}
	h.writeJSON(v, http.StatusOK, passkeyOptions{CeremonyID: ceremony, Options: opts})
}
