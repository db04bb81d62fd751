package web

// Pay later's part of the payment page (package payment, paylater.go;
// docs/pay-later.md): a logged-in payer whom the credit check allows the
// amount, at a merchant that offers pay later (never a gambling one), is
// shown both plans with their schedule (dates, amounts), that there is no
// interest, the late fee (or that there is none), and a checkbox to
// accept the terms. Nobody else sees the form; a post of it without a
// session or without the box ticked is refused by the payment service.
// A payer the check refuses sees no option and no reason.

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/credit"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
)

// PayLater is what the page needs of package credit (credit.Service).
type PayLater interface {
	Offered(ctx context.Context, merchantID string) (bool, error)
	Assess(ctx context.Context, customerID string, cur money.Currency) (credit.Decision, error)
	Terms(plan string, amount money.Amount, cur money.Currency) credit.Terms
}

var _ PayLater = (*credit.Service)(nil)

func init() {
	methodPages[payment.MethodPayLater] = methodPage{confirm: (*Handler).confirmPayLater,
		declined: func(l Lang, pg *page, p payment.Payment) {
			pg.PayLaterError = payLaterMessage(l, p.FailureCode)
		}}
}

// payLaterPlan is one plan as the form shows it.
type payLaterPlan struct {
	Name    string // pay_in_30, pay_in_3
	Label   string
	Checked bool
	Parts   []payLaterPart
}

type payLaterPart struct {
	Amount string
	When   string // "today" or a date
}

var payLaterMessages = map[string]string{
	payment.CodeTermsNotAccepted:    "paylater.terms_required",
	payment.CodeWalletShort:         "paylater.short",
	payment.CodeWalletLoginRequired: "paylater.login",
	payment.CodeWalletPayerMismatch: "wallet.payer",
	credit.CodeUnavailable:          "paylater.unavailable",
	credit.CodeNotEnabled:           "paylater.unavailable",
	"plan_invalid":                  "paylater.plan",
}

func payLaterMessage(l Lang, code string) string {
	if key, ok := payLaterMessages[code]; ok {
		return l.T(key)
	}
	return l.T("paylater.other")
}

// FormatDate writes a date as a payer of language l reads it: "7 December
// 2026", "7. Dezember 2026".
func FormatDate(t time.Time, l Lang) string {
	t = t.UTC()
	name := monthNames[l][t.Month()-1]
	if l == LangDE {
		return strconv.Itoa(t.Day()) + ". " + name + " " + strconv.Itoa(t.Year())
	}
	return strconv.Itoa(t.Day()) + " " + name + " " + strconv.Itoa(t.Year())
}

// payLaterForm adds the pay later form to pg when the request's payer is
// logged in, the merchant offers pay later and the payer's credit allows
// the amount. A failure to tell is logged and leaves the form out.
func (h *Handler) payLaterForm(r *http.Request, p payment.Payment, pg *page) {
	if h.cfg.PayLater == nil || h.cfg.Payers == nil {
		return
	}
	ctx := r.Context()
	on, err := h.cfg.PayLater.Offered(ctx, p.MerchantID)
	if err != nil {
		h.log.WarnContext(ctx, "payment page: pay later offered", "payment", p.ID, "err", err)
		return
	}
	if !on {
		return
	}
	who, err := h.cfg.Payers.Payer(ctx, r)
	if err != nil || who.CustomerID == "" || (p.PayerID != "" && p.PayerID != who.CustomerID) {
		return
	}
	d, err := h.cfg.PayLater.Assess(ctx, who.CustomerID, p.Currency)
	if err != nil {
		h.log.WarnContext(ctx, "payment page: pay later check", "payment", p.ID, "err", err)
		return
	}
	if !d.Allowed(p.Amount) {
		return
	}
	pg.PayLaterForm = true
	for i, name := range []string{credit.PlanPayIn30, credit.PlanPayIn3} {
		if first := credit.FirstAtPurchase(name, p.Amount); first > 0 && h.cfg.Wallets != nil {
			// pay_in_3 takes its first part from the balance now: not
			// offered when the balance does not cover it.
			if avail, err := h.cfg.Wallets.WalletAvailable(ctx, who.CustomerID, p.Currency); err != nil || avail < first {
				continue
			}
		}
		terms := h.cfg.PayLater.Terms(name, p.Amount, p.Currency)
		pl := payLaterPlan{Name: name, Label: pg.T("paylater." + name), Checked: i == 0}
		for _, tp := range terms.Schedule {
			part := payLaterPart{Amount: FormatMoney(tp.Amount, p.Currency, pg.Lang)}
			if tp.AtPurchase {
				part.When = pg.T("paylater.today")
			} else {
				part.When = FormatDate(tp.Due, pg.Lang)
			}
			pl.Parts = append(pl.Parts, part)
		}
		pg.PayLaterPlans = append(pg.PayLaterPlans, pl)
		if terms.LateFee > 0 {
			pg.PayLaterFee = pg.T("paylater.fee", FormatMoney(terms.LateFee, p.Currency, pg.Lang))
		} else {
			pg.PayLaterFee = pg.T("paylater.no_fee")
		}
	}
}

// confirmPayLater is POST /pay/{id} with method=pay_later: the plan
// chosen and the acceptance of its terms go to the payment service, with
// the session's payer (and nobody without one).
func (h *Handler) confirmPayLater(w http.ResponseWriter, r *http.Request, p payment.Payment, payer func() Payer) {
	who := payer()
	paid, err := h.cfg.Payments.Confirm(r.Context(), "", p.ID, payment.ConfirmRequest{
		ClientSecret: p.ClientSecret, Method: payment.MethodPayLater, ClientIP: clientIP(r),
		UserAgent: userAgent(r), Signals: h.clientSignals(r, p.ID), PayerID: who.CustomerID, DeviceID: who.DeviceID,
		CredentialsChangedAt: who.CredentialsChangedAt, CustomerCreatedAt: who.CustomerCreatedAt, Plan: r.PostForm.Get("plan"), AcceptTerms: r.PostForm.Get("accept_terms") == "yes"})
	if err == nil {
		h.confirmed(w, r, paid)
		return
	}
	e := kassa.AsError(err)
	if e == nil || e.Kind == kassa.EInternal {
		h.fail(w, r, err)
		return
	}
	if _, mine := payLaterMessages[e.Code]; !mine {
		h.confirmFailed(w, r, p, err, nil, -1)
		return
	}
	h.log.InfoContext(r.Context(), "payment page: pay later refused", "payment", p.ID, "code", e.Code)
	pg, perr := h.formPage(r, p, pinsVisibleMin, nil, "")
	if perr != nil {
		h.fail(w, r, perr)
		return
	}
	pg.PayLaterError = payLaterMessage(pg.Lang, e.Code)
	status := http.StatusUnprocessableEntity
	if e.Kind == kassa.EForbidden {
		status = http.StatusForbidden
	}
	h.render(w, r, status, pg)
}
