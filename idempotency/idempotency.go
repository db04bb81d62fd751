// Package idempotency holds what Kassa remembers of Idempotency-Key
// requests, and the seam through which a request's answer is stored by
// the same transaction that makes its effect durable: one durable commit
// per request, not three (key taken, effect, answer stored).
//
// The HTTP API (package httpapi) puts a *Pending in the request's context
// and says how its handler's result is rendered; a store writing the
// domain transaction (the payment insert of a create, the ledger effect of
// a confirm or capture) asks the Pending for the record and writes it in
// that transaction. No key is ever stored in flight, so a crash cannot
// leave one held: a request that did not commit left nothing behind.
//
// The package knows no SQL and no HTTP.
package idempotency

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Record is one remembered request and its answer.
type Record struct {
	// MerchantID is the key's namespace: the merchant's id for secret-key
	// callers, "pk:" and the id for publishable-key callers.
	MerchantID  string
	Key         string
	RequestHash []byte
	// Done is false only in rows an older Kassa left in flight (it stored
	// a key before running the request); this one stores answers only.
	Done        bool
	Status      int
	ContentType string
	// Body is the answer, sealed by the API (stores keep it as it is).
	Body []byte
	// LockedUntil bounds an older Kassa's in-flight row; for a stored
	// answer it is when the answer was stored.
	LockedUntil time.Time
	ExpiresAt   time.Time
}

// Live reports whether r still holds its key at now: an answer until it
// expires, an older Kassa's in-flight row until its lease ends.
func (r Record) Live(now time.Time) bool {
	return now.Before(r.ExpiresAt) && (r.Done || now.Before(r.LockedUntil))
}

// ErrKeyTaken is returned when a record is stored for a key that holds a
// live one already: another request with the key (on another node, or a
// retry after a lost answer) committed first.
var ErrKeyTaken = errors.New("idempotency: the key holds a stored answer already")

// Store remembers idempotency keys. Every method is one transaction of its
// own; stores also write records inside their domain transactions (see
// Pending).
type Store interface {
	// LookupIdempotent returns the stored record of the key, and false
	// when there is none or it is no longer Live at now.
	LookupIdempotent(ctx context.Context, merchantID, key string, now time.Time) (Record, bool, error)
	// InsertIdempotent stores rec unless the key holds a Live record at
	// now (ErrKeyTaken).
	InsertIdempotent(ctx context.Context, rec Record, now time.Time) error
	// ReplaceIdempotent overwrites the answer stored for the same request
	// (key and request hash): a request whose domain transaction stored an
	// answer that its handler then changed.
	ReplaceIdempotent(ctx context.Context, rec Record) error
	// DeleteExpiredIdempotency forgets keys past their expiry.
	DeleteExpiredIdempotency(ctx context.Context, now time.Time) (int64, error)
}

// Render turns a domain result (a payment) into the answer the request
// sends: its HTTP status, content type and body; a nil body when the
// result is not the one the handler answers with.
type Render func(result any) (status int, contentType string, body []byte, err error)

// Pending is the answer of a request in progress, waiting to be stored by
// the domain transaction that makes its effect durable.
type Pending struct {
	base Record
	now  time.Time
	seal func(body []byte) []byte

	mu     sync.Mutex
	render Render
	status int
	answer []byte // the last answer handed to a transaction, in clear
	// committedStatus and committed are the answer a transaction stored
	// and then committed (Committed); nil when none is known to have.
	committedStatus int
	committed       []byte
}

// NewPending returns the Pending of a request: base names its key, request
// hash and expiry; seal seals an answer for storing.
func NewPending(base Record, now time.Time, seal func(body []byte) []byte) *Pending {
	return &Pending{base: base, now: now, seal: seal}
}

type pendingKey struct{}

// WithPending returns ctx carrying p.
func WithPending(ctx context.Context, p *Pending) context.Context {
	return context.WithValue(ctx, pendingKey{}, p)
}

// PendingFrom returns the Pending ctx carries, or nil.
func PendingFrom(ctx context.Context) *Pending {
	p, _ := ctx.Value(pendingKey{}).(*Pending)
	return p
}

// SetRender says how the handler renders its domain result. A request
// without one stores its answer after the handler, in a transaction of
// its own.
func (p *Pending) SetRender(r Render) {
	p.mu.Lock()
	p.render = r
	p.mu.Unlock()
}

// Answer returns the record to store with result inside a domain
// transaction, and false when the handler renders none. The transaction
// may still roll back or run again: the API checks what committed.
func (p *Pending) Answer(result any) (Record, time.Time, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.render == nil {
		return Record{}, time.Time{}, false, nil
	}
	status, contentType, body, err := p.render(result)
	if err != nil || body == nil {
		return Record{}, time.Time{}, false, err
	}
	p.status, p.answer = status, body
	rec := p.base
	rec.Done, rec.Status, rec.ContentType, rec.Body = true, status, contentType, p.seal(body)
	rec.LockedUntil = p.now
	return rec, p.now, true, nil
}

// Answered returns the last answer handed to a domain transaction (in
// clear) and its status; false when none was.
func (p *Pending) Answered() (int, []byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status, p.answer, p.answer != nil
}

// Stored is called by the store inside the transaction that stored the
// answer Answer last returned; the returned function is to be called once
// that transaction committed durably (and never otherwise). The request
// then knows its answer is the key's without reading it back.
func (p *Pending) Stored() (committed func()) {
	p.mu.Lock()
	status, answer := p.status, p.answer
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		p.committedStatus, p.committed = status, answer
		p.mu.Unlock()
	}
}

// Committed returns the answer a committed transaction stored for the
// key (in clear) and its status; false when no commit is known, in which
// case only the store can tell.
func (p *Pending) Committed() (int, []byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.committedStatus, p.committed, p.committed != nil
}
