package risk

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// cache keeps a per-merchant value (its rules, its lists) for cacheTTL, so
// a change made on another node shows within seconds and one made here at
// once (invalidate).
type cache[T any] struct {
	mu sync.Mutex
	m  map[string]cached[T]
}

type cached[T any] struct {
	v  T
	at time.Time
}

func (c *cache[T]) get(ctx context.Context, merchantID string, load func(context.Context, string) (T, error)) (T, error) {
	now := time.Now()
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]cached[T]{}
	}
	v, ok := c.m[merchantID]
	c.mu.Unlock()
	if ok && now.Sub(v.at) < cacheTTL {
		return v.v, nil
	}
	fresh, err := load(ctx, merchantID)
	if err != nil {
		var zero T
		return zero, err
	}
	c.mu.Lock()
	if len(c.m) >= merchantsCachedMax {
		clear(c.m)
	}
	c.m[merchantID] = cached[T]{fresh, now}
	c.mu.Unlock()
	return fresh, nil
}

// merchantsCachedMax bounds the caches.
const merchantsCachedMax = 10_000

func (c *cache[T]) peek(merchantID string) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[merchantID]
	return v.v, ok
}

func (c *cache[T]) invalidate(merchantID string) {
	c.mu.Lock()
	delete(c.m, merchantID)
	c.mu.Unlock()
}

func (c *cache[T]) invalidateAll() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

// listSet is a merchant's allow and block lists merged with the
// platform's, keyed by type and value.
type listSet struct {
	allow map[string]ListEntry
	block map[string]ListEntry
}

func (e *Engine) loadLists(ctx context.Context, merchantID string) (*listSet, error) {
	entries, err := e.store.ListEntries(ctx, merchantID, "", true)
	if err != nil {
		return nil, err
	}
	ls := &listSet{allow: map[string]ListEntry{}, block: map[string]ListEntry{}}
	for _, en := range entries {
		k := en.Type + "\x00" + en.Value
		if en.List == ListAllow {
			ls.allow[k] = en
		} else {
			ls.block[k] = en
		}
	}
	return ls, nil
}

// entries of an event, by list entry type.
func eventEntries(ev *Event) [7][2]string {
	return [7][2]string{
		{EntryCardFingerprint, ev.CardFingerprint},
		{EntryVoucherSerial, ev.VoucherSerial},
		{EntryDevice, ev.DeviceID},
		{EntryIP, ev.IP},
		{EntryEmail, strings.ToLower(ev.Email)},
		{EntryCountry, ev.Geo.Country},
		{EntryCustomer, ev.CustomerID},
	}
}

// match finds an unexpired entry of the list matching the event. A
// payment's vouchers are checked one by one: any of them on the block
// list blocks it, but the allow list allows it for its vouchers only when
// every one of them is on it (an allowed voucher does not carry an
// unknown one through).
func (ls *listSet) match(list string, ev *Event, now time.Time) (string, ListEntry, bool) {
	if ls == nil {
		return "", ListEntry{}, false
	}
	m := ls.block
	if list == ListAllow {
		m = ls.allow
	}
	if len(m) == 0 {
		return "", ListEntry{}, false
	}
	for _, tv := range eventEntries(ev) {
		if tv[0] == EntryVoucherSerial {
			if en, ok := ls.vouchersListed(list, ev, now); ok {
				return tv[0], en, true
			}
			continue
		}
		if tv[1] == "" {
			continue
		}
		if en, ok := live(m, tv[0], tv[1], now); ok {
			return tv[0], en, true
		}
	}
	return "", ListEntry{}, false
}

// vouchersListed reports whether the attempt's vouchers are on the list:
// any of them on the block list, every one of them on the allow list. It
// returns the entry of the first voucher that decided it.
func (ls *listSet) vouchersListed(list string, ev *Event, now time.Time) (ListEntry, bool) {
	var first ListEntry
	n := 0
	for v := range ev.voucherSerials() {
		en, ok := live(ls.block, EntryVoucherSerial, v, now)
		if list == ListAllow {
			en, ok = live(ls.allow, EntryVoucherSerial, v, now)
			if !ok {
				return ListEntry{}, false
			}
		} else if ok {
			return en, true
		}
		if n == 0 {
			first = en
		}
		n++
	}
	return first, list == ListAllow && n > 0
}

// live returns the unexpired entry of m for typ and value.
func live(m map[string]ListEntry, typ, value string, now time.Time) (ListEntry, bool) {
	en, ok := m[typ+"\x00"+value]
	if !ok || !(en.Expires.IsZero() || now.Before(en.Expires)) {
		return ListEntry{}, false
	}
	return en, true
}

// listed answers a rule's listed("block", "ip") style question for the
// event: is its value of that type on the list? For voucher_serial: any
// voucher of the attempt on the block list, every one on the allow list.
func (ls *listSet) listed(list, typ string, ev *Event, now time.Time) bool {
	if ls == nil {
		return false
	}
	if typ == EntryVoucherSerial {
		_, ok := ls.vouchersListed(list, ev, now)
		return ok
	}
	m := ls.block
	if list == ListAllow {
		m = ls.allow
	}
	for _, tv := range eventEntries(ev) {
		if tv[0] == typ && tv[1] != "" {
			_, ok := live(m, typ, tv[1], now)
			return ok
		}
	}
	return false
}

// recentEvents remembers the events of recent evaluations (a bounded
// ring), so an outcome can be folded into the features without a read.
type recentEvents struct {
	mu       sync.Mutex
	m        map[string]*Event
	outcomes map[string]string // the outcomes this process recorded
	ring     []string
	next     int
}

func (r *recentEvents) init(n int) {
	r.m = make(map[string]*Event, 1024)
	r.outcomes = make(map[string]string, 1024)
	r.ring = make([]string, n)
}

// claimOutcome notes outcome for id unless one is noted already, which
// it returns; ok is false when id is not remembered.
func (r *recentEvents) claimOutcome(id, outcome string) (prev string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[id]; !ok {
		return "", false
	}
	if prev := r.outcomes[id]; prev != "" {
		return prev, true
	}
	r.outcomes[id] = outcome
	return "", true
}

// noteOutcome remembers an outcome recorded elsewhere (Engine.Outcome).
func (r *recentEvents) noteOutcome(id, outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[id]; ok {
		r.outcomes[id] = outcome
	}
}

func (r *recentEvents) put(id string, ev *Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.ring[r.next]; old != "" {
		delete(r.m, old)
		delete(r.outcomes, old)
	}
	r.ring[r.next] = id
	r.next = (r.next + 1) % len(r.ring)
	r.m[id] = ev
}

func (r *recentEvents) get(id string) (*Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev, ok := r.m[id]
	return ev, ok
}

// writer stores evaluations in batches in the background, off the
// payment's path. A caller that needs its evaluation stored (the
// standalone API answers with an id the client may use at once) waits for
// its batch.
type writer struct {
	store  Store
	log    *slog.Logger
	errs   prometheus.Counter
	queue  chan writeReq
	done   chan struct{}
	closed sync.Once
}

type writeReq struct {
	ev    Evaluation
	out   *OutcomeUpdate // an outcome to record, not an evaluation
	flush bool
	ack   chan error
}

func newWriter(s Store, log *slog.Logger, errs prometheus.Counter) *writer {
	return &writer{store: s, log: log, errs: errs, queue: make(chan writeReq, writeQueueMax), done: make(chan struct{})}
}

// put queues ev; wait blocks until it is stored. A full queue pushes back
// on the caller rather than drop an evaluation.
func (w *writer) put(ctx context.Context, ev Evaluation, wait bool) error {
	req := writeReq{ev: ev}
	if wait {
		req.ack = make(chan error, 1)
	}
	select {
	case w.queue <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.done:
		return w.store.InsertEvaluations(ctx, []Evaluation{ev})
	}
	if !wait {
		return nil
	}
	select {
	case err := <-req.ack:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// putOutcome queues an outcome, to be recorded after the evaluations
// queued before it (so after its own evaluation, when that went through
// this writer).
func (w *writer) putOutcome(ctx context.Context, o OutcomeUpdate) error {
	select {
	case w.queue <- writeReq{out: &o}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-w.done:
		return w.store.SetOutcomes(ctx, []OutcomeUpdate{o})
	}
}

// flush waits until everything queued before it is stored.
func (w *writer) flush(ctx context.Context) error {
	req := writeReq{flush: true, ack: make(chan error, 1)}
	select {
	case w.queue <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.done:
		return nil
	}
	select {
	case err := <-req.ack:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *writer) run(ctx context.Context) {
	defer close(w.done)
	batch := make([]writeReq, 0, writeBatchMax)
	var held heldEvaluations
	for {
		// Wake up when the oldest held evaluation's hold ends, so that
		// it is written without its outcome if none came.
		var due <-chan time.Time
		var holdTimer *time.Timer
		if d, ok := held.nextDue(); ok {
			holdTimer = time.NewTimer(time.Until(d))
			due = holdTimer.C
		}
		var first writeReq
		select {
		case first = <-w.queue:
		case <-due:
			w.write(context.WithoutCancel(ctx), batch[:0], &held)
			continue
		case <-ctx.Done():
			if holdTimer != nil {
				holdTimer.Stop()
			}
			w.drain(batch, &held)
			return
		}
		if holdTimer != nil {
			holdTimer.Stop()
		}
		batch = append(batch[:0], first)
		// Someone waiting is not kept waiting for company: what is queued
		// already joins the batch, nothing more. Otherwise linger a little
		// to write bigger batches.
		linger := writeLinger
		if first.ack != nil {
			linger = 0
		}
		timer := time.NewTimer(linger)
	fill:
		for len(batch) < writeBatchMax {
			select {
			case r := <-w.queue:
				batch = append(batch, r)
				if r.ack != nil {
					break fill
				}
			case <-timer.C:
				break fill
			}
		}
		timer.Stop()
		w.write(context.WithoutCancel(ctx), batch, &held)
	}
}

// drain writes what is queued, and every evaluation held, when the engine
// stops.
func (w *writer) drain(batch []writeReq, held *heldEvaluations) {
	batch = batch[:0]
	for {
		select {
		case r := <-w.queue:
			batch = append(batch, r)
			if len(batch) >= writeBatchMax {
				w.write(context.Background(), batch, held)
				batch = batch[:0]
			}
		default:
			w.write(context.Background(), append(batch, writeReq{flush: true}), held)
			return
		}
	}
}

// write stores a batch. An evaluation nobody waits for is held (up to
// writeHold) for its outcome, so that it is written once, with it, instead
// of inserted and then updated; an outcome whose evaluation is held is
// folded into it. Written now: evaluations someone waits for, held ones
// whose outcome came or whose hold ended (all of them at a flush), and
// the outcomes of evaluations written before.
func (w *writer) write(ctx context.Context, batch []writeReq, held *heldEvaluations) {
	now := time.Now()
	evs := make([]Evaluation, 0, len(batch))
	var outs []OutcomeUpdate
	flush := false
	for _, r := range batch {
		switch {
		case r.out != nil:
			if !held.fold(*r.out) {
				outs = append(outs, *r.out)
			}
		case r.flush:
			flush = true
		case r.ack != nil:
			evs = append(evs, r.ev)
		default:
			held.add(r.ev, now.Add(writeHold))
		}
	}
	evs = held.take(evs, now, flush)
	var err error
	if len(evs) > 0 {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = w.store.InsertEvaluations(ctx, evs)
		cancel()
		if err != nil {
			w.errs.Inc()
			w.log.Error("risk: store evaluations", "n", len(evs), "err", err)
		}
	}
	if len(outs) > 0 {
		// After the evaluations: an outcome queued behind its evaluation
		// finds it stored.
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		oerr := w.store.SetOutcomes(ctx, outs)
		cancel()
		if oerr != nil {
			w.errs.Inc()
			w.log.Error("risk: store outcomes", "n", len(outs), "err", oerr)
			err = errors.Join(err, oerr)
		}
	}
	for _, r := range batch {
		if r.ack != nil {
			r.ack <- err
		}
	}
}

// heldEvaluations are evaluations waiting for their outcome, oldest
// first; at most writeHeldMax of them.
type heldEvaluations struct {
	list []heldEvaluation
	byID map[string]int // index in list
}

type heldEvaluation struct {
	ev    Evaluation
	due   time.Time
	ready bool // its outcome came
}

func (h *heldEvaluations) add(ev Evaluation, due time.Time) {
	if h.byID == nil {
		h.byID = map[string]int{}
	}
	h.byID[ev.ID] = len(h.list)
	h.list = append(h.list, heldEvaluation{ev: ev, due: due})
}

// fold records o in its held evaluation; false when it is not held.
func (h *heldEvaluations) fold(o OutcomeUpdate) bool {
	i, ok := h.byID[o.ID]
	if !ok || h.list[i].ev.Outcome != "" {
		return false // not held, or an outcome already: the store judges the second
	}
	ev := &h.list[i].ev
	ev.Outcome, ev.OutcomeNode, ev.OutcomeAt = o.Outcome, o.Node, o.At
	h.list[i].ready = true
	return true
}

// take appends to evs the held evaluations to write now (all with flush)
// and keeps the rest.
func (h *heldEvaluations) take(evs []Evaluation, now time.Time, flush bool) []Evaluation {
	over := len(h.list) - writeHeldMax
	kept := h.list[:0]
	for i, e := range h.list {
		if flush || e.ready || !now.Before(e.due) || i < over {
			evs = append(evs, e.ev)
			delete(h.byID, e.ev.ID)
			continue
		}
		h.byID[e.ev.ID] = len(kept)
		kept = append(kept, e)
	}
	clear(h.list[len(kept):])
	h.list = kept
	return evs
}

// nextDue returns when the oldest held evaluation's hold ends.
func (h *heldEvaluations) nextDue() (time.Time, bool) {
	if len(h.list) == 0 {
		return time.Time{}, false
	}
	return h.list[0].due, true
}

// close waits for the writer to drain after its context ended.
func (w *writer) close() { <-w.done }

// engineMetrics are the engine's Prometheus metrics.
type engineMetrics struct {
	decisions   *prometheus.CounterVec
	scores      prometheus.Histogram
	latency     prometheus.Histogram
	locks       *prometheus.CounterVec
	entities    prometheus.Gauge
	writeErrors prometheus.Counter
}

func newEngineMetrics() engineMetrics {
	return engineMetrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kassa_risk_decisions_total",
			Help: "Risk decisions by decision and level."}, []string{"decision", "level"}),
		scores: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kassa_risk_score",
			Help: "Risk scores (0-100).", Buckets: prometheus.LinearBuckets(0, 10, 11)}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kassa_risk_evaluation_seconds",
			Help: "Time to score and decide one attempt, in process.", Buckets: prometheus.ExponentialBuckets(10e-6, 2, 12)}),
		locks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kassa_risk_locks_total",
			Help: "Automatic locks (block list entries) by type."}, []string{"type"}),
		entities: prometheus.NewGauge(prometheus.GaugeOpts{Name: "kassa_risk_feature_entities",
			Help: "Entities (cards, vouchers, devices, IPs, customers, emails) held in the feature state."}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "kassa_risk_evaluation_write_errors_total",
			Help: "Batches of evaluations or outcomes the store refused (each is logged)."}),
	}
}

func (m engineMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.decisions, m.scores, m.latency, m.locks, m.entities, m.writeErrors}
}

func (m engineMetrics) observe(ev Evaluation, d time.Duration) {
	m.decisions.WithLabelValues(ev.Decision, ev.Level).Inc()
	m.scores.Observe(float64(ev.Score))
	m.latency.Observe(d.Seconds())
}
