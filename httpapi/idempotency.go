package httpapi

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"time"

	"github.com/kassa/kassa"
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
	MerchantID  string
	Key         string
	RequestHash []byte
	// Done is false while the first request runs.
	Done        bool
	Status      int
	ContentType string
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
func (s *Server) idempotent(w http.ResponseWriter, r *http.Request, merchantID string, h HandlerFunc) error {
	key := r.Header.Get("Idempotency-Key")
	if key == "" || r.Method != http.MethodPost || s.cfg.Idempotency == nil {
		return h(w, r)
	}
	if len(key) > IdempotencyKeyLengthMax {
		return kassa.Invalid("Idempotency-Key", "idempotency_key_invalid", "the Idempotency-Key may be at most %d characters", IdempotencyKeyLengthMax)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return jsonError(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	now := s.now()
	rec := IdempotencyRecord{MerchantID: merchantID, Key: key, RequestHash: s.requestHash(r, body),
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
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Content-Type", got.ContentType)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(got.Status)
		_, err := w.Write(got.Body)
		return err
	}
	// What the request creates gets ids derived from the key and the
	// request: if this attempt commits and still answers 5xx (a lost
	// connection after COMMIT), the key is released below and the retry
	// finds those objects instead of creating them again.
	scope := merchantID + "\x00" + key + "\x00" + hex.EncodeToString(rec.RequestHash)
	r = r.WithContext(kassa.WithIdempotencyKey(r.Context(), scope))
	buf := &bufferedWriter{header: http.Header{}}
	herr := h(buf, r)
	if herr != nil {
		s.writeError(buf, r, herr)
	}
	// Server-side failures and rate limits are not remembered: a retry
	// with the same key may succeed.
	if buf.status >= 500 || buf.status == http.StatusTooManyRequests || buf.body.Len() > idempotencyResponseMax {
		if err := s.cfg.Idempotency.ReleaseIdempotent(context.WithoutCancel(r.Context()), merchantID, key); err != nil {
			s.log.ErrorContext(r.Context(), "release idempotency key", "err", err)
		}
	} else {
		rec.Done, rec.Status, rec.Body = true, buf.status, buf.body.Bytes()
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
