package rules_test

import (
	"encoding/json"
	"testing"

	"github.com/kassa/kassa/risk/rules"
)

func TestBacktest(t *testing.T) {
	s := testSchema(t)
	// Disabled: analysts backtest a rule before they turn it on.
	r := mustCompile(t, s, rules.Rule{ID: "r", Expression: "score > 80", Action: rules.Block})
	type attempt struct {
		score    float64 // < 0: the sample has no Env (fails)
		label    string
		decision string
	}
	attempts := []attempt{
		{90, rules.LabelFraud, "allow"},  // matched fraud, changed
		{95, rules.LabelFraud, "block"},  // matched fraud, unchanged
		{85, rules.LabelLegit, "allow"},  // matched legit, changed
		{99, "", "review"},               // matched unlabelled, changed
		{10, rules.LabelFraud, "allow"},  // missed fraud
		{20, rules.LabelLegit, "allow"},  // not matched
		{30, rules.LabelLegit, "review"}, // not matched
		{-1, rules.LabelFraud, "allow"},  // error: counts as a fraud not caught
	}
	// The sequence refills one Env per sample, as the engine's would.
	samples := func(yield func(rules.Sample) bool) {
		env := s.NewEnv()
		score, _ := s.Var("score")
		for _, a := range attempts {
			sample := rules.Sample{Env: env, Label: a.label, Decision: a.decision}
			if a.score < 0 {
				sample.Env = nil
			} else {
				env.Reset()
				env.SetFloat(score, a.score)
			}
			if !yield(sample) {
				return
			}
		}
	}
	got := rules.Backtest(r, samples)
	want := rules.BacktestResult{
		Evaluated: 8, Matched: 4, MatchedFraud: 2, MatchedLegit: 1, MatchedUnlabeled: 1, Errors: 1,
		FraudTotal: 4, LegitTotal: 3, Precision: 2.0 / 3.0, Recall: 0.5, ChangedDecisions: 3,
		FirstError: "rule r: sample has no Env",
	}
	if got != want {
		t.Errorf("Backtest =\n%+v\nwant\n%+v", got, want)
	}

	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"evaluated", "matched", "matched_fraud", "matched_legit", "matched_unlabeled",
		"errors", "fraud_total", "legit_total", "precision", "recall", "changed_decisions", "first_error"} {
		if _, ok := fields[key]; !ok {
			t.Errorf("JSON %s has no %q", b, key)
		}
	}

	empty := rules.Backtest(r, func(func(rules.Sample) bool) {})
	if empty != (rules.BacktestResult{}) {
		t.Errorf("Backtest of nothing = %+v", empty)
	}
}
