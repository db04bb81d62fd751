package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

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
		h.render(w, r, http.StatusForbidden, messagePage("Request refused",
			"This form can only be sent from Kassa's own payment page. Open the payment link from the shop again."))
		return
	}
	if !isForm(r) {
		h.render(w, r, http.StatusUnsupportedMediaType, messagePage("Request refused",
			"This page takes only its own form."))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, FormBytesMax)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		if tooLarge(err) {
			status = http.StatusRequestEntityTooLarge
		}
		h.render(w, r, status, messagePage("Request refused", "The form could not be read. Go back and try again."))
		return
	}
	// Who is paying (their session and device cookies) is looked up while
	// the payment loads, not after.
	payer := h.recognizePayer(r)
	p, ok := h.lookup(w, r, r.PostForm.Get("client_secret"))
	if !ok {
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
	// waiting, when set, is the page of a payment whose outcome the
	// method's outside party has not told yet.
	waiting func(p payment.Payment) page
	// failed, when set, is what the status page says of a failed payment.
	failed func(p payment.Payment) string
	// declined shows above the method's form why the payment's last try
	// was declined (it stays open for another try).
	declined func(pg *page, p payment.Payment)
}

// methodPages are the methods' page parts by payment method name.
var methodPages = map[string]methodPage{}

func init() {
	methodPages[payment.MethodVoucher] = methodPage{confirm: (*Handler).confirmVouchers,
		declined: func(pg *page, p payment.Payment) {
			pg.FormError = payerMessage(&kassa.Error{Code: p.FailureCode})
		}}
}

// confirmVouchers is POST /pay/{id} with the voucher form.
func (h *Handler) confirmVouchers(w http.ResponseWriter, r *http.Request, p payment.Payment, payer func() Payer) {
	fields := r.PostForm["pin"]
	if len(fields) > payment.PINsMax {
		h.rerender(w, r, p, http.StatusUnprocessableEntity, payment.PINsMax, nil,
			"At most "+strconv.Itoa(payment.PINsMax)+" vouchers can pay one payment.")
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
			errs[i] = "A voucher PIN has 16 digits; this is too long."
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
			map[int]string{0: "Enter the 16-digit PIN of your voucher."}, "")
		return
	}
	who := payer()
	paid, err := h.cfg.Payments.Confirm(r.Context(), "", p.ID, payment.ConfirmRequest{
		ClientSecret: p.ClientSecret, PINs: pins, ClientIP: clientIP(r),
		UserAgent: userAgent(r), Signals: h.clientSignals(r, p.ID), PayerID: who.CustomerID, DeviceID: who.DeviceID})
	if err != nil {
		h.confirmFailed(w, r, p, err, at, last)
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
		h.render(w, r, http.StatusAccepted, methodPages[p.MethodType].waiting(p))
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
	pg, err := h.statusPage(r.Context(), p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, status, pg)
}

// redirectPaid sends the payer back to the merchant (303, so the browser
// GETs it), or, without a return_url, to the page's own "paid" state.
func (h *Handler) redirectPaid(w http.ResponseWriter, r *http.Request, p payment.Payment) {
	target := "/pay/" + url.PathEscape(p.ID) + "?client_secret=" + url.QueryEscape(p.ClientSecret)
	if p.ReturnURL != "" {
		target = returnURLWith(p)
	}
	setPageHeaders(w.Header())
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
	default:
		h.fail(w, r, err)
		return
	}
	msg := payerMessage(e)
	if k, ok := pinIndex(e.Param); ok && k < len(at) {
		h.rerender(w, r, p, status, max(last, at[k])+1, map[int]string{at[k]: msg}, "")
		return
	}
	h.log.InfoContext(r.Context(), "payment page: PINs refused", "payment", p.ID, "code", e.Code)
	h.rerender(w, r, p, status, last+1, nil, msg)
}

// rerender shows the form again with errors, every field empty.
func (h *Handler) rerender(w http.ResponseWriter, r *http.Request, p payment.Payment, status, visible int, errs map[int]string, formErr string) {
	pg, err := h.formPage(r.Context(), p, visible, errs, formErr)
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

// payerMessages say in a payer's words what the API's codes tell a
// developer.
var payerMessages = map[string]string{
	voucher.CodePINInvalid:          "This PIN is not valid. Check the 16 digits on your voucher.",
	voucher.CodePINDuplicate:        "You entered this PIN twice.",
	voucher.CodeLocked:              "This voucher is locked. Ask the shop that sold it.",
	voucher.CodeDepleted:            "This voucher has no balance left.",
	voucher.CodeExpired:             "This voucher has expired.",
	voucher.CodeInvalidated:         "This voucher is no longer valid.",
	voucher.CodePINAttemptsExceeded: "Too many PINs were wrong. For your security, paying is blocked for a while; try again later or start a new payment at the shop.",
	"voucher_balance_insufficient":  "Your vouchers do not cover the amount. Add another voucher, or pay by card.",
	"pins_required":                 "Enter the PIN of at least one voucher.",
	"too_many_pins":                 "At most 10 vouchers can pay one payment.",
	"voucher_currency_mismatch":     "This voucher is in another currency than the payment.",
	"payment_changed":               "The payment changed while you were paying. Please enter your PINs again.",
}

func payerMessage(e *kassa.Error) string {
	if e.Code == "voucher_balance_insufficient" && strings.HasPrefix(e.Param, "pins[") {
		return "This voucher's balance changed meanwhile. Enter your PINs again, or add another voucher."
	}
	if m, ok := payerMessages[e.Code]; ok {
		return m
	}
	return sentence(e.Message)
}

// sentence capitalizes msg and ends it with a full stop.
func sentence(msg string) string {
	if msg == "" {
		return "These PINs could not pay. Check them and try again."
	}
	r, n := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}
