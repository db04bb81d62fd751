package rules

import (
	"errors"
	"iter"
)

// Labels a Sample can carry.
const (
	LabelFraud = "fraud"
	LabelLegit = "legit"
)

// Sample is one past attempt to replay a rule over.
type Sample struct {
	// Env binds the attempt's variables. Backtest is done with it when
	// the sequence's yield returns, so a sequence may refill one Env for
	// every sample instead of keeping one per sample.
	Env *Env
	// Label is LabelFraud, LabelLegit or "" (not known).
	Label string
	// Decision is the action decided at the time ("allow", "challenge",
	// "review", "block").
	Decision string
}

// BacktestResult counts what a rule would have done to a set of samples.
type BacktestResult struct {
	Evaluated        int `json:"evaluated"` // samples replayed
	Matched          int `json:"matched"`
	MatchedFraud     int `json:"matched_fraud"`
	MatchedLegit     int `json:"matched_legit"`
	MatchedUnlabeled int `json:"matched_unlabeled"`
	Errors           int `json:"errors"` // samples the rule failed on (not matched)
	FraudTotal       int `json:"fraud_total"`
	LegitTotal       int `json:"legit_total"`
	// Precision is MatchedFraud / (MatchedFraud + MatchedLegit): the share
	// of labelled matches that were fraud. Recall is MatchedFraud /
	// FraudTotal. Both are 0 when their denominator is.
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	// ChangedDecisions counts matched samples whose Decision differs from
	// the rule's action. A sample the rule does not match keeps its
	// decision: one rule alone cannot say what the rest would have done.
	ChangedDecisions int `json:"changed_decisions"`
	// FirstError is the first failure's message, for the analyst.
	FirstError string `json:"first_error,omitempty"`
}

// Backtest replays r over samples, whether or not r is enabled (analysts
// try a rule before they turn it on). The caller bounds the samples.
func Backtest(r *Rule, samples iter.Seq[Sample]) BacktestResult {
	var res BacktestResult
	for s := range samples {
		res.Evaluated++
		switch s.Label {
		case LabelFraud:
			res.FraudTotal++
		case LabelLegit:
			res.LegitTotal++
		}
		matched, err := backtestOne(r, s.Env)
		if err != nil {
			res.Errors++
			if res.FirstError == "" {
				res.FirstError = err.Error()
			}
			continue
		}
		if !matched {
			continue
		}
		res.Matched++
		switch s.Label {
		case LabelFraud:
			res.MatchedFraud++
		case LabelLegit:
			res.MatchedLegit++
		default:
			res.MatchedUnlabeled++
		}
		if s.Decision != string(r.Action) {
			res.ChangedDecisions++
		}
	}
	if n := res.MatchedFraud + res.MatchedLegit; n > 0 {
		res.Precision = float64(res.MatchedFraud) / float64(n)
	}
	if res.FraudTotal > 0 {
		res.Recall = float64(res.MatchedFraud) / float64(res.FraudTotal)
	}
	return res
}

var errNoEnv = errors.New("sample has no Env")

func backtestOne(r *Rule, env *Env) (bool, error) {
	if env == nil {
		return false, &RuleError{RuleID: r.ID, Err: errNoEnv}
	}
	return Match(r, env)
}
