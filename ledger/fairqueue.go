package ledger

import (
	"context"
	"sync"
)

// fairQueue holds the submissions waiting for the sequencer: one FIFO per
// owner, served by deficit round robin. Each batch is filled by visiting
// the owners with waiting submissions in turn; a visit adds a quantum of
// events to the owner's credit and takes its submissions, in order, while
// they fit both the credit and the batch. A merchant flooding the ledger
// with calls of TransfersPerCallMax transfers thus gets its share of the
// batches' events, not all of them, and another owner's small call waits
// for at most the batch in progress and the next one.
//
// Back-pressure falls on the owner that floods: an owner may have at most
// perOwnerMax submissions waiting, and while totalMax are waiting only
// owners with none waiting get in (so every owner keeps its place in the
// ring). Callers beyond that wait for room.
type fairQueue struct {
	perOwnerMax int
	totalMax    int
	quantum     int // events of credit per visit

	mu     sync.Mutex
	owners map[string]*ownerQueue
	ring   []*ownerQueue // owners with waiting submissions, in turn order
	next   int           // index in ring of the owner visited first by take
	total  int           // submissions waiting
	closed bool
	ready  chan struct{} // capacity 1: a submission arrived
	room   chan struct{} // closed and replaced when submissions leave
}

type ownerQueue struct {
	owner  string
	subs   []*submission
	credit int // events this owner may still add (deficit round robin)
}

func newFairQueue(perOwnerMax, batchEventsMax int) *fairQueue {
	return &fairQueue{
		perOwnerMax: perOwnerMax,
		totalMax:    8 * perOwnerMax,
		quantum:     max(1, batchEventsMax/8),
		owners:      make(map[string]*ownerQueue),
		ready:       make(chan struct{}, 1),
		room:        make(chan struct{}),
	}
}

// push queues s behind its owner's earlier submissions, waiting while the
// owner (or the whole queue) is full. It returns ErrClosed once the queue
// was closed and ctx's error when ctx ends first.
func (q *fairQueue) push(ctx context.Context, s *submission, closing <-chan struct{}) error {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		o := q.owners[s.owner]
		n := 0
		if o != nil {
			n = len(o.subs)
		}
		if n == 0 || (n < q.perOwnerMax && q.total < q.totalMax) {
			if o == nil {
				o = &ownerQueue{owner: s.owner}
				q.owners[s.owner] = o
				q.ring = append(q.ring, o)
			}
			o.subs = append(o.subs, s)
			q.total++
			q.mu.Unlock()
			select {
			case q.ready <- struct{}{}:
			default:
			}
			return nil
		}
		room := q.room
		q.mu.Unlock()
		select {
		case <-room:
		case <-closing:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// take appends to dst the submissions of the next batch, at most
// eventsMax events, and returns it.
func (q *fairQueue) take(dst []*submission, eventsMax int) []*submission {
	q.mu.Lock()
	defer q.mu.Unlock()
	free := eventsMax
	taken := len(dst)
	// The loop ends when every owner's next submission is too big for
	// what is left of the batch (stuck counts such owners in a row) or
	// no owner has anything left. Every other visit either takes a
	// submission or raises a credit that is capped at eventsMax, which no
	// submission exceeds, so it ends.
	for stuck := 0; len(q.ring) > 0 && stuck < len(q.ring); {
		if q.next >= len(q.ring) {
			q.next = 0
		}
		o := q.ring[q.next]
		o.credit = min(o.credit+q.quantum, eventsMax)
		for len(o.subs) > 0 {
			n := o.subs[0].events()
			if n > o.credit || n > free {
				break
			}
			dst = append(dst, o.subs[0])
			o.subs[0] = nil
			o.subs = o.subs[1:]
			o.credit -= n
			free -= n
		}
		if len(o.subs) == 0 {
			// An owner that has nothing waiting keeps no credit.
			delete(q.owners, o.owner)
			q.ring = append(q.ring[:q.next], q.ring[q.next+1:]...)
			stuck = 0
			continue
		}
		if o.subs[0].events() > free {
			stuck++
		} else {
			stuck = 0
		}
		q.next++
	}
	if n := len(dst) - taken; n > 0 {
		q.total -= n
		close(q.room)
		q.room = make(chan struct{})
	}
	return dst
}

// close refuses further pushes and returns the submissions still waiting.
func (q *fairQueue) close() []*submission {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	var out []*submission
	for _, o := range q.ring {
		out = append(out, o.subs...)
	}
	q.ring, q.owners, q.total = nil, nil, 0
	close(q.room)
	q.room = make(chan struct{})
	return out
}

// waiting returns the number of submissions waiting, of every owner.
func (q *fairQueue) waiting() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total
}

// queued returns the number of submissions of owner waiting.
func (q *fairQueue) queued(owner string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if o := q.owners[owner]; o != nil {
		return len(o.subs)
	}
	return 0
}
