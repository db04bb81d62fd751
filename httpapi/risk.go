package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
)

func (s *Server) registerRisk() {
	if s.cfg.Risk == nil {
		return
	}
	s.Handle("POST", "/v1/risk/evaluate", AuthSecret, s.evaluateRisk)
	s.Handle("GET", "/v1/risk/evaluations/{id}", AuthSecret, s.getEvaluation)
	s.Handle("POST", "/v1/risk/evaluations/{id}/outcome", AuthSecret, s.evaluationOutcome)
	s.Handle("POST", "/v1/risk/labels", AuthSecret, s.createLabel)
	s.Handle("GET", "/v1/risk/rules", AuthSecret, s.listRules)
	s.Handle("POST", "/v1/risk/rules", AuthSecret, s.createRule)
	s.Handle("POST", "/v1/risk/rules/backtest", AuthSecret, s.backtestRule)
	s.Handle("GET", "/v1/risk/rules/{id}", AuthSecret, s.getRule)
	s.Handle("POST", "/v1/risk/rules/{id}", AuthSecret, s.updateRule)
	s.Handle("DELETE", "/v1/risk/rules/{id}", AuthSecret, s.deleteRule)
	s.Handle("GET", "/v1/risk/lists", AuthSecret, s.listEntries)
	s.Handle("POST", "/v1/risk/lists", AuthSecret, s.putListEntry)
	s.Handle("DELETE", "/v1/risk/lists/{list}/{type}/{value}", AuthSecret, s.deleteListEntry)
	if s.cfg.Payments != nil {
		s.Handle("GET", "/v1/reviews", AuthSecret, s.listReviews)
		s.Handle("GET", "/v1/reviews/{id}", AuthSecret, s.getReview)
		s.Handle("POST", "/v1/reviews/{id}/approve", AuthSecret, s.approveReview)
		s.Handle("POST", "/v1/reviews/{id}/reject", AuthSecret, s.rejectReview)
	}
}

// evaluateRequest is an attempt a merchant scores without a Kassa
// payment (it processes the money elsewhere).
type evaluateRequest struct {
	Kind            string `json:"kind"`
	Amount          int64  `json:"amount"`
	Currency        string `json:"currency"`
	Method          string `json:"method"`
	CardFingerprint string `json:"card_fingerprint"`
	VoucherSerial   string `json:"voucher_serial"`
	CustomerID      string `json:"customer_id"`
	Email           string `json:"email"`
	IP              string `json:"ip"`
	UserAgent       string `json:"user_agent"`
	BillingCountry  string `json:"billing_country"`
	CardCountry     string `json:"card_country"`
	// CredentialsChangedAt is when the customer's password, email or
	// phone last changed at the merchant (RFC 3339; omitted: never or
	// unknown).
	CredentialsChangedAt time.Time `json:"credentials_changed_at"`
	// CustomerCreatedAt is when the merchant's customer account was
	// created (RFC 3339; omitted: unknown or a guest).
	CustomerCreatedAt time.Time     `json:"customer_created_at"`
	DeviceID          string        `json:"device_id"`
	ClientSignals     *risk.Signals `json:"client_signals"`
	Reference         string        `json:"reference"` // the merchant's id of the attempt
}

// EvaluationJSON is a risk evaluation as the API shows it.
type EvaluationJSON struct {
	ID            string             `json:"id"`
	Object        string             `json:"object"`
	Subject       string             `json:"subject,omitempty"`
	Decision      string             `json:"decision"`
	Factor        string             `json:"factor,omitempty"`
	Score         int                `json:"score"`
	Level         string             `json:"level"`
	Reasons       []risk.Reason      `json:"reasons"`
	Rule          string             `json:"rule,omitempty"`
	ModelVersion  string             `json:"model_version"`
	ShadowVersion string             `json:"shadow_model_version,omitempty"`
	ShadowScore   *int               `json:"shadow_score,omitempty"`
	Outcome       string             `json:"outcome,omitempty"`
	Label         string             `json:"label,omitempty"`
	LabelSource   string             `json:"label_source,omitempty"`
	Features      map[string]float32 `json:"features,omitempty"`
	Created       string             `json:"created"`
}

func evaluationJSON(ev risk.Evaluation, withFeatures bool) EvaluationJSON {
	// A merchant sees the values it owns only: a payment's evaluation
	// reads the platform's counts, which hold other merchants' payers.
	out := EvaluationJSON{ID: ev.ID, Object: "risk.evaluation", Subject: ev.Subject, Decision: ev.Decision, Factor: ev.Factor,
		Score: ev.Score, Level: ev.Level, Reasons: risk.MerchantReasons(ev), Rule: ev.RuleID, ModelVersion: ev.ModelVersion,
		ShadowVersion: ev.ShadowVersion, Outcome: ev.Outcome, Label: ev.Label, LabelSource: ev.LabelSource,
		Created: ev.Created.UTC().Format(time.RFC3339Nano)}
	if out.Reasons == nil {
		out.Reasons = []risk.Reason{}
	}
	if ev.ShadowScore >= 0 && ev.ShadowVersion != "" {
		sc := ev.ShadowScore
		out.ShadowScore = &sc
	}
	if withFeatures {
		out.Features = risk.MerchantFeatures(ev)
	}
	return out
}

func (s *Server) evaluateRisk(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req evaluateRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Kind == "" {
		req.Kind = risk.KindPayment
	}
	sig, err := ClientSignals(req.ClientSignals)
	if err != nil {
		return err
	}
	ev := risk.Event{ID: req.Reference, Kind: req.Kind, MerchantID: pr.Merchant.ID, Amount: req.Amount, Currency: req.Currency,
		Method: req.Method, CardFingerprint: req.CardFingerprint, VoucherSerial: req.VoucherSerial, CustomerID: req.CustomerID,
		Email: req.Email, IP: req.IP, UserAgent: req.UserAgent, BillingCountry: req.BillingCountry, DeviceID: req.DeviceID,
		CardCountry: strings.ToUpper(req.CardCountry), CredentialsChangedAt: req.CredentialsChangedAt.UTC(),
		CustomerCreatedAt: req.CustomerCreatedAt.UTC(), Signals: sig}
	// Standalone: counted within this merchant only, so one merchant's
	// made-up attempts neither raise the platform's counts nor read them.
	out, err := s.cfg.Risk.Evaluate(r.Context(), risk.Input{Event: ev, Standalone: true}, true)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, evaluationJSON(out, false))
}

func (s *Server) getEvaluation(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	ev, err := s.cfg.Risk.Evaluation(r.Context(), pr.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, evaluationJSON(ev, true))
}

func (s *Server) evaluationOutcome(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req struct {
		Outcome string `json:"outcome"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	ev, err := s.cfg.Risk.Evaluation(r.Context(), pr.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if ev.Subject != "" {
		// Kassa saw what became of its own payment: a merchant's word on
		// it would count failures (and lock vouchers) platform-wide.
		return kassa.Errorf(kassa.EConflict, "risk_outcome_by_payment", "the outcome of a payment's evaluation is recorded by the payment itself")
	}
	if err := s.cfg.Risk.Outcome(r.Context(), pr.Merchant.ID, r.PathValue("id"), req.Outcome); err != nil {
		return err
	}
	if ev, err = s.cfg.Risk.Evaluation(r.Context(), pr.Merchant.ID, r.PathValue("id")); err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, evaluationJSON(ev, false))
}

func (s *Server) createLabel(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req struct {
		Subject string `json:"subject"`
		Label   string `json:"label"`
		Source  string `json:"source"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Subject == "" {
		return kassa.Invalid("subject", "subject_required", "subject must be a risk evaluation (rev_...) or a payment (pay_...)")
	}
	evs, err := s.cfg.Risk.Label(r.Context(), pr.Merchant.ID, req.Subject, req.Label, req.Source)
	if err != nil {
		return err
	}
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return WriteJSON(w, http.StatusCreated, map[string]any{"object": "risk.label", "subject": req.Subject,
		"label": req.Label, "source": req.Source, "evaluations": ids})
}

// RuleJSON is an analyst's rule as the API shows it.
type RuleJSON struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Name       string `json:"name"`
	Expression string `json:"expression"`
	Action     string `json:"action"`
	Factor     string `json:"factor,omitempty"`
	Position   int    `json:"position"`
	Enabled    bool   `json:"enabled"`
	Created    string `json:"created"`
	Updated    string `json:"updated"`
}

func ruleJSON(r risk.Rule) RuleJSON {
	return RuleJSON{ID: r.ID, Object: "risk.rule", Name: r.Name, Expression: r.Expression, Action: r.Action, Factor: r.Factor,
		Position: r.Position, Enabled: r.Enabled, Created: r.Created.UTC().Format(time.RFC3339),
		Updated: r.Updated.UTC().Format(time.RFC3339)}
}

type ruleRequest struct {
	Name       *string `json:"name"`
	Expression *string `json:"expression"`
	Action     *string `json:"action"`
	Factor     *string `json:"factor"`
	Position   *int    `json:"position"`
	Enabled    *bool   `json:"enabled"`
}

func (q ruleRequest) params() risk.RuleParams {
	return risk.RuleParams{Name: q.Name, Expression: q.Expression, Action: q.Action, Factor: q.Factor,
		Position: q.Position, Enabled: q.Enabled}
}

func (s *Server) listRules(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	rs, err := s.cfg.Risk.Rules(r.Context(), pr.Merchant.ID)
	if err != nil {
		return err
	}
	data := make([]RuleJSON, len(rs))
	for i, x := range rs {
		data[i] = ruleJSON(x)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": false})
}

func (s *Server) createRule(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req ruleRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	rule, err := s.cfg.Risk.CreateRule(r.Context(), pr.Merchant.ID, req.params())
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusCreated, ruleJSON(rule))
}

func (s *Server) getRule(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	rule, err := s.cfg.Risk.Rule(r.Context(), pr.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, ruleJSON(rule))
}

func (s *Server) updateRule(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req ruleRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	rule, err := s.cfg.Risk.UpdateRule(r.Context(), pr.Merchant.ID, r.PathValue("id"), req.params())
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, ruleJSON(rule))
}

func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	if err := s.cfg.Risk.DeleteRule(r.Context(), pr.Merchant.ID, r.PathValue("id")); err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"id": r.PathValue("id"), "object": "risk.rule", "deleted": true})
}

// backtestRule runs a rule (stored, by id, or given) over the merchant's
// stored evaluations in a time range.
func (s *Server) backtestRule(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req struct {
		ruleRequest
		Rule  string `json:"rule"`
		From  string `json:"from"`
		To    string `json:"to"`
		Limit int    `json:"limit"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	now := s.now().UTC()
	from, to := now.Add(-30*24*time.Hour), now.Add(time.Second)
	for _, f := range []struct {
		name, v string
		dst     *time.Time
	}{{"from", req.From, &from}, {"to", req.To, &to}} {
		if f.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, f.v)
		if err != nil {
			return kassa.Invalid(f.name, "time_invalid", "%s must be an RFC 3339 time", f.name)
		}
		*f.dst = t
	}
	res, err := s.cfg.Risk.Backtest(r.Context(), pr.Merchant.ID, req.Rule, req.params(), from, to, req.Limit)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, res)
}

// ListEntryJSON is an allow or block list entry.
type ListEntryJSON struct {
	Object  string `json:"object"`
	List    string `json:"list"`
	Type    string `json:"type"`
	Value   string `json:"value"`
	Note    string `json:"note,omitempty"`
	Created string `json:"created"`
	Expires string `json:"expires_at,omitempty"`
}

func listEntryJSON(e risk.ListEntry) ListEntryJSON {
	out := ListEntryJSON{Object: "risk.list_entry", List: e.List, Type: e.Type, Value: e.Value, Note: e.Note,
		Created: e.Created.UTC().Format(time.RFC3339)}
	if !e.Expires.IsZero() {
		out.Expires = e.Expires.UTC().Format(time.RFC3339)
	}
	return out
}

func (s *Server) listEntries(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	list := r.URL.Query().Get("list")
	if list != "" && list != risk.ListAllow && list != risk.ListBlock {
		return kassa.Invalid("list", "list_invalid", "list must be allow or block")
	}
	es, err := s.cfg.Risk.ListEntries(r.Context(), pr.Merchant.ID, list)
	if err != nil {
		return err
	}
	data := make([]ListEntryJSON, len(es))
	for i, e := range es {
		data[i] = listEntryJSON(e)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": false})
}

func (s *Server) putListEntry(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req struct {
		List      string `json:"list"`
		Type      string `json:"type"`
		Value     string `json:"value"`
		Note      string `json:"note"`
		ExpiresAt string `json:"expires_at"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	en := risk.ListEntry{MerchantID: pr.Merchant.ID, List: req.List, Type: req.Type, Value: req.Value, Note: req.Note}
	if req.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, req.ExpiresAt)
		if err != nil || !t.After(s.now()) {
			return kassa.Invalid("expires_at", "expires_at_invalid", "expires_at must be a future RFC 3339 time")
		}
		en.Expires = t.UTC()
	}
	en, err := s.cfg.Risk.PutListEntry(r.Context(), en)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusCreated, listEntryJSON(en))
}

func (s *Server) deleteListEntry(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	if err := s.cfg.Risk.DeleteListEntry(r.Context(), pr.Merchant.ID, r.PathValue("list"), r.PathValue("type"), r.PathValue("value")); err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "risk.list_entry", "deleted": true})
}

func (s *Server) listReviews(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	q := r.URL.Query()
	limit := risk.ReviewsListMax
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > risk.ReviewsListMax {
			return kassa.Invalid("limit", "limit_invalid", "limit must be from 1 to %d", risk.ReviewsListMax)
		}
		limit = n
	}
	cs, more, err := s.cfg.Risk.Reviews(r.Context(), pr.Merchant.ID, q.Get("status"), q.Get("starting_after"), limit)
	if err != nil {
		return err
	}
	data := make([]risk.ReviewJSON, len(cs))
	for i, c := range cs {
		data[i] = risk.PublicReview(c)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": more})
}

func (s *Server) getReview(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	c, err := s.cfg.Risk.Review(r.Context(), pr.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, risk.PublicReview(c))
}

func (s *Server) approveReview(w http.ResponseWriter, r *http.Request) error {
	return s.resolveReview(w, r, true)
}
func (s *Server) rejectReview(w http.ResponseWriter, r *http.Request) error {
	return s.resolveReview(w, r, false)
}

func (s *Server) resolveReview(w http.ResponseWriter, r *http.Request, approve bool) error {
	pr, _ := PrincipalFrom(r.Context())
	var req struct {
		Note string `json:"note"`
	}
	if r.ContentLength != 0 {
		if err := DecodeJSON(r, &req); err != nil {
			return err
		}
	}
	c, p, err := s.cfg.Payments.ResolveReview(r.Context(), pr.Merchant.ID, r.PathValue("id"), approve, req.Note)
	if err != nil {
		return err
	}
	out := struct {
		risk.ReviewJSON
		PaymentObject payment.PaymentJSON `json:"payment_object"`
	}{risk.PublicReview(c), s.paymentForMerchant(r, p)}
	return WriteJSON(w, http.StatusOK, out)
}
