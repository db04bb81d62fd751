package account

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/web"
)

// A step-up without a Kassa account. When the risk decision asks for a
// one-time code (factor otp) and the payment was made without an
// account, the code goes to the customer the merchant named on the
// payment (customer.email, customer.phone): the payer needs no account,
// and someone who holds only the payment's page cannot pass it. The
// message says what the code approves — amount and merchant — never the
// payment's id (identity.SendPayerCode). A passkey challenge still needs
// the account that paid (see the top of challenge.go).
//
// Guess limits are identity's: a few codes per payment, a few wrong tries
// for all of them together; the last wrong try fails the payment.

// customerCode reports whether p's challenge takes a code sent to the
// customer the merchant named.
func customerCode(p payment.Payment) bool {
	return !wantsPasskey(p) && (p.Customer.Email != "" || p.Customer.Phone != "")
}

// approves says what a code for p approves, in the payer's words and
// language: "€43.21 to Demo Merchant", "43,21 € an Demo Merchant".
func (h *Handler) approves(v *visit, p payment.Payment) string {
	l := web.RequestLang(v.r, p.Locale)
	return texts.T(l, "ch.approves", web.FormatMoney(p.Amount, p.Currency, l), h.merchantName(v.r.Context(), map[string]string{}, p.MerchantID))
}

func (h *Handler) sendPayerCode(v *visit, p payment.Payment) {
	ch := identity.Channel(v.input("channel"))
	to := ""
	switch ch {
	case identity.ChannelEmail:
		to = p.Customer.Email
	case identity.ChannelSMS:
		to = p.Customer.Phone
	}
	if to == "" {
		h.challengeError(v, p, http.StatusUnprocessableEntity, "", "", v.t("ch.nowhere"))
		return
	}
	err := h.id.SendPayerCode(v.sendCtx(), identity.PayerCodeRequest{Payment: p.ID, Channel: ch, To: to, Approves: h.approves(v, p)})
	if err == nil {
		h.redirect(v, web.ChallengeURL(p)+"&sent="+url.QueryEscape(string(ch)))
		return
	}
	// An invalid address is the shop's (not a valid address or mobile
	// number): the payer cannot fix that here.
	h.codeNotSent(v, p, string(ch), err, v.t("ch.nowherecustomer"))
}

func (h *Handler) verifyPayerCode(v *visit, p payment.Payment) {
	err := h.id.VerifyPayerCode(v.r.Context(), p.ID, v.secretInput("code"))
	if err == nil {
		h.completeChallenge(v, p, true, "", "")
		return
	}
	e, ok := userFacing(err)
	switch {
	case !ok:
		h.fail(v, err)
	case e.Kind == kassa.ERateLimited:
		h.completeChallenge(v, p, false, "", v.t("ch.toomany"))
	default:
		h.challengeError(v, p, http.StatusUnprocessableEntity, v.input("sent"), "code",
			v.t("signup.wrongcode"))
	}
}

// paying is the payment a flow returns to, as the payer sees it.
type paying struct {
	Merchant, Amount string
	locale           string // the payment's, for the pages' language
}

// payingFor is the payment of a flow's next page when that is a step-up
// challenge (/challenge/{id}?client_secret=...) whose secret matches; nil
// otherwise, and for anything that fails: the banner is a courtesy.
func (h *Handler) payingFor(v *visit, next string) *paying {
	id, ok := strings.CutPrefix(next, "/challenge/")
	if !ok {
		return nil
	}
	id, query, _ := strings.Cut(id, "?")
	q, err := url.ParseQuery(query)
	secret := q.Get("client_secret")
	if err != nil || id == "" || len(id) > 64 || secret == "" || len(secret) > 128 {
		return nil
	}
	p, err := h.pay.Get(v.r.Context(), "", id)
	if err != nil || subtle.ConstantTimeCompare([]byte(p.ClientSecret), []byte(secret)) != 1 {
		return nil
	}
	return &paying{Merchant: h.merchantName(v.r.Context(), map[string]string{}, p.MerchantID),
		Amount: web.FormatMoney(p.Amount, p.Currency, web.RequestLang(v.r, p.Locale)), locale: p.Locale}
}
