package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/kassa/kassa/id"
)

// KeyLengthMin is the shortest Config.Key.
const KeyLengthMin = 32

// Limits are the service's time limits and counts. Zero fields take the
// defaults in DefaultLimits.
type Limits struct {
	SessionIdle         time.Duration // a session unused this long ends (30 min)
	SessionAbsolute     time.Duration // a session ends this long after its login (12 h)
	SessionsPerCustomer int           // live sessions kept; a new one revokes the oldest (20)
	DevicesPerCustomer  int           // devices kept; a new one revokes the least recently seen (20)

	CodeTTL      time.Duration // a one-time code expires (10 min)
	CodeAttempts int           // wrong tries that kill a code (5)
	// Sends bound the messages to one destination (an email address or
	// phone number): 1 a minute and 5 an hour.
	Sends []Rate
	// SignUpsPerIP bound the sign-ups started from one client IP (10 an hour).
	SignUpsPerIP []Rate
	SignUpTTL    time.Duration // a sign-up not finished by then is gone (24 h)

	// Account and IP are the login lockouts: per email address (and per
	// customer for second factors) and per client IP (IPv6: per /64).
	Account Lockout
	IP      Lockout

	Retention time.Duration // ended records and outbox messages are kept this long (24 h)
}

// Lockout limits failed attempts of one source. From the second failure
// on, the next attempt waits Backoff·2^(failures-2) (exponential backoff);
// Failures failures within Window lock the source out for Duration, and
// every further lockout that starts within DurationMax of the previous
// one's end doubles it, up to DurationMax. A success resets the counter
// of the account (or the customer's second factor), never an IP's.
type Lockout struct {
	Failures    int
	Window      time.Duration
	Duration    time.Duration
	DurationMax time.Duration
	Backoff     time.Duration // 0: DefaultLimits'; negative: no backoff
}

// Rate allows Count events per Per.
type Rate struct {
	Count int
	Per   time.Duration
}

// DefaultLimits are the limits zero fields of Config.Limits take.
var DefaultLimits = Limits{
	SessionIdle: 30 * time.Minute, SessionAbsolute: 12 * time.Hour, SessionsPerCustomer: 20, DevicesPerCustomer: 20,
	CodeTTL: 10 * time.Minute, CodeAttempts: 5,
	Sends:        []Rate{{1, time.Minute}, {5, time.Hour}},
	SignUpsPerIP: []Rate{{10, time.Hour}},
	SignUpTTL:    24 * time.Hour,
	Account:      Lockout{Failures: 5, Window: 15 * time.Minute, Duration: 15 * time.Minute, DurationMax: 24 * time.Hour, Backoff: time.Second},
	IP:           Lockout{Failures: 20, Window: 15 * time.Minute, Duration: 15 * time.Minute, DurationMax: 24 * time.Hour, Backoff: -1},
	Retention:    24 * time.Hour,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	l.SessionIdle = or(l.SessionIdle, d.SessionIdle)
	l.SessionAbsolute = or(l.SessionAbsolute, d.SessionAbsolute)
	l.SessionsPerCustomer = or(l.SessionsPerCustomer, d.SessionsPerCustomer)
	l.DevicesPerCustomer = or(l.DevicesPerCustomer, d.DevicesPerCustomer)
	l.CodeTTL = or(l.CodeTTL, d.CodeTTL)
	l.CodeAttempts = or(l.CodeAttempts, d.CodeAttempts)
	if len(l.Sends) == 0 {
		l.Sends = d.Sends
	}
	if len(l.SignUpsPerIP) == 0 {
		l.SignUpsPerIP = d.SignUpsPerIP
	}
	l.SignUpTTL = or(l.SignUpTTL, d.SignUpTTL)
	l.Account = l.Account.withDefaults(d.Account)
	l.IP = l.IP.withDefaults(d.IP)
	l.Retention = or(l.Retention, d.Retention)
	return l
}

func (l Lockout) withDefaults(d Lockout) Lockout {
	l.Failures = or(l.Failures, d.Failures)
	l.Window = or(l.Window, d.Window)
	l.Duration = or(l.Duration, d.Duration)
	l.DurationMax = max(or(l.DurationMax, d.DurationMax), l.Duration)
	l.Backoff = or(l.Backoff, d.Backoff)
	return l
}

func or[T int | time.Duration](v, d T) T {
	if v == 0 {
		return d
	}
	return v
}

// Config configures a Service.
type Config struct {
	Store    Store    // required
	Sealer   Sealer   // required: seals the date of birth, document number and TOTP secrets
	Notifier Notifier // required: sends codes and notices (NewOutbox in development)
	// Key is the secret of the keyed hashes (one-time and recovery codes,
	// device fingerprints) and of device token signatures, at least
	// KeyLengthMin bytes. Changing it invalidates codes and device tokens
	// (devices then count as new), nothing else.
	Key []byte
	// Hasher hashes passwords; nil means Argon2id with DefaultArgon2.
	Hasher Hasher
	// Events receives what happened; nil logs it through Logger.
	Events Emitter
	// Policy decides when a login needs a second factor; nil means
	// NewDevicePolicy.
	Policy Policy
	// Screen scores sign-ups before a code goes out (the risk engine);
	// nil lets every valid sign-up on.
	Screen SignUpScreen
	// KYC checks identity data beyond validation and the age; nil
	// accepts what validates.
	KYC KYCChecker
	// Exclusion consults the self-exclusion registers the payer's
	// residence requires at sign-up (identity data) and at login
	// (exclusion.go); nil consults none.
	Exclusion ExclusionCheck
	// Factors are second factors other packages add (FactorPasskey).
	Factors map[Factor]FactorVerifier
	// Issuer names the service in authenticator apps; "" means "Kassa".
	Issuer string
	Limits Limits
	// HashConcurrency bounds the password hashes computed at once (each
	// takes the hasher's memory); 0 means 4.
	HashConcurrency int
	Clock           func() time.Time // nil: time.Now
	Rand            io.Reader        // nil: crypto/rand; tokens, codes, salts and ids
	Logger          *slog.Logger     // nil: discard
}

// Service is the identity module.
type Service struct {
	store    Store
	sealer   Sealer
	notifier Notifier
	hasher   Hasher
	events   Emitter
	policy   Policy
	kyc      KYCChecker
	screen   SignUpScreen
	factors  map[Factor]FactorVerifier
	issuer   string
	lim      Limits
	now      func() time.Time
	rand     io.Reader
	ids      id.Generator
	log      *slog.Logger

	// exclusion asks self-exclusion registers (Config.Exclusion).
	exclusion ExclusionCheck

	// Sub-keys derived from Config.Key, one per use.
	codeKey, recoveryKey, deviceKey, fingerprintKey []byte
	// dummyHash is verified for logins of unknown addresses, so that they
	// take as long as the others.
	dummyHash string
	hashSlots chan struct{}
}

// New returns a service.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("identity: Config.Store is required")
	case cfg.Sealer == nil:
		return nil, errors.New("identity: Config.Sealer is required")
	case cfg.Notifier == nil:
		return nil, errors.New("identity: Config.Notifier is required")
	case len(cfg.Key) < KeyLengthMin:
		return nil, fmt.Errorf("identity: Config.Key must be at least %d bytes", KeyLengthMin)
	}
	s := &Service{
		store: cfg.Store, sealer: cfg.Sealer, notifier: cfg.Notifier, hasher: cfg.Hasher, events: cfg.Events,
		policy: cfg.Policy, kyc: cfg.KYC, exclusion: cfg.Exclusion, screen: cfg.Screen, factors: cfg.Factors, issuer: cfg.Issuer, lim: cfg.Limits.withDefaults(),
		now: cfg.Clock, rand: cfg.Rand, log: cfg.Logger,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.hasher == nil {
		s.hasher = &Argon2id{Params: DefaultArgon2, Rand: s.rand}
	}
	if s.events == nil {
		s.events = LogEmitter{Logger: s.log}
	}
	if s.policy == nil {
		s.policy = NewDevicePolicy{}
	}
	if s.issuer == "" {
		s.issuer = "Kassa"
	}
	for f := range s.factors {
		if !f.valid() || f == FactorOTP || f == FactorTOTP || f == FactorRecoveryCode {
			return nil, fmt.Errorf("identity: Config.Factors: %q is not a factor others may add", f)
		}
	}
	s.ids = id.Generator{Rand: s.rand}
	s.codeKey = subKey(cfg.Key, "code")
	s.recoveryKey = subKey(cfg.Key, "recovery-code")
	s.deviceKey = subKey(cfg.Key, "device-token")
	s.fingerprintKey = subKey(cfg.Key, "device-fingerprint")
	s.hashSlots = make(chan struct{}, or(cfg.HashConcurrency, 4))
	dummy, err := s.hasher.Hash(s.ids.Random(16))
	if err != nil {
		return nil, fmt.Errorf("identity: hash the dummy password: %w", err)
	}
	s.dummyHash = dummy
	return s, nil
}

// GenerateKey returns a fresh random Config.Key.
func GenerateKey() []byte {
	k := make([]byte, KeyLengthMin)
	rand.Read(k)
	return k
}

// subKey derives the key of one use from the service key.
func subKey(key []byte, use string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("kassa/identity/" + use))
	return m.Sum(nil)
}

// keyed is HMAC-SHA256 of the parts under key, each part length-prefixed
// by a zero byte separator so that ("ab","c") and ("a","bc") differ.
func keyed(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// hashToken is how session and sign-up tokens are stored: SHA-256. The
// tokens carry 256 random bits, so no key or stretching is needed.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// tokenBytes is the randomness of session and sign-up tokens.
const tokenBytes = 32

// newToken returns a fresh random token: 256 bits, base64url.
func (s *Service) newToken() string {
	b := make([]byte, tokenBytes)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		panic("identity: reading randomness: " + err.Error())
	}
	return b64.EncodeToString(b)
}

// tokenLength is the length of a token from newToken.
var tokenLength = b64.EncodedLen(tokenBytes)

// validToken reports whether t has the shape of a token from newToken,
// before anything is looked up.
func validToken(t string) bool {
	if len(t) != tokenLength {
		return false
	}
	_, err := b64.DecodeString(t)
	return err == nil
}

// hash runs fn while holding one of the hash slots, so that at most
// HashConcurrency password hashes (each taking the hasher's memory) run at
// once.
func (s *Service) hash(ctx context.Context, fn func()) error {
	select {
	case s.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.hashSlots }()
	fn()
	return nil
}

// Customer returns a customer, or kassa ENotFound customer_not_found.
func (s *Service) Customer(ctx context.Context, customerID string) (Customer, error) {
	r, err := s.record(ctx, customerID)
	return r.customer(), err
}

func (s *Service) record(ctx context.Context, customerID string) (Record, error) {
	if !id.HasPrefix(customerID, "cus") {
		return Record{}, errNotFound
	}
	r, err := s.store.Customer(ctx, customerID)
	if errors.Is(err, ErrNotFound) {
		return r, errNotFound
	} else if err != nil {
		return r, fmt.Errorf("identity: customer %s: %w", customerID, err)
	}
	return r, nil
}

// update changes a customer through the store and maps its errors.
func (s *Service) update(ctx context.Context, customerID string, fn func(*Record) error) (Record, error) {
	r, err := s.store.UpdateCustomer(ctx, customerID, fn)
	if errors.Is(err, ErrNotFound) {
		return r, errNotFound
	}
	return r, err
}

// Prune deletes what ended more than Limits.Retention ago (sign-ups,
// codes, sessions, rate and failure counters, outbox messages). Run
// periodically (Run does).
func (s *Service) Prune(ctx context.Context) (int, error) {
	n, err := s.store.Prune(ctx, s.now().UTC().Add(-s.lim.Retention))
	if err != nil {
		return n, fmt.Errorf("identity: prune: %w", err)
	}
	return n, nil
}

// Run calls Prune every interval until ctx ends.
func (s *Service) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.Prune(ctx); err != nil {
			s.log.ErrorContext(ctx, "prune identity records", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
