package risk

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/kassa/kassa"
)

// LabelFriendlyFraud is the payer's own payment disputed as if it were
// fraud (a "chargeback" of goods received). It locks nothing: the card,
// device and customer are the payer's own. Training reads it as fraud of
// the pattern FraudTypeFriendly, the way the simulator writes it.
const LabelFriendlyFraud = "friendly_fraud"

// FraudTypeFriendly is the fraud_type an exported friendly-fraud label
// carries (the simulator's name for the pattern).
const FraudTypeFriendly = "friendly_fraud"

// IsFraud reports whether a label counts as fraud in training and in the
// shadow metrics.
func IsFraud(label string) bool { return label == LabelFraud || label == LabelFriendlyFraud }

// Unlabel removes the labels of every evaluation of a payment (pay_...)
// of the merchant and returns the evaluations as they were. Locks a fraud
// label made stay: they are list entries the merchant lifts on its own.
func (e *Engine) Unlabel(ctx context.Context, merchantID, subject string) ([]Evaluation, error) {
	if merchantID == "" || !strings.HasPrefix(subject, "pay_") {
		return nil, kassa.Invalid("subject", "subject_invalid", "a label is undone for a payment (pay_...)")
	}
	if err := e.writer.flush(ctx); err != nil {
		return nil, err
	}
	all, err := e.store.EvaluationsBySubject(ctx, subject)
	if err != nil {
		return nil, err
	}
	var evs []Evaluation
	for _, ev := range all {
		if ev.MerchantID == merchantID && ev.Label != "" {
			evs = append(evs, ev)
		}
	}
	if len(evs) == 0 {
		return nil, kassa.Errorf(kassa.ENotFound, "label_not_found", "%s has no label", subject)
	}
	for _, ev := range evs {
		if err := e.store.SetLabel(ctx, ev.ID, "", "", time.Time{}); err != nil {
			return nil, err
		}
	}
	e.notify(ctx, merchantID, EventLabeled, map[string]any{"object": "risk.label", "subject": subject,
		"label": "", "evaluations": len(evs)})
	return evs, nil
}

// Labelled lists a merchant's labelled evaluations created in [from, to),
// the most recently labelled first, at most max of them, after looking
// through at most scanMax evaluations (the oldest of the period first);
// cut reports that the scan stopped there. A payment's evaluations are
// one row, its newest label.
func (e *Engine) Labelled(ctx context.Context, merchantID string, from, to time.Time, scanMax, max int) (evs []Evaluation, cut bool, err error) {
	if merchantID == "" {
		return nil, false, kassa.Invalid("merchant", "merchant_required", "labels are a merchant's")
	}
	if err := e.writer.flush(ctx); err != nil {
		return nil, false, err
	}
	n := 0
	err = e.store.Evaluations(ctx, merchantID, from, to, scanMax, func(ev *Evaluation) error {
		n++
		if ev.Label != "" {
			x := *ev
			x.Features, x.Event = nil, Event{} // the list shows neither
			evs = append(evs, x)
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	slices.SortStableFunc(evs, func(a, b Evaluation) int { return b.LabeledAt.Compare(a.LabeledAt) })
	seen := map[string]bool{} // a payment's evaluations share its label: one row each
	evs = slices.DeleteFunc(evs, func(ev Evaluation) bool {
		dup := ev.Subject != "" && seen[ev.Subject]
		seen[ev.Subject] = true
		return dup
	})
	if len(evs) > max {
		evs = evs[:max]
	}
	return evs, n >= scanMax, nil
}
