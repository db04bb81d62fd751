package risk

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/risk/geoip"
	"github.com/kassa/kassa/risk/model"
	"github.com/kassa/kassa/webhook"
)

// Event types the engine emits (webhooks).
const (
	EventLocked       = "risk.locked"
	EventLabeled      = "risk.labeled"
	EventReviewOpened = "risk.review.opened"
	EventReviewClosed = "risk.review.closed"
)

func init() {
	for _, t := range []string{EventLocked, EventLabeled, EventReviewOpened, EventReviewClosed} {
		webhook.RegisterEventType(t)
	}
}

// Policy turns a score into a decision when no list or rule decided.
type Policy struct {
	// ChallengeScore and BlockScore: a score at or above them challenges or
	// blocks. Between them the payer is asked for a second factor.
	ChallengeScore int
	BlockScore     int
	// PasskeyAmount: a challenge for at least this amount (minor units),
	// or from a new device or country, asks for a passkey; smaller ones
	// for a one-time code.
	PasskeyAmount int64
	// LockFailures: this many failures of a voucher, card or customer in
	// 24 hours lock it (a block list entry for LockFor).
	LockFailures int
	LockFor      time.Duration
	// Velocity limits hold whatever the model says (card testing that
	// slips past it): at least DeviceCardsMax different cards from one
	// device in 24 hours blocks; at least IPCardsMax from one IP address
	// in an hour challenges (IPs are shared: mobile carriers, offices).
	DeviceCardsMax int
	IPCardsMax     int
	// Payouts (KindPayout) from a device that at least
	// PayoutDevicePayeesMax payers used within 7 days, or from an IP at
	// least PayoutIPPayeesMax payers used within 24 hours (payouts to many
	// people from one place), and payouts from a device new to a payer
	// with a history (PayoutNewDevice), wait for review.
	PayoutDevicePayeesMax int
	PayoutIPPayeesMax     int
	PayoutNewDevice       bool
}

// DefaultPolicy is the policy of a fresh installation.
var DefaultPolicy = Policy{ChallengeScore: 60, BlockScore: 90, PasskeyAmount: 50_000, LockFailures: 5, LockFor: 24 * time.Hour,
	DeviceCardsMax: 6, IPCardsMax: 15, PayoutDevicePayeesMax: 3, PayoutIPPayeesMax: 5, PayoutNewDevice: true}

// Notifier publishes risk.* events to the merchant (webhook.Service).
type Notifier interface {
	NewEvent(merchantID, typ string, data any) (webhook.Event, error)
	Publish(ctx context.Context, ev webhook.Event) error
}

// Limits.
const (
	recentMax     = 100_000 // evaluations whose events are kept for their outcome (~50 s at 2,000/s; older ones are read back)
	cacheTTL      = 5 * time.Second
	writeBatchMax = 256
	writeQueueMax = 16_384
	writeLinger   = 10 * time.Millisecond
	// writeHold is how long the writer holds an evaluation for its
	// outcome, to write both in one row at once; writeHeldMax bounds
	// the evaluations held (~2 s at 2,000 payments/s).
	writeHold        = time.Second
	writeHeldMax     = 4096
	reasonsMax       = 5
	tailInterval     = time.Second
	tailOverlap      = 10 * time.Second
	tailBatchMax     = 5_000
	replayWindowDflt = 30 * 24 * time.Hour
	replayMaxDflt    = 2_000_000
	evictInterval    = time.Minute
)

// Config wires an Engine.
type Config struct {
	Store    Store
	Node     string // this process's name in the shared feature log
	GeoIP    *geoip.DB
	Notifier Notifier // nil: no risk.* events
	Policy   Policy   // zero: DefaultPolicy
	// DefaultModel is the model file used while the registry has no
	// active model (Kassa embeds one trained on simulator data).
	DefaultModel []byte
	State        StateConfig
	// ReplayWindow and ReplayMax bound what Start replays from the store
	// to warm the features.
	ReplayWindow time.Duration
	ReplayMax    int
	Clock        func() time.Time
	IDs          id.Generator
	Logger       *slog.Logger
}

// Engine scores attempts. It is safe for concurrent use; Start loads its
// state and runs its background work until the context ends.
type Engine struct {
	cfg    Config
	store  Store
	state  *State
	now    func() time.Time
	log    *slog.Logger
	policy Policy
	featID string

	models  atomic.Pointer[modelSet]
	rules   cache[*ruleSet]
	lists   cache[*listSet]
	recent  recentEvents
	writer  *writer
	metrics engineMetrics
	tailMu  sync.Mutex
	tailAt  time.Time
	seen    map[string]time.Time // tail de-duplication
	started atomic.Bool
}

// NewEngine returns an engine; call Start before Evaluate.
func NewEngine(cfg Config) (*Engine, error) {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Policy == (Policy{}) {
		cfg.Policy = DefaultPolicy
	}
	if cfg.ReplayWindow == 0 {
		cfg.ReplayWindow = replayWindowDflt
	}
	if cfg.ReplayMax == 0 {
		cfg.ReplayMax = replayMaxDflt
	}
	if cfg.Node == "" {
		cfg.Node = id.Generator{}.Random(12)
	}
	e := &Engine{cfg: cfg, store: cfg.Store, state: NewState(cfg.State), now: cfg.Clock, log: cfg.Logger,
		policy: cfg.Policy, featID: FeatureSetID(), seen: map[string]time.Time{}}
	e.metrics = newEngineMetrics()
	e.recent.init(recentMax)
	e.writer = newWriter(cfg.Store, cfg.Logger, e.metrics.writeErrors)
	if len(cfg.DefaultModel) > 0 {
		m, err := model.Load(strings.NewReader(string(cfg.DefaultModel)))
		if err != nil {
			return nil, fmt.Errorf("risk: default model: %w", err)
		}
		e.models.Store(&modelSet{active: newBoundModel(m, "default"), builtin: true})
	} else {
		e.models.Store(&modelSet{})
	}
	return e, nil
}

// FeatureSetID names the feature list (a hash of the names in order), so
// stored vectors are read with the list they were written with.
func FeatureSetID() string {
	h := sha256.Sum256([]byte(strings.Join(FeatureNames, "\n")))
	return "fs-" + hex.EncodeToString(h[:6])
}

// Collectors returns the engine's Prometheus metrics, with the backlog of
// its writer: a queue near its capacity pushes back on payments.
func (e *Engine) Collectors() []prometheus.Collector {
	return append(e.metrics.collectors(),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kassa_risk_writer_queue_length",
			Help: "Evaluations and outcomes queued for the risk writer; at capacity, scoring waits for the store."},
			func() float64 { return float64(len(e.writer.queue)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kassa_risk_writer_queue_capacity",
			Help: "Capacity of the risk writer's queue."},
			func() float64 { return float64(cap(e.writer.queue)) }),
		newReviewBacklogCollector(e))
}

// Start warms the features by replaying recent evaluations from the store
// and loads the registry's models. It returns once that is done; the
// background work (writing evaluations, following other nodes, evicting,
// refreshing models) runs until ctx ends, and Close drains it.
func (e *Engine) Start(ctx context.Context) error {
	changed, err := e.loadModels(ctx)
	if err != nil {
		return err
	}
	if !changed {
		// The models NewEngine loaded; a change was logged already.
		e.logModels()
	}
	now := e.now().UTC()
	n := 0
	recent := now.Add(-2 * tailOverlap)
	err = e.store.Evaluations(ctx, "", now.Add(-e.cfg.ReplayWindow), now.Add(time.Hour), e.cfg.ReplayMax, func(ev *Evaluation) error {
		e.apply(ev, true, true)
		// The first follow looks back over these: they are applied.
		if !ev.Created.Before(recent) {
			e.seen[ev.ID] = now
		}
		if ev.Outcome != "" && !ev.OutcomeAt.Before(recent) {
			e.seen[ev.ID+":outcome"] = now
		}
		n++
		return nil
	})
	if err != nil {
		return fmt.Errorf("risk: replay: %w", err)
	}
	e.tailAt = now
	e.started.Store(true)
	e.log.Info("risk engine started", "replayed", n, "entities", e.state.Len(), "model", e.models.Load().activeVersion())
	go e.writer.run(ctx)
	go e.background(ctx)
	return nil
}

// Close writes what is queued; call it after the context given to Start
// ended.
func (e *Engine) Close() { e.writer.close() }

// apply folds a stored evaluation into the features: the attempt, its
// outcome (when recorded), or both.
func (e *Engine) apply(ev *Evaluation, attempt, outcome bool) {
	x := ev.Event
	if attempt {
		x.Outcome = ""
		e.state.Observe(&x)
	}
	if outcome && ev.Outcome != "" {
		x.Outcome = ev.Outcome
		e.state.ObserveOutcome(&x)
	}
}

func (e *Engine) background(ctx context.Context) {
	tail := time.NewTicker(tailInterval)
	defer tail.Stop()
	slow := time.NewTicker(cacheTTL)
	defer slow.Stop()
	evict := time.NewTicker(evictInterval)
	defer evict.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tail.C:
			if err := e.follow(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("risk: follow other nodes", "err", err)
			}
		case <-slow.C:
			if err := e.refreshModels(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("risk: refresh models", "err", err)
			}
			e.metrics.entities.Set(float64(e.state.Len()))
		case <-evict.C:
			if n := e.state.Evict(e.now()); n > 0 {
				e.log.Debug("risk: evicted idle entities", "n", n)
			}
			if n, err := e.store.DeleteExpiredListEntries(ctx, e.now().UTC()); err != nil && ctx.Err() == nil {
				e.log.Warn("risk: delete expired list entries", "err", err)
			} else if n > 0 {
				e.lists.invalidateAll()
			}
		}
	}
}

// follow applies what other nodes scored since the last look. Rows may
// commit out of time order, so it looks back tailOverlap and skips ids
// it has applied.
func (e *Engine) follow(ctx context.Context) error {
	e.tailMu.Lock()
	defer e.tailMu.Unlock()
	now := e.now().UTC()
	since := e.tailAt.Add(-tailOverlap)
	err := e.store.Changes(ctx, e.cfg.Node, since, tailBatchMax, func(ev *Evaluation, outcomeOnly bool) error {
		key := ev.ID
		if outcomeOnly {
			key += ":outcome"
		}
		if _, ok := e.seen[key]; ok {
			return nil
		}
		e.seen[key] = now
		e.apply(ev, !outcomeOnly, outcomeOnly)
		return nil
	})
	if err != nil {
		return err
	}
	for k, t := range e.seen {
		if now.Sub(t) > 2*tailOverlap {
			delete(e.seen, k)
		}
	}
	e.tailAt = now
	return nil
}

// Input is an attempt to score.
type Input struct {
	Event   Event
	Subject string // the payment it belongs to, "" standalone
	// Standalone: a merchant's own attempt (/v1/risk/evaluate), counted
	// and read within the merchant only (Event.Standalone).
	Standalone bool
	// Credit is what package credit knows of the payer of a credit check
	// (Event.Kind KindCredit, credit.go); required for that kind.
	Credit *CreditFacts
}

// Evaluate scores an attempt and decides. The attempt is counted in the
// features at once; its outcome follows with Outcome. The evaluation is
// written in the background (wait: before Evaluate returns).
func (e *Engine) Evaluate(ctx context.Context, in Input, wait bool) (Evaluation, error) {
	if !e.started.Load() {
		return Evaluation{}, errors.New("risk: the engine was not started")
	}
	start := time.Now()
	ev := in.Event
	ev.Standalone = in.Standalone
	// The user agent is the client's to choose: an oversized one is cut,
	// not a reason to skip scoring.
	ev.UserAgent = truncateUTF8(ev.UserAgent, stringMax)
	if ev.Time.IsZero() {
		ev.Time = e.now().UTC()
	}
	if err := ev.Validate(); err != nil {
		return Evaluation{}, kassa.Invalid("", "risk_event_invalid", "%s", err.Error())
	}
	if addr, err := netip.ParseAddr(ev.IP); err == nil {
		addr = addr.Unmap()
		if !payerAddr(addr) {
			// A proxy's or the host's own address says nothing about the
			// payer: counted as no IP rather than one IP for everybody.
			ev.IP = ""
		} else {
			ev.IP = addr.String()
			if !ev.Geo.Known && ev.Geo.Country == "" && e.cfg.GeoIP != nil {
				loc := e.cfg.GeoIP.Lookup(addr)
				ev.Geo = Geo{Country: loc.Country, Lat: loc.Lat, Lon: loc.Lon, Known: loc.Known}
			}
		}
	}
	out := Evaluation{ID: e.cfg.IDs.New("rev"), MerchantID: ev.MerchantID, Subject: in.Subject, Node: e.cfg.Node,
		Created: ev.Time, FeatureSet: e.featID, ShadowScore: -1}
	if ev.ID == "" {
		ev.ID = cmp.Or(in.Subject, out.ID)
	}
	if ev.Kind == KindCredit && in.Credit == nil {
		return Evaluation{}, kassa.Invalid("", "risk_event_invalid", "a credit check needs the payer's credit facts")
	}
	if ev.Kind == KindCredit {
		// The model scores the purchase as a payment on account (the
		// kind it was trained on).
		asPayment := ev
		asPayment.Kind = KindPayment
		out.Features = e.state.Extract(&asPayment, make([]float32, len(FeatureNames)))
	} else {
		out.Features = e.state.Extract(&ev, make([]float32, len(FeatureNames)))
	}
	ms := e.models.Load()
	var contrib []float64
	out.Score, out.ModelVersion, contrib = ms.active.score(out.Features)
	if ms.shadow != nil {
		out.ShadowScore, out.ShadowVersion, _ = ms.shadow.score(out.Features)
	}
	out.Level = e.level(out.Score)
	rs, err := e.rules.get(ctx, ev.MerchantID, e.loadRules)
	if err != nil {
		return Evaluation{}, err
	}
	ls, err := e.lists.get(ctx, ev.MerchantID, e.loadLists)
	if err != nil {
		return Evaluation{}, err
	}
	if ev.Kind == KindCredit {
		e.decideCredit(&out, &ev, *in.Credit, rs, ls)
	} else {
		e.decide(&out, &ev, rs, ls, ms.active, contrib)
	}
	e.state.Observe(&ev)
	out.Event = ev
	e.recent.put(out.ID, &ev)
	e.metrics.observe(out, time.Since(start))
	if err := e.writer.put(ctx, out, wait); err != nil {
		return Evaluation{}, err
	}
	return out, nil
}

// payerAddr reports whether addr can be a payer's own address: not
// loopback, private, link-local or unspecified (those are Kassa's own
// host or a proxy in front of it).
func payerAddr(addr netip.Addr) bool {
	return addr.IsValid() && !addr.IsLoopback() && !addr.IsPrivate() && !addr.IsLinkLocalUnicast() &&
		!addr.IsUnspecified() && !addr.IsMulticast()
}

func (e *Engine) level(score int) string {
	switch {
	case score >= 75:
		return LevelHighest
	case score >= 50:
		return LevelElevated
	}
	return LevelNormal
}

// decide applies lists, then rules, then the policy, and writes the
// reasons: the deciding list or rule first, then the features that pushed
// the score most.
func (e *Engine) decide(out *Evaluation, ev *Event, rs *ruleSet, ls *listSet, bm *boundModel, contrib []float64) {
	now := ev.Time
	var lead []Reason
	if typ, entry, ok := ls.match(ListBlock, ev, now); ok {
		out.Decision = Block
		code := "list:" + typ
		if strings.HasPrefix(entry.Note, lockNotePrefix) {
			code = "lock:" + typ
		}
		lead = append(lead, Reason{Code: code, Message: fmt.Sprintf("the %s is on the block list", strings.ReplaceAll(typ, "_", " "))})
	} else if typ, _, ok := ls.match(ListAllow, ev, now); ok {
		out.Decision = Allow
		lead = append(lead, Reason{Code: "list:" + typ, Message: fmt.Sprintf("the %s is on the allow list", strings.ReplaceAll(typ, "_", " "))})
	} else if r, ok := rs.evaluate(e, out, ev, ls); ok {
		out.Decision, out.Factor, out.RuleID = r.Action, r.Factor, r.ID
		lead = append(lead, Reason{Code: "rule:" + r.ID, Message: fmt.Sprintf("rule %q matched: %s", r.Name, r.Expression)})
	} else if d, feat, limit, ok := e.velocity(ev, out.Features); ok {
		out.Decision = d
		lead = append(lead, Reason{Code: "feature:" + FeatureNames[feat], Feature: FeatureNames[feat], Value: float64(out.Features[feat]),
			Message: fmt.Sprintf("%s (the limit is %d)", Describe(FeatureNames[feat], out.Features[feat]), limit)})
	} else {
		switch p := e.policy; {
		case out.Score >= p.BlockScore:
			out.Decision = Block
		case out.Score >= p.ChallengeScore:
			out.Decision = Challenge
		default:
			out.Decision = Allow
		}
	}
	if out.Decision == Challenge && out.Factor == "" {
		out.Factor = e.factor(ev, out.Features)
	}
	for _, r := range bm.reasons(out.Features, contrib, reasonsMax) {
		if len(lead) >= reasonsMax {
			break
		}
		if !slices.ContainsFunc(lead, func(l Reason) bool { return r.Feature != "" && l.Feature == r.Feature }) {
			lead = append(lead, r)
		}
	}
	out.Reasons = lead
}

// velocity applies the policy's velocity limits to the features (the
// counts before this attempt, so the limit-th card is the one stopped).
func (e *Engine) velocity(ev *Event, x []float32) (decision string, feature, limit int, ok bool) {
	p := e.policy
	if ev.Kind == KindPayout {
		switch {
		case p.PayoutDevicePayeesMax > 0 && ev.DeviceID != "" && x[FDeviceDistinctCustomers7d] >= float32(p.PayoutDevicePayeesMax-1):
			return Review, FDeviceDistinctCustomers7d, p.PayoutDevicePayeesMax, true
		case p.PayoutIPPayeesMax > 0 && ev.IP != "" && x[FIPDistinctCustomers24h] >= float32(p.PayoutIPPayeesMax-1):
			return Review, FIPDistinctCustomers24h, p.PayoutIPPayeesMax, true
		case p.PayoutNewDevice && ev.DeviceID != "" && x[FCustomerHistoryCount] > 0 && x[FDeviceNewForCustomer] > 0:
			return Review, FDeviceNewForCustomer, 1, true
		}
	}
	switch {
	case p.DeviceCardsMax > 0 && x[FDeviceDistinctCards24h] >= float32(p.DeviceCardsMax-1):
		return Block, FDeviceDistinctCards24h, p.DeviceCardsMax, true
	case p.IPCardsMax > 0 && x[FIPDistinctCards1h] >= float32(p.IPCardsMax-1):
		return Challenge, FIPDistinctCards1h, p.IPCardsMax, true
	}
	return "", 0, 0, false
}

// factor picks the second factor of a challenge: a passkey for large
// amounts and for new devices or countries, a one-time code otherwise.
func (e *Engine) factor(ev *Event, x []float32) string {
	if ev.Amount >= e.policy.PasskeyAmount || x[FDeviceNewForCustomer] > 0 || x[FCountryNewForCustomer] > 0 {
		return FactorPasskey
	}
	return FactorOTP
}

func feature(x []float32, name string) float32 {
	if i, ok := FeatureIndex(name); ok && i < len(x) {
		return x[i]
	}
	return 0
}

// Outcome records what happened to an evaluated attempt. Repeated
// failures lock the voucher, card or customer (a block list entry) and
// notify the merchant.
func (e *Engine) Outcome(ctx context.Context, merchantID, evaluationID, outcome string) error {
	if err := validOutcome(outcome); err != nil {
		return err
	}
	ev, ok := e.recent.get(evaluationID)
	if ok && merchantID != "" && ev.MerchantID != merchantID {
		ok = false
	}
	if !ok {
		if err := e.writer.flush(ctx); err != nil {
			return err
		}
		stored, err := e.store.Evaluation(ctx, merchantID, evaluationID)
		if err != nil {
			return err
		}
		ev = &stored.Event
	} else if err := e.writer.flush(ctx); err != nil {
		return err
	}
	if err := e.store.SetOutcome(ctx, evaluationID, outcome, e.cfg.Node, e.now().UTC()); err != nil {
		return err
	}
	e.recent.noteOutcome(evaluationID, outcome)
	return e.observeOutcome(ctx, ev, outcome)
}

func validOutcome(outcome string) error {
	switch outcome {
	case OutcomeApproved, OutcomeDeclined, OutcomeFailed, OutcomeBlocked:
		return nil
	}
	return kassa.Invalid("outcome", "outcome_invalid", "outcome must be approved, declined, failed or blocked")
}

// observeOutcome folds a recorded outcome into the features; a failure
// may lock (lockOnFailures).
func (e *Engine) observeOutcome(ctx context.Context, ev *Event, outcome string) error {
	x := *ev
	x.Outcome = outcome
	e.state.ObserveOutcome(&x)
	if outcome != OutcomeApproved {
		return e.lockOnFailures(ctx, &x)
	}
	return nil
}

// RecordOutcome is Outcome without waiting for the store, for the payment
// path: the outcome counts in the features (and locks) at once and is
// written with the writer's next batch, after the evaluation it belongs
// to, instead of costing the payment two commits (flushing the
// evaluation, then the outcome). A second, different outcome for an
// evaluation is kassa.EConflict, as with Outcome; a failure to store the
// outcome later is logged and counted (kassa_risk_evaluation_write_errors_total). An
// evaluation this process does not remember goes through Outcome.
func (e *Engine) RecordOutcome(ctx context.Context, merchantID, evaluationID, outcome string) error {
	if err := validOutcome(outcome); err != nil {
		return err
	}
	ev, ok := e.recent.get(evaluationID)
	if !ok || (merchantID != "" && ev.MerchantID != merchantID) {
		return e.Outcome(ctx, merchantID, evaluationID, outcome)
	}
	prev, ok := e.recent.claimOutcome(evaluationID, outcome)
	switch {
	case !ok: // evicted meanwhile
		return e.Outcome(ctx, merchantID, evaluationID, outcome)
	case prev == outcome:
		return nil
	case prev != "":
		return kassa.Errorf(kassa.EConflict, "risk_outcome_recorded", "the evaluation's outcome is %s already", prev)
	}
	if err := e.writer.putOutcome(ctx, OutcomeUpdate{ID: evaluationID, Outcome: outcome, Node: e.cfg.Node, At: e.now().UTC()}); err != nil {
		return err
	}
	return e.observeOutcome(ctx, ev, outcome)
}

// lockNotePrefix marks list entries the engine made itself.
const lockNotePrefix = "auto: "

// lockOnFailures locks what failed too often in the last 24 hours.
func (e *Engine) lockOnFailures(ctx context.Context, ev *Event) error {
	x := e.state.Extract(ev, make([]float32, len(FeatureNames)))
	limit := float32(e.policy.LockFailures)
	// The failure just observed is in x (Extract reads the state after it).
	checks := []struct {
		feature, typ, value, merchant string
	}{
		{"card_failures_24h", EntryCardFingerprint, ev.CardFingerprint, ev.MerchantID},
		{"customer_failures_24h", EntryCustomer, ev.CustomerID, ev.MerchantID},
	}
	for _, c := range checks {
		if c.value == "" || feature(x, c.feature) < limit {
			continue
		}
		note := fmt.Sprintf("%s%d failures in 24 hours", lockNotePrefix, int(feature(x, c.feature)))
		if err := e.lock(ctx, ev.MerchantID, c.merchant, c.typ, c.value, note, e.policy.LockFor); err != nil {
			return err
		}
	}
	// A voucher is nobody's: real attempts through Kassa lock it for every
	// merchant (for LockFor); a merchant's standalone attempts, which
	// nothing vouches for, only within that merchant.
	owner := ""
	if ev.Standalone {
		owner = ev.MerchantID
	}
	for serial := range ev.voucherSerials() {
		n := e.state.VoucherFailures24h(ev, serial)
		if n < limit {
			continue
		}
		note := fmt.Sprintf("%s%d failures in 24 hours", lockNotePrefix, int(n))
		if err := e.lock(ctx, ev.MerchantID, owner, EntryVoucherSerial, serial, note, e.policy.LockFor); err != nil {
			return err
		}
	}
	return nil
}

// platformLockDefault is how long a platform-wide lock lasts when the
// policy names no LockFor: platform locks always expire.
const platformLockDefault = 24 * time.Hour

// lock puts value on the block list of owner ("" the platform's) and tells
// the merchant.
func (e *Engine) lock(ctx context.Context, merchantID, owner, typ, value, note string, d time.Duration) error {
	now := e.now().UTC()
	if owner == "" && d <= 0 {
		d = platformLockDefault
	}
	existing, ok := e.lists.peek(owner)
	if ok {
		if en, found := existing.block[typ+"\x00"+value]; found && (en.Expires.IsZero() || en.Expires.After(now)) {
			return nil
		}
	}
	entry := ListEntry{MerchantID: owner, List: ListBlock, Type: typ, Value: value, Note: note, Created: now}
	if d > 0 {
		entry.Expires = now.Add(d)
	}
	if err := e.store.PutListEntry(ctx, entry); err != nil {
		return err
	}
	e.lists.invalidate(owner)
	e.lists.invalidateAll()
	e.metrics.locks.WithLabelValues(typ).Inc()
	e.log.Info("risk: locked", "type", typ, "merchant", merchantID, "reason", note)
	e.notify(ctx, merchantID, EventLocked, map[string]any{"object": "risk.lock", "type": typ,
		"value": value, "reason": note, "expires_at": rfc3339(entry.Expires)})
	return nil
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// notify tells the merchant; what it reports has happened already, so a
// failure is logged, not returned.
func (e *Engine) notify(ctx context.Context, merchantID, typ string, data any) {
	if e.cfg.Notifier == nil || merchantID == "" {
		return
	}
	ev, err := e.cfg.Notifier.NewEvent(merchantID, typ, data)
	if err == nil {
		err = e.cfg.Notifier.Publish(ctx, ev)
	}
	if err != nil {
		e.log.Error("risk: publish event", "type", typ, "merchant", merchantID, "err", err)
	}
}

// Label records ground truth for an evaluation (rev_...) or for every
// evaluation of a payment (pay_...). A fraud label locks the payment
// method (every voucher of it), device and customer of the attempt for
// good within the labelling merchant: a merchant's labels never lock
// anything for the other merchants.
func (e *Engine) Label(ctx context.Context, merchantID, subject, label, source string) ([]Evaluation, error) {
	switch label {
	case LabelFraud, LabelLegit, LabelFriendlyFraud:
	default:
		return nil, kassa.Invalid("label", "label_invalid", "label must be fraud, legit or friendly_fraud")
	}
	switch source {
	case SourceChargeback, SourceAnalyst, SourceCustomer:
	default:
		return nil, kassa.Invalid("source", "source_invalid", "source must be chargeback, analyst or customer")
	}
	if err := e.writer.flush(ctx); err != nil {
		return nil, err
	}
	var evs []Evaluation
	if strings.HasPrefix(subject, "rev_") {
		ev, err := e.store.Evaluation(ctx, merchantID, subject)
		if err != nil {
			return nil, err
		}
		evs = []Evaluation{ev}
	} else {
		all, err := e.store.EvaluationsBySubject(ctx, subject)
		if err != nil {
			return nil, err
		}
		for _, ev := range all {
			if merchantID == "" || ev.MerchantID == merchantID {
				evs = append(evs, ev)
			}
		}
		if len(evs) == 0 {
			return nil, kassa.Errorf(kassa.ENotFound, "evaluation_not_found", "no risk evaluation of %s", subject)
		}
	}
	now := e.now().UTC()
	for i := range evs {
		if err := e.store.SetLabel(ctx, evs[i].ID, label, source, now); err != nil {
			return nil, err
		}
		evs[i].Label, evs[i].LabelSource, evs[i].LabeledAt = label, source, now
	}
	last := evs[len(evs)-1]
	if label == LabelFraud {
		x := last.Event
		note := lockNotePrefix + "labelled fraud (" + source + ")"
		locks := []struct{ typ, value string }{
			{EntryCardFingerprint, x.CardFingerprint},
			{EntryCustomer, x.CustomerID},
			{EntryDevice, x.DeviceID},
		}
		for serial := range x.voucherSerials() {
			locks = append(locks, struct{ typ, value string }{EntryVoucherSerial, serial})
		}
		for _, c := range locks {
			if c.value == "" || x.MerchantID == "" {
				continue
			}
			if err := e.lock(ctx, x.MerchantID, x.MerchantID, c.typ, c.value, note, 0); err != nil {
				return nil, err
			}
		}
	}
	e.notify(ctx, last.MerchantID, EventLabeled, map[string]any{"object": "risk.label", "subject": subject,
		"label": label, "source": source, "evaluations": len(evs)})
	return evs, nil
}

// ErrNoModel is returned by registry operations on an unknown version.
var ErrNoModel = errors.New("risk: no such model")

// modelSet is the active model and the shadow one, swapped atomically.
type modelSet struct {
	active *boundModel
	shadow *boundModel
	// builtin says active is Config.DefaultModel, not the registry's:
	// its version is the file's own, no registry version to compare.
	builtin bool
}

func (ms *modelSet) activeVersion() string {
	if ms == nil || ms.active == nil {
		return ""
	}
	return ms.active.version
}

// boundModel is a model with its inputs mapped to the feature vector.
type boundModel struct {
	m       *model.Model
	version string
	index   []int // model input i = features[index[i]]; -1 missing
	same    bool  // index is the identity
	pool    sync.Pool
}

func newBoundModel(m *model.Model, fallbackVersion string) *boundModel {
	bm := &boundModel{m: m, version: cmp.Or(m.Version, fallbackVersion), same: slices.Equal(m.FeatureNames, FeatureNames)}
	bm.index = make([]int, len(m.FeatureNames))
	for i, n := range m.FeatureNames {
		j, ok := FeatureIndex(n)
		if !ok {
			j = -1
		}
		bm.index[i] = j
	}
	bm.pool.New = func() any {
		s := &scratch{x: make([]float32, len(m.FeatureNames)), c: make([]float64, len(m.FeatureNames)+1)}
		return s
	}
	return bm
}

type scratch struct {
	x []float32
	c []float64
}

// score returns the score 0–100, the version and the contributions per
// feature of the vector (nil without a model).
func (bm *boundModel) score(features []float32) (int, string, []float64) {
	if bm == nil {
		return 0, "", nil
	}
	s := bm.pool.Get().(*scratch)
	defer bm.pool.Put(s)
	x := features
	if !bm.same {
		x = s.x
		for i, j := range bm.index {
			if j < 0 {
				x[i] = float32(math.NaN())
			} else {
				x[i] = features[j]
			}
		}
	}
	c := bm.m.Contributions(x, s.c)
	margin := 0.0
	for _, v := range c {
		margin += v
	}
	p := 1 / (1 + math.Exp(-margin))
	// Contributions per feature of the engine's vector.
	out := make([]float64, len(features))
	for i, j := range bm.index {
		if j >= 0 {
			out[j] += c[i]
		}
	}
	score := int(math.Round(p * 100))
	return min(max(score, 0), 100), bm.version, out
}

// reasons names up to n features that raised the score most.
func (bm *boundModel) reasons(x []float32, contrib []float64, n int) []Reason {
	if bm == nil {
		return []Reason{{Code: "model:unavailable", Message: "no risk model is loaded; decided by lists and rules only"}}
	}
	if n <= 0 {
		return nil
	}
	type fc struct {
		i int
		c float64
	}
	top := make([]fc, 0, n+1)
	for i, c := range contrib {
		if c <= 0.05 || x[i] != x[i] { // a nudge, not a reason; or a value not measured
			continue
		}
		top = append(top, fc{i, c})
		slices.SortFunc(top, func(a, b fc) int { return cmp.Compare(b.c, a.c) })
		if len(top) > n {
			top = top[:n]
		}
	}
	out := make([]Reason, len(top))
	for k, t := range top {
		name := FeatureNames[t.i]
		out[k] = Reason{Code: "feature:" + name, Feature: name, Value: float64(x[t.i]),
			Contribution: math.Round(t.c*1000) / 1000, Message: Describe(name, x[t.i])}
	}
	return out
}

// BoundModel is a model whose inputs are mapped to Kassa's feature vector.
type BoundModel struct{ bm *boundModel }

// BindModel maps a model's features to FeatureNames (missing ones are
// NaN), for scoring vectors from Featurize outside an engine.
func BindModel(m *model.Model) BoundModel { return BoundModel{newBoundModel(m, "")} }

// Probability of fraud for a vector in FeatureNames order.
func (b BoundModel) Probability(features []float32) float64 {
	s := b.bm.pool.Get().(*scratch)
	defer b.bm.pool.Put(s)
	x := features
	if !b.bm.same {
		x = s.x
		for i, j := range b.bm.index {
			if j < 0 {
				x[i] = float32(math.NaN())
			} else {
				x[i] = features[j]
			}
		}
	}
	return b.bm.m.Predict(x)
}

// Observe folds an attempt with its outcome into the features without
// scoring or storing it (history imported from elsewhere; benchmarks).
func (e *Engine) Observe(ev *Event) {
	x := *ev
	e.state.Observe(&x)
	if x.Outcome != "" {
		e.state.ObserveOutcome(&x)
	}
}

// FeatureEntities is the number of entities in the feature state.
func (e *Engine) FeatureEntities() int { return e.state.Len() }

// Sync writes what is queued and applies what other nodes stored since
// the last look, at once rather than on the next tick.
func (e *Engine) Sync(ctx context.Context) error {
	if err := e.writer.flush(ctx); err != nil {
		return err
	}
	return e.follow(ctx)
}

// truncateUTF8 cuts s to at most n bytes of valid UTF-8.
func truncateUTF8(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
