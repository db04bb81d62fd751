package identity

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/kassa/kassa"
)

// Password rules (NIST SP 800-63B): length counted in runes, no
// composition rules, no common or context-specific passwords.
const (
	PasswordLengthMin = 12
	PasswordLengthMax = 128
	// passwordBytesMax bounds what is hashed: 128 runes of at most 4 bytes.
	passwordBytesMax = 4 * PasswordLengthMax
	// weakExtraMin is how many characters a password must have beyond a
	// common password or context word it contains at an end (or, for
	// context words, anywhere) not to be refused: "password1234" and
	// "kassakassa12" are refused, "kassa is where I pay my bills" is not.
	weakExtraMin = 8
)

// Hasher hashes passwords into self-describing strings and checks them.
// Verify compares in constant time and reports whether the hash was made
// with other parameters than the hasher's current ones, so that the
// caller stores a new hash after a successful login.
type Hasher interface {
	Hash(password string) (string, error)
	Verify(encoded, password string) (ok, rehash bool, err error)
}

// Argon2Params are argon2id's parameters.
type Argon2Params struct {
	Memory     uint32 // KiB
	Time       uint32 // passes
	Threads    uint8
	SaltLength uint32 // bytes
	KeyLength  uint32 // bytes
}

// DefaultArgon2 follows OWASP's 2024 minimum for argon2id: 19 MiB, 2
// passes, 1 thread.
var DefaultArgon2 = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLength: 16, KeyLength: 32}

// Bounds on parameters read from a stored hash, so that a tampered row
// cannot make a login take all memory or forever.
const (
	argonMemoryMax  = 1 << 20 // KiB: 1 GiB
	argonTimeMax    = 16
	argonThreadsMax = 16
	argonSaltMin    = 8
	argonSaltMax    = 64
	argonKeyMin     = 16
	argonKeyMax     = 64
)

// Argon2id is the Hasher of Kassa: argon2id stored as a PHC string,
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded standard base64).
type Argon2id struct {
	Params Argon2Params
	Rand   io.Reader // salts; nil means crypto/rand
}

var _ Hasher = (*Argon2id)(nil)

var phcB64 = base64.RawStdEncoding

// ErrHashFormat is returned for a stored hash that is no argon2id PHC
// string Kassa accepts.
var ErrHashFormat = errors.New("identity: not an argon2id PHC string within bounds")

func (h *Argon2id) Hash(password string) (string, error) {
	p := h.Params
	if err := p.check(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLength)
	r := h.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, salt); err != nil {
		return "", fmt.Errorf("identity: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLength)
	return EncodePHC(p, salt, key), nil
}

func (h *Argon2id) Verify(encoded, password string) (ok, rehash bool, err error) {
	p, salt, want, err := ParsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	ok = subtle.ConstantTimeCompare(got, want) == 1
	cur := h.Params
	rehash = p.Memory != cur.Memory || p.Time != cur.Time || p.Threads != cur.Threads ||
		uint32(len(salt)) != cur.SaltLength || uint32(len(want)) != cur.KeyLength
	return ok, rehash, nil
}

func (p Argon2Params) check() error {
	if p.Memory < 8*uint32(p.Threads) || p.Memory > argonMemoryMax || p.Time < 1 || p.Time > argonTimeMax ||
		p.Threads < 1 || p.Threads > argonThreadsMax || p.SaltLength < argonSaltMin || p.SaltLength > argonSaltMax ||
		p.KeyLength < argonKeyMin || p.KeyLength > argonKeyMax {
		return fmt.Errorf("identity: argon2id parameters %+v out of bounds", p)
	}
	return nil
}

// EncodePHC writes an argon2id hash as a PHC string.
func EncodePHC(p Argon2Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		phcB64.EncodeToString(salt), phcB64.EncodeToString(key))
}

// ParsePHC reads an argon2id PHC string. The parameters' SaltLength and
// KeyLength are those of the salt and hash found.
func ParsePHC(s string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, ErrHashFormat
	}
	var m, t, th uint64
	for kv := range strings.SplitSeq(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, perr := strconv.ParseUint(v, 10, 32)
		if !ok || perr != nil || len(v) > 10 || (v[0] == '0' && v != "0") {
			return p, nil, nil, ErrHashFormat
		}
		switch {
		case k == "m" && m == 0:
			m = n
		case k == "t" && t == 0:
			t = n
		case k == "p" && th == 0:
			th = n
		default:
			return p, nil, nil, ErrHashFormat
		}
	}
	if th > argonThreadsMax {
		return p, nil, nil, ErrHashFormat
	}
	if salt, err = phcB64.Strict().DecodeString(parts[4]); err != nil {
		return p, nil, nil, ErrHashFormat
	}
	if key, err = phcB64.Strict().DecodeString(parts[5]); err != nil {
		return p, nil, nil, ErrHashFormat
	}
	p = Argon2Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(th),
		SaltLength: uint32(len(salt)), KeyLength: uint32(len(key))}
	if p.check() != nil {
		return Argon2Params{}, nil, nil, ErrHashFormat
	}
	return p, salt, key, nil
}

//go:embed common_passwords.txt
var commonPasswordsText string

// commonPasswords is the set of common_passwords.txt (see
// common_passwords.LICENSE for its source), built on first use.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 50000)
	sc := bufio.NewScanner(strings.NewReader(commonPasswordsText))
	for sc.Scan() {
		if w := sc.Text(); w != "" {
			set[w] = struct{}{}
		}
	}
	return set
})

// CommonPasswordCount is the size of the embedded common-password list.
func CommonPasswordCount() int { return len(commonPasswords()) }

// CheckPassword applies the password rules for the account of email
// (normalized; "" when unknown): 12 to 128 characters (runes), not a
// common password, not the address, its local part or "kassa" with fewer
// than 8 other characters. Errors are kassa EInvalid with param password:
// password_too_short, password_too_long, password_common,
// password_personal.
func CheckPassword(password, email string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password):
		return kassa.Invalid("password", "password_invalid", "the password must be text (UTF-8)")
	case n < PasswordLengthMin:
		return kassa.Invalid("password", "password_too_short", "the password must be at least %d characters", PasswordLengthMin)
	case n > PasswordLengthMax:
		return kassa.Invalid("password", "password_too_long", "the password must be at most %d characters", PasswordLengthMax)
	}
	lower := strings.ToLower(password)
	if commonBase(lower) {
		return kassa.Invalid("password", "password_common", "this password is too common; choose another")
	}
	words := []string{"kassa"}
	if email != "" {
		local, _, _ := strings.Cut(email, "@")
		words = append(words, email, local)
	}
	for _, w := range words {
		if utf8.RuneCountInString(w) >= 3 && strings.Contains(lower, w) &&
			n-utf8.RuneCountInString(w) < weakExtraMin {
			return kassa.Invalid("password", "password_personal", "the password must not be your email or the name of this service with a few characters added")
		}
	}
	return nil
}

// commonBase reports whether the lower-cased password is a common
// password, or one with fewer than weakExtraMin digits or symbols added at
// its start or end ("password1234!").
func commonBase(lower string) bool {
	set := commonPasswords()
	if _, ok := set[lower]; ok {
		return true
	}
	notLetter := func(r rune) bool { return !unicode.IsLetter(r) }
	n := utf8.RuneCountInString(lower)
	for _, base := range []string{strings.TrimRightFunc(lower, notLetter), strings.TrimLeftFunc(lower, notLetter),
		strings.TrimFunc(lower, notLetter)} {
		if base == lower || base == "" || n-utf8.RuneCountInString(base) >= weakExtraMin {
			continue
		}
		if _, ok := set[base]; ok {
			return true
		}
	}
	return false
}
