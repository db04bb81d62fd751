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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/idempotency"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/payment"
)

// Idempotency of POST requests (the Idempotency-Key header): the same key
// with the same request replays the first answer; with another request it
// is refused; while the first is still running on this node, a second
// gets 409. Nothing is stored while a request runs: its answer is stored
// by the transaction that makes its effect durable (package idempotency),
// or, for a request whose handler renders no answer into it, right after
// the handler. Across nodes, two requests with one key both run and the
// second to commit loses on the key's primary key.
const (
	IdempotencyKeyLengthMax = 255
	// IdempotencyTTL is how long a key is remembered.
	IdempotencyTTL = 24 * time.Hour
	// idempotencyResponseMax bounds a stored response; larger ones are not
	// stored.
	idempotencyResponseMax = 1 << 20
	// idempotencyInFlightMax bounds the keys this node tracks as running
	// (one per request in progress); past it a request with a key waits
	// for nothing and is refused as busy.
	idempotencyInFlightMax = 100_000
)

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

// inFlight is the Idempotency-Keys of requests running on this node.
type inFlight struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

// take marks key running; false when it runs already (or too many do).
func (f *inFlight) take(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys == nil {
		f.keys = map[string]struct{}{}
	}
	if _, ok := f.keys[key]; ok || len(f.keys) >= idempotencyInFlightMax {
		return false
	}
	f.keys[key] = struct{}{}
	return true
}

func (f *inFlight) drop(key string) {
	f.mu.Lock()
	delete(f.keys, key)
	f.mu.Unlock()
}

var errKeyInUse = kassa.Errorf(kassa.EConflict, "idempotency_key_in_use",
	"a request with this Idempotency-Key is still being processed; retry shortly")

// replayStored answers with the key's stored answer, or errKeyInUse when
// the key has none yet (its request still runs, here or on another node).
func (s *Server) replayStored(w http.ResponseWriter, r *http.Request, namespace, key string, now time.Time, rec idempotency.Record) error {
	got, found, err := s.cfg.Idempotency.LookupIdempotent(r.Context(), namespace, key, now)
	if err != nil {
		return err
	}
	if found {
		return s.replay(w, got, rec)
	}
	return errKeyInUse
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
	rec := idempotency.Record{MerchantID: namespace, Key: key, RequestHash: s.requestHash(r, body),
		LockedUntil: now, ExpiresAt: now.Add(IdempotencyTTL)}
	running := namespace + "\x00" + key
	if !s.inFlight.take(running) {
		// Running here, or finished a moment ago: a stored answer is
		// replayed, else the key is in use.
		return s.replayStored(w, r, namespace, key, now, rec)
	}
	defer s.inFlight.drop(running)
	got, found, err := s.cfg.Idempotency.LookupIdempotent(r.Context(), namespace, key, now)
	if err != nil {
		return err
	}
	if found {
		return s.replay(w, got, rec)
	}
	// What the request creates gets ids derived from the key and the
	// request: if this attempt commits and still answers 5xx (a lost
	// connection after COMMIT), the retry finds those objects instead of
	// creating them again.
	scope := namespace + "\x00" + key + "\x00" + hex.EncodeToString(rec.RequestHash)
	pend := idempotency.NewPending(rec, now, func(b []byte) []byte { return s.sealAnswer(namespace, key, b) })
	r = r.WithContext(idempotency.WithPending(kassa.WithIdempotencyKey(r.Context(), scope), pend))
	buf := &bufferedWriter{header: http.Header{}}
	herr := h(buf, r)
	if errors.Is(herr, idempotency.ErrKeyTaken) {
		// Another request with the key (on another node) committed
		// first, and this one's transaction lost on the key: the
		// winner's answer is the key's.
		return s.replayStored(w, r, namespace, key, now, rec)
	}
	if herr != nil {
		s.writeError(buf, r, herr)
	}
	if buf.status == 0 {
		buf.status = http.StatusOK
	}
	// Server-side failures and rate limits are not remembered: a retry
	// with the same key may succeed.
	if buf.status < 500 && buf.status != http.StatusTooManyRequests && buf.body.Len() <= idempotencyResponseMax {
		if err := s.remember(context.WithoutCancel(r.Context()), pend, rec, buf, now); err != nil {
			if !errors.Is(err, idempotency.ErrKeyTaken) {
				return err
			}
			// Another node's request with this key stored its answer
			// first: that one is the key's answer.
			return s.replayStored(w, r, namespace, key, now, rec)
		}
	}
	for k, v := range buf.header {
		w.Header()[k] = v
	}
	w.WriteHeader(buf.status)
	_, err = w.Write(buf.body.Bytes())
	return err
}

// remember makes sure the key's stored answer is buf. Usually the domain
// transaction stored it already (the answer it rendered is buf, and the
// stored record says so); else it is stored now, or replaces the one a
// transaction of this request stored before the handler changed it.
func (s *Server) remember(ctx context.Context, pend *idempotency.Pending, rec idempotency.Record, buf *bufferedWriter, now time.Time) error {
	status, answer, answered := pend.Answered()
	if cs, committed, ok := pend.Committed(); ok && cs == buf.status && bytes.Equal(committed, buf.body.Bytes()) {
		return nil // the domain transaction stored this answer and committed
	}
	if answered && status == buf.status && bytes.Equal(answer, buf.body.Bytes()) {
		// Whether the transaction that stored it committed is what the
		// store says: a read, not a commit.
		got, found, err := s.cfg.Idempotency.LookupIdempotent(ctx, rec.MerchantID, rec.Key, now)
		if err != nil {
			return err
		}
		if found && got.Done && bytes.Equal(got.RequestHash, rec.RequestHash) {
			if stored, err := s.openAnswer(rec.MerchantID, rec.Key, got.Body); err == nil && bytes.Equal(stored, answer) {
				return nil
			}
		}
	}
	rec.Done, rec.Status, rec.Body = true, buf.status, s.sealAnswer(rec.MerchantID, rec.Key, buf.body.Bytes())
	rec.ContentType = buf.header.Get("Content-Type")
	err := s.cfg.Idempotency.InsertIdempotent(ctx, rec, now)
	if errors.Is(err, idempotency.ErrKeyTaken) && answered {
		// A transaction of this request stored an answer that the
		// handler then changed: the handler's is the answer.
		return s.cfg.Idempotency.ReplaceIdempotent(ctx, rec)
	}
	return err
}

// replay answers with a stored record, or refuses: another request's key,
// or one still running (a row an older Kassa stored in flight).
func (s *Server) replay(w http.ResponseWriter, got, rec idempotency.Record) error {
	switch {
	case !bytes.Equal(got.RequestHash, rec.RequestHash):
		return kassa.Errorf(kassa.EUnprocessable, "idempotency_key_reused",
			"this Idempotency-Key was used with another request; use a new key for a new request")
	case !got.Done:
		return errKeyInUse
	}
	body, err := s.openAnswer(rec.MerchantID, rec.Key, got.Body)
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

// renderPayment says how the handler renders the payment it gets, so that
// the domain transaction (the payment insert, the ledger effect) stores
// the request's answer with its effect: one durable commit. It must render
// exactly what the handler then writes with WriteJSON.
func renderPayment(r *http.Request, status int, view func(payment.Payment) any) {
	pend := idempotency.PendingFrom(r.Context())
	if pend == nil {
		return
	}
	pend.SetRender(func(v any) (int, string, []byte, error) {
		p, ok := v.(payment.Payment)
		if !ok {
			return 0, "", nil, nil // not this handler's result: nothing to store
		}
		b, err := json.Marshal(view(p))
		if err != nil {
			return 0, "", nil, fmt.Errorf("encode response: %w", err)
		}
		return status, "application/json", append(b, '\n'), nil
	})
}
