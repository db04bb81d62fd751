package account

// Pay later on the account page (docs/pay-later.md): the payer's credit
// limit (shown here only: never to a merchant), their plans with each
// instalment's amount, due date and status, a pay-now button on every
// unpaid instalment (from the Kassa balance), and a button to push one
// due date of a plan back by 14 days, once.

import (
	"context"
	"net/http"
	"strconv"

	"github.com/kassa/kassa/credit"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/web"
)

// PayLater is what the account page needs of package credit
// (credit.Service).
type PayLater interface {
	Assess(ctx context.Context, customerID string, cur money.Currency) (credit.Decision, error)
	CustomerPlans(ctx context.Context, customerID string) ([]credit.Plan, error)
	PayNow(ctx context.Context, customerID, planID string, seq int) (credit.Plan, error)
	PushBack(ctx context.Context, customerID, planID string, seq int) (credit.Plan, error)
}

var _ PayLater = (*credit.Service)(nil)

// plansMax bounds the plans the page lists.
const plansMax = 20

func init() {
	notices["instalment_paid"], notices["due_date_moved"] = true, true
	payerTexts[credit.CodePushedBack] = "A due date of this plan was moved already; each plan allows it once."
	payerTexts[credit.CodeNotPushable] = "Only a part that is not yet due can be moved."
	payerTexts[credit.CodeNothingDue] = "This part is not open for payment."
	payerTexts[credit.CodeWalletShort] = "Your Kassa balance does not cover this part. Nothing was taken."
	payerTexts[credit.CodePlanNotFound] = "This plan is not in your account."
	payerTexts["plan_changed"] = "The plan changed meanwhile; please try again."
	payerTextsDE[credit.CodePushedBack] = "Ein Termin dieses Plans wurde bereits verschoben; das geht einmal pro Plan."
	payerTextsDE[credit.CodeNotPushable] = "Nur eine Rate, die noch nicht fällig ist, kann verschoben werden."
	payerTextsDE[credit.CodeNothingDue] = "Diese Rate ist nicht zur Zahlung offen."
	payerTextsDE[credit.CodeWalletShort] = "Ihr Kassa-Guthaben deckt diese Rate nicht. Es wurde nichts abgebucht."
	payerTextsDE[credit.CodePlanNotFound] = "Diesen Plan gibt es in Ihrem Konto nicht."
	payerTextsDE["plan_changed"] = "Der Plan hat sich inzwischen geändert; bitte versuchen Sie es erneut."
}

// payLaterView is the pay later section of the account page.
type payLaterView struct {
	Limit, Available, Currency string
	Plans                      []planView
}

type planView struct {
	ID, Merchant, Name, Status, Amount, Owed string
	Instalments                              []instalmentView
	CanPushBack                              bool
}

type instalmentView struct {
	Seq                 int
	Amount, Due, Status string
	CanPay, CanPushBack bool
}

// payLater builds the section for cus; nil when pay later is off, or the
// payer has no plans and cannot buy with it (no KYC).
func (h *Handler) payLater(ctx context.Context, l web.Lang, cus string) (*payLaterView, error) {
	if h.cfg.PayLater == nil {
		return nil, nil
	}
	cur := money.Currency("EUR")
	if len(h.cfg.WalletCurrencies) > 0 {
		cur = h.cfg.WalletCurrencies[0]
	}
	d, err := h.cfg.PayLater.Assess(ctx, cus, cur)
	if err != nil {
		return nil, err
	}
	plans, err := h.cfg.PayLater.CustomerPlans(ctx, cus)
	if err != nil {
		return nil, err
	}
	v := &payLaterView{Currency: string(cur), Limit: web.FormatMoney(d.Limit, cur, l),
		Available: web.FormatMoney(d.Available, cur, l)}
	if len(d.Reasons) > 0 {
		v.Available = web.FormatMoney(0, cur, l)
	}
	names := map[string]string{}
	for i, p := range plans {
		if i == plansMax {
			break
		}
		pv := planView{ID: p.ID, Merchant: h.merchantName(ctx, names, p.MerchantID), Name: texts.T(l, "plan."+p.Plan),
			Status: texts.T(l, "plan.status."+string(p.Status)), Amount: web.FormatMoney(p.Amount, p.Currency, l),
			Owed: web.FormatMoney(p.Owed(), p.Currency, l)}
		pushed := false
		for _, in := range p.Instalments {
			pushed = pushed || in.PushedBack
		}
		for _, in := range p.Instalments {
			unpaid := in.Status == credit.InstalmentScheduled || in.Status == credit.InstalmentFailed || in.Status == credit.InstalmentOverdue
			iv := instalmentView{Seq: in.Seq, Amount: web.FormatMoney(in.Amount, p.Currency, l), Due: web.FormatDate(in.Due, l),
				Status: texts.T(l, "plan.inst."+string(in.Status)), CanPay: unpaid && p.Status.Open(),
				CanPushBack: !pushed && p.Status.Open() && in.Status == credit.InstalmentScheduled && h.now().Before(in.Due)}
			pv.Instalments = append(pv.Instalments, iv)
		}
		v.Plans = append(v.Plans, pv)
	}
	if len(v.Plans) == 0 && len(d.Reasons) > 0 {
		return nil, nil // nothing to show a payer who cannot use it (no KYC)
	}
	return v, nil
}

// payInstalment is POST /account/plans/{id}/{seq}/pay.
func (h *Handler) payInstalment(v *visit) {
	h.planAction(v, "instalment_paid", h.cfg.PayLater.PayNow)
}

// pushBackInstalment is POST /account/plans/{id}/{seq}/push-back.
func (h *Handler) pushBackInstalment(v *visit) {
	h.planAction(v, "due_date_moved", h.cfg.PayLater.PushBack)
}

func (h *Handler) planAction(v *visit, done string, act func(ctx context.Context, customerID, planID string, seq int) (credit.Plan, error)) {
	if !h.form(v, formBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok {
		return
	}
	seq, err := strconv.Atoi(v.r.PathValue("seq"))
	if err != nil || seq < 1 || seq > 3 {
		h.render(v, http.StatusNotFound, messagePage(v.t("notfound.title"), v.t("notfound.text"), "/account", v.t("acct.title")))
		return
	}
	if _, err := act(v.r.Context(), sess.CustomerID, v.r.PathValue("id"), seq); err != nil {
		h.accountError(v, sess, "paylater", err)
		return
	}
	h.redirect(v, "/account?done="+done+"#paylater")
}
