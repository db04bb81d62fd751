package ledger

import (
	"context"
	"testing"
)

// While one owner queues calls that each fill a batch, an owner with many
// one-event calls still gets a fair share of every batch's events.
func TestFairQueueSharesEvents(t *testing.T) {
	q := newFairQueue(1<<20, BatchEventsMaxDefault)
	ctx := context.Background()
	for range 64 {
		q.push(ctx, &submission{owner: "big", transfers: make([]Transfer, TransfersPerCallMax)}, nil)
	}
	for range 64 * BatchEventsMaxDefault {
		q.push(ctx, &submission{owner: "", transfers: make([]Transfer, 1)}, nil)
	}
	var events [2]int
	var subs []*submission
	for range 32 {
		subs = q.take(subs[:0], BatchEventsMaxDefault)
		n := 0
		for _, s := range subs {
			n += s.events()
			if s.owner == "big" {
				events[0] += s.events()
			} else {
				events[1] += s.events()
			}
		}
		if n > BatchEventsMaxDefault || n == 0 {
			t.Fatalf("batch of %d events, want 1..%d", n, BatchEventsMaxDefault)
		}
	}
	total := events[0] + events[1]
	for i, name := range []string{"big", "small"} {
		if share := float64(events[i]) / float64(total); share < 0.4 {
			t.Errorf("%s owner got %.2f of %d events, want at least 0.4", name, share, total)
		}
	}
	// Order within an owner is kept.
	q = newFairQueue(16, BatchEventsMaxDefault)
	var in []*submission
	for i := range 10 {
		s := &submission{owner: "m", transfers: make([]Transfer, 1+i*900)}
		in = append(in, s)
		q.push(ctx, s, nil)
	}
	var out []*submission
	for len(out) < len(in) {
		out = q.take(out, BatchEventsMaxDefault)
	}
	for i := range in {
		if out[i] != in[i] {
			t.Fatalf("submission %d came out of order", i)
		}
	}
}
