package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
)

func init() {
	Register("Risk", func(t *testing.T, open Opener) {
		t.Run("EvaluationRoundTrip", func(t *testing.T) { testRiskEvaluationRoundTrip(t, open) })
		t.Run("OutcomeAndLabel", func(t *testing.T) { testRiskOutcomeAndLabel(t, open) })
		t.Run("SetOutcomes", func(t *testing.T) { testRiskSetOutcomes(t, open) })
		t.Run("EvaluationsStream", func(t *testing.T) { testRiskEvaluationsStream(t, open) })
		t.Run("Changes", func(t *testing.T) { testRiskChanges(t, open) })
		t.Run("ChangesPaging", func(t *testing.T) { testRiskChangesPaging(t, open) })
		t.Run("ConcurrentInserts", func(t *testing.T) { testRiskConcurrentInserts(t, open) })
		t.Run("Rules", func(t *testing.T) { testRiskRules(t, open) })
		t.Run("Lists", func(t *testing.T) { testRiskLists(t, open) })
		t.Run("Models", func(t *testing.T) { testRiskModels(t, open) })
		t.Run("Reviews", func(t *testing.T) { testRiskReviews(t, open) })
		t.Run("ReviewBacklog", func(t *testing.T) { testRiskReviewBacklog(t, open) })
	})
}

// riskT0 is the time the risk tests start at (microsecond precision, as
// stored).
var riskT0 = time.Date(2026, 6, 1, 12, 0, 0, 123456000, time.UTC)

// riskEvaluation returns an evaluation with every field set.
func riskEvaluation(id, merchantID, node string, created time.Time) risk.Evaluation {
	return risk.Evaluation{
		ID: id, MerchantID: merchantID, Subject: "pay_" + id, Node: node, Created: created,
		Score: 87, Level: risk.LevelHighest, Decision: risk.Challenge, Factor: risk.FactorPasskey, RuleID: "rr_1",
		Reasons: []risk.Reason{
			{Code: "feature:card_velocity_1h", Feature: "card_velocity_1h", Value: 7, Contribution: 1.0 / 3, Message: "7 attempts with this card in an hour"},
			{Code: "rule:rr_1", Message: "Rule \"high value\" matched"},
		},
		ModelVersion: "gbt-2026-05-30", ShadowVersion: "gbt-2026-06-01", ShadowScore: 91,
		FeatureSet: "fs1:abcdef",
		Features: []float32{0, 1, -1.5, math.MaxFloat32, math.SmallestNonzeroFloat32, float32(math.Inf(-1)), 1.0 / 3,
			math.Float32frombits(0x7fc00001)}, // a NaN with a payload
		Event: risk.Event{
			ID: "pay_" + id, Time: created.Add(-789 * time.Nanosecond), Kind: risk.KindPayment, MerchantID: merchantID,
			Amount: 12345, Currency: "EUR", Method: risk.MethodCard, CardFingerprint: "fp_abc",
			CustomerID: "cus_1", Email: "ada@example.com", IP: "2001:db8::1", UserAgent: "Mozilla/5.0 (X11; Linux) \u00e9",
			BillingCountry: "AT", DeviceID: "dev_1",
			Geo: risk.Geo{Country: "AT", Lat: 48.2082, Lon: 16.3738, Known: true},
			Signals: risk.Signals{Present: true, TimeOnPageMS: 15000, TimeToSubmitMS: 4200, PointerMoves: 120, KeyEvents: 40,
				PasteEvents: 1, FocusChanges: 3, Webdriver: true, Fingerprint: "f00d", Timezone: "Europe/Vienna",
				Language: "de-AT", Screen: "1920x1080", Platform: "Linux x86_64", Touch: true},
			Outcome: risk.OutcomeApproved, Label: risk.LabelFraud, FraudType: "card_testing",
		},
	}
}

// sameEvaluation compares evaluations field by field, the features by
// their bits.
func sameEvaluation(t *testing.T, what string, got, want risk.Evaluation) {
	t.Helper()
	if len(got.Features) != len(want.Features) {
		t.Errorf("%s: %d features, want %d", what, len(got.Features), len(want.Features))
	}
	for i := range min(len(got.Features), len(want.Features)) {
		if math.Float32bits(got.Features[i]) != math.Float32bits(want.Features[i]) {
			t.Errorf("%s: feature %d = %v, want %v", what, i, got.Features[i], want.Features[i])
		}
	}
	got.Features, want.Features = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func newRiskStore(t *testing.T, open Opener) risk.Store {
	t.Helper()
	return sqlstore.NewRisk(open(t))
}

func insertEvaluations(t *testing.T, s risk.Store, evs ...risk.Evaluation) {
	t.Helper()
	if err := s.InsertEvaluations(context.Background(), evs); err != nil {
		t.Fatalf("InsertEvaluations(%d): %v", len(evs), err)
	}
}

// evaluationIDs collects the ids Evaluations yields.
func evaluationIDs(t *testing.T, s risk.Store, merchantID string, from, to time.Time, limit int) []string {
	t.Helper()
	var ids []string
	err := s.Evaluations(context.Background(), merchantID, from, to, limit, func(ev *risk.Evaluation) error {
		ids = append(ids, ev.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("Evaluations: %v", err)
	}
	return ids
}

func testRiskEvaluationRoundTrip(t *testing.T, open Opener) {
	s := newRiskStore(t, open)
	ctx := context.Background()
	full := riskEvaluation("rev_full", "mer_a", "node-a", riskT0)
	full.Outcome, full.OutcomeNode, full.OutcomeAt = risk.OutcomeBlocked, "node-a", riskT0.Add(time.Microsecond)
	full.Label, full.LabelSource, full.LabeledAt = risk.LabelLegit, risk.SourceAnalyst, riskT0.Add(time.Hour)
	// A standalone evaluation of the platform: no merchant, no subject,
	// nothing optional.
	bare := risk.Evaluation{ID: "rev_bare", Node: "node-a", Created: riskT0.Add(time.Second), Score: 3,
		Level: risk.LevelNormal, Decision: risk.Allow, ShadowScore: -1, Event: risk.Event{Kind: risk.KindSignup}}
	insertEvaluations(t, s, full, bare)

	for _, want := range []risk.Evaluation{full, bare} {
		got, err := s.Evaluation(ctx, "", want.ID)
		if err != nil {
			t.Fatalf("Evaluation(%s): %v", want.ID, err)
		}
		sameEvaluation(t, "Evaluation("+want.ID+")", got, want)
		if got.Created.Location() != time.UTC {
			t.Errorf("Created is in %v, want UTC", got.Created.Location())
		}
	}
	if _, err := s.Evaluation(ctx, "mer_a", full.ID); err != nil {
		t.Errorf("Evaluation(own merchant): %v", err)
	}
	if _, err := s.Evaluation(ctx, "mer_b", full.ID); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("Evaluation(other merchant) = %v, want not found", err)
	}
	if _, err := s.Evaluation(ctx, "", "rev_nope"); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("Evaluation(unknown) = %v, want not found", err)
	}

	// An id stored already is left as it is, also when repeated within
	// one batch; the rest of the batch is written.
	changed := full
	changed.Score, changed.Outcome, changed.Label = 1, "", ""
	second := riskEvaluation("rev_second", "mer_a", "node-b", riskT0.Add(time.Minute))
	second.Subject = full.Subject
	insertEvaluations(t, s, changed, second, second, bare)
	got, err := s.Evaluation(ctx, "", full.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameEvaluation(t, "after a duplicate insert", got, full)
	if ids := evaluationIDs(t, s, "", time.Time{}, time.Time{}, 0); len(ids) != 3 {
		t.Errorf("%d evaluations stored (%v), want 3", len(ids), ids)
	}

	// A payment's evaluations, oldest first; "" names no payment.
	evs, err := s.EvaluationsBySubject(ctx, full.Subject)
	if err != nil || len(evs) != 2 || evs[0].ID != full.ID || evs[1].ID != second.ID {
		t.Errorf("EvaluationsBySubject = %d evaluations, %v; want %s, %s", len(evs), err, full.ID, second.ID)
	}
	if len(evs) == 2 {
		sameEvaluation(t, "EvaluationsBySubject", evs[1], second)
	}
	if evs, err := s.EvaluationsBySubject(ctx, ""); err != nil || len(evs) != 0 {
		t.Errorf("EvaluationsBySubject(\"\") = %d evaluations, %v; want none", len(evs), err)
	}
}

func testRiskOutcomeAndLabel(t *testing.T, open Opener) {
	s := newRiskStore(t, open)
	ctx := context.Background()
	insertEvaluations(t, s, riskEvaluation("rev_1", "mer_a", "node-a", riskT0))
	at := riskT0.Add(2 * time.Second)

	if err := s.SetOutcome(ctx, "rev_1", risk.OutcomeDeclined, "node-b", at); err != nil {
		t.Fatalf("SetOutcome: %v", err)
	}
	// The same outcome again (another node heard of it too) is a no-op.
	if err := s.SetOutcome(ctx, "rev_1", risk.OutcomeDeclined, "node-c", at.Add(time.Second)); err != nil {
		t.Errorf("same outcome again: %v", err)
	}
	if err := s.SetOutcome(ctx, "rev_1", risk.OutcomeApproved, "node-b", at); kassa.ErrorKind(err) != kassa.EConflict {
		t.Errorf("a different outcome = %v, want conflict", err)
	}
	if err := s.SetOutcome(ctx, "rev_nope", risk.OutcomeApproved, "node-b", at); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("SetOutcome(unknown) = %v, want not found", err)
	}
	ev, err := s.Evaluation(ctx, "", "rev_1")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Outcome != risk.OutcomeDeclined || ev.OutcomeNode != "node-b" || !ev.OutcomeAt.Equal(at) {
		t.Errorf("outcome = %q by %q at %v, want the first one", ev.Outcome, ev.OutcomeNode, ev.OutcomeAt)
	}

	// A later label replaces an earlier one.
	if err := s.SetLabel(ctx, "rev_1", risk.LabelLegit, risk.SourceAnalyst, at); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLabel(ctx, "rev_1", risk.LabelFraud, risk.SourceChargeback, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLabel(ctx, "rev_nope", risk.LabelFraud, risk.SourceChargeback, at); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("SetLabel(unknown) = %v, want not found", err)
	}
	ev, _ = s.Evaluation(ctx, "", "rev_1")
	if ev.Label != risk.LabelFraud || ev.LabelSource != risk.SourceChargeback || !ev.LabeledAt.Equal(at.Add(time.Hour)) {
		t.Errorf("label = %q from %q at %v, want the second one", ev.Label, ev.LabelSource, ev.LabeledAt)
	}
}

// testRiskSetOutcomes: a batch of outcomes records what it can and names
// what it cannot (an unknown evaluation, another outcome stored before);
// the same outcome again is no refusal. With a repeated id in the batch,
// the first outcome stands.
func testRiskSetOutcomes(t *testing.T, open Opener) {
	s := newRiskStore(t, open)
	ctx := context.Background()
	insertEvaluations(t, s, riskEvaluation("rev_1", "mer_a", "n", riskT0), riskEvaluation("rev_2", "mer_a", "n", riskT0),
		riskEvaluation("rev_3", "mer_a", "n", riskT0), riskEvaluation("rev_4", "mer_a", "n", riskT0))
	at := riskT0.Add(time.Second)
	if err := s.SetOutcome(ctx, "rev_2", risk.OutcomeDeclined, "n", at); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOutcome(ctx, "rev_3", risk.OutcomeApproved, "n", at); err != nil {
		t.Fatal(err)
	}
	err := s.SetOutcomes(ctx, []risk.OutcomeUpdate{
		{ID: "rev_1", Outcome: risk.OutcomeApproved, Node: "b", At: at},
		{ID: "rev_2", Outcome: risk.OutcomeApproved, Node: "b", At: at},
		{ID: "rev_3", Outcome: risk.OutcomeApproved, Node: "b", At: at},
		{ID: "rev_missing", Outcome: risk.OutcomeApproved, Node: "b", At: at},
	})
	if err == nil || !strings.Contains(err.Error(), "rev_missing") || !strings.Contains(err.Error(), "rev_2") ||
		strings.Contains(err.Error(), "rev_1") || strings.Contains(err.Error(), "rev_3") {
		t.Errorf("SetOutcomes = %v, want rev_missing and rev_2 named, nothing else", err)
	}
	for id, want := range map[string]string{"rev_1": risk.OutcomeApproved, "rev_2": risk.OutcomeDeclined, "rev_3": risk.OutcomeApproved} {
		if ev, err := s.Evaluation(ctx, "", id); err != nil || ev.Outcome != want {
			t.Errorf("%s outcome %q, %v; want %s", id, ev.Outcome, err, want)
		}
	}
	if ev, _ := s.Evaluation(ctx, "", "rev_1"); ev.OutcomeNode != "b" || !ev.OutcomeAt.Equal(at) {
		t.Errorf("rev_1 recorded by %q at %v", ev.OutcomeNode, ev.OutcomeAt)
	}
	err = s.SetOutcomes(ctx, []risk.OutcomeUpdate{
		{ID: "rev_4", Outcome: risk.OutcomeFailed, Node: "b", At: at},
		{ID: "rev_4", Outcome: risk.OutcomeApproved, Node: "b", At: at},
	})
	if err == nil || !strings.Contains(err.Error(), "rev_4") {
		t.Errorf("two outcomes for rev_4 = %v, want the second refused", err)
	}
	if ev, _ := s.Evaluation(ctx, "", "rev_4"); ev.Outcome != risk.OutcomeFailed {
		t.Errorf("rev_4 outcome %q, want the first (failed)", ev.Outcome)
	}
}

// riskStreamRows is more than the store reads per page, so that paging
// (and its ties on created_at) is exercised.
const riskStreamRows = 2100

func testRiskEvaluationsStream(t *testing.T, open Opener) {
	s := newRiskStore(t, open)
	ctx := context.Background()
	// Seven rows per microsecond, two merchants interleaved, inserted out
	// of order: pages end in the middle of a tie.
	var evs []risk.Evaluation
	var want, wantA []string
	for i := range riskStreamRows {
		m := []string{"mer_a", "mer_b"}[i%2]
		ev := riskEvaluation(fmt.Sprintf("rev_%05d", i), m, "node-a", riskT0.Add(time.Duration(i/7)*time.Microsecond))
		ev.Features, ev.Reasons = ev.Features[:2], nil
		evs = append(evs, ev)
		want = append(want, ev.ID)
		if m == "mer_a" {
			wantA = append(wantA, ev.ID)
		}
	}
	for lo := len(evs); lo > 0; lo -= 500 {
		insertEvaluations(t, s, evs[max(0, lo-500):lo]...)
	}
	end := riskT0.Add(time.Hour)
	if got := evaluationIDs(t, s, "", riskT0, end, 0); !reflect.DeepEqual(got, want) {
		t.Errorf("Evaluations yielded %d rows, want %d in created order", len(got), len(want))
	}
	if got := evaluationIDs(t, s, "mer_a", time.Time{}, time.Time{}, 0); !reflect.DeepEqual(got, wantA) {
		t.Errorf("Evaluations(mer_a) yielded %d rows, want %d of mer_a in order", len(got), len(wantA))
	}
	if got := evaluationIDs(t, s, "", riskT0, end, 1500); !reflect.DeepEqual(got, want[:1500]) {
		t.Errorf("Evaluations(limit 1500) yielded %d rows, want the first 1500", len(got))
	}
	// [from, to): rows 700..1399 were created in microseconds 100..199.
	from, to := riskT0.Add(100*time.Microsecond), riskT0.Add(200*time.Microsecond)
	if got := evaluationIDs(t, s, "", from, to, 0); !reflect.DeepEqual(got, want[700:1400]) {
		t.Errorf("Evaluations([from, to)) yielded %d rows, want rows 700 to 1399", len(got))
	}
	if got := evaluationIDs(t, s, "mer_nope", time.Time{}, time.Time{}, 0); len(got) != 0 {
		t.Errorf("Evaluations(unknown merchant) yielded %d rows", len(got))
	}

	// fn's error ends the walk and is returned.
	stop := errors.New("stop")
	n := 0
	err := s.Evaluations(ctx, "", time.Time{}, time.Time{}, 0, func(*risk.Evaluation) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("Evaluations with a failing fn = %v after %d calls, want stop after 3", err, n)
	}

	// fn may write: on SQLite nothing may be held that the write waits for.
	done := make(chan error, 1)
	go func() {
		i := 0
		done <- s.Evaluations(ctx, "", time.Time{}, time.Time{}, 0, func(ev *risk.Evaluation) error {
			if i++; i%300 == 1 {
				return s.SetLabel(ctx, ev.ID, risk.LabelFraud, risk.SourceAnalyst, riskT0)
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Evaluations with a writing fn: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Evaluations with a writing fn did not finish in a minute: deadlock")
	}
	if ev, err := s.Evaluation(ctx, "", want[1200]); err != nil || ev.Label != risk.LabelFraud {
		t.Errorf("label written during the walk = %q, %v; want fraud", ev.Label, err)
	}
}

// changeIDs collects what Changes yields as "id" or "id:outcome".
func changeIDs(t *testing.T, s risk.Store, node string, since time.Time, limit int) []string {
	t.Helper()
	var got []string
	err := s.Changes(context.Background(), node, since, limit, func(ev *risk.Evaluation, outcomeOnly bool) error {
		if outcomeOnly {
			got = append(got, ev.ID+":"+ev.Outcome)
		} else {
			got = append(got, ev.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	return got
}

func testRiskChanges(t *testing.T, open Opener) {
	s := newRiskStore(t, open)
	ctx := context.Background()
	at := func(s int) time.Time { return riskT0.Add(time.Duration(s) * time.Second) }
	insertEvaluations(t, s,
		riskEvaluation("rev_a1", "mer_a", "node-a", at(1)),
		riskEvaluation("rev_b2", "mer_a", "node-b", at(2)),
		riskEvaluation("rev_a3", "mer_b", "node-a", at(3)),
		riskEvaluation("rev_b4", "", "node-b", at(4)))
	for _, o := range []struct {
		id, outcome, node string
		at                time.Time
	}{
		{"rev_a1", risk.OutcomeDeclined, "node-b", at(5)}, // another node's outcome of ours
		{"rev_b2", risk.OutcomeApproved, "node-a", at(6)}, // our outcome of theirs
		{"rev_a3", risk.OutcomeFailed, "node-a", at(7)},   // ours of ours
		{"rev_b4", risk.OutcomeBlocked, "node-b", at(4)},  // theirs of theirs, at creation
	} {
		if err := s.SetOutcome(ctx, o.id, o.outcome, o.node, o.at); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		node  string
		since time.Time
		limit int
		want  []string
	}{
		{"node-a", at(0), 0, []string{"rev_b2", "rev_b4", "rev_b4:blocked", "rev_a1:declined"}},
		{"node-a", at(4), 0, []string{"rev_b4", "rev_b4:blocked", "rev_a1:declined"}},
		{"node-a", at(5), 0, []string{"rev_a1:declined"}},
		{"node-a", at(0), 3, []string{"rev_b2", "rev_b4", "rev_b4:blocked"}},
		{"node-b", at(0), 0, []string{"rev_a1", "rev_a3", "rev_b2:approved", "rev_a3:failed"}},
		{"node-b", at(8), 0, nil},
		{"node-c", at(6), 0, []string{"rev_b2:approved", "rev_a3:failed"}},
	} {
		if got := changeIDs(t, s, tt.node, tt.since, tt.limit); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Changes(%s, +%v, %d) = %v, want %v", tt.node, tt.since.Sub(riskT0), tt.limit, got, tt.want)
		}
	}
	// The evaluations come whole.
	err := s.Changes(ctx, "node-a", at(2), 1, func(ev *risk.Evaluation, outcomeOnly bool) error {
		want := riskEvaluation("rev_b2", "mer_a", "node-b", at(2))
		want.Outcome, want.OutcomeNode, want.OutcomeAt = risk.OutcomeApproved, "node-a", at(6)
		sameEvaluation(t, "Changes", *ev, want)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testRiskChangesPaging(t *testing.T, open Opener) {
	s := newRiskStore(t, open)
	ctx := context.Background()
	// More rows than a page, all created and resolved in the same
	// microsecond: creations come first, then outcomes, each by id.
	const n, resolved = 1100, 60
	evs := make([]risk.Evaluation, n)
	var want, outcomes []string
	for i := range evs {
		evs[i] = riskEvaluation(fmt.Sprintf("rev_%04d", i), "mer_a", "node-b", riskT0)
		evs[i].Features, evs[i].Reasons = nil, nil
		want = append(want, evs[i].ID)
	}
	insertEvaluations(t, s, evs...)
	var wg sync.WaitGroup
	for i := range resolved {
		id := evs[i*(n/resolved)].ID
		outcomes = append(outcomes, id+":"+risk.OutcomeApproved)
		wg.Go(func() {
			if err := s.SetOutcome(ctx, id, risk.OutcomeApproved, "node-b", riskT0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	want = append(want, outcomes...)
	if got := changeIDs(t, s, "node-a", riskT0, 0); !reflect.DeepEqual(got, want) {
		t.Errorf("Changes yielded %d rows, want %d creations then %d outcomes", len(got), n, resolved)
	}
	if got := changeIDs(t, s, "node-a", riskT0, n+5); !reflect.DeepEqual(got, want[:n+5]) {
		t.Errorf("Changes(limit %d) yielded %d rows, want the first %d", n+5, len(got), n+5)
	}
	if got := changeIDs(t, s, "node-b", riskT0, 0); len(got) != 0 {
		t.Errorf("Changes(own node) yielded %d rows", len(got))
	}
}

func testRiskConcurrentInserts(t *testing.T, open Opener) {
	s := newRiskStore(t, open)
	const writers, batches, rows = 8, 5, 60
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				evs := make([]risk.Evaluation, 0, rows+10)
				for r := range rows {
					evs = append(evs, riskEvaluation(fmt.Sprintf("rev_%d_%d_%d", w, b, r), "mer_a", fmt.Sprint("node-", w),
						riskT0.Add(time.Duration(r)*time.Millisecond)))
				}
				// Some rows of the neighbour's first batch again.
				for r := range 10 {
					evs = append(evs, riskEvaluation(fmt.Sprintf("rev_%d_0_%d", (w+1)%writers, r), "mer_a", "node-x", riskT0))
				}
				if err := s.InsertEvaluations(context.Background(), evs); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	ids := evaluationIDs(t, s, "", time.Time{}, time.Time{}, 0)
	if len(ids) != writers*batches*rows {
		t.Errorf("%d evaluations stored, want %d", len(ids), writers*batches*rows)
	}
}

func testRiskRules(t *testing.T, open Opener) {
	s := newRiskStore(t, open)
	ctx := context.Background()
	rule := func(id string, position int) risk.Rule {
		return risk.Rule{ID: id, MerchantID: "mer_a", Name: "rule " + id, Expression: "amount > 10000 && card.country != ip.country",
			Action: risk.Challenge, Factor: risk.FactorOTP, Position: position, Enabled: true,
			Created: riskT0, Updated: riskT0, Version: 1}
	}
	rs := []risk.Rule{rule("rr_c", 1), rule("rr_b", 2), rule("rr_a", 2), rule("rr_d", 0)}
	rs[3].Enabled, rs[3].Factor, rs[3].Action = false, "", risk.Block
	for _, r := range rs {
		if err := s.CreateRule(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateRule(ctx, rs[0]); kassa.ErrorKind(err) != kassa.EConflict {
		t.Errorf("CreateRule(existing id) = %v, want conflict", err)
	}
	other := rule("rr_other", 0)
	other.MerchantID = "mer_b"
	if err := s.CreateRule(ctx, other); err != nil {
		t.Fatal(err)
	}
	got, err := s.Rules(ctx, "mer_a")
	if err != nil {
		t.Fatal(err)
	}
	if want := []risk.Rule{rs[3], rs[0], rs[2], rs[1]}; !reflect.DeepEqual(got, want) {
		t.Errorf("Rules =\n%+v\nwant in (position, id) order\n%+v", got, want)
	}
	if r, err := s.Rule(ctx, "mer_a", "rr_d"); err != nil || !reflect.DeepEqual(r, rs[3]) {
		t.Errorf("Rule = %+v, %v; want %+v", r, err, rs[3])
	}
	if _, err := s.Rule(ctx, "mer_b", "rr_d"); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("Rule(other merchant) = %v, want not found", err)
	}

	// Updates name the version they read.
	up := rs[0]
	up.Name, up.Position, up.Enabled, up.Updated, up.Version = "renamed", 9, false, riskT0.Add(time.Hour), 2
	if err := s.UpdateRule(ctx, up); err != nil {
		t.Fatalf("UpdateRule: %v", err)
	}
	if err := s.UpdateRule(ctx, up); kassa.ErrorKind(err) != kassa.EConflict {
		t.Errorf("UpdateRule from a stale version = %v, want conflict", err)
	}
	if r, _ := s.Rule(ctx, "mer_a", up.ID); !reflect.DeepEqual(r, up) {
		t.Errorf("updated rule = %+v, want %+v", r, up)
	}
	missing := rule("rr_nope", 0)
	missing.Version = 2
	if err := s.UpdateRule(ctx, missing); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("UpdateRule(unknown) = %v, want not found", err)
	}
	if err := s.DeleteRule(ctx, "mer_b", up.ID); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("DeleteRule(other merchant's id) = %v, want not found", err)
	}
	if err := s.DeleteRule(ctx, "mer_a", up.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRule(ctx, "mer_a", up.ID); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("DeleteRule twice = %v, want not found", err)
	}
	if got, _ := s.Rules(ctx, "mer_a"); len(got) != 3 {
		t.Errorf("%d rules left, want 3", len(got))
	}
}

func testRiskLists(t *testing.T, open Opener) {
	s := newRiskStore(t, open)
	ctx := context.Background()
	entry := func(merchantID, list, typ, value string) risk.ListEntry {
		return risk.ListEntry{MerchantID: merchantID, List: list, Type: typ, Value: value, Note: "why " + value, Created: riskT0}
	}
	es := []risk.ListEntry{
		entry("mer_a", risk.ListBlock, risk.EntryEmail, "bad@example.com"),
		entry("mer_a", risk.ListAllow, risk.EntryCustomer, "cus_vip"),
		entry("", risk.ListBlock, risk.EntryVoucherSerial, "1234567890"),
		entry("mer_b", risk.ListBlock, risk.EntryIP, "192.0.2.1"),
	}
	es[2].Expires = riskT0.Add(24 * time.Hour)
	for _, e := range es {
		if err := s.PutListEntry(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		merchantID, list string
		withPlatform     bool
		want             []risk.ListEntry
	}{
		{"mer_a", "", false, []risk.ListEntry{es[1], es[0]}},
		{"mer_a", "", true, []risk.ListEntry{es[2], es[1], es[0]}},
		{"mer_a", risk.ListBlock, true, []risk.ListEntry{es[2], es[0]}},
		{"mer_a", risk.ListAllow, false, []risk.ListEntry{es[1]}},
		{"", "", true, []risk.ListEntry{es[2]}},
		{"mer_c", "", false, nil},
	} {
		got, err := s.ListEntries(ctx, tt.merchantID, tt.list, tt.withPlatform)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ListEntries(%q, %q, %v) = %+v, %v\nwant %+v", tt.merchantID, tt.list, tt.withPlatform, got, err, tt.want)
		}
	}
	// Putting an entry again replaces it.
	up := es[0]
	up.Note, up.Created, up.Expires = "charged back twice", riskT0.Add(time.Hour), riskT0.Add(48*time.Hour)
	if err := s.PutListEntry(ctx, up); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ListEntries(ctx, "mer_a", risk.ListBlock, false); !reflect.DeepEqual(got, []risk.ListEntry{up}) {
		t.Errorf("after the upsert: %+v, want %+v", got, up)
	}
	bad := es[0]
	bad.List = "grey"
	if err := s.PutListEntry(ctx, bad); kassa.ErrorKind(err) != kassa.EInvalid {
		t.Errorf("PutListEntry(list grey) = %v, want invalid", err)
	}
	if err := s.DeleteListEntry(ctx, "mer_a", risk.ListBlock, risk.EntryEmail, "bad@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteListEntry(ctx, "mer_a", risk.ListBlock, risk.EntryEmail, "bad@example.com"); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("DeleteListEntry twice = %v, want not found", err)
	}
	if got, _ := s.ListEntries(ctx, "mer_a", "", true); len(got) != 2 {
		t.Errorf("%d entries left, want 2", len(got))
	}
	// Expired entries go; unexpired and unexpiring ones stay.
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for i, exp := range []time.Time{base.Add(-time.Hour), base, base.Add(time.Hour), {}} {
		e := risk.ListEntry{MerchantID: "mer_x", List: risk.ListBlock, Type: risk.EntryIP, Value: fmt.Sprintf("192.0.2.%d", i),
			Created: base.Add(-2 * time.Hour), Expires: exp}
		if err := s.PutListEntry(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.DeleteExpiredListEntries(ctx, base); err != nil || n != 2 {
		t.Errorf("DeleteExpiredListEntries = %d, %v, want 2", n, err)
	}
	if got, _ := s.ListEntries(ctx, "mer_x", "", false); len(got) != 2 {
		t.Errorf("%d entries of mer_x left, want 2", len(got))
	}
}

// modelStatuses returns version → status of the registry.
func modelStatuses(t *testing.T, s risk.Store) map[string]string {
	t.Helper()
	ms, err := s.Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range ms {
		out[m.Version] = m.Status
	}
	return out
}

func testRiskModels(t *testing.T, open Opener) {
	s := newRiskStore(t, open)
	ctx := context.Background()
	var ms []risk.ModelRecord
	for i, v := range []string{"A", "B", "C", "D"} {
		m := risk.ModelRecord{Version: v, Algo: "gbt", Status: risk.ModelCandidate,
			Body: []byte("model " + v + "\x00\xff"), Metrics: []byte(`{"auc":0.9` + fmt.Sprint(i) + `}`),
			Created: riskT0.Add(time.Duration(i) * time.Minute)}
		if err := s.PutModel(ctx, m); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	if err := s.PutModel(ctx, ms[0]); kassa.ErrorKind(err) != kassa.EConflict {
		t.Errorf("PutModel(existing version) = %v, want conflict", err)
	}
	listed, err := s.Models(ctx)
	if err != nil || len(listed) != 4 || listed[0].Version != "D" || listed[3].Version != "A" {
		t.Fatalf("Models = %+v, %v; want D, C, B, A", listed, err)
	}
	if want := ms[3]; listed[0].Body != nil || string(listed[0].Metrics) != string(want.Metrics) || !listed[0].Created.Equal(want.Created) {
		t.Errorf("Models()[0] = %+v, want %+v without the body", listed[0], want)
	}
	if got, err := s.Model(ctx, "B"); err != nil || !reflect.DeepEqual(got, ms[1]) {
		t.Errorf("Model(B) = %+v, %v; want %+v", got, err, ms[1])
	}
	if _, err := s.Model(ctx, "Z"); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("Model(unknown) = %v, want not found", err)
	}

	set := func(version, status string, at time.Time, want map[string]string) {
		t.Helper()
		if err := s.SetModelStatus(ctx, version, status, at); err != nil {
			t.Fatalf("SetModelStatus(%s, %s): %v", version, status, err)
		}
		if got := modelStatuses(t, s); !reflect.DeepEqual(got, want) {
			t.Errorf("after SetModelStatus(%s, %s): %v, want %v", version, status, got, want)
		}
	}
	t1, t2, t3 := riskT0.Add(time.Hour), riskT0.Add(2*time.Hour), riskT0.Add(3*time.Hour)
	set("A", risk.ModelActive, t1, map[string]string{"A": "active", "B": "candidate", "C": "candidate", "D": "candidate"})
	set("B", risk.ModelActive, t2, map[string]string{"A": "retired", "B": "active", "C": "candidate", "D": "candidate"})
	// Rolling back: A again, B retired, A's activation time is the new one.
	set("A", risk.ModelActive, t3, map[string]string{"A": "active", "B": "retired", "C": "candidate", "D": "candidate"})
	if a, _ := s.Model(ctx, "A"); !a.Activated.Equal(t3) {
		t.Errorf("A activated at %v, want %v", a.Activated, t3)
	}
	if b, _ := s.Model(ctx, "B"); !b.Activated.Equal(t2) {
		t.Errorf("B activated at %v, want %v (its last activation)", b.Activated, t2)
	}
	set("C", risk.ModelShadow, t3, map[string]string{"A": "active", "B": "retired", "C": "shadow", "D": "candidate"})
	set("D", risk.ModelShadow, t3, map[string]string{"A": "active", "B": "retired", "C": "candidate", "D": "shadow"})
	// The shadow promoted: no shadow is left.
	set("D", risk.ModelActive, t3, map[string]string{"A": "retired", "B": "retired", "C": "candidate", "D": "active"})
	set("B", risk.ModelCandidate, t3, map[string]string{"A": "retired", "B": "candidate", "C": "candidate", "D": "active"})
	if err := s.SetModelStatus(ctx, "Z", risk.ModelActive, t3); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("SetModelStatus(unknown) = %v, want not found", err)
	}
	if err := s.SetModelStatus(ctx, "A", "best", t3); kassa.ErrorKind(err) != kassa.EInvalid {
		t.Errorf("SetModelStatus(status best) = %v, want invalid", err)
	}
	second := risk.ModelRecord{Version: "E", Algo: "gbt", Status: risk.ModelActive, Body: []byte("e"), Created: t3}
	if err := s.PutModel(ctx, second); kassa.ErrorKind(err) != kassa.EConflict {
		t.Errorf("PutModel(a second active model) = %v, want conflict", err)
	}

	// Concurrent promotions end with one active and one shadow model.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			status := []string{risk.ModelActive, risk.ModelShadow}[i%2]
			if err := s.SetModelStatus(ctx, ms[i%4].Version, status, t3); err != nil {
				t.Errorf("concurrent SetModelStatus(%s, %s): %v", ms[i%4].Version, status, err)
			}
		})
	}
	wg.Wait()
	count := map[string]int{}
	for _, status := range modelStatuses(t, s) {
		count[status]++
	}
	if count[risk.ModelActive] != 1 || count[risk.ModelShadow] > 1 {
		t.Errorf("after concurrent promotions: %v", modelStatuses(t, s))
	}
}

func testRiskReviews(t *testing.T, open Opener) {
	s := newRiskStore(t, open)
	ctx := context.Background()
	var cs []risk.ReviewCase
	for i := range 5 {
		c := risk.ReviewCase{ID: fmt.Sprintf("rvw_%d", 5-i), MerchantID: "mer_a", PaymentID: fmt.Sprintf("pay_%d", i),
			EvaluationID: fmt.Sprintf("rev_%d", i), Status: risk.ReviewOpen, Reason: "rule:rr_1",
			Created: riskT0.Add(time.Duration(i/2) * time.Second)} // ties: ids decide
		cs = append(cs, c)
	}
	// Oldest first, ties by id.
	cs[0], cs[1] = cs[1], cs[0]
	cs[2], cs[3] = cs[3], cs[2]
	for _, c := range cs {
		if err := s.CreateReview(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	other := risk.ReviewCase{ID: "rvw_other", MerchantID: "mer_b", PaymentID: "pay_other", Status: risk.ReviewOpen, Created: riskT0}
	if err := s.CreateReview(ctx, other); err != nil {
		t.Fatal(err)
	}
	dup := other
	dup.ID = "rvw_dup"
	if err := s.CreateReview(ctx, dup); kassa.ErrorKind(err) != kassa.EConflict {
		t.Errorf("CreateReview(payment with a case) = %v, want conflict", err)
	}

	var got []risk.ReviewCase
	after := ""
	for pages := 0; ; pages++ {
		page, more, err := s.Reviews(ctx, "mer_a", "", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if !more {
			if pages != 2 {
				t.Errorf("%d pages of 2, want 3", pages+1)
			}
			break
		}
		after = page[len(page)-1].ID
	}
	if !reflect.DeepEqual(got, cs) {
		t.Errorf("Reviews paged =\n%+v\nwant\n%+v", got, cs)
	}
	if _, _, err := s.Reviews(ctx, "mer_a", "", "rvw_other", 2); kassa.ErrorKind(err) != kassa.EInvalid {
		t.Errorf("Reviews after another merchant's case = %v, want invalid", err)
	}

	closedAt := riskT0.Add(time.Hour)
	if err := s.CloseReview(ctx, cs[1].ID, risk.ReviewApproved, "known customer", closedAt); err != nil {
		t.Fatal(err)
	}
	for _, status := range []string{risk.ReviewApproved, risk.ReviewRejected} {
		if err := s.CloseReview(ctx, cs[1].ID, status, "", closedAt); kassa.ErrorKind(err) != kassa.EConflict {
			t.Errorf("CloseReview(closed case, %s) = %v, want conflict", status, err)
		}
	}
	if err := s.CloseReview(ctx, "rvw_nope", risk.ReviewRejected, "", closedAt); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("CloseReview(unknown) = %v, want not found", err)
	}
	if err := s.CloseReview(ctx, cs[2].ID, risk.ReviewOpen, "", closedAt); kassa.ErrorKind(err) != kassa.EInvalid {
		t.Errorf("CloseReview(status open) = %v, want invalid", err)
	}
	want := cs[1]
	want.Status, want.Note, want.Closed = risk.ReviewApproved, "known customer", closedAt
	for _, merchantID := range []string{"mer_a", ""} {
		if c, err := s.Review(ctx, merchantID, want.ID); err != nil || !reflect.DeepEqual(c, want) {
			t.Errorf("Review(%q) = %+v, %v; want %+v", merchantID, c, err, want)
		}
	}
	if _, err := s.Review(ctx, "mer_b", want.ID); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("Review(other merchant) = %v, want not found", err)
	}
	if c, err := s.ReviewByPayment(ctx, want.PaymentID); err != nil || c.ID != want.ID {
		t.Errorf("ReviewByPayment = %+v, %v; want %s", c, err, want.ID)
	}
	if _, err := s.ReviewByPayment(ctx, "pay_nope"); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("ReviewByPayment(unknown) = %v, want not found", err)
	}
	open2, more, err := s.Reviews(ctx, "mer_a", risk.ReviewOpen, "", 10)
	if err != nil || more || len(open2) != 4 {
		t.Errorf("Reviews(open) = %d cases, more %v, %v; want 4", len(open2), more, err)
	}
	approved, _, _ := s.Reviews(ctx, "mer_a", risk.ReviewApproved, "", 10)
	if len(approved) != 1 || !reflect.DeepEqual(approved[0], want) {
		t.Errorf("Reviews(approved) = %+v, want the closed case", approved)
	}
}

// testRiskReviewBacklog: ReviewBacklog counts the open cases of every
// merchant (up to its limit) and names the oldest one's creation.
func testRiskReviewBacklog(t *testing.T, open Opener) {
	s := newRiskStore(t, open)
	ctx := context.Background()
	if n, oldest, err := s.ReviewBacklog(ctx, 10); err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("ReviewBacklog with no cases = %d, %v, %v; want 0, zero time", n, oldest, err)
	}
	for i, merchantID := range []string{"mer_a", "mer_b", "mer_a"} {
		c := risk.ReviewCase{ID: fmt.Sprintf("rvw_%d", i), MerchantID: merchantID, PaymentID: fmt.Sprintf("pay_%d", i),
			EvaluationID: fmt.Sprintf("rev_%d", i), Status: risk.ReviewOpen, Reason: "score 80",
			Created: riskT0.Add(time.Duration(i) * time.Second)}
		if err := s.CreateReview(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if n, oldest, err := s.ReviewBacklog(ctx, 10); err != nil || n != 3 || !oldest.Equal(riskT0) {
		t.Errorf("ReviewBacklog = %d, %v, %v; want 3, %v", n, oldest, err, riskT0)
	}
	if n, _, err := s.ReviewBacklog(ctx, 2); err != nil || n != 2 {
		t.Errorf("ReviewBacklog with limit 2 = %d, %v; want 2", n, err)
	}
	if err := s.CloseReview(ctx, "rvw_0", risk.ReviewRejected, "", riskT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, oldest, err := s.ReviewBacklog(ctx, 10); err != nil || n != 2 || !oldest.Equal(riskT0.Add(time.Second)) {
		t.Errorf("ReviewBacklog after closing the oldest = %d, %v, %v; want 2, %v", n, oldest, err, riskT0.Add(time.Second))
	}
}
