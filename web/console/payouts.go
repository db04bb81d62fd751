package console

import (
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/kassa/kassa"
	members "github.com/kassa/kassa/console"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/web"
)

// payoutOrg is the merchant whose payouts v's member sees: their own, or
// for the operator the payers' withdrawals (payout.WalletMerchant).
func payoutOrg(v *visit) string {
	if v.m.Org == members.Platform {
		return payout.WalletMerchant
	}
	return v.org()
}

// authPayouts checks a merchant's member for p, the operator for
// ReviewWithdrawals.
func (h *Handler) authPayouts(v *visit, p members.Permission) bool {
	return h.authBy(v, func(m members.Member) members.Permission {
		if m.Org == members.Platform {
			return members.ReviewWithdrawals
		}
		return p
	})
}

func (h *Handler) payoutsWired(v *visit) bool {
	if h.cfg.Payouts == nil {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "payout_not_found", "no such payout"))
		return false
	}
	return true
}

var payoutStatuses = []string{"", string(payout.StatusRequiresReview), string(payout.StatusPending), string(payout.StatusInTransit),
	string(payout.StatusPaid), string(payout.StatusFailed), string(payout.StatusCanceled), string(payout.StatusReturned)}

type payoutsData struct {
	Status, Customer string
	Statuses         []string
	Payouts          []payout.Payout
	Next             string
	Withdrawals      bool // the operator's view
}

// payouts lists payouts, newest first, by status and customer.
func (h *Handler) payouts(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.authPayouts(v, members.ViewPayouts) || !h.payoutsWired(v) {
		return
	}
	q := r.URL.Query()
	d := payoutsData{Status: q.Get("status"), Customer: strings.TrimSpace(q.Get("customer")), Statuses: payoutStatuses,
		Withdrawals: v.m.Org == members.Platform}
	if !contains(payoutStatuses, d.Status) {
		d.Status = ""
	}
	if len(d.Customer) > inputBytesMax {
		d.Customer = ""
	}
	ps, more, err := h.cfg.Payouts.List(r.Context(), payout.Filter{MerchantID: payoutOrg(v), Status: payout.Status(d.Status),
		Customer: d.Customer, StartingAfter: cursor(q), Limit: listLimit})
	if err != nil {
		h.fail(v, err)
		return
	}
	d.Payouts = ps
	if more && len(ps) > 0 {
		d.Next = nextLink(r, ps[len(ps)-1].ID)
	}
	title := "Payouts"
	if d.Withdrawals {
		title = "Withdrawals"
	}
	h.render(v, http.StatusOK, page{Template: "payouts", Title: title, Data: d})
}

type payoutData struct {
	P        payout.Payout
	Timeline []timelineItem
	Review   bool // held for review
	// CanReview: the member may approve or reject it (a merchant's
	// payouts.review, the operator's platform.withdrawals).
	CanReview bool
	// StepUp: approving needs an authenticator code (StepUpFrom or more).
	StepUp     bool
	StepUpFrom string
}

func (h *Handler) payoutStepUp() money.Amount {
	if h.cfg.PayoutStepUp == 0 {
		return RefundStepUpDefault
	}
	return h.cfg.PayoutStepUp
}

// payout is one payout: amount, destination (masked), its legs when it
// is split, its checks, its rail and attempts, and its timeline (the
// events it made).
func (h *Handler) payout(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.authPayouts(v, members.ViewPayouts) || !h.payoutsWired(v) {
		return
	}
	h.showPayout(v, http.StatusOK, r.PathValue("id"), "", "")
}

func (h *Handler) showPayout(v *visit, status int, id, notice, problem string) {
	ctx := v.r.Context()
	p, err := h.cfg.Payouts.WithLegs(ctx, payoutOrg(v), id)
	if err != nil {
		h.fail(v, err)
		return
	}
	d := payoutData{P: p, Review: p.Status == payout.StatusRequiresReview,
		CanReview: v.m.Role.Can(members.ReviewPayouts) || v.m.Role.Can(members.ReviewWithdrawals)}
	if lim := h.payoutStepUp(); lim > 0 && p.Amount >= lim {
		d.StepUp, d.StepUpFrom = true, web.FormatAmount(lim, p.Currency)
	}
	d.Timeline = append(d.Timeline, timelineItem{p.Created, "created: " + string(p.Status)})
	if !p.PaidAt.IsZero() {
		d.Timeline = append(d.Timeline, timelineItem{p.PaidAt, "paid"})
	}
	if h.cfg.Webhooks != nil {
		if evs, _, err := h.cfg.Webhooks.Events(ctx, payoutOrg(v), "", "", 100); err == nil {
			for _, ev := range evs {
				if containsID(ev.Data, p.ID) {
					d.Timeline = append(d.Timeline, timelineItem{ev.Created, "event " + ev.Type})
				}
			}
		}
	}
	if !p.Updated.Equal(p.Created) {
		d.Timeline = append(d.Timeline, timelineItem{p.Updated, "last change: " + string(p.Status)})
	}
	sort.SliceStable(d.Timeline, func(i, j int) bool { return d.Timeline[i].Time.Before(d.Timeline[j].Time) })
	h.render(v, status, page{Template: "payout", Title: "Payout " + p.ID, Notice: notice, Error: problem, Data: d})
}

// payoutState is what a review's audit entry keeps of a payout.
type payoutState struct {
	Status     payout.Status  `json:"status"`
	Amount     money.Amount   `json:"amount"`
	Currency   money.Currency `json:"currency"`
	ReviewedBy string         `json:"reviewed_by,omitempty"`
	Reason     string         `json:"reason,omitempty"`
}

func (h *Handler) approvePayout(w http.ResponseWriter, r *http.Request) { h.reviewPayout(w, r, true) }
func (h *Handler) rejectPayout(w http.ResponseWriter, r *http.Request)  { h.reviewPayout(w, r, false) }

// reviewPayout approves or rejects a payout held for review (for the
// operator: a payer's withdrawal), with a reason (required to reject).
// The member is the reviewer: payout's rule that the one who created a
// payout may not decide on it applies (multiple is always true: a
// team has more than one person). Approving StepUp or more needs a fresh
// authenticator code: money goes out. The payout package decides under
// its version check, so two reviewers at once make one decision.
func (h *Handler) reviewPayout(w http.ResponseWriter, r *http.Request, approve bool) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.authPayouts(v, members.ReviewPayouts) || !h.payoutsWired(v) {
		return
	}
	ctx := v.ctx()
	before, err := h.cfg.Payouts.Get(ctx, payoutOrg(v), r.PathValue("id"))
	if err != nil {
		h.fail(v, err)
		return
	}
	reason := v.input("reason")
	if utf8.RuneCountInString(reason) > reasonBytesMax || strings.ContainsAny(reason, "\x00\r") {
		h.showPayout(v, http.StatusBadRequest, before.ID, "", "The reason is at most 500 characters.")
		return
	}
	if !approve && reason == "" {
		h.showPayout(v, http.StatusBadRequest, before.ID, "", "Say why the payout is rejected.")
		return
	}
	if lim := h.payoutStepUp(); approve && lim > 0 && before.Amount >= lim {
		if err := h.cfg.Members.StepUp(ctx, v.m.ID, v.input("code")); err != nil {
			if kassa.ErrorKind(err) != kassa.EInvalid {
				h.fail(v, err)
				return
			}
			h.showPayout(v, http.StatusBadRequest, before.ID, "", "Approving a payout of "+web.FormatAmount(lim, before.Currency)+
				" or more needs a fresh code from your authenticator app.")
			return
		}
	}
	action, act := "payout.reject", h.cfg.Payouts.Reject
	if approve {
		action, act = "payout.approve", h.cfg.Payouts.Approve
	}
	after, err := act(ctx, payoutOrg(v), before.ID, v.m.ID, true)
	if err != nil {
		if e := kassa.AsError(err); e != nil && (e.Kind == kassa.EConflict || e.Kind == kassa.EForbidden) {
			h.showPayout(v, http.StatusConflict, before.ID, "", e.Message+".")
			return
		}
		h.fail(v, err)
		return
	}
	st := func(p payout.Payout, reason string) payoutState {
		return payoutState{Status: p.Status, Amount: p.Amount, Currency: p.Currency, ReviewedBy: p.ReviewedBy, Reason: reason}
	}
	if err := h.cfg.Audit.Record(ctx, auditOrg(v), action, before.ID, st(before, ""), st(after, reason)); err != nil {
		h.fail(v, err)
		return
	}
	notice := "Approved: the payout goes out."
	if !approve {
		notice = "Rejected: the payout is canceled and its money released."
	}
	h.showPayout(v, http.StatusOK, before.ID, notice, "")
}

// destText is a payout's destination as the console shows it: an IBAN
// masked to its country and last 4, a card by the payment it came from.
func destText(d payout.Destination) string {
	switch {
	case d.IBAN != "" && len(d.IBAN) > 6:
		return "bank account " + d.IBAN[:2] + " •••• " + d.IBAN[len(d.IBAN)-4:]
	case d.Payment != "":
		return d.Type + " of " + d.Payment
	}
	return d.Type
}
