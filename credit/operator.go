package credit

// The operator's tools (kassa credit plans | write-off; the console can
// call the same methods): listing plans, and writing one off by hand.

import (
	"context"
	"errors"

	"github.com/kassa/kassa"
)

// PlanFilter selects plans for ListPlans.
type PlanFilter struct {
	CustomerID string
	Status     Status // "" any
	// Before is a plan id: only plans listed after it (newest first).
	Before string
	// Limit: 1 to ListPlansMax; 0 is ListPlansDefault.
	Limit int
}

// List limits.
const (
	ListPlansDefault = 50
	ListPlansMax     = 500
	// WriteOffReasonMax bounds the reason of a manual write-off.
	WriteOffReasonMax = 500
)

// Plan returns a plan by id (the operator's view).
func (s *Service) Plan(ctx context.Context, id string) (Plan, error) {
	return s.cfg.Store.Plan(ctx, id)
}

// ListPlans lists plans, newest first, for the operator.
func (s *Service) ListPlans(ctx context.Context, f PlanFilter) ([]Plan, error) {
	switch f.Status {
	case "", StatusActive, StatusOverdue, StatusInCollection, StatusSettled, StatusWrittenOff, StatusCanceled:
	default:
		return nil, kassa.Invalid("status", "status_invalid", "status must be one of active, overdue, in_collection, settled, written_off, canceled")
	}
	if f.Limit == 0 {
		f.Limit = ListPlansDefault
	}
	if f.Limit < 1 || f.Limit > ListPlansMax {
		return nil, kassa.Invalid("limit", "limit_invalid", "limit must be 1 to %d", ListPlansMax)
	}
	return s.cfg.Store.ListPlans(ctx, f)
}

// WriteOff ends an open plan by hand (the operator's decision, with a
// reason the caller audits): what it still owes is booked as the
// platform's loss, as the collection job's write-off does, with
// credit.plan_written_off. A plan with a card attempt in flight waits for
// its outcome.
func (s *Service) WriteOff(ctx context.Context, planID, reason string) (Plan, error) {
	if reason == "" || len(reason) > WriteOffReasonMax {
		return Plan{}, kassa.Invalid("reason", "reason_invalid", "a reason of 1 to %d bytes is required", WriteOffReasonMax)
	}
	p, err := s.cfg.Store.Plan(ctx, planID)
	if err != nil {
		return Plan{}, err
	}
	if !p.Status.Open() {
		return Plan{}, kassa.Errorf(kassa.EConflict, "plan_closed", "the plan is %s; only an open plan can be written off", p.Status)
	}
	for _, in := range p.Instalments {
		if in.Charging != "" {
			return Plan{}, kassa.Errorf(kassa.EConflict, "plan_changed", "an instalment is being collected; try again in a few minutes")
		}
	}
	now := s.now().UTC()
	if err := s.writeOff(ctx, p, now); errors.Is(err, ErrConflict) {
		return Plan{}, kassa.Errorf(kassa.EConflict, "plan_changed", "the plan changed meanwhile; try again")
	} else if err != nil {
		return Plan{}, err
	}
	s.log.InfoContext(ctx, "pay later plan written off by hand", "plan", p.ID)
	return s.cfg.Store.Plan(ctx, planID)
}
