package identity

import (
	"context"
	"log/slog"
	"time"
)

// Event types. The data of each is a flat map of strings (EventData).
const (
	EventCustomerCreated    = "identity.customer_created"     // email confirmed: the account exists
	EventCustomerVerified   = "identity.customer_verified"    // level verified reached
	EventKYCVerified        = "identity.kyc_verified"         // level kyc_verified reached
	EventKYCRejected        = "identity.kyc_rejected"         // the KYC checker refused the data
	EventLoginSucceeded     = "identity.login_succeeded"      // a session authenticates (after any second factor)
	EventLoginFailed        = "identity.login_failed"         // wrong password or unknown email; wrong second factor
	EventLocked             = "identity.locked"               // an account or IP was locked out
	EventDeviceAdded        = "identity.device_added"         // a new device passed login
	EventDeviceRevoked      = "identity.device_revoked"       //
	EventSessionRevoked     = "identity.session_revoked"      // by the customer (one, or all others)
	EventPasswordChanged    = "identity.password_changed"     // also by an account recovery (data: "recovery")
	EventTOTPEnabled        = "identity.totp_enabled"         //
	EventTOTPDisabled       = "identity.totp_disabled"        //
	EventRecoveryCodeUsed   = "identity.recovery_code_used"   //
	EventSignUpExisting     = "identity.signup_existing"      // a sign-up named an address that has an account
	EventSecondFactorPassed = "identity.second_factor_passed" // a session reached aal2
)

// EventTypes lists the event types above, for an Emitter that registers
// them (webhook.RegisterEventType).
var EventTypes = []string{EventCustomerCreated, EventCustomerVerified, EventKYCVerified, EventKYCRejected,
	EventLoginSucceeded, EventLoginFailed, EventLocked, EventDeviceAdded, EventDeviceRevoked, EventSessionRevoked,
	EventPasswordChanged, EventTOTPEnabled, EventTOTPDisabled, EventRecoveryCodeUsed, EventSignUpExisting,
	EventSecondFactorPassed}

// Event is something that happened to a customer or a login source. Data
// never holds a password, code, token or sealed field; it may hold the
// customer id, a client IP and a masked address. Events about unknown
// addresses have no CustomerID. They are for the operator (logs, the risk
// engine, an operator webhook), never for the payer: a login_failed event
// with a customer id tells that the address has an account.
type Event struct {
	ID         string // evt_...
	Type       string
	CustomerID string
	Created    time.Time // UTC
	Data       EventData
}

// EventData is an event's details.
type EventData map[string]string

// Emitter receives events after the change they report is stored. The
// service emits synchronously and at most once; an error is logged, never
// returned to the customer. The application wires it to the log (the
// default, LogEmitter), to the risk engine, or to webhooks of an operator
// merchant (webhook.RegisterEventType(EventTypes...), Service.NewEvent,
// Publish): identity itself stays free of the webhook machinery.
type Emitter interface {
	Emit(ctx context.Context, ev Event) error
}

// LogEmitter writes events to a logger at level info, as "identity event".
type LogEmitter struct{ Logger *slog.Logger }

func (l LogEmitter) Emit(ctx context.Context, ev Event) error {
	attrs := []any{"type", ev.Type, "event_id", ev.ID}
	if ev.CustomerID != "" {
		attrs = append(attrs, "customer", ev.CustomerID)
	}
	for k, v := range ev.Data {
		attrs = append(attrs, k, v)
	}
	l.Logger.InfoContext(ctx, "identity event", attrs...)
	return nil
}

// emit sends an event, logging a failure.
func (s *Service) emit(ctx context.Context, typ, customerID string, data EventData) {
	ev := Event{ID: s.ids.New("evt"), Type: typ, CustomerID: customerID, Created: s.now().UTC(), Data: data}
	if err := s.events.Emit(context.WithoutCancel(ctx), ev); err != nil {
		s.log.ErrorContext(ctx, "emit identity event", "type", typ, "err", err)
	}
}
