package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa/id"
)

// Channel is how a message reaches a customer.
type Channel string

const (
	ChannelEmail Channel = "email"
	ChannelSMS   Channel = "sms"
)

func (c Channel) valid() bool { return c == ChannelEmail || c == ChannelSMS }

// Message is one message to a customer. Body may hold a one-time code:
// senders must not log it.
type Message struct {
	Channel Channel
	To      string // an email address or an E.164 number
	Subject string // email only
	Body    string
}

// Message limits (a code message is far smaller).
const (
	messageSubjectMax = 200
	messageBodyMax    = 4096
)

// Validate checks a message before it is sent; senders call it.
func (m Message) Validate() error {
	switch {
	case !m.Channel.valid():
		return fmt.Errorf("identity: message channel %q is neither email nor sms", m.Channel)
	case m.To == "" || len(m.To) > EmailLengthMax:
		return errors.New("identity: message has no or an over-long recipient")
	case len(m.Subject) > messageSubjectMax || len(m.Body) > messageBodyMax:
		return errors.New("identity: message subject or body too long")
	}
	return nil
}

// Notifier sends messages. identity/notify has an SMTP sender and an HTTP
// webhook sender; NewOutbox keeps them in the database for development.
type Notifier interface {
	Send(ctx context.Context, m Message) error
}

// OutboxMessage is a message kept in the development outbox.
type OutboxMessage struct {
	ID string // msg_...
	Message
	Created time.Time
}

// OutboxMessagesMax bounds one listing of the outbox.
const OutboxMessagesMax = 1000

// Outbox is the development Notifier: it stores messages in the database
// (the store's outbox table) instead of sending them, for the `kassa
// outbox` command and the development page to show. Messages are pruned
// after Limits.Retention with everything else. It must not be used in
// production: whoever reads the database reads the codes.
type Outbox struct {
	store Store
	now   func() time.Time
	ids   id.Generator
}

var _ Notifier = (*Outbox)(nil)

// NewOutbox returns the development outbox over store; clock nil means time.Now.
func NewOutbox(store Store, clock func() time.Time, ids id.Generator) *Outbox {
	if clock == nil {
		clock = time.Now
	}
	return &Outbox{store: store, now: clock, ids: ids}
}

func (o *Outbox) Send(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	return o.store.AppendOutbox(ctx, OutboxMessage{ID: o.ids.New("msg"), Message: m, Created: o.now().UTC()})
}

// Messages lists up to limit (1..OutboxMessagesMax) stored messages,
// newest first; to, when set, keeps those to one address.
func (o *Outbox) Messages(ctx context.Context, to string, limit int) ([]OutboxMessage, error) {
	limit = min(max(limit, 1), OutboxMessagesMax)
	return o.store.OutboxMessages(ctx, to, limit)
}
