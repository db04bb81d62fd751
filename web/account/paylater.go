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
	"strings"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/credit"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/vault"
	"github.com/kassa/kassa/web"
)

// PayLater is what the account page needs of package credit
// (credit.Service).
type PayLater interface {
	Assess(ctx context.Context, customerID string, cur money.Currency) (credit.Decision, error)
	CustomerPlans(ctx context.Context, customerID string) ([]credit.Plan, error)
	PayNow(ctx context.Context, customerID, planID string, seq int) (credit.Plan, error)
	PushBack(ctx context.Context, customerID, planID string, seq int) (credit.Plan, error)
	UseNewCard(ctx context.Context, customerID, planID string, in vault.CardInput) (credit.Plan, error)
	SetFunding(ctx context.Context, customerID, planID, cardID string) (credit.Plan, error)
}

var _ PayLater = (*credit.Service)(nil)

// plansMax bounds the plans the page lists.
const plansMax = 20

func init() {
	notices["instalment_paid"], notices["due_date_moved"], notices["plan_funding"] = true, true, true
	payerTexts["plan_consent_required"] = "Tick the box to let Kassa take the remaining parts from this card."
	payerTexts["card_not_found"] = "This card is not in your account."
	payerTexts["plan_closed"] = "This plan is closed."
	payerTexts[credit.CodeCardsUnavailable] = "Cards cannot be used for pay later on this server."
	payerTextsDE["plan_consent_required"] = "Bitte bestätigen Sie, dass Kassa die offenen Raten von dieser Karte abbuchen darf."
	payerTextsDE["card_not_found"] = "Diese Karte gibt es in Ihrem Konto nicht."
	payerTextsDE["plan_closed"] = "Dieser Plan ist abgeschlossen."
	payerTextsDE[credit.CodeCardsUnavailable] = "Karten können auf diesem Server nicht für späteres Bezahlen genutzt werden."
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
	// Funding says where the parts are taken from; Open: the payer can
	// change it; OnCard: a card now.
	Funding      string
	Open, OnCard bool
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
			Owed: web.FormatMoney(p.Owed(), p.Currency, l), Open: p.Status.Open(), Funding: texts.T(l, "plan.funding.wallet")}
		if f := credit.FundingOf(p); f.Card != nil {
			pv.OnCard, pv.Funding = true, texts.T(l, "plan.funding.card", f.Card.Brand, f.Card.Last4)
		}
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

// useCard is POST /account/plans/{id}/card: the payer types a card and
// consents to have the plan's remaining parts taken from it. The number
// and the CVC are never written back into the page.
func (h *Handler) useCard(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok {
		return
	}
	if v.input("consent") != "yes" {
		h.accountError(v, sess, "paylater", kassa.Invalid("consent", "plan_consent_required", "consent required"))
		return
	}
	number := strings.NewReplacer(" ", "", "-", "").Replace(v.input("card_number"))
	month, year := expiryOf(v.input("card_expiry"))
	in := vault.CardInput{Number: number, ExpMonth: month, ExpYear: year, CVC: v.input("card_cvc"), Name: v.input("card_name")}
	_, err := h.cfg.PayLater.UseNewCard(v.r.Context(), sess.CustomerID, v.r.PathValue("id"), in)
	number, in = "", vault.CardInput{}
	if err != nil {
		h.accountError(v, sess, "paylater", err)
		return
	}
	h.redirect(v, "/account?done=plan_funding#paylater")
}

// useWallet is POST /account/plans/{id}/wallet: the plan's remaining
// parts are taken from the balance again.
func (h *Handler) useWallet(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok {
		return
	}
	if _, err := h.cfg.PayLater.SetFunding(v.r.Context(), sess.CustomerID, v.r.PathValue("id"), ""); err != nil {
		h.accountError(v, sess, "paylater", err)
		return
	}
	h.redirect(v, "/account?done=plan_funding#paylater")
}

// expiryOf reads MM/YY or MM/YYYY; zeros for anything else (the vault
// then names the field).
func expiryOf(s string) (month, year int) {
	m, y, ok := strings.Cut(strings.ReplaceAll(s, " ", ""), "/")
	if !ok || len(m) > 2 || (len(y) != 2 && len(y) != 4) {
		return 0, 0
	}
	month, err1 := strconv.Atoi(m)
	year, err2 := strconv.Atoi(y)
	if err1 != nil || err2 != nil {
		return 0, 0
	}
	if len(y) == 2 {
		year += 2000
	}
	return month, year
}
