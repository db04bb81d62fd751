package web

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/voucher"
)

// PINChecker is what the PIN check needs of the payment service
// (payment.Service has it); without it the page has no check.
type PINChecker interface {
	CheckVoucherPIN(ctx context.Context, id, clientSecret, pin, clientIP string) (payment.VoucherCheck, error)
}

var _ PINChecker = (*payment.Service)(nil)

// pinCheckBytesMax bounds the check's form: a client secret and one PIN.
const pinCheckBytesMax = 1 << 10

// pinCheck is the answer of POST /pay/{id}/pin, for pay.js: Text is what
// the page shows under the PIN field (in the payer's language, money
// formatted for it); OK says whether the PIN can pay. Neither the PIN nor
// the voucher's serial is in it.
type pinCheck struct {
	OK   bool   `json:"ok"`
	Text string `json:"text"`
	// Locked says paying with vouchers is locked out now: the page loads
	// again to say until when and offer the card form.
	Locked bool `json:"locked,omitempty"`
}

// checkPIN is POST /pay/{id}/pin: the payment page's script checks one
// PIN as the payer finishes typing it (form fields client_secret and
// pin) and shows what the voucher covers. It sits under exactly the guess
// limits of a confirmation (payment.Service.CheckVoucherPIN): a wrong PIN
// counts against the payment and the client IP as one sent with the form
// would, and a lockout refuses the check as it refuses the form. The
// same origin and form rules as POST /pay/{id} hold; the PIN is never in
// the answer or the log.
func (h *Handler) checkPIN(w http.ResponseWriter, r *http.Request) {
	l := RequestLang(r, "")
	checker, ok := h.cfg.Payments.(PINChecker)
	switch {
	case !ok:
		h.answerCheck(w, http.StatusNotFound, pinCheck{Text: l.T("pin.other")})
		return
	case !sameOrigin(r):
		h.answerCheck(w, http.StatusForbidden, pinCheck{Text: l.T("refused.origin")})
		return
	case !isForm(r):
		h.answerCheck(w, http.StatusUnsupportedMediaType, pinCheck{Text: l.T("refused.form")})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, pinCheckBytesMax)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		if tooLarge(err) {
			status = http.StatusRequestEntityTooLarge
		}
		h.answerCheck(w, status, pinCheck{Text: l.T("refused.read")})
		return
	}
	p, ok := h.lookupQuiet(r, r.PostForm.Get("client_secret"))
	if !ok {
		h.answerCheck(w, http.StatusNotFound, pinCheck{Text: l.T("notfound.head")})
		return
	}
	l = h.lang(r, p)
	pin := strings.TrimSpace(r.PostForm.Get("pin"))
	if len(r.PostForm["pin"]) != 1 || pin == "" || len(pin) > PINInputLengthMax {
		h.answerCheck(w, http.StatusUnprocessableEntity, pinCheck{Text: l.T("pin.required")})
		return
	}
	c, err := checker.CheckVoucherPIN(r.Context(), p.ID, p.ClientSecret, pin, clientIP(r))
	if err != nil {
		e := kassa.AsError(err)
		if e == nil {
			h.log.ErrorContext(r.Context(), "payment page: PIN check", "payment", p.ID, "err", err)
			h.answerCheck(w, http.StatusInternalServerError, pinCheck{Text: l.T("pin.unavailable")})
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
		case kassa.ENotFound:
			status = http.StatusNotFound
		}
		h.log.InfoContext(r.Context(), "payment page: PIN check refused", "payment", p.ID, "code", e.Code)
		c := pinCheck{Text: payerMessage(l, e)}
		if lo, ok := errors.AsType[*voucher.LockedOutError](err); ok && lo.Until.Sub(h.now()) > time.Minute {
			c.Text, c.Locked = l.T("pin.locked_until", FormatTime(lo.Until, l)), true
		} else if t, ok := h.cfg.Payments.(pinTrier); ok && status == http.StatusUnprocessableEntity {
			switch left, until, err := t.VoucherTriesLeft(r.Context(), p, clientIP(r)); {
			case err != nil:
			case !until.IsZero():
				c.Text, c.Locked = l.T("pin.locked_until", FormatTime(until, l)), true
			case left == 1:
				c.Text += " " + l.T("pin.last_try")
			}
		}
		h.answerCheck(w, status, c)
		return
	}
	text := l.T("pin.covers_all", FormatMoney(c.Covers, c.Currency, l))
	if c.Remaining > 0 {
		text = l.T("pin.covers", FormatMoney(c.Covers, c.Currency, l), FormatMoney(c.Remaining, c.Currency, l))
	}
	h.answerCheck(w, http.StatusOK, pinCheck{OK: true, Text: text})
}

// lookupQuiet is lookup without a page: the payment of the request's
// path when secret is its client secret.
func (h *Handler) lookupQuiet(r *http.Request, secret string) (payment.Payment, bool) {
	id := r.PathValue("id")
	if secret == "" || len(secret) > clientSecretLengthMax || id == "" || len(id) > paymentIDLengthMax {
		return payment.Payment{}, false
	}
	p, err := h.cfg.Payments.Get(r.Context(), "", id)
	if err != nil {
		if kassa.ErrorKind(err) != kassa.ENotFound {
			h.log.ErrorContext(r.Context(), "payment page: PIN check: load payment", "err", err)
		}
		return payment.Payment{}, false
	}
	if subtle.ConstantTimeCompare([]byte(p.ClientSecret), []byte(secret)) != 1 {
		return payment.Payment{}, false
	}
	return p, true
}

func (h *Handler) answerCheck(w http.ResponseWriter, status int, c pinCheck) {
	setPageHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(c)
}

// pinTrier is what the voucher form's warning needs of the payment
// service (payment.Service has it).
type pinTrier interface {
	VoucherTriesLeft(ctx context.Context, p payment.Payment, clientIP string) (int, time.Time, error)
}

var _ pinTrier = (*payment.Service)(nil)

// pinTries fills in the voucher form's warning: one wrong PIN before the
// payment or the payer's address is locked out, or until when it is (the
// card form is offered).
// A failure to read it is logged and leaves the form without it.
func (h *Handler) pinTries(r *http.Request, p payment.Payment, pg *page) {
	t, ok := h.cfg.Payments.(pinTrier)
	if !ok {
		return
	}
	left, until, err := t.VoucherTriesLeft(r.Context(), p, clientIP(r))
	if err != nil {
		h.log.WarnContext(r.Context(), "payment page: PIN tries left", "payment", p.ID, "err", err)
		return
	}
	switch {
	case !until.IsZero():
		pg.PINLocked = pg.T("pin.locked_until", FormatTime(until, pg.Lang))
		if pg.CardForm {
			pg.PINLocked += " " + pg.T("pin.card_instead")
		}
	case left == 1:
		pg.PINWarning = pg.T("pin.last_try")
	}
}
