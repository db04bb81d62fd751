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

// OutboxMessage is a message kept in the development outbox. The store
// keeps its body sealed only (BodySealed); Outbox.Messages opens it into
// Body, in memory.
type OutboxMessage struct {
	ID string // msg_...
	Message
	BodySealed []byte
	Created    time.Time
}

// OutboxMessagesMax bounds one listing of the outbox.
const OutboxMessagesMax = 1000

// outboxUnreadable stands for a body that does not open.
const outboxUnreadable = "(this message does not open: sealed under a key that is gone, or tampered with)"

// Outbox is the development Notifier: it stores messages in the database
// (the store's outbox table) instead of sending them, for the `kassa
// outbox` command and the development page to show. Bodies (they hold
// one-time codes) are sealed with the Sealer before they are stored, so
// that a copy of the database reveals no code; only whoever holds the
// vault's keys reads them. Messages are pruned after Limits.Retention
// with everything else. It is not for production: the codes are meant to
// reach the payer, not a database.
type Outbox struct {
	store  Store
	sealer Sealer
	now    func() time.Time
	ids    id.Generator
}

var _ Notifier = (*Outbox)(nil)

// NewOutbox returns the development outbox over store, sealing bodies
// with sealer (required); clock nil means time.Now.
func NewOutbox(store Store, sealer Sealer, clock func() time.Time, ids id.Generator) *Outbox {
	if sealer == nil {
		panic("identity: NewOutbox needs a Sealer: the outbox keeps no code in clear")
	}
	if clock == nil {
		clock = time.Now
	}
	return &Outbox{store: store, sealer: sealer, now: clock, ids: ids}
}

// outboxAAD binds a sealed body to its message.
func outboxAAD(msgID string) []byte { return SealAAD(msgID, "body") }

func (o *Outbox) Send(ctx context.Context, m Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	om := OutboxMessage{ID: o.ids.New("msg"), Message: m, Created: o.now().UTC()}
	sealed, err := o.sealer.Seal([]byte(m.Body), outboxAAD(om.ID))
	if err != nil {
		return fmt.Errorf("identity: seal outbox message: %w", err)
	}
	om.Body, om.BodySealed = "", sealed
	return o.store.AppendOutbox(ctx, om)
}

// Messages lists up to limit (1..OutboxMessagesMax) stored messages,
// newest first, their bodies opened; to, when set, keeps those to one
// address.
func (o *Outbox) Messages(ctx context.Context, to string, limit int) ([]OutboxMessage, error) {
	limit = min(max(limit, 1), OutboxMessagesMax)
	ms, err := o.store.OutboxMessages(ctx, to, limit)
	if err != nil {
		return nil, err
	}
	for i := range ms {
		b, err := o.sealer.Open(ms[i].BodySealed, outboxAAD(ms[i].ID))
		if err != nil {
			b = []byte(outboxUnreadable)
		}
		ms[i].Body, ms[i].BodySealed = string(b), nil
	}
	return ms, nil
}
