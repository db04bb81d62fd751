// Package lease runs background jobs under leases held in the database, so
// any number of nodes run each job once and a dead node's job moves to
// another within seconds.
//
// A lease is one row per job: its holder, an epoch and an expiry on the
// database's clock. A node takes a free or expired lease (the epoch grows
// by one), renews it while it holds it, and gives it back when it stops.
// The epoch is a fencing token: a job runs with its Fence in the context,
// and the store checks the fence inside every write transaction the job
// makes, so a node that was paused past its lease (and lost it) cannot
// write once another node took over. Package lease knows no SQL: Store is
// implemented by store/sqlstore.
package lease

import (
	"context"
	"errors"
	"time"
)

// ErrLost is returned by a write made under a fence whose lease has gone
// to another holder (or a later epoch).
var ErrLost = errors.New("lease: lost to another holder")

// Fence is what a job's writes are checked against: the lease of Job held
// by Holder at Epoch.
type Fence struct {
	Job    string
	Holder string
	Epoch  int64
}

type fenceKey struct{}

// WithFence returns ctx carrying f; stores check it at write time.
func WithFence(ctx context.Context, f Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceFrom returns the fence ctx carries, if any.
func FenceFrom(ctx context.Context) (Fence, bool) {
	f, ok := ctx.Value(fenceKey{}).(Fence)
	return f, ok
}

// Store keeps the leases.
type Store interface {
	// Acquire takes or renews the lease of job for holder until ttl from
	// the store's clock. held is the epoch holder believes it holds (0:
	// none). The lease is granted when nobody holds it, when it has
	// expired, or when holder holds it at epoch held (a renewal keeps the
	// epoch; a takeover increments it). It returns the epoch granted, or
	// ok false when another holder's lease is still running.
	Acquire(ctx context.Context, job, holder string, held int64, ttl time.Duration) (epoch int64, ok bool, err error)
	// Release ends holder's lease of job at epoch at once (so another
	// node can take it without waiting for the expiry); it does nothing
	// when the lease is no longer holder's.
	Release(ctx context.Context, job, holder string, epoch int64) error
	// Leases lists every lease row.
	Leases(ctx context.Context) ([]Lease, error)
}

// Lease is one stored lease.
type Lease struct {
	Job     string
	Holder  string
	Epoch   int64
	Expires time.Time
}
