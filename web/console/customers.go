package console

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/compliance"
	members "github.com/kassa/kassa/console"
	"github.com/kassa/kassa/credit"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/web"
)

// customerIDMax bounds a customer id in a path (the merchant's own ids
// and Kassa accounts' cus_...).
const customerIDMax = 128

// customers is the support agent's way in: a customer id opens their page.
func (h *Handler) customers(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewCustomers) {
		return
	}
	if q := strings.TrimSpace(r.URL.Query().Get("q")); q != "" && len(q) <= customerIDMax {
		h.redirect(v, "/console/customers/"+url.PathEscape(q))
		return
	}
	h.render(v, http.StatusOK, page{Template: "customers", Title: "Customers"})
}

type limitRow struct {
	Period      string
	Limit, Used money.Amount
	Currency    money.Currency
	Pending     string // a raise waiting, "" none
}

type customerData struct {
	ID       string
	Payments []payment.Payment
	Payouts  []payout.Payout
	// Limits are the merchant's limits of this customer in force (nil:
	// compliance not wired).
	Limits        []limitRow
	HasLimits     bool
	SelfExclusion *compliance.ExclusionJSON
	CoolOff       *compliance.CoolOffJSON
	Plans         []credit.Plan
	HasPlans      bool
}

// customer shows one of the merchant's customers, read-only: their
// newest payments and payouts, the deposit limits, self-exclusion and
// cool-off the merchant keeps for them (a Kassa account's own limits stay
// with Kassa), and their pay-later plans at this merchant. A customer
// the merchant never saw has an empty page: nothing of another
// merchant's is read.
func (h *Handler) customer(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewCustomers) {
		return
	}
	id := r.PathValue("id")
	if v.org() == "" || id == "" || len(id) > customerIDMax {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "customer_not_found", "no such customer"))
		return
	}
	ctx := r.Context()
	d := customerData{ID: id}
	var err error
	if d.Payments, _, err = h.cfg.Payments.List(ctx, payment.Filter{MerchantID: v.org(), Customer: id, Limit: listLimit}); err != nil {
		h.fail(v, err)
		return
	}
	if h.cfg.Payouts != nil {
		if d.Payouts, _, err = h.cfg.Payouts.List(ctx, payout.Filter{MerchantID: v.org(), Customer: id, Limit: listLimit}); err != nil {
			h.fail(v, err)
			return
		}
	}
	if h.cfg.Compliance != nil {
		if err := h.customerLimits(v, &d); err != nil {
			h.fail(v, err)
			return
		}
	}
	if h.cfg.Credit != nil {
		d.HasPlans = true
		plans, err := h.cfg.Credit.CustomerPlans(ctx, id)
		if err != nil {
			h.fail(v, err)
			return
		}
		for _, p := range plans {
			if p.MerchantID == v.org() {
				d.Plans = append(d.Plans, p)
			}
		}
	}
	h.render(v, http.StatusOK, page{Template: "customer", Title: "Customer " + id, Data: d})
}

func (h *Handler) customerLimits(v *visit, d *customerData) error {
	ctx := v.r.Context()
	l, err := h.cfg.Compliance.Limits(ctx, compliance.Subject{MerchantID: v.org(), CustomerID: d.ID})
	if kassa.ErrorKind(err) == kassa.EInvalid {
		return nil // an id compliance does not take has no limits
	} else if err != nil {
		return err
	}
	used, err := h.cfg.Compliance.Used(ctx, l)
	if err != nil {
		return err
	}
	pub := h.cfg.Compliance.Public(l)
	d.HasLimits, d.SelfExclusion, d.CoolOff = true, pub.SelfExclusion, pub.CoolOff
	for p, lim := range pub.Deposit {
		row := limitRow{Period: string(p), Limit: lim.Amount, Currency: lim.Currency, Used: used[p]}
		if pe, ok := pub.Pending[p]; ok {
			switch {
			case pe.Remove:
				row.Pending = "removed from " + pe.EffectiveAt.UTC().Format("2006-01-02 15:04")
			case pe.Amount != nil:
				row.Pending = "raised to " + web.FormatAmount(*pe.Amount, pe.Currency) + " " + string(pe.Currency) + " from " + pe.EffectiveAt.UTC().Format("2006-01-02 15:04")
			}
		}
		d.Limits = append(d.Limits, row)
	}
	order := map[string]int{"day": 0, "week": 1, "month": 2}
	sort.Slice(d.Limits, func(i, j int) bool { return order[d.Limits[i].Period] < order[d.Limits[j].Period] })
	return nil
}
