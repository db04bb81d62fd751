package risk

import (
	"context"
	"errors"
	"iter"
	"sync"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/risk/rules"
)

// Rule variables besides the features (docs/risk-rules.md).
var ruleStrings = []string{"currency", "method", "kind", "ip_country", "billing_country", "merchant_id",
	"customer_id", "email", "ip", "device_id", "card_fingerprint", "voucher_serial"}

// ruleSchema declares what rules may use: every feature (float), score
// (float, 0–100), amount (int, minor units), the attempt's strings and
// listed(list, type): whether the attempt's value of that type is on the
// merchant's (or the platform's) allow or block list.
var ruleSchema = sync.OnceValue(func() *ruleVars {
	vars := map[string]rules.Type{"score": rules.Float, "amount": rules.Int, "listed": rules.Predicate}
	for _, n := range FeatureNames {
		vars[n] = rules.Float
	}
	for _, n := range ruleStrings {
		vars[n] = rules.String
	}
	s, err := rules.NewSchema(vars)
	if err != nil {
		panic("risk: rule schema: " + err.Error()) // the names are ours: a bug
	}
	rv := &ruleVars{schema: s, features: make([]rules.Var, len(FeatureNames)), strs: make([]rules.Var, len(ruleStrings))}
	must := func(name string) rules.Var {
		v, ok := s.Var(name)
		if !ok {
			panic("risk: rule schema lacks " + name)
		}
		return v
	}
	for i, n := range FeatureNames {
		rv.features[i] = must(n)
	}
	for i, n := range ruleStrings {
		rv.strs[i] = must(n)
	}
	rv.score, rv.amount, rv.listed = must("score"), must("amount"), must("listed")
	rv.pool.New = func() any {
		b := &ruleBinding{env: s.NewEnv()}
		b.listed = func(list, typ string) bool { return b.ls.listed(list, typ, b.ev, b.ev.Time) }
		return b
	}
	return rv
})

type ruleVars struct {
	schema                *rules.Schema
	features, strs        []rules.Var
	score, amount, listed rules.Var
	pool                  sync.Pool
}

// ruleBinding is a reusable Env with the state its listed() reads.
type ruleBinding struct {
	env    *rules.Env
	ls     *listSet
	ev     *Event
	listed func(list, typ string) bool
}

// bind fills an Env for one attempt.
func (rv *ruleVars) bind(b *ruleBinding, ev *Event, score int, x []float32, ls *listSet) {
	b.env.Reset()
	b.ls, b.ev = ls, ev
	for i, v := range rv.features {
		if i < len(x) {
			b.env.SetFloat(v, float64(x[i]))
		}
	}
	b.env.SetFloat(rv.score, float64(score))
	b.env.SetInt(rv.amount, int(ev.Amount))
	for i, s := range []string{ev.Currency, ev.Method, ev.Kind, ev.Geo.Country, ev.BillingCountry, ev.MerchantID,
		ev.CustomerID, ev.Email, ev.IP, ev.DeviceID, ev.CardFingerprint, ev.VoucherSerial} {
		b.env.SetString(rv.strs[i], s)
	}
	b.env.SetPredicate(rv.listed, b.listed)
}

// ruleSet is a merchant's compiled rules, in order.
type ruleSet struct {
	compiled []*rules.Rule
	byID     map[string]Rule
}

func (e *Engine) loadRules(ctx context.Context, merchantID string) (*ruleSet, error) {
	stored, err := e.store.Rules(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	rs := &ruleSet{byID: make(map[string]Rule, len(stored))}
	rv := ruleSchema()
	for _, r := range stored {
		if !r.Enabled {
			continue
		}
		c, err := rules.Compile(rv.schema, toRulesRule(r))
		if err != nil {
			// Stored rules compiled when saved; a rule that no longer does
			// (a feature was renamed) is skipped, loudly.
			e.log.Error("risk: stored rule does not compile; skipped", "rule", r.ID, "merchant", merchantID, "err", err)
			continue
		}
		rs.compiled = append(rs.compiled, c)
		rs.byID[r.ID] = r
	}
	rules.Sort(rs.compiled)
	return rs, nil
}

func toRulesRule(r Rule) rules.Rule {
	return rules.Rule{ID: r.ID, Name: r.Name, Expression: r.Expression, Action: rules.Action(r.Action), Factor: r.Factor,
		Enabled: r.Enabled, Position: r.Position}
}

// evaluate runs the merchant's rules; a rule failing at run time is
// logged and skipped.
func (rs *ruleSet) evaluate(e *Engine, out *Evaluation, ev *Event, ls *listSet) (Rule, bool) {
	if rs == nil || len(rs.compiled) == 0 {
		return Rule{}, false
	}
	rv := ruleSchema()
	b := rv.pool.Get().(*ruleBinding)
	defer func() { b.ls, b.ev = nil, nil; rv.pool.Put(b) }()
	rv.bind(b, ev, out.Score, out.Features, ls)
	m, err := rules.Evaluate(rs.compiled, b.env)
	if err != nil {
		e.log.Warn("risk: rule failed at run time", "merchant", ev.MerchantID, "err", err)
	}
	if m == nil {
		return Rule{}, false
	}
	return rs.byID[m.ID], true
}

// RuleParams are the fields of a rule a merchant sets; nil keeps the
// current value (or the default on create).
type RuleParams struct {
	Name, Expression, Action, Factor *string
	Position                         *int
	Enabled                          *bool
}

func (p RuleParams) apply(r *Rule) {
	if p.Name != nil {
		r.Name = *p.Name
	}
	if p.Expression != nil {
		r.Expression = *p.Expression
	}
	if p.Action != nil {
		r.Action = *p.Action
	}
	if p.Factor != nil {
		r.Factor = *p.Factor
	}
	if p.Position != nil {
		r.Position = *p.Position
	}
	if p.Enabled != nil {
		r.Enabled = *p.Enabled
	}
}

// compileRule validates a rule: a compile error is a 422 naming the
// position in the expression.
func compileRule(r Rule) (*rules.Rule, error) {
	c, err := rules.Compile(ruleSchema().schema, toRulesRule(r))
	if err == nil {
		return c, nil
	}
	var ce *rules.CompileError
	if errors.As(err, &ce) {
		ke := &kassa.Error{Kind: kassa.EUnprocessable, Code: "rule_invalid", Param: ce.Field, Message: ce.Error()}
		if ce.Line > 0 {
			ke.Details = map[string]any{"line": ce.Line, "column": ce.Column, "offset": ce.Offset}
		}
		return nil, ke
	}
	return nil, kassa.Errorf(kassa.EUnprocessable, "rule_invalid", "%s", err.Error())
}

// Rules returns a merchant's rules in evaluation order.
func (e *Engine) Rules(ctx context.Context, merchantID string) ([]Rule, error) {
	return e.store.Rules(ctx, merchantID)
}

// Rule returns one rule of the merchant.
func (e *Engine) Rule(ctx context.Context, merchantID, id string) (Rule, error) {
	return e.store.Rule(ctx, merchantID, id)
}

// CreateRule validates and stores a new rule (enabled unless said, last
// in order unless a position is given).
func (e *Engine) CreateRule(ctx context.Context, merchantID string, p RuleParams) (Rule, error) {
	if p.Name == nil || p.Expression == nil || p.Action == nil {
		return Rule{}, kassa.Invalid("expression", "rule_incomplete", "a rule needs a name, an expression and an action")
	}
	existing, err := e.store.Rules(ctx, merchantID)
	if err != nil {
		return Rule{}, err
	}
	if len(existing) >= rules.RulesMax {
		return Rule{}, kassa.Errorf(kassa.EUnprocessable, "rules_full", "a merchant may have at most %d rules", rules.RulesMax)
	}
	now := e.now().UTC()
	r := Rule{ID: e.cfg.IDs.New("rule"), MerchantID: merchantID, Enabled: true, Created: now, Updated: now, Version: 1}
	for _, x := range existing {
		r.Position = max(r.Position, x.Position+1)
	}
	p.apply(&r)
	if _, err := compileRule(r); err != nil {
		return Rule{}, err
	}
	if err := e.store.CreateRule(ctx, r); err != nil {
		return Rule{}, err
	}
	e.rules.invalidate(merchantID)
	return r, nil
}

// UpdateRule changes a rule; the new version must compile.
func (e *Engine) UpdateRule(ctx context.Context, merchantID, id string, p RuleParams) (Rule, error) {
	r, err := e.store.Rule(ctx, merchantID, id)
	if err != nil {
		return Rule{}, err
	}
	p.apply(&r)
	if _, err := compileRule(r); err != nil {
		return Rule{}, err
	}
	r.Version++
	r.Updated = e.now().UTC()
	if err := e.store.UpdateRule(ctx, r); err != nil {
		return Rule{}, err
	}
	e.rules.invalidate(merchantID)
	return r, nil
}

// DeleteRule removes a rule.
func (e *Engine) DeleteRule(ctx context.Context, merchantID, id string) error {
	if err := e.store.DeleteRule(ctx, merchantID, id); err != nil {
		return err
	}
	e.rules.invalidate(merchantID)
	return nil
}

// Backtest limits.
const (
	BacktestDefault = 100_000
	BacktestMax     = 1_000_000
)

// BacktestResult is what a rule would have done to stored evaluations.
type BacktestResult struct {
	rules.BacktestResult
	Rule    string `json:"rule,omitempty"`
	From    string `json:"from"`
	To      string `json:"to"`
	Skipped int    `json:"skipped"` // evaluations stored with another feature list
}

// Backtest runs a rule — a stored one (ruleID) or one given by p —
// over the merchant's evaluations in [from, to), whether or not it is
// enabled, against the features, score and lists of today.
func (e *Engine) Backtest(ctx context.Context, merchantID, ruleID string, p RuleParams, from, to time.Time, limit int) (BacktestResult, error) {
	// What this node scored is stored before it is replayed (the writer
	// holds evaluations up to writeHold for their outcomes).
	if err := e.writer.flush(ctx); err != nil {
		return BacktestResult{}, err
	}
	var r Rule
	if ruleID != "" {
		var err error
		if r, err = e.store.Rule(ctx, merchantID, ruleID); err != nil {
			return BacktestResult{}, err
		}
	} else {
		r = Rule{ID: "backtest", Name: "backtest"}
		if p.Name == nil {
			p.Name = new("backtest")
		}
	}
	p.apply(&r)
	r.Enabled = true
	c, err := compileRule(r)
	if err != nil {
		return BacktestResult{}, err
	}
	if limit <= 0 {
		limit = BacktestDefault
	}
	limit = min(limit, BacktestMax)
	if !from.Before(to) {
		return BacktestResult{}, kassa.Invalid("from", "range_invalid", "from must be before to")
	}
	if err := e.writer.flush(ctx); err != nil {
		return BacktestResult{}, err
	}
	ls, err := e.lists.get(ctx, merchantID, e.loadLists)
	if err != nil {
		return BacktestResult{}, err
	}
	rv := ruleSchema()
	b := rv.pool.Get().(*ruleBinding)
	defer rv.pool.Put(b)
	out := BacktestResult{Rule: ruleID, From: from.UTC().Format(time.RFC3339), To: to.UTC().Format(time.RFC3339)}
	// Streamed: each stored evaluation is bound and replayed as it is
	// read, so a backtest over a million of them holds one at a time.
	errStop := errors.New("stop")
	var readErr error
	samples := iter.Seq[rules.Sample](func(yield func(rules.Sample) bool) {
		readErr = e.store.Evaluations(ctx, merchantID, from, to, limit, func(ev *Evaluation) error {
			if ev.FeatureSet != e.featID {
				out.Skipped++
				return nil
			}
			rv.bind(b, &ev.Event, ev.Score, ev.Features, ls)
			if !yield(rules.Sample{Env: b.env, Label: ev.Label, Decision: ev.Decision}) {
				return errStop
			}
			return nil
		})
		if errors.Is(readErr, errStop) {
			readErr = nil
		}
	})
	out.BacktestResult = rules.Backtest(c, samples)
	if readErr != nil {
		return BacktestResult{}, readErr
	}
	return out, nil
}

// RuleVariables lists the variables rules may use, for documentation and
// error messages.
func RuleVariables() []string {
	names := append([]string{"score", "amount", "listed(list, type)"}, ruleStrings...)
	names = append(names, FeatureNames...)
	return names
}
