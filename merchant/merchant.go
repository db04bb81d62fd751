// Package merchant holds merchants and their API keys: creation, key
// rotation and revocation, and authentication of a bearer key.
//
// A key looks like sk_<lookup>_<secret> (or pk_ for publishable keys). The
// lookup part finds the stored record; only the SHA-256 of the whole key is
// stored, and it is compared in constant time. Keys carry 256 bits of
// entropy, so a fast hash is enough: there is nothing to brute-force.
package merchant

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
)

// Kind of an API key.
type Kind string

const (
	Secret      Kind = "secret"      // server-side: every /v1 endpoint of its merchant
	Publishable Kind = "publishable" // a payer's browser: only endpoints meant for it
)

func (k Kind) prefix() string {
	if k == Publishable {
		return "pk"
	}
	return "sk"
}

// Limits.
const (
	NameLengthMax = 200
	// RotateGraceMax bounds how long a rotated-out secret key keeps working.
	RotateGraceMax = 30 * 24 * time.Hour
	// RotateGraceDefault is how long the old secret key keeps working after
	// `kassa merchants rotate-key` when no grace is given.
	RotateGraceDefault = 24 * time.Hour
)

// Merchant is a business taking payments through Kassa.
type Merchant struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Category is what the merchant sells (one of Categories); rules that
	// depend on the business, such as "no credit for gambling", read it.
	Category Category `json:"category"`
	// Country is the ISO 3166-1 alpha-2 country of the merchant's licence
	// ("" until set): the jurisdiction whose rules apply to its payers.
	Country   string    `json:"country"`
	CreatedAt time.Time `json:"created"`
	// SuspendedAt is when the operator suspended the merchant (nil: it
	// is not); SuspendedReason the operator's words (Suspend).
	SuspendedAt     *time.Time `json:"-"`
	SuspendedReason string     `json:"-"`
}

// Category is the kind of business a merchant runs.
type Category string

// The categories. Gambling covers betting, casinos, lotteries and
// poker for money; Gaming is games without stakes (in-game purchases).
const (
	CategoryGeneral      Category = "general"
	CategoryGambling     Category = "gambling"
	CategoryGaming       Category = "gaming"
	CategoryRetail       Category = "retail"
	CategoryDigitalGoods Category = "digital_goods"
	CategoryTravel       Category = "travel"
)

// Categories lists every category, for validation and usage texts.
var Categories = []Category{CategoryGeneral, CategoryGambling, CategoryGaming, CategoryRetail, CategoryDigitalGoods, CategoryTravel}

// Valid reports whether c is one of Categories.
func (c Category) Valid() bool {
	for _, k := range Categories {
		if c == k {
			return true
		}
	}
	return false
}

// Gambling reports whether the merchant takes stakes for money.
func (m Merchant) Gambling() bool { return m.Category == CategoryGambling }

// Profile is what SetProfile changes; a nil field stays as it is.
type Profile struct {
	Category *Category
	Country  *string
}

// Key is a stored API key. The key string itself is never stored.
type Key struct {
	ID         string     `json:"id"`
	MerchantID string     `json:"merchant"`
	Kind       Kind       `json:"kind"`
	Hash       []byte     `json:"-"`
	Hint       string     `json:"hint"` // e.g. "sk_...a1b2", safe to show and log
	CreatedAt  time.Time  `json:"created"`
	ExpiresAt  *time.Time `json:"expires,omitempty"`
	RevokedAt  *time.Time `json:"revoked,omitempty"`
}

// Active reports whether the key authenticates at time now.
func (k Key) Active(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// Store is what the merchant service needs from storage.
type Store interface {
	// CreateMerchant stores a merchant with its first keys, atomically.
	CreateMerchant(ctx context.Context, m Merchant, keys []Key) error
	// Merchant returns kassa ENotFound when absent.
	Merchant(ctx context.Context, id string) (Merchant, error)
	// SetProfile stores the merchant's category and licence country
	// (ENotFound when the merchant is absent).
	SetProfile(ctx context.Context, id string, category Category, country string) error
	// Merchants lists merchants oldest first, at most limit after the cursor id.
	Merchants(ctx context.Context, after string, limit int) ([]Merchant, error)
	// Key returns the key with the lookup id (ENotFound when absent).
	Key(ctx context.Context, id string) (Key, error)
	// Keys lists a merchant's keys, oldest first.
	Keys(ctx context.Context, merchantID string) ([]Key, error)
	// RotateSecretKey adds key and sets expiresAt on every other active
	// secret key of the merchant that would outlive it, atomically.
	RotateSecretKey(ctx context.Context, key Key, expiresAt time.Time) error
	// RevokeKey marks the key revoked at the time (ENotFound when absent,
	// EConflict when already revoked).
	RevokeKey(ctx context.Context, id string, at time.Time) error
	// SetSuspended suspends the merchant at at with the reason, or lifts
	// the suspension when at is nil (ENotFound when absent).
	SetSuspended(ctx context.Context, id string, at *time.Time, reason string) error
}

// Service implements merchant operations.
type Service struct {
	store Store
	now   func() time.Time
	ids   id.Generator

	// cache holds keys verified in the last AuthCacheTTL, by the SHA-256
	// of the key string, so a busy key costs no database round trip per
	// request.
	cacheMu sync.Mutex
	cache   map[[32]byte]cachedKey
}

// Authentication cache. A key verified by this process is trusted for
// AuthCacheTTL without asking the database again; its own expiry is still
// checked on every request. A revocation or rotation made through this
// process takes effect at once; one made by another process (e.g. the
// CLI, another node) within AuthCacheTTL.
const (
	AuthCacheTTL        = time.Second
	authCacheEntriesMax = 10_000
)

type cachedKey struct {
	p     Principal
	key   Key
	until time.Time
}

// NewService returns a service over the store; now and ids may be zero
// for the wall clock and crypto/rand.
func NewService(store Store, now func() time.Time, ids id.Generator) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: now, ids: ids}
}

// Created is a new merchant with its keys in clear, shown this once.
type Created struct {
	Merchant
	SecretKey      string `json:"secret_key"`
	PublishableKey string `json:"publishable_key"`
}

// Create makes a merchant with one secret and one publishable key.
func (s *Service) Create(ctx context.Context, name string) (Created, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return Created{}, kassa.Invalid("name", "name_required", "a merchant needs a name")
	case utf8.RuneCountInString(name) > NameLengthMax || !utf8.ValidString(name):
		return Created{}, kassa.Invalid("name", "name_invalid", "the name must be valid UTF-8 of at most %d characters", NameLengthMax)
	}
	now := s.now().UTC()
	m := Merchant{ID: s.ids.New("mer"), Name: name, Category: CategoryGeneral, CreatedAt: now}
	sk, skStr := s.newKey(m.ID, Secret, now)
	pk, pkStr := s.newKey(m.ID, Publishable, now)
	if err := s.store.CreateMerchant(ctx, m, []Key{sk, pk}); err != nil {
		return Created{}, fmt.Errorf("create merchant: %w", err)
	}
	return Created{Merchant: m, SecretKey: skStr, PublishableKey: pkStr}, nil
}

func (s *Service) newKey(merchantID string, kind Kind, now time.Time) (Key, string) {
	lookup := s.ids.Random(10)
	secret := s.ids.Random(32)
	str := kind.prefix() + "_" + lookup + "_" + secret
	sum := sha256.Sum256([]byte(str))
	return Key{
		ID:         "key_" + lookup,
		MerchantID: merchantID,
		Kind:       kind,
		Hash:       sum[:],
		Hint:       kind.prefix() + "_" + lookup + "_..." + secret[len(secret)-4:],
		CreatedAt:  now,
	}, str
}

// Get returns a merchant.
func (s *Service) Get(ctx context.Context, id string) (Merchant, error) {
	return s.store.Merchant(ctx, id)
}

// List returns merchants oldest first, a page at a time.
func (s *Service) List(ctx context.Context, after string, limit int) ([]Merchant, error) {
	return s.store.Merchants(ctx, after, limit)
}

// SetProfile changes a merchant's category and licence country and returns
// the merchant as stored. The country is an ISO 3166-1 alpha-2 code
// (upper or lower case) or "" to clear it.
func (s *Service) SetProfile(ctx context.Context, id string, p Profile) (Merchant, error) {
	m, err := s.store.Merchant(ctx, id)
	if err != nil {
		return Merchant{}, err
	}
	if p.Category != nil {
		if !p.Category.Valid() {
			return Merchant{}, kassa.Invalid("category", "category_invalid", "the category must be one of %v", Categories)
		}
		m.Category = *p.Category
	}
	if p.Country != nil {
		c := strings.ToUpper(strings.TrimSpace(*p.Country))
		if c != "" && !isCountryCode(c) {
			return Merchant{}, kassa.Invalid("country", "country_invalid", "the country must be a two-letter ISO 3166-1 code such as DE")
		}
		m.Country = c
	}
	if err := s.store.SetProfile(ctx, id, m.Category, m.Country); err != nil {
		return Merchant{}, fmt.Errorf("set merchant profile: %w", err)
	}
	s.forgetKeys()
	return m, nil
}

func isCountryCode(c string) bool {
	return len(c) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z'
}

// Keys lists a merchant's keys (hashes and hints only).
func (s *Service) Keys(ctx context.Context, merchantID string) ([]Key, error) {
	if _, err := s.store.Merchant(ctx, merchantID); err != nil {
		return nil, err
	}
	return s.store.Keys(ctx, merchantID)
}

// RotateKey issues a new secret key for the merchant. Every older secret
// key keeps working for grace (0 ends it now), then stops.
func (s *Service) RotateKey(ctx context.Context, merchantID string, grace time.Duration) (key Key, secret string, err error) {
	if grace < 0 || grace > RotateGraceMax {
		return Key{}, "", kassa.Invalid("grace", "grace_invalid", "the grace period must be between 0 and %s", RotateGraceMax)
	}
	if _, err := s.store.Merchant(ctx, merchantID); err != nil {
		return Key{}, "", err
	}
	now := s.now().UTC()
	key, secret = s.newKey(merchantID, Secret, now)
	if err := s.store.RotateSecretKey(ctx, key, now.Add(grace)); err != nil {
		return Key{}, "", fmt.Errorf("rotate key: %w", err)
	}
	s.forgetKeys()
	return key, secret, nil
}

// RevokeKey ends a key now.
func (s *Service) RevokeKey(ctx context.Context, keyID string) error {
	defer s.forgetKeys()
	return s.store.RevokeKey(ctx, keyID, s.now().UTC())
}

// Principal is an authenticated caller.
type Principal struct {
	Merchant Merchant
	KeyID    string
	Kind     Kind
}

var errBadKey = kassa.Errorf(kassa.EUnauthorized, "invalid_api_key", "the API key is invalid, expired or revoked")

// Authenticate returns the principal a bearer key belongs to. Every failure
// is the same error, so a caller learns nothing about which part was wrong.
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	kind, lookup, ok := parseKey(token)
	if !ok {
		return Principal{}, errBadKey
	}
	sum := sha256.Sum256([]byte(token))
	now := s.now()
	s.cacheMu.Lock()
	c, hit := s.cache[sum]
	s.cacheMu.Unlock()
	if hit && now.Before(c.until) && c.key.Active(now) {
		return c.p, nil
	}
	var k Key
	var m Merchant
	var err error
	ks, joined := s.store.(KeyMerchantStore)
	if joined {
		k, m, err = ks.KeyWithMerchant(ctx, "key_"+lookup)
	} else {
		k, err = s.store.Key(ctx, "key_"+lookup)
	}
	if kassa.ErrorKind(err) == kassa.ENotFound {
		return Principal{}, errBadKey
	} else if err != nil {
		return Principal{}, err
	}
	if subtle.ConstantTimeCompare(sum[:], k.Hash) != 1 || k.Kind != kind || !k.Active(s.now()) {
		return Principal{}, errBadKey
	}
	if !joined {
		if m, err = s.store.Merchant(ctx, k.MerchantID); err != nil {
			return Principal{}, err
		}
	}
	if m.SuspendedAt != nil { // not cached: the next request asks again
		return Principal{}, ErrSuspended
	}
	p := Principal{Merchant: m, KeyID: k.ID, Kind: k.Kind}
	s.cacheMu.Lock()
	if s.cache == nil || len(s.cache) >= authCacheEntriesMax {
		s.cache = map[[32]byte]cachedKey{}
	}
	s.cache[sum] = cachedKey{p: p, key: k, until: now.Add(AuthCacheTTL)}
	s.cacheMu.Unlock()
	return p, nil
}

// forgetKeys empties the authentication cache after a key changed.
func (s *Service) forgetKeys() {
	s.cacheMu.Lock()
	s.cache = nil
	s.cacheMu.Unlock()
}

// KeyMerchantStore is a Store that can read a key and its merchant in one
// round trip; Authenticate uses it when the store offers it.
type KeyMerchantStore interface {
	// KeyWithMerchant returns the key with the lookup id and its merchant
	// (ENotFound when the key is absent).
	KeyWithMerchant(ctx context.Context, id string) (Key, Merchant, error)
}

// keyLengthMax bounds what is parsed from an Authorization header.
const keyLengthMax = 128

func parseKey(token string) (kind Kind, lookup string, ok bool) {
	if len(token) > keyLengthMax {
		return "", "", false
	}
	prefix, rest, ok := strings.Cut(token, "_")
	if !ok {
		return "", "", false
	}
	switch prefix {
	case "sk":
		kind = Secret
	case "pk":
		kind = Publishable
	default:
		return "", "", false
	}
	lookup, secret, ok := strings.Cut(rest, "_")
	if !ok || len(lookup) != 16 || len(secret) == 0 {
		return "", "", false
	}
	// The lookup id goes to the store: only the characters ids are made
	// of (PostgreSQL refuses bytes that are not UTF-8 in text).
	for i := 0; i < len(lookup); i++ {
		if c := lookup[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return "", "", false
		}
	}
	return kind, lookup, true
}
