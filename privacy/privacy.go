// Package privacy gives a person what the GDPR promises them over the data
// Kassa holds on them (docs/privacy.md): a copy of all of it (access,
// Art. 15, and portability, Art. 20), its erasure (Art. 17) by
// crypto-shredding once the anti-money-laundering retention allows it, and
// the retention jobs that keep no more than needed (storage limitation,
// Art. 5(1)(e)).
//
// A subject is a Kassa account (cus_...) or a merchant's customer (the id
// the merchant gave its payments and payouts). Package privacy knows no
// SQL: Store is implemented by store/sqlstore, which also owns the list of
// tables the export and the erasure cover.
package privacy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
)

// Subject is whose data an export or an erasure is about.
type Subject struct {
	// MerchantID is "" for a Kassa account (CustomerID cus_...); else the
	// merchant whose customer CustomerID is.
	MerchantID string
	CustomerID string
}

// Account reports whether s is a Kassa account.
func (s Subject) Account() bool { return s.MerchantID == "" }

// Key is the subject's stable name: "cus_..." or "<merchant>/<customer>".
func (s Subject) Key() string {
	if s.Account() {
		return s.CustomerID
	}
	return s.MerchantID + "/" + s.CustomerID
}

const customerIDMax = 255

// Validate checks a subject as the CLI and the pages give it. Errors:
// kassa EInvalid customer_invalid.
func (s Subject) Validate() error {
	if s.CustomerID == "" || len(s.CustomerID) > customerIDMax || strings.ContainsAny(s.CustomerID, "\x00/") {
		return kassa.Invalid("customer", "customer_invalid", "give the customer's id (at most %d bytes, no '/')", customerIDMax)
	}
	if s.Account() && !strings.HasPrefix(s.CustomerID, "cus_") {
		return kassa.Invalid("customer", "customer_invalid", "a Kassa account id starts with cus_; a merchant's own customer id needs --merchant")
	}
	if !s.Account() && (len(s.MerchantID) > customerIDMax || strings.ContainsAny(s.MerchantID, "\x00/")) {
		return kassa.Invalid("merchant", "merchant_invalid", "the merchant id is malformed")
	}
	return nil
}

// Table is a table's rows about a subject, column by column. Secrets
// (password hashes, token and code hashes, TOTP secrets, client secrets,
// sealed card numbers) are never among the columns.
type Table struct {
	Name string           `json:"table"`
	Rows []map[string]any `json:"rows"`
}

// Erasure is a recorded erasure request.
type Erasure struct {
	ID          string    `json:"id"`
	Subject     string    `json:"subject"`
	MerchantID  string    `json:"merchant_id,omitempty"`
	CustomerID  string    `json:"customer_id"`
	RequestedBy string    `json:"requested_by"`
	RequestedAt time.Time `json:"requested_at"`
	// ShredAt is when the subject's data key is destroyed: the end of the
	// anti-money-laundering retention.
	ShredAt    time.Time `json:"shred_at"`
	ShreddedAt time.Time `json:"shredded_at,omitzero"`
	// KeySealed is the subject's data key sealed with the vault's KEKs;
	// Archive everything exported at the request, sealed under that key.
	// Both are nil once shredded.
	KeySealed []byte `json:"-"`
	Archive   []byte `json:"-"`
}

// Shredded reports whether the subject's key is gone.
func (e Erasure) Shredded() bool { return !e.ShreddedAt.IsZero() }

// Error codes.
const (
	CodeErasureBlocked = "erasure_blocked" // EConflict: money or payouts of the subject are still moving
	CodeNotFound       = "subject_not_found"
)

// ErrNotFound is returned by Store.Erasure when there is no request.
var ErrNotFound = errors.New("privacy: no erasure request")

// Store keeps what package privacy reads and changes.
type Store interface {
	// Collect returns the subject's rows of every table that holds
	// personal data, in a fixed order (tables without rows included).
	Collect(ctx context.Context, s Subject) ([]Table, error)
	// Erase records e and, in the same transaction, collects the
	// subject's rows, passes them to seal (which returns e's archive),
	// and scrubs the live rows: a Kassa account is closed (its sessions,
	// devices, passkeys and codes deleted; its email replaced by a
	// tombstone), the personal columns of its payments, payouts and
	// stored cards emptied, and its risk evaluations and webhook events
	// stripped of them. Errors: kassa EConflict erasure_blocked (a wallet
	// holds money; a payment or payout is in flight); ErrExists when the
	// subject already has a request.
	Erase(ctx context.Context, e Erasure, seal func([]Table) (key, archive []byte, err error), now time.Time) error
	// Erasure returns the subject's request, or ErrNotFound.
	Erasure(ctx context.Context, subject string) (Erasure, error)
	// ShredDue destroys the key and archive of up to limit requests due
	// at now and returns how many.
	ShredDue(ctx context.Context, now time.Time, limit int) (int, error)
	// TruncateIPs truncates the client IP (IPv4 to /24, IPv6 to /48) in
	// up to limit risk evaluations made before before, and returns how
	// many it changed.
	TruncateIPs(ctx context.Context, before, now time.Time, limit int) (int, error)
	// DeleteIdleDevices deletes the recognised devices of payers not seen
	// since before.
	DeleteIdleDevices(ctx context.Context, before time.Time) (int, error)
	// SealBacklog seals the personal columns of up to limit rows still
	// in clear (written before sealing per subject) and returns how many.
	SealBacklog(ctx context.Context, now time.Time, limit int) (int, error)
}

// ErrExists is returned by Store.Erase for a subject with a request.
var ErrExists = errors.New("privacy: erasure already requested")

// Sealer seals the subjects' data keys under the vault's key-encryption
// keys (identity.VaultSealer).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Defaults of Config.
const (
	// RetentionDefault is the anti-money-laundering retention after the
	// relationship ends (AMLD Art. 40(1)(b); GwG § 8(4): five years).
	RetentionDefault = 5 * 365 * 24 * time.Hour
	// IPRetentionDefault is how long risk evaluations keep full client IPs.
	IPRetentionDefault = 90 * 24 * time.Hour
	// DeviceIdleDefault is how long a device nobody used stays recognised.
	DeviceIdleDefault = 400 * 24 * time.Hour
	batchMax          = 500
	batchesPerRunMax  = 20
)

// Config wires a Service.
type Config struct {
	Store  Store
	Sealer Sealer
	// KYC returns a Kassa account's identity data with its sealed fields
	// opened (identity.Service.Identity); nil leaves it out.
	KYC func(ctx context.Context, customerID string) (identity.IdentityData, error)
	// Email returns a Kassa account's address and Notify sends the
	// erasure notice to it (identity.Service.SendErasureNotice): the
	// address is read before the erasure scrubs it, the notice sent
	// once the erasure committed, in ctx's language. Either nil: nobody
	// is told (the pages and the CLI still show the date).
	Email  func(ctx context.Context, customerID string) (string, error)
	Notify func(ctx context.Context, email string, shredAt time.Time) error
	// Retention delays shredding after the request (RetentionDefault).
	Retention   time.Duration
	IPRetention time.Duration // IPRetentionDefault
	DeviceIdle  time.Duration // DeviceIdleDefault
	Now         func() time.Time
	NewID       func() string // erasure ids (gdpr_...)
	Rand        io.Reader     // data keys and nonces; nil: crypto/rand
	Logger      *slog.Logger
}

// Service runs exports, erasures and the retention jobs.
type Service struct {
	cfg Config
	log *slog.Logger
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Sealer == nil || cfg.NewID == nil {
		return nil, errors.New("privacy: Store, Sealer and NewID are required")
	}
	if cfg.Retention <= 0 {
		cfg.Retention = RetentionDefault
	}
	if cfg.IPRetention <= 0 {
		cfg.IPRetention = IPRetentionDefault
	}
	if cfg.DeviceIdle <= 0 {
		cfg.DeviceIdle = DeviceIdleDefault
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, log: log}, nil
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// Retention is the delay between an erasure request and the shredding.
func (s *Service) Retention() time.Duration { return s.cfg.Retention }

// Erasure returns the subject's erasure request. Errors: ErrNotFound.
func (s *Service) Erasure(ctx context.Context, sub Subject) (Erasure, error) {
	return s.cfg.Store.Erasure(ctx, sub.Key())
}

// Erase records an erasure request for sub, closes the account and
// scrubs the live rows at once, keeps an archive sealed under the
// subject's own data key until the retention ends, and returns the
// request (with ShredAt, the date to tell the payer). A second request
// returns the first. Errors: kassa EInvalid, EConflict erasure_blocked,
// ENotFound subject_not_found (nothing is held on the subject).
func (s *Service) Erase(ctx context.Context, sub Subject, requestedBy string) (Erasure, error) {
	if err := sub.Validate(); err != nil {
		return Erasure{}, err
	}
	if e, err := s.cfg.Store.Erasure(ctx, sub.Key()); err == nil {
		return e, nil
	} else if !errors.Is(err, ErrNotFound) {
		return Erasure{}, err
	}
	kyc, err := s.kyc(ctx, sub)
	if err != nil {
		return Erasure{}, err
	}
	email, err := s.email(ctx, sub)
	if err != nil {
		return Erasure{}, err
	}
	now := s.now()
	e := Erasure{ID: s.cfg.NewID(), Subject: sub.Key(), MerchantID: sub.MerchantID, CustomerID: sub.CustomerID,
		RequestedBy: requestedBy, RequestedAt: now, ShredAt: now.Add(s.cfg.Retention)}
	seal := func(tables []Table) ([]byte, []byte, error) {
		if !holdsData(tables) {
			return nil, nil, kassa.Errorf(kassa.ENotFound, CodeNotFound, "Kassa holds nothing on %s", sub.Key())
		}
		x := Export{Subject: sub, GeneratedAt: now, KYC: kyc, Tables: tables}
		return s.sealArchive(e.ID, sub.Key(), x)
	}
	err = s.cfg.Store.Erase(ctx, e, seal, now)
	if errors.Is(err, ErrExists) {
		return s.cfg.Store.Erasure(ctx, sub.Key())
	}
	if err != nil {
		return Erasure{}, err
	}
	s.log.InfoContext(ctx, "erasure requested", "erasure", e.ID, "shred_at", e.ShredAt)
	if email != "" {
		// The erasure stands whether or not the notice goes out: the
		// page and the CLI say the date too.
		if err := s.cfg.Notify(ctx, email, e.ShredAt); err != nil {
			s.log.WarnContext(ctx, "erasure notice not sent", "erasure", e.ID, "err", err)
		}
	}
	return e, nil
}

// email is the address to send a Kassa account's erasure notice to (""
// none: a merchant's customer, or no notifier).
func (s *Service) email(ctx context.Context, sub Subject) (string, error) {
	if !sub.Account() || s.cfg.Email == nil || s.cfg.Notify == nil {
		return "", nil
	}
	a, err := s.cfg.Email(ctx, sub.CustomerID)
	if kassa.ErrorKind(err) == kassa.ENotFound {
		return "", nil
	}
	return a, err
}

func holdsData(tables []Table) bool {
	for _, t := range tables {
		if len(t.Rows) > 0 {
			return true
		}
	}
	return false
}

func (s *Service) kyc(ctx context.Context, sub Subject) (*identity.IdentityData, error) {
	if !sub.Account() || s.cfg.KYC == nil {
		return nil, nil
	}
	d, err := s.cfg.KYC(ctx, sub.CustomerID)
	if kassa.ErrorKind(err) == kassa.ENotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("privacy: identity data of %s: %w", sub.CustomerID, err)
	}
	if d.GivenName == "" && d.DocumentNumber == "" {
		return nil, nil
	}
	return &d, nil
}

// ShredDue destroys the data keys (and archives) of the erasures whose
// retention has ended; a leased job runs it.
func (s *Service) ShredDue(ctx context.Context) (int, error) {
	total := 0
	for range batchesPerRunMax {
		n, err := s.cfg.Store.ShredDue(ctx, s.now(), batchMax)
		total += n
		if err != nil {
			return total, fmt.Errorf("privacy: shred: %w", err)
		}
		if n < batchMax {
			break
		}
	}
	if total > 0 {
		s.log.InfoContext(ctx, "erasures shredded", "count", total)
	}
	return total, nil
}

// SealBacklog seals, under their subjects' own keys, the personal
// columns of rows an older Kassa wrote in clear, in batches; a leased job
// runs it until it returns 0.
func (s *Service) SealBacklog(ctx context.Context) (int, error) {
	total := 0
	for range batchesPerRunMax {
		n, err := s.cfg.Store.SealBacklog(ctx, s.now(), batchMax)
		total += n
		if err != nil {
			return total, fmt.Errorf("privacy: seal backlog: %w", err)
		}
		if n < batchMax {
			break
		}
	}
	if total > 0 {
		s.log.InfoContext(ctx, "personal columns sealed", "rows", total)
	}
	return total, nil
}

// Retain runs the retention rules once: client IPs in risk evaluations
// older than IPRetention are truncated, devices idle for DeviceIdle are
// deleted. (Expired sessions, sign-ups and one-time codes are deleted by
// identity's own prune job.) A leased job runs it.
func (s *Service) Retain(ctx context.Context) (ips, devices int, err error) {
	now := s.now()
	for range batchesPerRunMax {
		n, err := s.cfg.Store.TruncateIPs(ctx, now.Add(-s.cfg.IPRetention), now, batchMax)
		ips += n
		if err != nil {
			return ips, 0, fmt.Errorf("privacy: truncate IPs: %w", err)
		}
		if n < batchMax {
			break
		}
	}
	if devices, err = s.cfg.Store.DeleteIdleDevices(ctx, now.Add(-s.cfg.DeviceIdle)); err != nil {
		return ips, devices, fmt.Errorf("privacy: delete idle devices: %w", err)
	}
	return ips, devices, nil
}
