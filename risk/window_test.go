package risk

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// t0 is a second on which every bucket of every span starts.
var t0 = int64(1_772_409_600) // 2026-03-02T00:00:00Z

func TestWindowRingsFitTheirSpans(t *testing.T) {
	tests := []struct {
		name string
		ring int
		sp   span
	}{
		{"count1m", len(count1m{}.b), span1m},
		{"count1h", len(count1h{}.b), span1h},
		{"count24h", len(count24h{}.b), span24h},
		{"sum24h", len(sum24h{}.b), span24h},
		{"sum7d", len(sum7d{}.b), span7d},
	}
	for _, tt := range tests {
		if got, want := int64(tt.ring), tt.sp.n+bucketSlack; got != want {
			t.Errorf("%s has %d buckets, want %d for its span", tt.name, got, want)
		}
	}
	for _, sp := range []span{span1m, span1h, span24h, span7d} {
		if t0%sp.width != 0 {
			t.Errorf("t0 is not on a bucket start of width %d", sp.width)
		}
	}
}

// windowCase runs the same checks on every window type.
type windowCase struct {
	name string
	sp   span
	new  func() windowUnderTest
}

type windowUnderTest interface {
	add(sp span, t int64, v int64)
	sum(sp span, t int64) float64
}

type adapter[R ringOf[V], V uint16 | float32] struct{ w window[R, V] }

func (a *adapter[R, V]) add(sp span, t int64, v int64) { a.w.add(sp, t, V(v)) }
func (a *adapter[R, V]) sum(sp span, t int64) float64  { return a.w.sum(sp, t) }

var windowCases = []windowCase{
	{"1m", span1m, func() windowUnderTest { return new(adapter[[7]uint16, uint16]) }},
	{"1h", span1h, func() windowUnderTest { return new(adapter[[13]uint16, uint16]) }},
	{"24h", span24h, func() windowUnderTest { return new(adapter[[25]uint16, uint16]) }},
	{"24h amounts", span24h, func() windowUnderTest { return new(adapter[[25]float32, float32]) }},
	{"7d amounts", span7d, func() windowUnderTest { return new(adapter[[15]float32, float32]) }},
}

func TestWindowEdges(t *testing.T) {
	for _, tc := range windowCases {
		t.Run(tc.name, func(t *testing.T) {
			W, w := tc.sp.seconds(), tc.sp.width
			rng := rand.New(rand.NewPCG(1, 2))
			for range 200 {
				at := t0 + rng.Int64N(10*W)
				win := tc.new()
				win.add(tc.sp, at, 1)
				if got := win.sum(tc.sp, at); got != 1 {
					t.Fatalf("at the event's own second: %v, want 1", got)
				}
				// Exactly one window old is out, wherever in its bucket
				// the event fell.
				if got := win.sum(tc.sp, at+W); got != 0 {
					t.Fatalf("event %d s old (the whole window): %v, want 0", W, got)
				}
				if got := win.sum(tc.sp, at+W+rng.Int64N(3*W)); got != 0 {
					t.Fatalf("event older than the window: %v, want 0", got)
				}
				// Up to n-1 buckets old is always in.
				if got := win.sum(tc.sp, at+W-w); got != 1 {
					t.Fatalf("event %d s old: %v, want 1", W-w, got)
				}
				// Before the event (it arrived out of order): counted.
				if got := win.sum(tc.sp, at-w); got != 1 {
					t.Fatalf("event in the future of the query: %v, want 1", got)
				}
			}
			// On a bucket start the window is exactly n buckets long.
			win := tc.new()
			win.add(tc.sp, t0, 1)
			if got := win.sum(tc.sp, t0+W-1); got != 1 {
				t.Errorf("event at a bucket start, W-1 s old: %v, want 1", got)
			}
			// At the end of a bucket it leaves a bucket early: the
			// approximation the docs state.
			win = tc.new()
			win.add(tc.sp, t0+w-1, 1)
			if got := win.sum(tc.sp, t0+W); got != 0 {
				t.Errorf("event at a bucket's end, W-w+1 s old: %v, want 0 (window shortened to the bucket)", got)
			}
		})
	}
}

func TestWindowOutOfOrder(t *testing.T) {
	for _, tc := range windowCases {
		t.Run(tc.name, func(t *testing.T) {
			W, w := tc.sp.seconds(), tc.sp.width
			win := tc.new()
			win.add(tc.sp, t0+W, 1)
			win.add(tc.sp, t0+W-w/2, 1) // a little earlier, from another node
			win.add(tc.sp, t0+W-w, 1)   // one bucket earlier
			if got := win.sum(tc.sp, t0+W); got != 3 {
				t.Errorf("after out-of-order events: %v, want 3", got)
			}
			// Older than the ring: dropped, no panic, no effect.
			win.add(tc.sp, t0-10*W, 1)
			win.add(tc.sp, t0-1, 1)
			if got := win.sum(tc.sp, t0+W); got != 3 {
				t.Errorf("after too-old events: %v, want 3", got)
			}
			// A query one bucket behind the newest still sees its whole
			// window: the ring's slack bucket.
			slack := tc.new()
			slack.add(tc.sp, t0, 1)
			slack.add(tc.sp, t0+W, 1)
			if got := slack.sum(tc.sp, t0+W-w); got != 2 {
				t.Errorf("query a bucket behind the newest: %v, want 2 (its oldest bucket and the newer event)", got)
			}
			// A jump far ahead empties the ring; nothing goes negative.
			win.add(tc.sp, t0+100*W, 1)
			for q := t0; q < t0+110*W; q += W / 3 {
				if got := win.sum(tc.sp, q); got < 0 || got > 5 {
					t.Fatalf("sum at %d = %v", q, got)
				}
			}
			if got := win.sum(tc.sp, t0+100*W); got != 1 {
				t.Errorf("after a jump: %v, want 1", got)
			}
		})
	}
}

// TestWindowMatchesExactCount compares the bucketed windows with an exact
// count over random streams that arrive up to one bucket out of order,
// queried at every new event's time before it is added (as Replay does),
// and at random later times. The bound the docs state: every event
// younger than W-w is counted and none W or more old; events after the
// query time (seen out of order) are counted.
func TestWindowMatchesExactCount(t *testing.T) {
	for _, tc := range windowCases {
		t.Run(tc.name, func(t *testing.T) {
			W, w := tc.sp.seconds(), tc.sp.width
			for seed := range uint64(20) {
				rng := rand.New(rand.NewPCG(seed, 7))
				win := tc.new()
				type ev struct{ t, v int64 }
				var seen []ev
				newest := t0
				check := func(q int64) {
					var lower, upper float64
					for _, e := range seen {
						if e.t > q-W+w {
							lower += float64(e.v)
						}
						if e.t > q-W {
							upper += float64(e.v)
						}
					}
					got := win.sum(tc.sp, q)
					if got < lower || got > upper {
						t.Fatalf("seed %d: sum at %d = %v, exact bounds [%v, %v]", seed, q-t0, got, lower, upper)
					}
				}
				// Bursts and gaps: steps from a second to several windows.
				for range 2000 {
					switch r := rng.IntN(10); {
					case r < 6:
						newest += rng.Int64N(w)
					case r < 9:
						newest += rng.Int64N(W / 2)
					default:
						newest += rng.Int64N(3 * W)
					}
					at := newest - rng.Int64N(w) // up to one bucket out of order
					check(at)
					v := int64(1)
					if tc.name == "24h amounts" || tc.name == "7d amounts" {
						v = rng.Int64N(1000) // sums stay exact in float32
					}
					win.add(tc.sp, at, v)
					seen = append(seen, ev{at, v})
					// No later query reaches further back than newest-W-w.
					seen = slices.DeleteFunc(seen, func(e ev) bool { return e.t <= newest-W-2*w })
					check(newest + rng.Int64N(2*W))
				}
			}
		})
	}
}

func TestWindowSaturates(t *testing.T) {
	var w count1m
	w.add(span1m, t0, ^uint16(0))
	w.add(span1m, t0, 1)
	if got, want := w.sum(span1m, t0), float64(^uint16(0)); got != want {
		t.Errorf("sum after overflow = %v, want %v", got, want)
	}
}

func TestDistinctBound(t *testing.T) {
	const limit = 64
	var d distinct
	for i := range 200 {
		d.add(uint64(i+1), t0+int64(i), limit)
		if len(d.e) > limit || cap(d.e) > limit {
			t.Fatalf("after %d members: len %d cap %d, limit %d", i+1, len(d.e), cap(d.e), limit)
		}
	}
	if got := d.count(t0 - 1); got != limit {
		t.Errorf("count = %d, want %d", got, limit)
	}
	// The newest members stayed.
	for i := 200 - limit; i < 200; i++ {
		if !d.has(uint64(i + 1)) {
			t.Fatalf("member %d of the newest %d is gone", i+1, limit)
		}
	}
	// A member older than all others does not push one out.
	d.add(9999, t0, limit)
	if d.has(9999) {
		t.Error("a member older than every other replaced one")
	}
	// Seeing a member again moves it forward, never back.
	d.add(200, t0, limit)
	if got := d.count(t0 + 198); got != 1 {
		t.Errorf("after an old sighting of the newest member: %d seen after its time, want 1", got)
	}
	// Within the window only.
	if got := d.count(t0 + 199 - 10); got != 10 {
		t.Errorf("count in the last 10 s = %d, want 10", got)
	}
}
