package console

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/audit"
	members "github.com/kassa/kassa/console"
	"github.com/kassa/kassa/lease"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/risk"
)

// Health is where the operator's health panel reads the platform's
// queues; each source may be nil (left out).
type Health struct {
	// Webhooks counts due deliveries (webhook's store).
	Webhooks interface {
		Backlog(ctx context.Context, now time.Time, limit int) (int, time.Time, error)
	}
	// Payouts lists the payouts the worker has a step for (payout's store).
	Payouts interface {
		DuePayouts(ctx context.Context, paidSince time.Time, limit int) ([]payout.Payout, error)
	}
	// Leases lists the leased jobs and their holders (lease's store).
	Leases interface {
		Leases(ctx context.Context) ([]lease.Lease, error)
	}
}

// queueCountMax bounds what one look at a queue counts; a longer queue
// shows as this many and "or more".
const queueCountMax = 10_000

// Queue is one depth on the health panel.
type Queue struct {
	Name   string
	Depth  int
	More   bool      // Depth is queueCountMax: there may be more
	Oldest time.Time // of the waiting items, zero unknown or none
	Note   string
}

type healthView struct {
	Queues []Queue
	Leases []lease.Lease
	Now    time.Time
}

// health reads the queue depths. A source that does not answer is shown
// as such (logged), the rest of the page still is.
func (h *Handler) health(v *visit) healthView {
	ctx := v.r.Context()
	now := h.cfg.Clock().UTC()
	hv := healthView{Now: now}
	src := h.cfg.Health
	if src.Webhooks != nil {
		n, oldest, err := src.Webhooks.Backlog(ctx, now, queueCountMax)
		q := Queue{Name: "Webhook deliveries due", Depth: n, More: n >= queueCountMax, Oldest: oldest}
		if err != nil {
			h.log.WarnContext(ctx, "console: webhook backlog", "err", err)
			q.Note = "could not be read"
		}
		hv.Queues = append(hv.Queues, q)
	}
	if src.Payouts != nil {
		ps, err := src.Payouts.DuePayouts(ctx, now.Add(time.Hour), queueCountMax)
		q := Queue{Name: "Payouts pending or in transit", More: len(ps) >= queueCountMax}
		for _, p := range ps {
			if p.Status == payout.StatusPending || p.Status == payout.StatusInTransit {
				q.Depth++
				if q.Oldest.IsZero() || p.Created.Before(q.Oldest) {
					q.Oldest = p.Created
				}
			}
		}
		if err != nil {
			h.log.WarnContext(ctx, "console: due payouts", "err", err)
			q.Note = "could not be read"
		}
		hv.Queues = append(hv.Queues, q)
	}
	if h.cfg.Risk != nil {
		n, c := h.cfg.Risk.WriterQueue()
		hv.Queues = append(hv.Queues, Queue{Name: "Risk writer backlog (this process)", Depth: n,
			Note: "of " + strconv.Itoa(c) + "; at capacity, scoring waits for the database"})
	}
	if src.Leases != nil {
		ls, err := src.Leases.Leases(ctx)
		if err != nil {
			h.log.WarnContext(ctx, "console: leases", "err", err)
		}
		hv.Leases = ls
	}
	return hv
}

// lockHoursMax is the longest lock the form adds (risk's PlatformLockMax).
var lockHoursMax = int(risk.PlatformLockMax / time.Hour)

// addLock puts a value on the platform-wide block list for a number of
// hours: every merchant refuses it until then or until it is lifted.
func (h *Handler) addLock(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.SuspendMerchants) {
		return
	}
	if h.cfg.Risk == nil {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "lock_not_found", "locks are not served here"))
		return
	}
	reason, err := v.reason()
	if err != nil {
		h.fail(v, err)
		return
	}
	hours, err := strconv.Atoi(v.input("hours"))
	if err != nil || hours < 1 || hours > lockHoursMax {
		h.fail(v, kassa.Invalid("hours", "lock_duration_invalid", "a lock lasts 1 to %d hours", lockHoursMax))
		return
	}
	en, err := h.cfg.Risk.LockPlatform(v.ctx(), v.input("type"), v.input("value"), reason, time.Duration(hours)*time.Hour)
	if err != nil {
		h.fail(v, err)
		return
	}
	if err := h.cfg.Audit.Record(v.ctx(), audit.Platform, "risk_lock.add", en.Type+":"+en.Value,
		map[string]bool{"locked": false}, entryState(en)); err != nil {
		h.fail(v, err)
		return
	}
	h.showOperator(v, nil, "Locked "+en.Type+" "+en.Value+" for every merchant until "+en.Expires.Format("2006-01-02 15:04")+" UTC.")
}

// suspendMerchant stops a merchant: its keys get 403 merchant_suspended,
// its payment pages tell the payer, its payouts are refused; its money
// stays. The reason is required and goes to the audit log of the
// platform and of the merchant (whose owners see why).
func (h *Handler) suspendMerchant(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.SuspendMerchants) {
		return
	}
	id := r.PathValue("id")
	m, err := h.cfg.Merchants.Suspend(v.ctx(), id, v.input("reason"))
	if err != nil {
		h.fail(v, err)
		return
	}
	after := map[string]any{"suspended": true, "reason": v.input("reason")}
	for _, org := range []string{audit.Platform, m.ID} {
		if err := h.cfg.Audit.Record(v.ctx(), org, "merchant.suspend", m.ID, map[string]bool{"suspended": false}, after); err != nil {
			h.fail(v, err)
			return
		}
	}
	h.showOperator(v, nil, "Suspended "+m.Name+" ("+m.ID+").")
}

// unsuspendMerchant lets a suspended merchant work again.
func (h *Handler) unsuspendMerchant(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.SuspendMerchants) {
		return
	}
	m, err := h.cfg.Merchants.Unsuspend(v.ctx(), r.PathValue("id"))
	if err != nil {
		h.fail(v, err)
		return
	}
	before := map[string]any{"suspended": true, "reason": m.SuspendedReason}
	for _, org := range []string{audit.Platform, m.ID} {
		if err := h.cfg.Audit.Record(v.ctx(), org, "merchant.unsuspend", m.ID, before, map[string]bool{"suspended": false}); err != nil {
			h.fail(v, err)
			return
		}
	}
	h.showOperator(v, nil, m.Name+" ("+m.ID+") works again.")
}
