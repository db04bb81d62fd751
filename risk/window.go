package risk

// A span is a sliding window approximated by n buckets of width seconds.
// Buckets are aligned on Unix time, so the 1 h buckets start on the full
// hour (UTC) and the same event lands in the same bucket on every node.
//
// At time t a window counts the buckets from t's own bucket back to n-1
// buckets before it. That covers every event of the last (n-1)·width
// seconds, none of n·width seconds ago or older, and those in between
// depending on where t falls in its bucket: the window is at least
// n-1 buckets and less than n buckets long. An event exactly one window
// old is therefore always out of it.
type span struct {
	width int64 // seconds per bucket
	n     int64 // buckets in the window
}

// The windows features use. The rings that hold them keep bucketSlack
// buckets more than the window needs, so a query up to one bucket behind
// the entity's newest event (an attempt arriving slightly out of order
// from another node) still sees its whole window.
var (
	span1m  = span{width: 10, n: 6}
	span1h  = span{width: 5 * 60, n: 12}
	span24h = span{width: 60 * 60, n: 24}
	span7d  = span{width: 12 * 60 * 60, n: 14}
)

const bucketSlack = 1

// seconds is how long the window is at most.
func (sp span) seconds() int64 { return sp.width * sp.n }

// bucket numbers the bucket that holds second t.
func (sp span) bucket(t int64) int64 { return floorDiv(t, sp.width) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// ringOf lists the ring lengths in use: each window's n + bucketSlack.
type ringOf[V uint16 | float32] interface {
	[7]V | [13]V | [15]V | [25]V
}

// A window is a ring of bucket sums: attempt counts or amounts. Buckets
// newest-len+1 ... newest are valid; a value older than that is dropped,
// since no query at or after the entity's newest time can see it. Values
// never decrease: the window slides by zeroing buckets as time moves past
// them.
//
// Buckets are small because Extract reads every one of them from memory
// that is rarely in cache: counts are uint16 and stop at 65,535 per
// bucket (more attempts than that in one 10 s, 5 min or 1 h bucket by
// one card, IP address or customer make the feature saturate, not
// wrap); amounts are float32, exact to 2^24 minor units per bucket and
// within 1e-7 beyond, far finer than the log-scaled features they feed.
type window[R ringOf[V], V uint16 | float32] struct {
	newest int64 // bucket number of the newest bucket written; 0 while empty
	b      R
}

type (
	count1m  = window[[7]uint16, uint16]
	count1h  = window[[13]uint16, uint16]
	count24h = window[[25]uint16, uint16]
	sum24h   = window[[25]float32, float32]
	sum7d    = window[[15]float32, float32]
)

// add records v (≥ 0) at second t. sp must be the span the ring was sized
// for; a test checks every window type against its span.
func (w *window[R, V]) add(sp span, t int64, v V) {
	i := sp.bucket(t)
	n := int64(len(w.b))
	if w.newest == 0 {
		// Empty (or, harmlessly, last written in the first bucket of 1970).
		w.newest = i
	}
	switch d := i - w.newest; {
	case d >= n:
		var zero R
		w.b = zero
		w.newest = i
	case d > 0:
		k := floorMod(w.newest, n)
		for range d {
			if k++; k == n {
				k = 0
			}
			w.b[k] = 0
		}
		w.newest = i
	case d <= -n:
		return
	}
	k := floorMod(i, n)
	if s := w.b[k] + v; s >= w.b[k] {
		w.b[k] = s // on overflow the bucket stays where it is
	}
}

// sum is the window's value at second t: the buckets from t's back to
// sp.n-1 before it, plus any newer ones already written (attempts seen
// out of order that happened after t).
func (w *window[R, V]) sum(sp span, t int64) float64 {
	n := int64(len(w.b))
	lo := sp.bucket(t) - sp.n + 1
	if oldest := w.newest - n + 1; lo < oldest {
		lo = oldest
	}
	var s float64
	if lo > w.newest {
		return 0
	}
	// One division for the first bucket; the ring index then walks.
	k := floorMod(lo, n)
	for range w.newest - lo + 1 {
		s += float64(w.b[k])
		if k++; k == n {
			k = 0
		}
	}
	return s
}

// distinct is a bounded set of value hashes, each with the last second it
// was seen: "how many different cards did this device use in 24 h" counts
// the members seen within the window, exactly. When the set is full a
// new member replaces the one seen longest ago (the first such in slot
// order, so the outcome never depends on hash values).
type distinct struct {
	e []seenAt
}

type seenAt struct {
	h uint64
	t int64 // Unix seconds
}

// add records h at second t, keeping at most limit members.
func (d *distinct) add(h uint64, t int64, limit int) {
	oldest := -1
	for i := range d.e {
		if d.e[i].h == h {
			d.e[i].t = max(d.e[i].t, t)
			return
		}
		if oldest < 0 || d.e[i].t < d.e[oldest].t {
			oldest = i
		}
	}
	if len(d.e) < limit {
		if len(d.e) == cap(d.e) {
			// Grow gently and never past limit: most sets stay at one or
			// two members.
			grown := make([]seenAt, len(d.e), min(max(2*cap(d.e), 2), limit))
			copy(grown, d.e)
			d.e = grown
		}
		d.e = append(d.e, seenAt{h, t})
		return
	}
	if oldest >= 0 && d.e[oldest].t < t {
		d.e[oldest] = seenAt{h, t}
	}
}

// addFirst records h at second t unless it is a member already: the set
// keeps when each member was first seen (replays out of order keep the
// earliest), and drops the earliest when full.
func (d *distinct) addFirst(h uint64, t int64, limit int) {
	for i := range d.e {
		if d.e[i].h == h {
			d.e[i].t = min(d.e[i].t, t)
			return
		}
	}
	d.add(h, t, limit)
}

// since is when member h was recorded (see add and addFirst), and whether
// it is a member.
func (d *distinct) since(h uint64) (int64, bool) {
	for i := range d.e {
		if d.e[i].h == h {
			return d.e[i].t, true
		}
	}
	return 0, false
}

// count is how many members were last seen after second since.
func (d *distinct) count(since int64) int {
	n := 0
	for i := range d.e {
		if d.e[i].t > since {
			n++
		}
	}
	return n
}

func (d *distinct) has(h uint64) bool {
	for i := range d.e {
		if d.e[i].h == h {
			return true
		}
	}
	return false
}
