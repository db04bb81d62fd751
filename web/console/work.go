package console

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/audit"
	members "github.com/kassa/kassa/console"
	kid "github.com/kassa/kassa/id"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/voucher"
	"github.com/kassa/kassa/web"
	"github.com/kassa/kassa/webhook"
)

// Limits of the pages.
const (
	listLimit = 50
	// chartPaymentsMax bounds the payments the home page's charts read
	// (20 pages of the payments list); the page says when it was cut.
	chartPaymentsMax = 2000
	reviewsCountMax  = 1000
)

// --- Payments ---

type paymentsData struct {
	Query, Status, From, To string
	Payments                []payment.Payment
	Statuses                []string
	// Scanned is how many of the newest payments (in the dates) a search
	// by email, card or voucher looked through; Cut says it stopped there.
	Scanned int
	Cut     bool
}

var statuses = []string{"", "requires_action", "authorized", "captured", "canceled", "failed", "expired"}

// searchScanMax bounds the payments a search by email, card last 4 or
// voucher serial looks through (the store has no index for them yet).
const searchScanMax = 2000

// payments searches the merchant's payments by id, merchant reference,
// customer email, card last 4 or voucher serial, with a status and dates.
func (h *Handler) payments(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewPayments) {
		return
	}
	q := r.URL.Query()
	d := paymentsData{Query: strings.TrimSpace(q.Get("q")), Status: q.Get("status"), From: q.Get("from"), To: q.Get("to"),
		Statuses: statuses}
	if len(d.Query) > inputBytesMax {
		d.Query = ""
	}
	f := payment.Filter{MerchantID: v.org(), Status: payment.Status(d.Status), Limit: listLimit}
	if t, err := time.Parse("2006-01-02", d.From); err == nil {
		f.CreatedGTE = t
	} else {
		d.From = ""
	}
	if t, err := time.Parse("2006-01-02", d.To); err == nil {
		f.CreatedLT = t.AddDate(0, 0, 1)
	} else {
		d.To = ""
	}
	var err error
	switch match := searchMatcher(d.Query); {
	case strings.HasPrefix(d.Query, "pay_"):
		p, err := h.cfg.Payments.Get(r.Context(), v.org(), d.Query)
		if err == nil {
			d.Payments = []payment.Payment{p}
		} else if kassa.ErrorKind(err) != kassa.ENotFound {
			h.fail(v, err)
			return
		}
	case match != nil:
		d.Payments, d.Scanned, d.Cut, err = h.scanPayments(v, f, match)
	default:
		f.MerchantReference = d.Query
		d.Payments, _, err = h.cfg.Payments.List(r.Context(), f)
	}
	if err != nil {
		h.fail(v, err)
		return
	}
	h.render(v, http.StatusOK, page{Template: "payments", Title: "Payments", Data: d})
}

// searchMatcher reads a query that is no id or reference: an email
// address, 4 digits (a card's last 4) or a voucher serial (12+ digits).
func searchMatcher(q string) func(payment.Payment) bool {
	digits := q != "" && strings.Trim(q, "0123456789") == ""
	switch {
	case strings.Contains(q, "@"):
		q = strings.ToLower(q)
		return func(p payment.Payment) bool { return strings.ToLower(p.Customer.Email) == q }
	case digits && len(q) == 4:
		return func(p payment.Payment) bool { return p.Card.Last4 == q }
	case digits && len(q) >= 10:
		return func(p payment.Payment) bool {
			for _, u := range p.Vouchers {
				if u.Serial == q {
					return true
				}
			}
			return false
		}
	}
	return nil
}

// scanPayments pages through the newest payments of the filter, keeping
// those that match, up to searchScanMax payments looked at.
func (h *Handler) scanPayments(v *visit, f payment.Filter, match func(payment.Payment) bool) ([]payment.Payment, int, bool, error) {
	var out []payment.Payment
	scanned := 0
	f.Limit = payment.ListLimitMax
	for scanned < searchScanMax && len(out) < listLimit {
		ps, more, err := h.cfg.Payments.List(v.r.Context(), f)
		if err != nil {
			return nil, 0, false, err
		}
		for _, p := range ps {
			if match(p) && len(out) < listLimit {
				out = append(out, p)
			}
		}
		scanned += len(ps)
		if !more || len(ps) == 0 {
			return out, scanned, false, nil
		}
		f.StartingAfter = ps[len(ps)-1].ID
	}
	return out, scanned, true, nil
}

type transferRow struct {
	ID, Debit, Credit string
	Amount            money.Amount
	Currency          money.Currency
	Leaf              int64
	Time              time.Time
}

type reasonBar struct {
	Message string
	Width   int // percent of the largest contribution
	Value   string
}

type paymentData struct {
	P         payment.Payment
	Timeline  []timelineItem
	Transfers []transferRow
	Reasons   []reasonBar
	Notice    string
	RequestID string // the refund form's, for its idempotency
	// StepUp: a refund of StepUpFrom or more needs an authenticator code.
	StepUp     bool
	StepUpFrom string
}

type timelineItem struct {
	Time time.Time
	Text string
}

// payment is one payment: its timeline, its ledger transfers (each a
// leaf of the Merkle log, provable with /v1/ledger/transfers/{id}/proof)
// and its risk decision with each reason's contribution as a bar.
func (h *Handler) payment(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewPayments) {
		return
	}
	h.showPayment(v, http.StatusOK, r.PathValue("id"), "")
}

func (h *Handler) showPayment(v *visit, status int, id, notice string) {
	ctx := v.r.Context()
	p, err := h.cfg.Payments.Get(ctx, v.org(), id)
	if err != nil || v.org() == "" {
		if err == nil {
			err = kassa.Errorf(kassa.ENotFound, "payment_not_found", "no such payment")
		}
		h.fail(v, err)
		return
	}
	d := paymentData{P: p, Notice: notice, RequestID: kid.New("req"), StepUp: h.cfg.RefundStepUp > 0 && p.AmountCaptured-p.AmountRefunded >= h.cfg.RefundStepUp,
		StepUpFrom: web.FormatAmount(h.cfg.RefundStepUp, p.Currency)}
	d.Timeline = append(d.Timeline, timelineItem{p.Created, "created: " + string(p.Status)})
	if !p.Updated.Equal(p.Created) {
		d.Timeline = append(d.Timeline, timelineItem{p.Updated, "last change: " + string(p.Status)})
	}
	if h.cfg.Webhooks != nil {
		evs, _, err := h.cfg.Webhooks.Events(ctx, v.org(), "", "", 100)
		if err == nil {
			for _, ev := range evs {
				if containsID(ev.Data, p.ID) {
					d.Timeline = append(d.Timeline, timelineItem{ev.Created, "event " + ev.Type})
				}
			}
		}
	}
	sort.SliceStable(d.Timeline, func(i, j int) bool { return d.Timeline[i].Time.Before(d.Timeline[j].Time) })
	if h.cfg.Ledger != nil {
		d.Transfers = h.transfers(v, p)
	}
	d.Reasons = reasonBars(p.Risk.Reasons)
	h.render(v, status, page{Template: "payment", Title: "Payment " + p.ID, Data: d})
}

func containsID(data []byte, id string) bool {
	return len(id) > 0 && len(data) > 0 && string(data) != "" && indexOf(string(data), `"`+id+`"`) >= 0
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// transfers finds the payment's ledger transfers by the ids the payment
// package gives them (pay:<id>:auth|capture|release:<n>).
func (h *Handler) transfers(v *visit, p payment.Payment) []transferRow {
	var out []transferRow
	for _, kind := range []string{"auth", "capture", "release"} {
		for n := 0; n < 10; n++ {
			t, _, err := h.cfg.Ledger.Transfer(v.r.Context(), "", "pay:"+p.ID+":"+kind+":"+strconv.Itoa(n))
			if err != nil {
				if n > 0 {
					break
				}
				continue
			}
			out = append(out, transferRow{ID: t.ID, Debit: t.DebitAccountID, Credit: t.CreditAccountID, Amount: t.Amount,
				Currency: t.Currency, Leaf: t.LeafIndex, Time: t.Timestamp})
		}
	}
	return out
}

func reasonBars(rs []risk.Reason) []reasonBar {
	maxC := 0.0
	for _, r := range rs {
		maxC = max(maxC, abs(r.Contribution))
	}
	var out []reasonBar
	for _, r := range rs {
		w := 0
		if maxC > 0 {
			w = int(100 * abs(r.Contribution) / maxC)
		}
		out = append(out, reasonBar{Message: r.Message, Width: max(w, 1), Value: strconv.FormatFloat(r.Contribution, 'f', 2, 64)})
	}
	return out
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

type paymentState struct {
	Status   payment.Status `json:"status"`
	Captured money.Amount   `json:"amount_captured"`
	Refunded money.Amount   `json:"amount_refunded"`
}

func stateOf(p payment.Payment) paymentState {
	return paymentState{Status: p.Status, Captured: p.AmountCaptured, Refunded: p.AmountRefunded}
}

// act runs one state-changing action on a payment of the member's
// merchant and writes its audit entry.
func (h *Handler) act(w http.ResponseWriter, r *http.Request, perm members.Permission, action string,
	fn func(v *visit, p payment.Payment) (payment.Payment, string, error)) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, perm) {
		return
	}
	if v.org() == "" {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "payment_not_found", "no such payment"))
		return
	}
	before, err := h.cfg.Payments.Get(r.Context(), v.org(), r.PathValue("id"))
	if err != nil {
		h.fail(v, err)
		return
	}
	after, notice, err := fn(v, before)
	if err != nil {
		h.fail(v, err)
		return
	}
	if err := h.cfg.Audit.Record(v.ctx(), v.org(), action, before.ID, stateOf(before), stateOf(after)); err != nil {
		h.fail(v, err)
		return
	}
	h.showPayment(v, http.StatusOK, before.ID, notice)
}

func (h *Handler) capture(w http.ResponseWriter, r *http.Request) {
	h.act(w, r, members.CapturePayments, "payment.capture", func(v *visit, p payment.Payment) (payment.Payment, string, error) {
		if err := h.cfg.Merchants.CheckActive(v.r.Context(), v.org()); err != nil { // suspended: no money in
			return p, "", err
		}
		p, err := h.cfg.Payments.Capture(v.ctx(), v.org(), p.ID, nil)
		return p, "Captured.", err
	})
}

func (h *Handler) cancel(w http.ResponseWriter, r *http.Request) {
	h.act(w, r, members.CancelPayments, "payment.cancel", func(v *visit, p payment.Payment) (payment.Payment, string, error) {
		p, err := h.cfg.Payments.Cancel(v.ctx(), v.org(), p.ID)
		return p, "Canceled.", err
	})
}

func (h *Handler) refund(w http.ResponseWriter, r *http.Request) {
	h.act(w, r, members.RefundPayments, "payment.refund", func(v *visit, p payment.Payment) (payment.Payment, string, error) {
		req := payment.RefundRequest{Payment: p.ID, Reason: "requested_by_customer"}
		// The form's own request id makes a resent form find the refund
		// the first one made instead of refunding again.
		if rid := v.input("request"); rid != "" && len(rid) <= 64 {
			req.RequestKey = "console/" + v.m.ID + "/" + rid
		}
		amount := p.AmountCaptured - p.AmountRefunded - p.AmountRefundPending
		if s := v.input("amount"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n <= 0 {
				return p, "", kassa.Invalid("amount", "amount_invalid", "the amount is in minor units (cents), a whole number above 0")
			}
			a := money.Amount(n)
			req.Amount, amount = &a, a
		}
		// A large refund needs a fresh authenticator code as well: a
		// session left open is not enough to send money back out.
		if h.cfg.RefundStepUp > 0 && amount >= h.cfg.RefundStepUp {
			if err := h.cfg.Members.StepUp(v.ctx(), v.m.ID, v.input("code")); err != nil {
				if kassa.ErrorKind(err) == kassa.EInvalid {
					err = kassa.Invalid("code", "step_up_required", "a refund of %s or more needs a fresh code from your authenticator app",
						web.FormatAmount(h.cfg.RefundStepUp, p.Currency))
				}
				return p, "", err
			}
		}
		ref, p, err := h.cfg.Payments.CreateRefund(v.ctx(), v.org(), req)
		if err != nil {
			return p, "", err
		}
		return p, "Refunded " + ref.ID + ".", nil
	})
}

// --- Reviews ---

type reviewsData struct {
	Cases []risk.ReviewCase
}

func (h *Handler) reviews(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewReviews) {
		return
	}
	var d reviewsData
	if h.cfg.Risk != nil && v.org() != "" {
		cs, _, err := h.cfg.Risk.Reviews(r.Context(), v.org(), risk.ReviewOpen, "", listLimit)
		if err != nil {
			h.fail(v, err)
			return
		}
		d.Cases = cs
	}
	h.render(v, http.StatusOK, page{Template: "reviews", Title: "Reviews", Data: d})
}

type reviewData struct {
	Case     risk.ReviewCase
	P        payment.Payment
	Similar  []similarCase
	Reasons  []reasonBar
	Features []featureRow
	Open     bool
}

type featureRow struct {
	Name, Value string
}

func (h *Handler) review(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewReviews) {
		return
	}
	h.showReview(v, http.StatusOK, r.PathValue("id"), "")
}

func (h *Handler) showReview(v *visit, status int, id, notice string) {
	ctx := v.r.Context()
	if h.cfg.Risk == nil || v.org() == "" {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "review_not_found", "no such review"))
		return
	}
	c, err := h.cfg.Risk.Review(ctx, v.org(), id)
	if err != nil {
		h.fail(v, err)
		return
	}
	d := reviewData{Case: c, Open: c.Status == risk.ReviewOpen}
	if d.P, err = h.cfg.Payments.Get(ctx, v.org(), c.PaymentID); err != nil {
		h.fail(v, err)
		return
	}
	d.Reasons = reasonBars(d.P.Risk.Reasons)
	if d.Similar, err = h.similar(v, d.P); err != nil {
		h.fail(v, err)
		return
	}
	// Only the values the merchant owns: a payment's evaluation reads the
	// platform's counts, which hold other merchants' payers.
	if ev, err := h.cfg.Risk.Evaluation(ctx, v.org(), c.EvaluationID); err == nil {
		d.Reasons = reasonBars(risk.MerchantReasons(ev))
		fs := risk.MerchantFeatures(ev)
		for _, name := range risk.FeatureNames {
			if x, ok := fs[name]; ok && x != 0 {
				d.Features = append(d.Features, featureRow{name, strconv.FormatFloat(float64(x), 'g', 6, 32)})
			}
		}
	}
	h.render(v, status, page{Template: "review", Title: "Review " + c.ID, Notice: notice, Data: d})
}

// similarCase is an earlier payment that shares something with a case's.
type similarCase struct {
	P     payment.Payment
	Share string // what it shares: email, card, voucher, account
}

// similarScanMax bounds the payments the review page looks through for
// similar cases (the newest of the merchant).
const similarScanMax = 500

// similar finds the merchant's recent payments that share the customer
// email, the card, a voucher or the payer's account with p, with how
// they ended (status, review outcome).
func (h *Handler) similar(v *visit, p payment.Payment) ([]similarCase, error) {
	serials := map[string]bool{}
	for _, u := range p.Vouchers {
		serials[u.Serial] = true
	}
	var out []similarCase
	f := payment.Filter{MerchantID: v.org(), Limit: payment.ListLimitMax}
	for scanned := 0; scanned < similarScanMax && len(out) < 20; {
		ps, more, err := h.cfg.Payments.List(v.r.Context(), f)
		if err != nil {
			return nil, err
		}
		for _, x := range ps {
			if x.ID == p.ID {
				continue
			}
			var share []string
			if p.Customer.Email != "" && strings.EqualFold(x.Customer.Email, p.Customer.Email) {
				share = append(share, "email")
			}
			if p.Card.Fingerprint != "" && x.Card.Fingerprint == p.Card.Fingerprint {
				share = append(share, "card")
			}
			for _, u := range x.Vouchers {
				if serials[u.Serial] {
					share = append(share, "voucher")
					break
				}
			}
			if p.PayerID != "" && x.PayerID == p.PayerID {
				share = append(share, "account")
			}
			if len(share) > 0 && len(out) < 20 {
				out = append(out, similarCase{P: x, Share: strings.Join(share, ", ")})
			}
		}
		scanned += len(ps)
		if !more || len(ps) == 0 {
			break
		}
		f.StartingAfter = ps[len(ps)-1].ID
	}
	return out, nil
}

func (h *Handler) approveReview(w http.ResponseWriter, r *http.Request) { h.resolve(w, r, true) }
func (h *Handler) rejectReview(w http.ResponseWriter, r *http.Request)  { h.resolve(w, r, false) }

// resolve approves (labelled legitimate) or rejects (labelled fraud, by
// the payment package) a review case.
func (h *Handler) resolve(w http.ResponseWriter, r *http.Request, approve bool) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.DecideReviews) {
		return
	}
	if h.cfg.Risk == nil || v.org() == "" {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "review_not_found", "no such review"))
		return
	}
	note := v.input("note")
	c, p, err := h.cfg.Payments.ResolveReview(v.ctx(), v.org(), r.PathValue("id"), approve, note)
	if err != nil {
		h.fail(v, err)
		return
	}
	action, label := "review.reject", risk.LabelFraud
	if approve {
		action, label = "review.approve", risk.LabelLegit
		if _, err := h.cfg.Risk.Label(v.ctx(), v.org(), p.ID, risk.LabelLegit, risk.SourceAnalyst); err != nil {
			h.log.WarnContext(r.Context(), "console: label an approved review", "review", c.ID, "err", err)
		}
	}
	if err := h.cfg.Audit.Record(v.ctx(), v.org(), action, c.ID, map[string]string{"status": risk.ReviewOpen},
		map[string]string{"status": c.Status, "label": label, "payment": p.ID, "payment_status": string(p.Status)}); err != nil {
		h.fail(v, err)
		return
	}
	h.showReview(v, http.StatusOK, c.ID, "The case is "+c.Status+".")
}

// --- Developers ---

type developersData struct {
	Keys      []merchant.Key
	NewSecret string // the key just made, shown this once
	Endpoints []webhook.Endpoint
	Events    []webhook.Event
	Now       time.Time
}

func (h *Handler) developers(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewDevelopers) {
		return
	}
	h.showDevelopers(v, "", "")
}

func (h *Handler) showDevelopers(v *visit, secret, notice string) {
	ctx := v.r.Context()
	d := developersData{NewSecret: secret, Now: h.cfg.Clock()}
	var err error
	if d.Keys, err = h.cfg.Merchants.Keys(ctx, v.org()); err != nil {
		h.fail(v, err)
		return
	}
	if h.cfg.Webhooks != nil {
		if d.Endpoints, _, err = h.cfg.Webhooks.Endpoints(ctx, v.org(), "", listLimit); err != nil {
			h.fail(v, err)
			return
		}
		if d.Events, _, err = h.cfg.Webhooks.Events(ctx, v.org(), "", "", 20); err != nil {
			h.fail(v, err)
			return
		}
	}
	h.render(v, http.StatusOK, page{Template: "developers", Title: "Developers", Notice: notice, Data: d})
}

// rotateKey makes a new secret key; the others keep working for the
// grace period chosen (0 to 30 days).
func (h *Handler) rotateKey(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.ManageKeys) {
		return
	}
	hours, err := strconv.Atoi(v.input("grace_hours"))
	if err != nil || hours < 0 || time.Duration(hours)*time.Hour > merchant.RotateGraceMax {
		h.fail(v, kassa.Invalid("grace_hours", "grace_invalid", "the grace period must be 0 to 720 hours"))
		return
	}
	k, secret, err := h.cfg.Merchants.RotateKey(v.ctx(), v.org(), time.Duration(hours)*time.Hour)
	if err != nil {
		h.fail(v, err)
		return
	}
	if err := h.cfg.Audit.Record(v.ctx(), v.org(), "api_key.rotate", k.ID, nil,
		map[string]any{"hint": k.Hint, "grace_hours": hours}); err != nil {
		h.fail(v, err)
		return
	}
	h.showDevelopers(v, secret, "A new secret key. Copy it now: it is not shown again.")
}

func (h *Handler) revokeKey(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.ManageKeys) {
		return
	}
	keys, err := h.cfg.Merchants.Keys(r.Context(), v.org())
	if err != nil {
		h.fail(v, err)
		return
	}
	var k merchant.Key
	for _, x := range keys {
		if x.ID == r.PathValue("id") {
			k = x
		}
	}
	if k.ID == "" { // another merchant's key is no key of this one
		h.fail(v, kassa.Errorf(kassa.ENotFound, "api_key_not_found", "no such API key"))
		return
	}
	if err := h.cfg.Merchants.RevokeKey(v.ctx(), k.ID); err != nil {
		h.fail(v, err)
		return
	}
	if err := h.cfg.Audit.Record(v.ctx(), v.org(), "api_key.revoke", k.ID, map[string]string{"hint": k.Hint},
		map[string]bool{"revoked": true}); err != nil {
		h.fail(v, err)
		return
	}
	h.showDevelopers(v, "", "Revoked "+k.Hint+".")
}

func (h *Handler) replayEvent(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.ReplayWebhooks) {
		return
	}
	if h.cfg.Webhooks == nil {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "event_not_found", "no such event"))
		return
	}
	endpoint := v.input("endpoint")
	ds, err := h.cfg.Webhooks.Redeliver(v.ctx(), v.org(), r.PathValue("id"), endpoint)
	if err != nil {
		h.fail(v, err)
		return
	}
	if err := h.cfg.Audit.Record(v.ctx(), v.org(), "webhook.replay", r.PathValue("id"), nil,
		map[string]any{"deliveries": len(ds), "endpoint": endpoint}); err != nil {
		h.fail(v, err)
		return
	}
	h.showDevelopers(v, "", "The event goes out again ("+strconv.Itoa(len(ds))+" deliveries).")
}

type endpointData struct {
	Endpoint   webhook.Endpoint
	Deliveries []webhook.Delivery
}

// endpoint is a webhook endpoint's delivery log, newest first, each
// delivery's event can be sent to it again.
func (h *Handler) endpoint(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewDevelopers) {
		return
	}
	if h.cfg.Webhooks == nil {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "endpoint_not_found", "no such endpoint"))
		return
	}
	eps, _, err := h.cfg.Webhooks.Endpoints(r.Context(), v.org(), "", listLimit)
	if err != nil {
		h.fail(v, err)
		return
	}
	var d endpointData
	for _, ep := range eps {
		if ep.ID == r.PathValue("id") {
			d.Endpoint = ep
		}
	}
	if d.Endpoint.ID == "" { // another merchant's endpoint is none of this one's
		h.fail(v, kassa.Errorf(kassa.ENotFound, "endpoint_not_found", "no such endpoint"))
		return
	}
	if d.Deliveries, _, err = h.cfg.Webhooks.Deliveries(r.Context(), v.org(), d.Endpoint.ID, "", listLimit); err != nil {
		h.fail(v, err)
		return
	}
	h.render(v, http.StatusOK, page{Template: "endpoint", Title: "Endpoint " + d.Endpoint.ID, Data: d})
}

// --- Team ---

type membersData struct {
	Members []members.Member
	Roles   []members.Role
	Link    string
}

func (h *Handler) membersPage(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewMembers) {
		return
	}
	h.showMembers(v, "")
}

func (h *Handler) showMembers(v *visit, notice string) {
	ms, err := h.cfg.Members.Members(v.r.Context(), v.m.Org)
	if err != nil {
		h.fail(v, err)
		return
	}
	h.render(v, http.StatusOK, page{Template: "members", Title: "Team", Notice: notice,
		Data: membersData{Members: ms, Roles: members.MerchantRoles}})
}

func (h *Handler) inviteMember(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.ManageMembers) {
		return
	}
	inv, err := h.cfg.Members.Invite(v.ctx(), v.m.Role, v.m.Org, v.input("email"), members.Role(v.input("role")))
	if err != nil {
		h.fail(v, err)
		return
	}
	h.showMembers(v, "Invited "+inv.Member.Email+" as "+string(inv.Member.Role)+".")
}

func (h *Handler) removeMember(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.ManageMembers) {
		return
	}
	if err := h.cfg.Members.Remove(v.ctx(), v.m.Role, v.m.Org, r.PathValue("id")); err != nil {
		h.fail(v, err)
		return
	}
	h.showMembers(v, "Removed.")
}

// --- Audit log ---

type auditData struct {
	Events []audit.Event
	Next   string
	Action string
	Target string
	All    bool // the operator's view of every organisation
}

func (h *Handler) auditPage(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	m, _, err := h.cfg.Members.Authenticate(r.Context(), v.session)
	perm := members.ViewAudit
	if err == nil && m.Org == members.Platform {
		perm = members.OperatePlatform
	}
	if !h.auth(v, perm) {
		return
	}
	q := r.URL.Query()
	d := auditData{Action: q.Get("action"), Target: q.Get("target"), All: v.m.Org == members.Platform}
	f := audit.Filter{Org: v.org(), Action: d.Action, Target: d.Target, StartingAfter: q.Get("after"), Limit: listLimit}
	evs, more, err := h.cfg.Audit.List(r.Context(), f)
	if err != nil {
		h.fail(v, err)
		return
	}
	d.Events = evs
	if more {
		d.Next = "/console/audit?after=" + url.QueryEscape(evs[len(evs)-1].ID) + "&action=" + url.QueryEscape(d.Action) +
			"&target=" + url.QueryEscape(d.Target)
	}
	h.render(v, http.StatusOK, page{Template: "audit", Title: "Audit log", Data: d})
}

// --- Operator ---

type operatorData struct {
	Suspending *merchant.Merchant // the merchant the suspension form is for
	Vouchers   bool
	Issued     []voucher.Issued // PINs shown this once
	Locks      []risk.ListEntry
	Merchants  []merchant.Merchant
	Checkpoint *ledger.Checkpoint
	Created    *merchant.Created // keys shown this once
	Health     healthView
	LockTypes  []string
}

func (h *Handler) operator(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.OperatePlatform) {
		return
	}
	h.showOperator(v, nil, "")
}

func (h *Handler) showOperator(v *visit, created *merchant.Created, notice string) {
	h.showOperatorWith(v, operatorData{Created: created}, notice)
}

func (h *Handler) showOperatorWith(v *visit, d operatorData, notice string) {
	ctx := v.r.Context()
	d.Vouchers = h.cfg.Vouchers != nil
	var err error
	if d.Merchants, err = h.cfg.Merchants.List(ctx, "", 100); err != nil {
		h.fail(v, err)
		return
	}
	if h.cfg.Risk != nil {
		if d.Locks, err = h.cfg.Risk.PlatformLocks(ctx); err != nil {
			h.fail(v, err)
			return
		}
	}
	if h.cfg.Ledger != nil {
		if c, err := h.cfg.Ledger.LatestCheckpoint(ctx); err == nil {
			d.Checkpoint = &c
		}
	}
	d.Health, d.LockTypes = h.health(v), listTypes
	h.render(v, http.StatusOK, page{Template: "operator", Title: "Operator", Notice: notice, Data: d})
}

func (h *Handler) createMerchant(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.ManageMerchants) {
		return
	}
	c, err := h.cfg.Merchants.Create(v.ctx(), v.input("name"))
	if err != nil {
		h.fail(v, err)
		return
	}
	if err := h.cfg.Audit.Record(v.ctx(), audit.Platform, "merchant.create", c.ID, nil, map[string]string{"name": c.Name}); err != nil {
		h.fail(v, err)
		return
	}
	h.showOperator(v, &c, "Created "+c.Name+". Copy its keys now: they are not shown again.")
}

// liftLock lifts a platform-wide lock (a voucher, card, device... locked
// for every merchant).
func (h *Handler) liftLock(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.OperatePlatform) {
		return
	}
	if h.cfg.Risk == nil {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "lock_not_found", "no such lock"))
		return
	}
	typ, value := v.input("type"), v.input("value")
	if err := h.cfg.Risk.LiftPlatformLock(v.ctx(), typ, value); err != nil {
		h.fail(v, err)
		return
	}
	if err := h.cfg.Audit.Record(v.ctx(), audit.Platform, "risk_lock.lift", typ+":"+value,
		map[string]bool{"locked": true}, map[string]bool{"locked": false}); err != nil {
		h.fail(v, err)
		return
	}
	h.showOperator(v, nil, "Lifted the lock of "+typ+" "+value+".")
}

// issueBatchMax bounds a batch issued in the console (its PINs are shown
// on one page); the CLI issues up to voucher.IssueCountMax.
const issueBatchMax = 100

// issueVouchers issues a batch for a distributor allowed to issue; the
// PINs are shown this once and never written anywhere else.
func (h *Handler) issueVouchers(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.OperatePlatform) {
		return
	}
	if h.cfg.Vouchers == nil {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "route_not_found", "vouchers are not served here"))
		return
	}
	count, err1 := strconv.Atoi(v.input("count"))
	amount, err2 := strconv.ParseInt(v.input("amount"), 10, 64)
	if err1 != nil || count < 1 || count > issueBatchMax || err2 != nil {
		h.fail(v, kassa.Invalid("count", "batch_invalid", "a batch is 1 to %d vouchers of a whole amount in minor units", issueBatchMax))
		return
	}
	issuer := v.input("issuer")
	vs, err := h.cfg.Vouchers.Issue(v.ctx(), voucher.IssueRequest{Count: count, Amount: money.Amount(amount),
		Currency: money.Currency(strings.ToUpper(v.input("currency"))), IssuedBy: issuer})
	if err != nil {
		h.fail(v, err)
		return
	}
	serials := make([]string, len(vs))
	for i, x := range vs {
		serials[i] = x.Serial
	}
	if err := h.cfg.Audit.Record(v.ctx(), audit.Platform, "voucher.issue", issuer, nil, map[string]any{"count": count,
		"amount": amount, "currency": vs[0].Currency, "serials": serials}); err != nil {
		h.fail(v, err)
		return
	}
	d := operatorData{Issued: vs}
	h.showOperatorWith(v, d, "Issued "+strconv.Itoa(count)+" vouchers. Copy the PINs now: they are not shown again.")
}

func (h *Handler) invalidateVoucher(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.OperatePlatform) {
		return
	}
	if h.cfg.Vouchers == nil {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "route_not_found", "vouchers are not served here"))
		return
	}
	x, err := h.cfg.Vouchers.Invalidate(v.ctx(), v.input("issuer"), v.input("serial"))
	if err != nil {
		h.fail(v, err)
		return
	}
	if err := h.cfg.Audit.Record(v.ctx(), audit.Platform, "voucher.invalidate", x.Serial, nil,
		map[string]string{"status": string(x.Status), "issuer": x.IssuedBy}); err != nil {
		h.fail(v, err)
		return
	}
	h.showOperator(v, nil, "Voucher "+x.Serial+" is "+string(x.Status)+".")
}
