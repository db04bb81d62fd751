package httpapi

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/merchant"
)

// Idempotency of POST requests (the Idempotency-Key header): the same key
// with the same request replays the first answer; with another request it
// is refused; while the first is still running, a second gets 409.
const (
	IdempotencyKeyLengthMax = 255
	// IdempotencyTTL is how long a key is remembered.
	IdempotencyTTL = 24 * time.Hour
	// idempotencyLease is how long an in-flight key blocks others; a
	// process that died mid-request frees its keys after it.
	idempotencyLease = time.Minute
	// idempotencyResponseMax bounds a stored response; larger ones are not
	// stored (the key is released instead).
	idempotencyResponseMax = 1 << 20
)

// IdempotencyRecord is one remembered request.
type IdempotencyRecord struct {
	// MerchantID is the key's namespace: the merchant's id for secret-key
	// callers, "pk:" and the id for publishable-key callers (see
	// idempotencyNamespace).
	MerchantID  string
	Key         string
	RequestHash []byte
	// Done is false while the first request runs.
	Done        bool
	Status      int
	ContentType string
	// Body is the answer sealed (see sealAnswer); rows stored before
	// answers were sealed hold it in clear and are replayed as they are.
	Body        []byte
	LockedUntil time.Time
	ExpiresAt   time.Time
}

// IdempotencyStore remembers idempotency keys.
type IdempotencyStore interface {
	// BeginIdempotent inserts rec as in flight and returns (rec, true), or
	// returns the stored record and false when the key exists (and is not
	// expired). An in-flight record whose lease has passed is taken over:
	// it is replaced by rec and true is returned.
	BeginIdempotent(ctx context.Context, rec IdempotencyRecord, now time.Time) (IdempotencyRecord, bool, error)
	// FinishIdempotent stores the response of an in-flight record.
	FinishIdempotent(ctx context.Context, rec IdempotencyRecord) error
	// ReleaseIdempotent forgets an in-flight record so the key can be retried.
	ReleaseIdempotent(ctx context.Context, merchantID, key string) error
}

// requestHash fingerprints a request. It is keyed (HMAC) so that a stored
// fingerprint of a body holding a PIN or card number cannot be reversed by
// trying candidates.
func (s *Server) requestHash(r *http.Request, body []byte) []byte {
	h := hmac.New(sha256.New, s.cfg.IdempotencySecret)
	io.WriteString(h, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery+"\n")
	h.Write(body)
	return h.Sum(nil)
}

// idempotencyNamespace is where a caller's Idempotency-Keys live. A
// payer's browser holds the publishable key, so its keys are apart from
// the secret key's: neither replays (and so reads) the other's answers.
// Secret-key callers keep the bare merchant id, the namespace of every
// key stored before the split.
func idempotencyNamespace(p merchant.Principal) string {
	if p.Kind == merchant.Secret {
		return p.Merchant.ID
	}
	return "pk:" + p.Merchant.ID
}

// Stored answers are sealed (AES-256-GCM) under a key derived from
// Config.IdempotencySecret, bound to their namespace and key: an answer
// may carry a bearer secret (a sign-up's session token) and rests for
// IdempotencyTTL, so a copy of the database alone must not reveal it. The
// key is not a vault key on purpose: the rows live a day, and retiring a
// vault key must not wait for them. Layout: sealedAnswerMagic | nonce |
// ciphertext+tag.
const (
	sealedAnswerMagic = "\x00kia1" // never the start of a clear answer (JSON or text)
	sealedAnswerInfo  = "kassa/idempotency/answer-seal/v1"
)

// errAnswerSealed is a stored answer that does not open: tampered with,
// moved to another key, or sealed under another IdempotencySecret.
var errAnswerSealed = errors.New("httpapi: stored idempotent answer does not open")

func newAnswerAEAD(secret []byte) cipher.AEAD {
	key, err := hkdf.Key(sha256.New, secret, nil, sealedAnswerInfo, 32)
	if err != nil {
		panic(fmt.Sprintf("httpapi: derive the idempotency seal key: %v", err))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

func answerAD(namespace, key string) []byte {
	return []byte(namespace + "\x00" + key)
}

func (s *Server) sealAnswer(namespace, key string, body []byte) []byte {
	nonce := make([]byte, s.answers.NonceSize(), len(sealedAnswerMagic)+s.answers.NonceSize()+len(body)+s.answers.Overhead())
	rand.Read(nonce) // never fails (crypto/rand panics instead)
	out := append([]byte(sealedAnswerMagic), nonce...)
	return s.answers.Seal(out, nonce, body, answerAD(namespace, key))
}

func (s *Server) openAnswer(namespace, key string, stored []byte) ([]byte, error) {
	sealed, ok := bytes.CutPrefix(stored, []byte(sealedAnswerMagic))
	if !ok {
		return stored, nil // stored in clear before answers were sealed
	}
	n := s.answers.NonceSize()
	if len(sealed) < n+s.answers.Overhead() {
		return nil, errAnswerSealed
	}
	body, err := s.answers.Open(nil, sealed[:n], sealed[n:], answerAD(namespace, key))
	if err != nil {
		return nil, errAnswerSealed
	}
	return body, nil
}

// bufferedWriter keeps a response so it can be stored before it is sent.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *bufferedWriter) WriteHeader(s int) {
	if b.status == 0 {
		b.status = s
	}
}

// idempotent runs h under the request's Idempotency-Key, if any.
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, namespace string, h HandlerFunc) error {
	key := r.Header.Get("Idempotency-Key")
	if key == "" || r.Method != http.MethodPost || s.cfg.Idempotency == nil {
		return h(w, r)
	}
	if len(key) > IdempotencyKeyLengthMax {
		return kassa.Invalid("Idempotency-Key", "idempotency_key_invalid", "the Idempotency-Key may be at most %d characters", IdempotencyKeyLengthMax)
	}
	// A key is text: PostgreSQL refuses to store bytes that are not
	// UTF-8 (the request would end in a 500), and control characters
	// make a key no one can read back from a log.
	if !utf8.ValidString(key) || strings.ContainsFunc(key, unicode.IsControl) {
		return kassa.Invalid("Idempotency-Key", "idempotency_key_invalid", "the Idempotency-Key must be printable UTF-8 text")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return jsonError(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	now := s.now()
	rec := IdempotencyRecord{MerchantID: namespace, Key: key, RequestHash: s.requestHash(r, body),
		LockedUntil: now.Add(idempotencyLease), ExpiresAt: now.Add(IdempotencyTTL)}
	got, fresh, err := s.cfg.Idempotency.BeginIdempotent(r.Context(), rec, now)
	if err != nil {
		return err
	}
	if !fresh {
		switch {
		case !bytes.Equal(got.RequestHash, rec.RequestHash):
			return kassa.Errorf(kassa.EUnprocessable, "idempotency_key_reused",
				"this Idempotency-Key was used with another request; use a new key for a new request")
		case !got.Done:
			return kassa.Errorf(kassa.EConflict, "idempotency_key_in_use",
				"a request with this Idempotency-Key is still being processed; retry shortly")
		}
		body, err := s.openAnswer(namespace, key, got.Body)
		if err != nil {
			return err
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Content-Type", got.ContentType)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(got.Status)
		_, err = w.Write(body)
		return err
	}
	// What the request creates gets ids derived from the key and the
	// request: if this attempt commits and still answers 5xx (a lost
	// connection after COMMIT), the key is released below and the retry
	// finds those objects instead of creating them again.
	scope := namespace + "\x00" + key + "\x00" + hex.EncodeToString(rec.RequestHash)
	r = r.WithContext(kassa.WithIdempotencyKey(r.Context(), scope))
	buf := &bufferedWriter{header: http.Header{}}
	herr := h(buf, r)
	if herr != nil {
		s.writeError(buf, r, herr)
	}
	// Server-side failures and rate limits are not remembered: a retry
	// with the same key may succeed.
	if buf.status >= 500 || buf.status == http.StatusTooManyRequests || buf.body.Len() > idempotencyResponseMax {
		if err := s.cfg.Idempotency.ReleaseIdempotent(context.WithoutCancel(r.Context()), namespace, key); err != nil {
			s.log.ErrorContext(r.Context(), "release idempotency key", "err", err)
		}
	} else {
		rec.Done, rec.Status, rec.Body = true, buf.status, s.sealAnswer(namespace, key, buf.body.Bytes())
		rec.ContentType = buf.header.Get("Content-Type")
		if err := s.cfg.Idempotency.FinishIdempotent(context.WithoutCancel(r.Context()), rec); err != nil {
			return err
		}
	}
	for k, v := range buf.header {
		w.Header()[k] = v
	}
	if buf.status == 0 {
		buf.status = http.StatusOK
	}
	w.WriteHeader(buf.status)
	_, err = w.Write(buf.body.Bytes())
	return err
}
