// Package vault turns card numbers into tokens and keeps them encrypted.
//
// A payer's card becomes a single-use token (tok_...) at the edge; a
// merchant attaches a token to a customer as a reusable stored card
// (card_...) or spends it on one payment. The primary account number
// (PAN) and the security code (CVC) are envelope-encrypted (see
// crypto.go) under keys from a KeyProvider, and only the acquirer
// connector ever sees them again, through Detokenize. What anyone else
// sees is the brand, at most the first six and last four digits, the
// expiry and a keyed fingerprint (PCI DSS v4 3.4.1, 3.5.1).
//
// The CVC is kept, encrypted, only until the authorization that needs it:
// DestroyCVC after the first attempt, and a sweep destroys what is older
// than Config.CVCTTL (PCI DSS 3.3.1).
//
// The package knows nothing of SQL or HTTP: a Store keeps the records.
package vault

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
)

// Defaults and limits.
const (
	// CVCTTLDefault is how long a CVC is kept when no authorization
	// destroys it first.
	CVCTTLDefault = 30 * time.Minute
	// FingerprintKeyLengthMin is the shortest Config.FingerprintKey.
	FingerprintKeyLengthMin = 32
	// commitBatchMax bounds the tokens of one group commit; commitQueueMax
	// the tokens waiting for one; commitTimeout one commit's time.
	commitBatchMax = 1000
	commitQueueMax = 8192
	commitTimeout  = 30 * time.Second
	// RewrapBatchDefault is how many records Run rewraps per store call;
	// rewrapBatchesMax bounds the calls of one round; sweepBatchMax the
	// CVCs one sweep call destroys.
	RewrapBatchDefault = 500
	rewrapBatchesMax   = 100
	sweepBatchMax      = 1000
	sweepBatchesMax    = 100
	idLengthMax        = 64
)

// Errors of the store. Store implementations return them (wrapped or not).
var (
	ErrNotFound = errors.New("vault: not found")
	ErrUsed     = errors.New("vault: token already used")
)

// Errors callers see.
var (
	errTokenNotFound = kassa.Errorf(kassa.ENotFound, "token_not_found", "no such token")
	errCardNotFound  = kassa.Errorf(kassa.ENotFound, "card_not_found", "no such card")
	errTokenUsed     = kassa.Errorf(kassa.EConflict, "token_already_used", "the token was used already; tokenize the card again")
	errClosed        = kassa.Errorf(kassa.EUnavailable, "vault_closed", "the vault is shutting down")
)

// CardDetails is what may be shown of a card: never more than the first
// six and the last four digits.
type CardDetails struct {
	Brand       Brand
	BIN         string // first six digits
	Last4       string
	ExpMonth    int
	ExpYear     int
	Fingerprint string // the same for the same PAN, across merchants
	Name        string
}

// Token is a tokenized card, usable once.
type Token struct {
	ID         string
	MerchantID string
	Card       CardDetails
	Used       bool
	Created    time.Time
}

// Card is a stored card: a token attached to a customer, reusable.
type Card struct {
	ID         string
	MerchantID string
	CustomerID string
	TokenID    string // the token whose record holds the PAN
	Details    CardDetails
	Created    time.Time
}

// Record is a token as stored: the card's details, its sealed PAN and
// CVC (zero once destroyed) and the KEK version their data keys are
// wrapped under.
type Record struct {
	ID           string
	MerchantID   string
	Details      CardDetails
	KEKVersion   int
	PAN          Sealed
	CVC          Sealed
	CVCExpiresAt time.Time
	UsedAt       time.Time // zero while unused
	Created      time.Time
}

// CardRecord is a stored card as stored; its PAN is its token's.
type CardRecord struct {
	ID         string
	MerchantID string
	CustomerID string
	TokenID    string
	Created    time.Time
}

// Rewrapped is a record's data keys re-wrapped from one KEK version to
// another. CVCKey is nil when the record has no CVC.
type Rewrapped struct {
	ID       string
	From, To int
	PANKey   []byte
	CVCKey   []byte
}

// Store keeps the vault's records. The store sees only sealed data.
type Store interface {
	// CreateTokens inserts tokens in one transaction, all or none.
	CreateTokens(ctx context.Context, rs []Record) error
	// Token returns a token's record, or ErrNotFound.
	Token(ctx context.Context, id string) (Record, error)
	// Card returns a stored card and its token's record, or ErrNotFound.
	Card(ctx context.Context, id string) (CardRecord, Record, error)
	// UseToken marks the merchant's unused token used at now and, when
	// card is not nil, inserts the card, in one transaction. It returns
	// the record as it was before, ErrNotFound (also for another
	// merchant's token) or ErrUsed.
	UseToken(ctx context.Context, merchantID, tokenID string, now time.Time, card *CardRecord) (Record, error)
	// DestroyCVC erases a token's sealed CVC; false when there was none.
	DestroyCVC(ctx context.Context, tokenID string) (bool, error)
	// DestroyExpiredCVCs erases up to limit CVCs that expire at or before now.
	DestroyExpiredCVCs(ctx context.Context, now time.Time, limit int) (int, error)
	// StaleKeys returns up to limit records whose KEK version is not
	// version and whose id sorts after after, in id order.
	StaleKeys(ctx context.Context, version int, after string, limit int) ([]Record, error)
	// Rewrap stores re-wrapped data keys where the record is still at
	// From (others changed meanwhile are left alone) and says how many
	// it changed. A CVC destroyed meanwhile stays destroyed.
	Rewrap(ctx context.Context, rs []Rewrapped) (int, error)
	// KeyUsage counts the records per KEK version.
	KeyUsage(ctx context.Context) (map[int]int64, error)

	// SealedKeyUsage counts the values sealed with an Envelope outside
	// the card records per KEK version: every one in the database
	// (identity's KYC fields and TOTP secrets, the development outbox's
	// messages, webhook signing secrets). What it misses, RetireKey
	// destroys.
	SealedKeyUsage(ctx context.Context) (map[int]int64, error)
	// StaleSealed returns up to limit of those values under a KEK version
	// below version, or still in clear from before they were sealed,
	// whose Ref sorts after after (the store's order), in that order.
	StaleSealed(ctx context.Context, version int, after string, limit int) ([]SealedValue, error)
	// ReplaceSealed stores each New where its Old is still in place
	// (values changed meanwhile are left alone) and says how many it
	// changed.
	ReplaceSealed(ctx context.Context, vs []Resealed) (int, error)
}

// SealedValue is a value sealed with an Envelope outside the card
// records, as the store finds it for the rewrap.
type SealedValue struct {
	Ref    string // where it is: opaque to the vault, in the store's order
	Domain string // the Envelope's domain
	AAD    []byte // the associated data it is sealed with
	Sealed []byte // nil when Clear holds a value from before sealing
	Clear  []byte // a value an older Kassa kept in clear: to be sealed
}

// Resealed is a SealedValue rewrapped, or sealed for the first time.
type Resealed struct {
	Ref      string
	Old, New []byte // the stored value before and after
}

// Config configures a Service.
type Config struct {
	Store Store // required
	// Keys holds the KEKs. Required unless Wrapper is set; rotation and
	// retirement need it.
	Keys KeyProvider
	// Wrapper wraps data keys; nil means NewLocalWrapper(Keys). An
	// external KMS plugs in here.
	Wrapper Wrapper
	// FingerprintKey is the HMAC-SHA256 key of card fingerprints, at
	// least FingerprintKeyLengthMin bytes. Required. It is not rotated
	// with the KEKs: changing it changes every fingerprint.
	FingerprintKey []byte
	// CVCTTL is how long a CVC is kept at most; zero means CVCTTLDefault.
	CVCTTL time.Duration
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Rand is the source of ids; nil means crypto/rand.
	Rand io.Reader
	// Logger gets operating events (never a PAN or CVC); nil discards.
	Logger *slog.Logger
}

// Service is the vault.
type Service struct {
	store   Store
	keys    KeyProvider
	wrapper Wrapper
	fpKey   []byte
	cvcTTL  time.Duration
	clock   func() time.Time
	ids     id.Generator
	log     *slog.Logger

	queue     chan *pendingToken
	quit      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
}

type pendingToken struct {
	rec  Record
	done chan error
}

// New returns a vault service and starts its group committer; Close stops it.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("vault: Config.Store is required")
	}
	if cfg.Wrapper == nil {
		if cfg.Keys == nil {
			return nil, errors.New("vault: Config.Keys or Config.Wrapper is required")
		}
		cfg.Wrapper = NewLocalWrapper(cfg.Keys)
	}
	if len(cfg.FingerprintKey) < FingerprintKeyLengthMin {
		return nil, fmt.Errorf("vault: Config.FingerprintKey must be at least %d bytes", FingerprintKeyLengthMin)
	}
	if cfg.CVCTTL <= 0 {
		cfg.CVCTTL = CVCTTLDefault
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		store: cfg.Store, keys: cfg.Keys, wrapper: cfg.Wrapper, fpKey: cfg.FingerprintKey,
		cvcTTL: cfg.CVCTTL, clock: cfg.Clock, ids: id.Generator{Rand: cfg.Rand}, log: cfg.Logger,
		queue: make(chan *pendingToken, commitQueueMax), quit: make(chan struct{}), stopped: make(chan struct{}),
	}
	go s.commitLoop()
	return s, nil
}

// Close stops the group committer; tokenizations still waiting fail.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		close(s.quit)
		<-s.stopped
	})
}

// Fingerprint returns the keyed fingerprint of a PAN: HMAC-SHA256 under
// the fingerprint key, truncated to 16 bytes, base64url.
func (s *Service) Fingerprint(pan string) string {
	m := hmac.New(sha256.New, s.fpKey)
	m.Write([]byte("kassa/vault/fingerprint/"))
	m.Write([]byte(pan))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// Tokenize validates a card and stores it as a new single-use token of
// the merchant. Validation errors are EInvalid with param card.number,
// card.exp_month, card.exp_year, card.cvc or card.name, and codes
// card_number_required, card_number_invalid, card_number_incorrect (check
// digit), card_brand_unsupported, card_exp_month_invalid,
// card_exp_year_invalid, card_expired, card_cvc_invalid,
// card_name_invalid.
func (s *Service) Tokenize(ctx context.Context, merchantID string, in CardInput) (Token, error) {
	now := s.clock().UTC()
	c, err := validate(in, now)
	if err != nil {
		return Token{}, err
	}
	rec, err := s.seal(merchantID, c, now)
	if err != nil {
		return Token{}, err
	}
	if err := s.insert(ctx, rec); err != nil {
		return Token{}, err
	}
	return tokenOf(rec), nil
}

func (s *Service) seal(merchantID string, c card, now time.Time) (Record, error) {
	rec := Record{
		ID:         s.newID("tok", now),
		MerchantID: merchantID,
		Details: CardDetails{
			Brand: c.brand, BIN: c.pan[:6], Last4: c.pan[len(c.pan)-4:], ExpMonth: c.expMonth, ExpYear: c.expYear,
			Fingerprint: s.Fingerprint(c.pan), Name: c.name,
		},
		KEKVersion:   s.wrapper.CurrentVersion(),
		CVCExpiresAt: now.Add(s.cvcTTL),
		Created:      now,
	}
	var err error
	if rec.PAN, err = sealField(s.wrapper, rec.KEKVersion, rec.ID, "pan", []byte(c.pan)); err != nil {
		return Record{}, err
	}
	if rec.CVC, err = sealField(s.wrapper, rec.KEKVersion, rec.ID, "cvc", []byte(c.cvc)); err != nil {
		return Record{}, err
	}
	return rec, nil
}

// insert hands a record to the group committer and waits for its commit.
func (s *Service) insert(ctx context.Context, rec Record) error {
	p := &pendingToken{rec: rec, done: make(chan error, 1)}
	select {
	case s.queue <- p:
	case <-s.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		// The token may still be written; nobody knows its id, and its
		// CVC is swept like any other.
		return ctx.Err()
	}
}

// commitLoop writes queued tokens, as many as are waiting (up to
// commitBatchMax) per transaction: one durable commit for many tokens.
func (s *Service) commitLoop() {
	defer close(s.stopped)
	batch := make([]*pendingToken, 0, commitBatchMax)
	recs := make([]Record, 0, commitBatchMax)
	for {
		batch, recs = batch[:0], recs[:0]
		select {
		case <-s.quit:
			s.failQueued()
			return
		case p := <-s.queue:
			batch = append(batch, p)
		}
	fill:
		for len(batch) < commitBatchMax {
			select {
			case p := <-s.queue:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		for _, p := range batch {
			recs = append(recs, p.rec)
		}
		s.commit(batch, recs)
	}
}

func (s *Service) commit(batch []*pendingToken, recs []Record) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	err := s.store.CreateTokens(ctx, recs)
	if err == nil || len(batch) == 1 {
		if err != nil {
			s.log.Error("vault: store token", "err", err)
			err = fmt.Errorf("store token: %w", err)
		}
		for _, p := range batch {
			p.done <- err
		}
		return
	}
	// One bad record must not fail the others: write them one by one.
	for i, p := range batch {
		err := s.store.CreateTokens(ctx, recs[i:i+1])
		if err != nil {
			s.log.Error("vault: store token", "token", p.rec.ID, "err", err)
			err = fmt.Errorf("store token: %w", err)
		}
		p.done <- err
	}
}

func (s *Service) failQueued() {
	for {
		select {
		case p := <-s.queue:
			p.done <- errClosed
		default:
			return
		}
	}
}

// sortable is base32 in ASCII order, so that encoded times sort as text.
const sortable = "234567abcdefghijklmnopqrstuvwxyz"

// newID returns prefix_ + 10 characters of the time in milliseconds
// (sorting as text) + 10 random characters (48 bits). Ids that grow with
// time keep the store's inserts at the end of its index instead of at
// random pages, which makes batched inserts several times cheaper.
func (s *Service) newID(prefix string, now time.Time) string {
	ms := uint64(now.UnixMilli())
	var b [10]byte
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = sortable[ms&31]
		ms >>= 5
	}
	return prefix + "_" + string(b[:]) + s.ids.Random(6)
}

func tokenOf(r Record) Token {
	return Token{ID: r.ID, MerchantID: r.MerchantID, Card: r.Details, Used: !r.UsedAt.IsZero(), Created: r.Created}
}

func validID(s, prefix string) bool { return id.HasPrefix(s, prefix) && len(s) <= idLengthMax }

// Token returns a token of the merchant (token_not_found for another's).
func (s *Service) Token(ctx context.Context, merchantID, tokenID string) (Token, error) {
	if !validID(tokenID, "tok") {
		return Token{}, errTokenNotFound
	}
	r, err := s.store.Token(ctx, tokenID)
	if errors.Is(err, ErrNotFound) || (err == nil && r.MerchantID != merchantID) {
		return Token{}, errTokenNotFound
	} else if err != nil {
		return Token{}, err
	}
	return tokenOf(r), nil
}

// UseToken spends a token on a one-off payment: it marks it used and
// returns it. A used token is token_already_used; another merchant's
// token is token_not_found. Afterwards the payment's connector calls
// Detokenize(tokenID) and, after the authorization attempt, DestroyCVC.
func (s *Service) UseToken(ctx context.Context, merchantID, tokenID string) (Token, error) {
	r, err := s.use(ctx, merchantID, tokenID, nil)
	if err != nil {
		return Token{}, err
	}
	t := tokenOf(r)
	t.Used = true
	return t, nil
}

func (s *Service) use(ctx context.Context, merchantID, tokenID string, card *CardRecord) (Record, error) {
	if !validID(tokenID, "tok") {
		return Record{}, kassa.Invalid("token", "token_not_found", "no such token")
	}
	r, err := s.store.UseToken(ctx, merchantID, tokenID, s.clock().UTC(), card)
	switch {
	case errors.Is(err, ErrNotFound):
		return Record{}, &kassa.Error{Kind: kassa.ENotFound, Code: "token_not_found", Param: "token", Message: "no such token"}
	case errors.Is(err, ErrUsed):
		return Record{}, &kassa.Error{Kind: kassa.EConflict, Code: "token_already_used", Param: "token",
			Message: "the token was used already; tokenize the card again"}
	case err != nil:
		return Record{}, fmt.Errorf("use token: %w", err)
	}
	return r, nil
}

// Attach turns the merchant's unused token into a reusable stored card,
// optionally of a customer (cus_...). The card keeps the token's sealed
// PAN (and its CVC until the first authorization destroys it); the token
// is used up. Errors: token_not_found, token_already_used,
// customer_invalid.
func (s *Service) Attach(ctx context.Context, merchantID, tokenID, customerID string) (Card, error) {
	if customerID != "" && !validID(customerID, "cus") {
		return Card{}, kassa.Invalid("customer", "customer_invalid", "customer must be a customer id (cus_...)")
	}
	cr := CardRecord{ID: s.newID("card", s.clock()), MerchantID: merchantID, CustomerID: customerID, TokenID: tokenID,
		Created: s.clock().UTC()}
	r, err := s.use(ctx, merchantID, tokenID, &cr)
	if err != nil {
		return Card{}, err
	}
	return cardOf(cr, r), nil
}

func cardOf(c CardRecord, r Record) Card {
	return Card{ID: c.ID, MerchantID: c.MerchantID, CustomerID: c.CustomerID, TokenID: c.TokenID, Details: r.Details, Created: c.Created}
}

// Card returns a stored card of the merchant (card_not_found for another's).
func (s *Service) Card(ctx context.Context, merchantID, cardID string) (Card, error) {
	if !validID(cardID, "card") {
		return Card{}, errCardNotFound
	}
	c, r, err := s.store.Card(ctx, cardID)
	if errors.Is(err, ErrNotFound) || (err == nil && c.MerchantID != merchantID) {
		return Card{}, errCardNotFound
	} else if err != nil {
		return Card{}, err
	}
	return cardOf(c, r), nil
}

// record finds the record behind a token or card id.
func (s *Service) record(ctx context.Context, ref string) (Record, error) {
	switch {
	case validID(ref, "tok"):
		r, err := s.store.Token(ctx, ref)
		if errors.Is(err, ErrNotFound) {
			return r, errTokenNotFound
		}
		return r, err
	case validID(ref, "card"):
		_, r, err := s.store.Card(ctx, ref)
		if errors.Is(err, ErrNotFound) {
			return r, errCardNotFound
		}
		return r, err
	}
	return Record{}, kassa.Errorf(kassa.ENotFound, "card_not_found", "not a token or card id")
}

// Detokenize returns the PAN and, until it is destroyed, the CVC ("")
// behind a token or card id. It is for the acquirer connector only —
// nothing else may see a PAN — and it does not check the merchant: the
// caller resolved the reference for its merchant first (Card, UseToken).
// A record that does not open fails with ErrDecrypt, never wrong data.
func (s *Service) Detokenize(ctx context.Context, ref string) (pan, cvc string, err error) {
	r, err := s.record(ctx, ref)
	if err != nil {
		return "", "", err
	}
	p, err := openField(s.wrapper, r.ID, "pan", r.KEKVersion, r.PAN)
	if err != nil {
		s.log.Error("vault: PAN does not open", "record", r.ID, "kek_version", r.KEKVersion, "err", err)
		return "", "", fmt.Errorf("detokenize %s: %w", r.ID, err)
	}
	if !r.CVC.IsZero() && r.CVCExpiresAt.After(s.clock()) {
		c, err := openField(s.wrapper, r.ID, "cvc", r.KEKVersion, r.CVC)
		if err != nil {
			s.log.Error("vault: CVC does not open", "record", r.ID, "kek_version", r.KEKVersion, "err", err)
			return "", "", fmt.Errorf("detokenize %s: %w", r.ID, err)
		}
		cvc = string(c)
	}
	return string(p), cvc, nil
}

// DestroyCVC erases the CVC behind a token or card id. Call it after the
// first authorization attempt that used it, whatever its outcome.
func (s *Service) DestroyCVC(ctx context.Context, ref string) error {
	tokenID := ref
	if strings.HasPrefix(ref, "card_") {
		r, err := s.record(ctx, ref)
		if err != nil {
			return err
		}
		tokenID = r.ID
	} else if !validID(ref, "tok") {
		return errTokenNotFound
	}
	_, err := s.store.DestroyCVC(ctx, tokenID)
	return err
}

// SweepCVCs destroys every CVC older than Config.CVCTTL and says how many.
func (s *Service) SweepCVCs(ctx context.Context) (int, error) {
	total := 0
	for range sweepBatchesMax {
		n, err := s.store.DestroyExpiredCVCs(ctx, s.clock().UTC(), sweepBatchMax)
		total += n
		if err != nil || n < sweepBatchMax {
			return total, err
		}
	}
	return total, nil
}
