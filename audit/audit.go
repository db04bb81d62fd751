// Package audit is the append-only log of what people did: the members of
// a merchant's team and the platform operator, in the console, through the
// API or with the CLI. Each entry says who (the actor), what (an action on
// a target), when, from where (client IP and user agent) and the state
// before and after.
//
// The API is two calls: a caller that changes something puts the actor in
// its context once (WithActor, done by the console and the API for every
// request) and calls Log.Record after the change. Nothing updates or
// deletes an entry; the store refuses to (a trigger on both backends).
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
)

// Platform is the organisation of the platform operator's own actions
// (merchants created or suspended, platform-wide locks, voucher batches).
// Only the operator reads its entries.
const Platform = "platform"

// Actor kinds.
const (
	ActorMember = "member"  // a console member (mem_...)
	ActorAPIKey = "api_key" // a secret key (key_...) through /v1
	ActorCLI    = "cli"     // the kassa command on the host
	ActorSystem = "system"  // Kassa itself (a job acting on its own)
)

// Limits.
const (
	// PageLimitMax bounds one page of List.
	PageLimitMax = 100
	// stateBytesMax bounds Before and After: an entry names what changed,
	// it does not copy whole objects.
	stateBytesMax = 8 << 10
	textMax       = 200
	actionMax     = 64
)

// Actor is who acted.
type Actor struct {
	Kind string `json:"type"`
	ID   string `json:"id"`             // mem_..., key_..., "" for cli and system
	Name string `json:"name,omitempty"` // an email address or a key hint: what a reader recognises
	// Role is the member's role when it acted.
	Role      string `json:"role,omitempty"`
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

// Event is one entry of the log.
type Event struct {
	ID      string          `json:"id"` // aud_...
	Org     string          `json:"org"`
	Actor   Actor           `json:"actor"`
	Action  string          `json:"action"` // e.g. "member.invite", "payment.refund", "api_key.rotate"
	Target  string          `json:"target"` // the id of what was acted on
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
	Created time.Time       `json:"created"`
}

// Filter selects entries, newest first. Org "" is every organisation (the
// operator's view); a merchant's caller always names its own.
type Filter struct {
	Org           string
	Action        string // "" any; "payment." every action on payments
	Target        string
	StartingAfter string
	Limit         int
}

// Store keeps the entries. It has no way to change or remove one.
type Store interface {
	AppendAudit(ctx context.Context, e Event) error
	// AuditEvents lists entries newest first and reports whether more
	// follow. An unknown StartingAfter (or one of another organisation) is
	// kassa EInvalid cursor_invalid.
	AuditEvents(ctx context.Context, f Filter) ([]Event, bool, error)
}

// Log records and lists entries.
type Log struct {
	store Store
	now   func() time.Time
	ids   id.Generator
}

// New returns a log over the store; now may be nil for the wall clock.
func New(store Store, now func() time.Time, ids id.Generator) *Log {
	if now == nil {
		now = time.Now
	}
	return &Log{store: store, now: now, ids: ids}
}

type actorKey struct{}

// WithActor returns ctx carrying who acts in it.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor of ctx; an unnamed one is the system.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{Kind: ActorSystem}
}

// Record appends an entry for org: action on target by the actor of ctx,
// with the state before and after (anything that marshals to JSON; nil
// for none). Call it once the change is made. It must never hold a
// secret: a key, a password, a PIN, a card number or a one-time code.
func (l *Log) Record(ctx context.Context, org, action, target string, before, after any) error {
	if org == "" || action == "" || len(action) > actionMax || len(target) > textMax {
		return fmt.Errorf("audit: record %q on %q for %q: bad entry", action, target, org)
	}
	e := Event{ID: l.ids.New("aud"), Org: org, Actor: clean(ActorFrom(ctx)), Action: action, Target: target,
		Created: l.now().UTC()}
	var err error
	if e.Before, err = state(before); err != nil {
		return fmt.Errorf("audit: %s before: %w", action, err)
	}
	if e.After, err = state(after); err != nil {
		return fmt.Errorf("audit: %s after: %w", action, err)
	}
	if err := l.store.AppendAudit(ctx, e); err != nil {
		return fmt.Errorf("audit: append %s: %w", action, err)
	}
	return nil
}

func state(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if string(b) == "null" {
		return nil, nil
	}
	if len(b) > stateBytesMax {
		return nil, fmt.Errorf("%d bytes of state, at most %d", len(b), stateBytesMax)
	}
	return b, nil
}

// clean bounds what the actor carries from a request.
func clean(a Actor) Actor {
	a.Kind, a.ID, a.Name = cut(a.Kind, 32), cut(a.ID, 64), cut(a.Name, textMax)
	a.Role, a.IP, a.UserAgent = cut(a.Role, 32), cut(a.IP, 64), cut(a.UserAgent, textMax)
	if a.Kind == "" {
		a.Kind = ActorSystem
	}
	return a
}

func cut(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.ReplaceAll(s, "\x00", "")
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// List returns a page of entries, newest first.
func (l *Log) List(ctx context.Context, f Filter) ([]Event, bool, error) {
	if f.Limit < 1 || f.Limit > PageLimitMax {
		return nil, false, kassa.Invalid("limit", "limit_invalid", "limit must be an integer from 1 to %d", PageLimitMax)
	}
	if len(f.Action) > actionMax {
		return nil, false, kassa.Invalid("action", "action_invalid", "action must be at most %d characters", actionMax)
	}
	if len(f.Target) > textMax {
		return nil, false, kassa.Invalid("target", "target_invalid", "target must be at most %d characters", textMax)
	}
	if f.StartingAfter != "" && !id.HasPrefix(f.StartingAfter, "aud") {
		return nil, false, kassa.Invalid("starting_after", "cursor_invalid", "starting_after must be the id of a record of the previous page")
	}
	return l.store.AuditEvents(ctx, f)
}
