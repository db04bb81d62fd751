// Package webhook holds Kassa's events and their delivery to merchants'
// endpoints as webhooks signed per the Standard Webhooks specification
// (https://www.standardwebhooks.com).
//
// Events are written to an outbox in the same database transaction as the
// state change that causes them (the store's AppendEvent, called by other
// stores inside their own transaction). Writing an event also writes one
// pending delivery per enabled endpoint of the merchant subscribed to its
// type. Service.Run sends due deliveries at least once: several Kassa
// processes may run it at once, each claiming deliveries with a lease, so a
// worker that dies mid-attempt only delays a delivery until its lease ends.
//
// Retries back off exponentially with jitter (see Backoff) until at least
// RetryWindow after the first attempt; then the delivery fails. An endpoint
// none of whose deliveries succeeded since that failed delivery's first
// attempt (so it has failed for at least RetryWindow straight) is disabled,
// and the event webhook_endpoint.disabled is published.
package webhook

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
)

// Event is something that happened to a merchant's object. Data is a
// snapshot of the object as it was then.
type Event struct {
	ID         string          // evt_...
	MerchantID string          // mer_...
	Type       string          // e.g. "payment.captured"
	Created    time.Time       // UTC
	Data       json.RawMessage // a JSON object
}

// Limits on events.
const (
	EventDataBytesMax  = 256 << 10 // the snapshot an event carries
	eventTypeLengthMax = 64
)

// Event types this package publishes itself.
const (
	// TypeEndpointDisabled is published when an endpoint is disabled
	// after failing persistently; its data is the endpoint (no secret).
	TypeEndpointDisabled = "webhook_endpoint.disabled"
	// TypeAll subscribes an endpoint to every event type.
	TypeAll = "*"
)

var (
	typesMu sync.RWMutex
	types   = map[string]bool{TypeEndpointDisabled: true}

	typeName = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)
)

// RegisterEventType adds an event type endpoints may subscribe to. Other
// modules call it from an init function ("payment.captured", ...). A name
// is dot-separated lower-case words; anything else is a programmer error
// and panics. Registering a name twice is harmless.
func RegisterEventType(name string) {
	if len(name) > eventTypeLengthMax || !typeName.MatchString(name) {
		panic(fmt.Sprintf("webhook: invalid event type name %q", name))
	}
	typesMu.Lock()
	defer typesMu.Unlock()
	types[name] = true
}

// KnownEventType reports whether name was registered (or is "*").
func KnownEventType(name string) bool {
	if name == TypeAll {
		return true
	}
	typesMu.RLock()
	defer typesMu.RUnlock()
	return types[name]
}

// EventTypes lists the registered event types, sorted, without "*".
func EventTypes() []string {
	typesMu.RLock()
	defer typesMu.RUnlock()
	out := make([]string, 0, len(types))
	for t := range types {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Validate checks an event before it is stored.
func (ev Event) Validate() error {
	switch {
	case !id.HasPrefix(ev.ID, "evt"):
		return fmt.Errorf("webhook: event id %q must look like evt_...", ev.ID)
	case ev.MerchantID == "":
		return fmt.Errorf("webhook: event %s has no merchant", ev.ID)
	case !KnownEventType(ev.Type) || ev.Type == TypeAll:
		return fmt.Errorf("webhook: event %s has the unregistered type %q", ev.ID, ev.Type)
	case ev.Created.IsZero():
		return fmt.Errorf("webhook: event %s has no creation time", ev.ID)
	case len(ev.Data) > EventDataBytesMax:
		return fmt.Errorf("webhook: event %s data is %d bytes, more than %d", ev.ID, len(ev.Data), EventDataBytesMax)
	case len(ev.Data) == 0 || ev.Data[0] != '{' || !json.Valid(ev.Data):
		return fmt.Errorf("webhook: event %s data must be a JSON object", ev.ID)
	}
	return nil
}

// Subscribed reports whether an endpoint listening to events receives an
// event of type typ.
func Subscribed(events []string, typ string) bool {
	return slices.Contains(events, TypeAll) || slices.Contains(events, typ)
}

// payload is the body of a webhook request.
type payload struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Created string          `json:"created"`
	Data    json.RawMessage `json:"data"`
}

// Body returns the webhook request body for the event:
// {"id","type","created","data"}. It is the same bytes on every attempt.
func (ev Event) Body() ([]byte, error) {
	return json.Marshal(payload{ID: ev.ID, Type: ev.Type, Created: ev.Created.UTC().Format(time.RFC3339), Data: ev.Data})
}

// Errors stores return for records that do not exist or belong to another
// merchant (the two are not told apart).
var (
	ErrEventNotFound    = kassa.Errorf(kassa.ENotFound, "event_not_found", "no such event")
	ErrEndpointNotFound = kassa.Errorf(kassa.ENotFound, "webhook_endpoint_not_found", "no such webhook endpoint")
)
