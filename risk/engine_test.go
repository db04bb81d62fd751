package risk_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/risk/geoip"
	"github.com/kassa/kassa/risk/geoip/geoiptest"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault/vaulttest"
	"github.com/kassa/kassa/webhook"
)

type engineEnv struct {
	t     *testing.T
	dir   string
	db    *sqlstore.DB
	store *sqlstore.Risk
	eng   *risk.Engine
	hooks *webhook.Service
	now   time.Time
	// merchants are two merchants of the database (webhook events need
	// real ones).
	merchants []string
}

// newEngine starts an engine over the SQLite database in dir (made when
// absent) as node, with the built-in model.
func newEngine(t *testing.T, dir, node string, geo *geoip.DB) *engineEnv {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &engineEnv{t: t, dir: dir, db: db, store: sqlstore.NewRisk(db), now: time.Now().UTC()}
	e.hooks = webhook.New(webhook.Config{Store: sqlstore.NewWebhooks(db), Sealer: vaulttest.Envelope(webhook.SealDomain)})
	ms := merchant.NewService(sqlstore.NewMerchants(db), nil, id.Generator{})
	for range 2 {
		m, err := ms.Create(ctx, "Shop")
		if err != nil {
			t.Fatal(err)
		}
		e.merchants = append(e.merchants, m.ID)
	}
	e.eng, err = risk.NewEngine(risk.Config{Store: e.store, Node: node, GeoIP: geo, Notifier: e.hooks,
		DefaultModel: risk.DefaultModel, IDs: id.Generator{}})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	if err := e.eng.Start(rctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); e.eng.Close() })
	return e
}

func (e *engineEnv) evaluate(ev risk.Event) risk.Evaluation {
	e.t.Helper()
	out, err := e.eng.Evaluate(context.Background(), risk.Input{Event: ev}, true)
	if err != nil {
		e.t.Fatalf("Evaluate: %v", err)
	}
	return out
}

// legit is an ordinary attempt: a known payer on their own device.
func legit(merchant string, n int, at time.Time) risk.Event {
	return risk.Event{Time: at, Kind: risk.KindPayment, MerchantID: merchant, Amount: 2500, Currency: "EUR",
		Method: risk.MethodCard, CardFingerprint: fmt.Sprintf("fp_legit_%d", n), CustomerID: fmt.Sprintf("cus_%d", n),
		Email: fmt.Sprintf("payer%d@example.com", n), IP: fmt.Sprintf("81.2.%d.%d", n%250, 1+n%200), DeviceID: fmt.Sprintf("dev_%d", n),
		BillingCountry: "AT", Signals: risk.Signals{Present: true, TimeOnPageMS: 45_000, TimeToSubmitMS: 12_000,
			PointerMoves: 180, KeyEvents: 40, FocusChanges: 4}}
}

func hasReason(ev risk.Evaluation, prefix string) bool {
	return slices.ContainsFunc(ev.Reasons, func(r risk.Reason) bool { return strings.HasPrefix(r.Code, prefix) })
}

func codes(ev risk.Evaluation) []string {
	var out []string
	for _, r := range ev.Reasons {
		out = append(out, r.Code)
	}
	return out
}

// A card-testing burst — many cards, one device and IP, tiny amounts,
// declines, from a page that looks human (so only velocity gives it away)
// — is stopped within the burst, and the reasons name a velocity feature.
func TestCardTestingBurstIsStopped(t *testing.T) {
	e := newEngine(t, t.TempDir(), "a", nil)
	ctx := context.Background()
	for i := range 20 {
		out := e.evaluate(legit("mer_1", i, e.now.Add(time.Duration(i)*time.Minute)))
		if out.Decision != risk.Allow {
			t.Fatalf("legit attempt %d: %s (score %d, %v)", i, out.Decision, out.Score, codes(out))
		}
	}
	start := e.now.Add(time.Hour)
	stoppedAt := -1
	var stopped risk.Evaluation
	for i := range 30 {
		ev := risk.Event{Time: start.Add(time.Duration(i) * 3 * time.Second), Kind: risk.KindPayment, MerchantID: "mer_1",
			Amount: 100 + int64(i%4)*50, Currency: "EUR", Method: risk.MethodCard, CardFingerprint: fmt.Sprintf("fp_stolen_%d", i),
			IP: "203.0.113.9", DeviceID: "dev_tester", Signals: risk.Signals{Present: true, TimeOnPageMS: 20_000, TimeToSubmitMS: 8_000,
				PointerMoves: 90, KeyEvents: 30, FocusChanges: 3}}
		out := e.evaluate(ev)
		if out.Decision == risk.Block || out.Decision == risk.Challenge {
			stoppedAt, stopped = i, out
			break
		}
		if err := e.eng.Outcome(ctx, "mer_1", out.ID, risk.OutcomeDeclined); err != nil {
			t.Fatal(err)
		}
	}
	if stoppedAt < 0 {
		t.Fatal("a 30-card burst from one device was never challenged or blocked")
	}
	t.Logf("stopped at attempt %d: %s score %d reasons %v", stoppedAt+1, stopped.Decision, stopped.Score, codes(stopped))
	velocity := slices.ContainsFunc(stopped.Reasons, func(r risk.Reason) bool {
		return strings.Contains(r.Feature, "distinct_cards") || strings.Contains(r.Feature, "attempts") || strings.Contains(r.Feature, "failures")
	})
	if !velocity {
		t.Errorf("reasons %v name no velocity feature", codes(stopped))
	}
	stored, err := e.eng.Evaluation(ctx, "mer_1", stopped.ID)
	if err != nil || stored.Decision != stopped.Decision || len(stored.Features) != len(risk.FeatureNames) {
		t.Errorf("stored evaluation = %+v, %v", stored.Decision, err)
	}
}

func TestListsDecideFirst(t *testing.T) {
	e := newEngine(t, t.TempDir(), "a", nil)
	ctx := context.Background()
	if _, err := e.eng.PutListEntry(ctx, risk.ListEntry{MerchantID: "mer_1", List: risk.ListBlock, Type: risk.EntryIP, Value: "81.2.1.2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.eng.PutListEntry(ctx, risk.ListEntry{MerchantID: "mer_1", List: risk.ListAllow, Type: risk.EntryEmail, Value: "VIP@example.com"}); err != nil {
		t.Fatal(err)
	}
	ev := legit("mer_1", 1, e.now)
	ev.IP = "81.2.1.2"
	if out := e.evaluate(ev); out.Decision != risk.Block || !hasReason(out, "list:ip") {
		t.Errorf("blocked IP: %s %v", out.Decision, codes(out))
	}
	// Another merchant's list does not apply.
	ev.MerchantID = "mer_2"
	if out := e.evaluate(ev); out.Decision == risk.Block {
		t.Errorf("mer_1's block list applied to mer_2: %v", codes(out))
	}
	ev = legit("mer_1", 2, e.now)
	ev.Email = "vip@example.com"
	ev.Signals = risk.Signals{Webdriver: true, Present: true}
	if out := e.evaluate(ev); out.Decision != risk.Allow || !hasReason(out, "list:email") {
		t.Errorf("allow-listed email: %s %v", out.Decision, codes(out))
	}
	for _, bad := range []risk.ListEntry{
		{MerchantID: "mer_1", List: "grey", Type: risk.EntryIP, Value: "1.2.3.4"},
		{MerchantID: "mer_1", List: risk.ListBlock, Type: risk.EntryIP, Value: "not-an-ip"},
		{MerchantID: "mer_1", List: risk.ListBlock, Type: risk.EntryCountry, Value: "Austria"},
		{MerchantID: "mer_1", List: risk.ListBlock, Type: "planet", Value: "mars"},
	} {
		if _, err := e.eng.PutListEntry(ctx, bad); kassa.ErrorKind(err) != kassa.EInvalid {
			t.Errorf("PutListEntry(%+v) = %v, want invalid", bad, err)
		}
	}
}

func TestRulesOrderAndCompileErrors(t *testing.T) {
	e := newEngine(t, t.TempDir(), "a", nil)
	ctx := context.Background()
	str := func(s string) *string { return &s }
	pos := func(n int) *int { return &n }
	_, err := e.eng.CreateRule(ctx, "mer_1", risk.RuleParams{Name: str("typo"), Expression: str("amount > 100 && scroe > 5"), Action: str("block")})
	ke := kassa.AsError(err)
	if ke == nil || ke.Kind != kassa.EUnprocessable || ke.Details["line"] != 1 || ke.Details["column"] == nil {
		t.Fatalf("typo rule: %v (%+v)", err, ke)
	}
	big, err := e.eng.CreateRule(ctx, "mer_1", risk.RuleParams{Name: str("big"), Expression: str("amount > 50000"), Action: str("review"), Position: pos(2)})
	if err != nil {
		t.Fatal(err)
	}
	huge, err := e.eng.CreateRule(ctx, "mer_1", risk.RuleParams{Name: str("huge"), Expression: str("amount > 90000"), Action: str("block"), Position: pos(1)})
	if err != nil {
		t.Fatal(err)
	}
	ev := legit("mer_1", 3, e.now)
	ev.Amount = 95_000
	if out := e.evaluate(ev); out.Decision != risk.Block || out.RuleID != huge.ID || !hasReason(out, "rule:"+huge.ID) {
		t.Errorf("95000: %s by %s %v, want block by huge", out.Decision, out.RuleID, codes(out))
	}
	ev.Amount = 60_000
	if out := e.evaluate(ev); out.Decision != risk.Review || out.RuleID != big.ID {
		t.Errorf("60000: %s by %s, want review by big", out.Decision, out.RuleID)
	}
	// Disabled rules do not run.
	if _, err := e.eng.UpdateRule(ctx, "mer_1", big.ID, risk.RuleParams{Enabled: new(false)}); err != nil {
		t.Fatal(err)
	}
	if out := e.evaluate(ev); out.RuleID == big.ID {
		t.Error("a disabled rule decided")
	}
	// listed() reads the lists.
	if _, err := e.eng.PutListEntry(ctx, risk.ListEntry{MerchantID: "mer_1", List: risk.ListBlock, Type: risk.EntryCountry, Value: "AT"}); err != nil {
		t.Fatal(err)
	}
	grey, err := e.eng.CreateRule(ctx, "mer_1", risk.RuleParams{Name: str("billing listed"),
		Expression: str(`billing_country == "AT" && amount >= 100 && !listed("allow", "email")`), Action: str("challenge"), Factor: str("otp"), Position: pos(0)})
	if err != nil {
		t.Fatal(err)
	}
	ev.Amount = 500
	if out := e.evaluate(ev); out.RuleID != grey.ID || out.Decision != risk.Challenge || out.Factor != risk.FactorOTP {
		t.Errorf("grey rule: %s %s by %s", out.Decision, out.Factor, out.RuleID)
	}
	// Backtest over what was stored.
	res, err := e.eng.Backtest(ctx, "mer_1", "", risk.RuleParams{Expression: str("amount >= 60000"), Action: str("block")},
		e.now.Add(-time.Hour), e.now.Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	// 95000, 60000, 60000 and 500 were stored.
	if res.Evaluated != 4 || res.Matched != 3 {
		t.Errorf("backtest evaluated %d matched %d, want 4 and 3", res.Evaluated, res.Matched)
	}
}

// Repeated failures of a voucher lock it platform-wide, the next attempt
// is blocked, and the merchant gets risk.locked.
func TestRepeatedFailuresLock(t *testing.T) {
	e := newEngine(t, t.TempDir(), "a", nil)
	ctx := context.Background()
	m1, m2 := e.merchants[0], e.merchants[1]
	for i := range risk.DefaultPolicy.LockFailures {
		ev := legit(m1, 7, e.now.Add(time.Duration(i)*time.Second))
		ev.Method, ev.CardFingerprint, ev.VoucherSerial = risk.MethodVoucher, "", "V123"
		out := e.evaluate(ev)
		if err := e.eng.Outcome(ctx, m1, out.ID, risk.OutcomeFailed); err != nil {
			t.Fatal(err)
		}
	}
	ev := legit(m2, 8, e.now.Add(time.Minute))
	ev.Method, ev.CardFingerprint, ev.VoucherSerial = risk.MethodVoucher, "", "V123"
	out := e.evaluate(ev)
	if out.Decision != risk.Block || !hasReason(out, "lock:voucher_serial") {
		t.Errorf("locked voucher at another merchant: %s %v", out.Decision, codes(out))
	}
	evs, _, err := sqlstore.NewWebhooks(e.db).Events(ctx, m1, risk.EventLocked, "", 10)
	if err != nil || len(evs) == 0 {
		t.Errorf("risk.locked events: %d, %v", len(evs), err)
	}
	// A second outcome for the same evaluation is refused.
	if err := e.eng.Outcome(ctx, m2, out.ID, risk.OutcomeBlocked); err != nil {
		t.Fatal(err)
	}
	if err := e.eng.Outcome(ctx, m2, out.ID, risk.OutcomeApproved); kassa.ErrorKind(err) != kassa.EConflict {
		t.Errorf("changed outcome: %v", err)
	}
}

// A fraud label locks the card, device and customer for good.
func TestFraudLabelLocks(t *testing.T) {
	e := newEngine(t, t.TempDir(), "a", nil)
	ctx := context.Background()
	out := e.evaluate(legit("mer_1", 9, e.now))
	if _, err := e.eng.Label(ctx, "mer_1", out.ID, risk.LabelFraud, risk.SourceChargeback); err != nil {
		t.Fatal(err)
	}
	next := legit("mer_1", 10, e.now.Add(time.Minute))
	next.DeviceID = "dev_9"
	if out := e.evaluate(next); out.Decision != risk.Block || !hasReason(out, "lock:device") {
		t.Errorf("device of a fraud label: %s %v", out.Decision, codes(out))
	}
	if _, err := e.eng.Label(ctx, "mer_1", out.ID, "maybe", risk.SourceAnalyst); kassa.ErrorKind(err) != kassa.EInvalid {
		t.Errorf("bad label: %v", err)
	}
	if _, err := e.eng.Label(ctx, "mer_2", out.ID, risk.LabelLegit, risk.SourceAnalyst); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("another merchant's evaluation: %v", err)
	}
}

// Features live in the database: another node sees this node's attempts
// within its follow interval, and a restarted node replays them.
func TestFeaturesSharedAcrossNodes(t *testing.T) {
	dir := t.TempDir()
	a := newEngine(t, dir, "a", nil)
	b := newEngine(t, dir, "b", nil)
	ctx := context.Background()
	idx, _ := risk.FeatureIndex("ip_attempts_1h")
	probe := legit("mer_1", 42, a.now.Add(10*time.Second))
	for i := range 5 {
		ev := legit("mer_1", 100+i, a.now.Add(time.Duration(i)*time.Second))
		ev.IP = probe.IP
		a.evaluate(ev)
	}
	if err := b.eng.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.evaluate(probe).Features[idx]; got != 5 {
		t.Errorf("node b saw ip_attempts_1h = %v, want 5 (node a's attempts)", got)
	}
	c := newEngine(t, dir, "c", nil)
	probe.Time = probe.Time.Add(time.Second)
	if got := c.evaluate(probe).Features[idx]; got != 6 {
		t.Errorf("a node started later saw ip_attempts_1h = %v, want 6", got)
	}
}

func TestGeolocation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	geoiptest.Write(t, path, map[string]geoip.Location{
		"81.2.69.0/24":  {Country: "AT", Lat: 48.2, Lon: 16.37, Known: true},
		"175.45.0.0/16": {Country: "AU", Lat: -33.87, Lon: 151.21, Known: true},
	})
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e := newEngine(t, t.TempDir(), "a", db)
	mismatch, _ := risk.FeatureIndex("ip_country_mismatch")
	kmh, _ := risk.FeatureIndex("kmh_since_last")
	ev := legit("mer_1", 1, e.now)
	ev.IP, ev.BillingCountry = "81.2.69.7", "AT"
	out := e.evaluate(ev)
	if out.Event.Geo.Country != "AT" || !out.Event.Geo.Known || out.Features[mismatch] != 0 {
		t.Errorf("Vienna IP: geo %+v mismatch %v", out.Event.Geo, out.Features[mismatch])
	}
	if err := e.eng.Outcome(context.Background(), "mer_1", out.ID, risk.OutcomeApproved); err != nil {
		t.Fatal(err)
	}
	ev.Time, ev.IP = ev.Time.Add(30*time.Minute), "175.45.1.1"
	out = e.evaluate(ev)
	if out.Event.Geo.Country != "AU" || out.Features[mismatch] != 1 || out.Features[kmh] < 10_000 {
		t.Errorf("Sydney half an hour later: geo %+v mismatch %v km/h %v", out.Event.Geo, out.Features[mismatch], out.Features[kmh])
	}
	// Private and unknown addresses are no error: just no location.
	for _, ip := range []string{"10.1.2.3", "127.0.0.1", "198.51.100.1", "::1"} {
		ev.IP = ip
		if out := e.evaluate(ev); out.Event.Geo != (risk.Geo{}) {
			t.Errorf("%s located at %+v", ip, out.Event.Geo)
		}
	}
}

// RecordOutcome (the payment path's) locks as Outcome does, refuses a
// second, different outcome, and stores the outcomes behind their
// evaluations even when neither was written yet.
func TestRecordOutcome(t *testing.T) {
	e := newEngine(t, t.TempDir(), "a", nil)
	ctx := context.Background()
	m1, m2 := e.merchants[0], e.merchants[1]
	var ids []string
	for i := range risk.DefaultPolicy.LockFailures {
		ev := legit(m1, 9, e.now.Add(time.Duration(i)*time.Second))
		ev.Method, ev.CardFingerprint, ev.VoucherSerial = risk.MethodVoucher, "", "V777"
		out, err := e.eng.Evaluate(ctx, risk.Input{Event: ev}, false) // not stored yet
		if err != nil {
			t.Fatal(err)
		}
		if err := e.eng.RecordOutcome(ctx, m1, out.ID, risk.OutcomeFailed); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, out.ID)
	}
	ev := legit(m2, 10, e.now.Add(time.Minute))
	ev.Method, ev.CardFingerprint, ev.VoucherSerial = risk.MethodVoucher, "", "V777"
	if out := e.evaluate(ev); out.Decision != risk.Block || !hasReason(out, "lock:voucher_serial") {
		t.Errorf("after %d recorded failures: %s %v", len(ids), out.Decision, codes(out))
	}
	if err := e.eng.RecordOutcome(ctx, m1, ids[0], risk.OutcomeFailed); err != nil {
		t.Errorf("the same outcome again: %v", err)
	}
	if err := e.eng.RecordOutcome(ctx, m1, ids[0], risk.OutcomeApproved); kassa.ErrorKind(err) != kassa.EConflict {
		t.Errorf("changed outcome: %v", err)
	}
	if err := e.eng.RecordOutcome(ctx, m1, ids[0], "maybe"); kassa.ErrorKind(err) != kassa.EInvalid {
		t.Errorf("unknown outcome: %v", err)
	}
	for _, id := range ids {
		for deadline := time.Now().Add(10 * time.Second); ; {
			stored, err := e.store.Evaluation(ctx, m1, id)
			if err == nil && stored.Outcome == risk.OutcomeFailed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("evaluation %s: outcome %q, %v after 10 s", id, stored.Outcome, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The store records what it can and names what it cannot.
	err := e.store.SetOutcomes(ctx, []risk.OutcomeUpdate{
		{ID: ids[1], Outcome: risk.OutcomeFailed, Node: "a", At: e.now},
		{ID: "rev_missing", Outcome: risk.OutcomeFailed, Node: "a", At: e.now},
		{ID: ids[2], Outcome: risk.OutcomeApproved, Node: "a", At: e.now},
	})
	if err == nil || !strings.Contains(err.Error(), "rev_missing") || !strings.Contains(err.Error(), ids[2]) || strings.Contains(err.Error(), ids[1]) {
		t.Errorf("SetOutcomes error %v: want the missing and the conflicting one named, not the repeated one", err)
	}
}
