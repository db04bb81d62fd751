package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/voucher"
)

// confirmPayment is POST /pay/{id}: the payer's PINs, from the form.
//
// CSRF: the form carries the payment's client secret in a hidden field.
// It is unguessable (random, bound to this one payment) and only the
// payer's page knows it, so another site cannot forge this POST; a wrong
// or missing secret is answered like an unknown payment. Browsers that
// say where a request comes from (Sec-Fetch-Site, Origin) are held to
// this origin as well.
func (h *Handler) confirmPayment(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		h.render(w, r, http.StatusForbidden, messagePage(RequestLang(r, ""), "refused.title", "refused.origin"))
		return
	}
	if !isForm(r) {
		h.render(w, r, http.StatusUnsupportedMediaType, messagePage(RequestLang(r, ""), "refused.title", "refused.form"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, FormBytesMax)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		if tooLarge(err) {
			status = http.StatusRequestEntityTooLarge
		}
		h.render(w, r, status, messagePage(RequestLang(r, ""), "refused.title", "refused.read"))
		return
	}
	// Who is paying (their session and device cookies) is looked up while
	// the payment loads, not after.
	payer := h.recognizePayer(r)
	p, ok := h.lookup(w, r, r.PostForm.Get("client_secret"))
	if !ok || h.suspended(w, r, p) {
		return
	}
	if challenged(p) || bankChallenged(p) {
		// A second factor is due (Kassa's, or the card issuer's), which
		// this form does not ask for; a new attempt, scored afresh, must
		// not get around it.
		h.showStatus(w, r, http.StatusConflict, p)
		return
	}
	mp, ok := methodPages[r.PostForm.Get("method")]
	if !ok {
		mp = methodPages[payment.MethodVoucher] // the form without a method is the voucher form
	}
	mp.confirm(h, w, r, p, payer)
}

// methodPage is a payment method's part of the hosted payment page: its
// form's handler and what the page says of a payment paid with it. Each
// method registers its own (methodPages), beside its form fragment in
// pay.html.
type methodPage struct {
	// confirm handles POST /pay/{id} with the form's method field.
	confirm func(h *Handler, w http.ResponseWriter, r *http.Request, p payment.Payment, payer func() Payer)
	// waiting, when set, is the page (in l) of a payment whose outcome
	// the method's outside party has not told yet.
	waiting func(l Lang, p payment.Payment) page
	// failed, when set, is what the status page says (in l) of a failed
	// payment.
	failed func(l Lang, p payment.Payment) string
	// declined shows above the method's form why the payment's last try
	// was declined (it stays open for another try).
	declined func(l Lang, pg *page, p payment.Payment)
}

// methodPages are the methods' page parts by payment method name.
var methodPages = map[string]methodPage{}

func init() {
	methodPages[payment.MethodVoucher] = methodPage{confirm: (*Handler).confirmVouchers,
		declined: func(l Lang, pg *page, p payment.Payment) {
			pg.FormError = payerMessage(l, &kassa.Error{Code: p.FailureCode})
		}}
}

// confirmVouchers is POST /pay/{id} with the voucher form.
func (h *Handler) confirmVouchers(w http.ResponseWriter, r *http.Request, p payment.Payment, payer func() Payer) {
	l := h.lang(r, p)
	fields := r.PostForm["pin"]
	if len(fields) > payment.PINsMax {
		h.rerender(w, r, p, http.StatusUnprocessableEntity, payment.PINsMax, nil, l.T("pin.max", payment.PINsMax))
		return
	}
	// Empty fields are skipped; at maps each PIN sent to its field.
	var pins []string
	var at []int
	errs := map[int]string{}
	last := -1
	for i, f := range fields {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		last = i
		if len(f) > PINInputLengthMax {
			errs[i] = l.T("pin.long")
			continue
		}
		pins, at = append(pins, f), append(at, i)
	}
	switch {
	case len(errs) > 0:
		h.rerender(w, r, p, http.StatusUnprocessableEntity, last+1, errs, "")
		return
	case len(pins) == 0:
		h.rerender(w, r, p, http.StatusUnprocessableEntity, 1,
			map[int]string{0: l.T("pin.required")}, "")
		return
	}
	who := payer()
	paid, err := h.cfg.Payments.Confirm(r.Context(), "", p.ID, payment.ConfirmRequest{
		ClientSecret: p.ClientSecret, PINs: pins, ClientIP: clientIP(r),
		UserAgent: userAgent(r), Signals: h.clientSignals(r, p.ID), PayerID: who.CustomerID, DeviceID: who.DeviceID,
		CredentialsChangedAt: who.CredentialsChangedAt, CustomerCreatedAt: who.CustomerCreatedAt})
	if err != nil {
		h.confirmFailed(w, r, p, err, at, last)
		return
	}
	if h.showReceipt(w, r, paid) {
		return
	}
	h.confirmed(w, r, paid)
}

// recognizePayer starts recognising the logged-in payer (Config.Payers)
// from the request's cookies and returns the function that waits for the
// answer. A failure is logged and leaves the payer anonymous: the payment
// goes on without their account, as for a payer who is not logged in.
func (h *Handler) recognizePayer(r *http.Request) func() Payer {
	if h.cfg.Payers == nil {
		return func() Payer { return Payer{} }
	}
	ch := make(chan Payer, 1) // buffered: an early return leaves no goroutine behind
	go func() {
		who, err := h.cfg.Payers.Payer(r.Context(), r)
		if err != nil {
			h.log.WarnContext(r.Context(), "payment page: recognise payer", "err", err)
			who = Payer{}
		}
		ch <- who
	}()
	return sync.OnceValue(func() Payer { return <-ch })
}

// confirmed answers a confirmation the payment service took: paid goes
// back to the merchant; a decline (the card's issuer, or Kassa's risk
// decision) and a step still due are shown on the page.
func (h *Handler) confirmed(w http.ResponseWriter, r *http.Request, p payment.Payment) {
	switch {
	case p.Status == payment.StatusAuthorized || p.Status == payment.StatusCaptured:
		h.redirectPaid(w, r, p)
	case declinedOpen(p):
		h.log.InfoContext(r.Context(), "payment page: try declined", "payment", p.ID, "method", p.MethodType,
			"code", p.FailureCode, "attempts", p.Attempts)
		h.rerender(w, r, p, http.StatusPaymentRequired, pinsVisibleMin, nil, "")
	case p.Status == payment.StatusFailed:
		h.log.InfoContext(r.Context(), "payment page: payment failed", "payment", p.ID, "method", p.MethodType,
			"code", p.FailureCode)
		h.showStatus(w, r, http.StatusPaymentRequired, p)
	case challenged(p):
		h.log.InfoContext(r.Context(), "payment page: second factor required", "payment", p.ID, "factor", p.Risk.Factor)
		h.showStatus(w, r, http.StatusAccepted, p)
	case bankChallenged(p):
		h.log.InfoContext(r.Context(), "payment page: 3-D Secure required", "payment", p.ID)
		h.showStatus(w, r, http.StatusAccepted, p)
	case methodPages[p.MethodType].waiting != nil: // the outcome is not known yet
		h.render(w, r, http.StatusAccepted, methodPages[p.MethodType].waiting(h.lang(r, p), p))
	default:
		h.fail(w, r, fmt.Errorf("payment %s is %s after its confirmation", p.ID, p.Status))
	}
}

// declinedOpen reports whether p's last try was declined and p waits
// for another.
func declinedOpen(p payment.Payment) bool {
	return p.Status == payment.StatusRequiresAction && p.FailureCode != "" && !challenged(p) && !bankChallenged(p)
}

// showStatus renders the status page of p.
func (h *Handler) showStatus(w http.ResponseWriter, r *http.Request, status int, p payment.Payment) {
	pg, err := h.statusPage(r, p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, status, pg)
}

// pageFetchHeader marks a form pay.js sent itself (fetch), rather than
// the browser.
const pageFetchHeader = "Kassa-Page-Fetch"

// redirectPaid sends the payer back to the merchant (303, so the browser
// GETs it), or, without a return_url, to the page's own "paid" state.
func (h *Handler) redirectPaid(w http.ResponseWriter, r *http.Request, p payment.Payment) {
	target := "/pay/" + url.PathEscape(p.ID) + "?client_secret=" + url.QueryEscape(p.ClientSecret)
	if p.ReturnURL != "" {
		target = returnURLWith(p)
	}
	setPageHeaders(w.Header())
	if r.Header.Get(pageFetchHeader) == "1" {
		// pay.js sent the form itself (so the PINs stay in their fields
		// after an error) and cannot read a redirect's Location: it is
		// told where to go.
		w.Header().Set(pageFetchHeader+"-Location", target)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusSeeOther)
}

// confirmFailed shows why the PINs did not pay: next to the PIN at fault
// when the error names one (Param "pins[i]", i counting the PINs sent),
// above the fields otherwise. No PIN is written back.
func (h *Handler) confirmFailed(w http.ResponseWriter, r *http.Request, p payment.Payment, err error, at []int, last int) {
	e := kassa.AsError(err)
	if e == nil {
		h.fail(w, r, err)
		return
	}
	switch e.Code {
	case "payment_unexpected_state", "payment_expired":
		// It moved on meanwhile: paid in another tab (a double submit),
		// canceled or expired. Show where it stands.
		fresh, gerr := h.cfg.Payments.Get(r.Context(), "", p.ID)
		if gerr != nil {
			h.fail(w, r, gerr)
			return
		}
		if fresh.Status == payment.StatusAuthorized || fresh.Status == payment.StatusCaptured {
			h.redirectPaid(w, r, fresh)
			return
		}
		h.showStatus(w, r, http.StatusConflict, fresh)
		return
	}
	status := http.StatusUnprocessableEntity
	switch e.Kind {
	case kassa.ERateLimited:
		status = http.StatusTooManyRequests
		if lo, ok := errors.AsType[*voucher.LockedOutError](err); ok {
			w.Header().Set("Retry-After", strconv.Itoa(lo.Seconds()))
		}
	case kassa.EConflict:
		status = http.StatusConflict
	case kassa.EInvalid, kassa.EUnprocessable:
	case kassa.EUnavailable:
		if _, ok := complianceMessage(h.lang(r, p), e); !ok {
			h.fail(w, r, err)
			return
		}
		status = http.StatusServiceUnavailable
	default:
		h.fail(w, r, err)
		return
	}
	msg := payerMessage(h.lang(r, p), e)
	if k, ok := pinIndex(e.Param); ok && k < len(at) {
		h.rerender(w, r, p, status, max(last, at[k])+1, map[int]string{at[k]: msg}, "")
		return
	}
	h.log.InfoContext(r.Context(), "payment page: PINs refused", "payment", p.ID, "code", e.Code)
	h.rerender(w, r, p, status, last+1, nil, msg)
}

// rerender shows the form again with errors, every field empty.
func (h *Handler) rerender(w http.ResponseWriter, r *http.Request, p payment.Payment, status, visible int, errs map[int]string, formErr string) {
	pg, err := h.formPage(r, p, visible, errs, formErr)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, status, pg)
}

// pinIndex reads the i of a Param "pins[i]".
func pinIndex(param string) (int, bool) {
	s, ok := strings.CutPrefix(param, "pins[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	k, err := strconv.Atoi(s)
	return k, err == nil && k >= 0
}

// payerMessages name, by the API's error code, the catalogue's text that
// says in a payer's words what the code tells a developer. A code not
// here gets "pin.other": no API text ever reaches the page.
var payerMessages = map[string]string{
	voucher.CodePINInvalid:          "pin.invalid",
	voucher.CodePINDuplicate:        "pin.duplicate",
	voucher.CodeLocked:              "pin.locked",
	voucher.CodeDepleted:            "pin.depleted",
	voucher.CodeExpired:             "pin.expired",
	voucher.CodeInvalidated:         "pin.invalidated",
	voucher.CodeNotFound:            "pin.invalid",
	voucher.CodePINAttemptsExceeded: "pin.attempts",
	"voucher_balance_insufficient":  "pin.short",
	"voucher_currency_mismatch":     "pin.currency",
	"pins_required":                 "pin.required",
	"pins_invalid":                  "pin.required",
	"too_many_pins":                 "pin.max",
	"payment_changed":               "pin.retry",
	"payment_processing":            "pin.busy",
}

// payerMessage is what the payer reads for e, in l.
func payerMessage(l Lang, e *kassa.Error) string {
	if msg, ok := complianceMessage(l, e); ok {
		return msg
	}
	if e.Code == "voucher_balance_insufficient" && strings.HasPrefix(e.Param, "pins[") {
		return l.T("pin.changed")
	}
	switch key, ok := payerMessages[e.Code]; {
	case key == "pin.max":
		return l.T(key, payment.PINsMax)
	case ok:
		return l.T(key)
	}
	return l.T("pin.other")
}
