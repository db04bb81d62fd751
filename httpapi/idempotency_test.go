package httpapi_test

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa/kassa/httpapi"
)

func (f *fixture) doKey(t *testing.T, path, key, idemKey, body string) (*http.Response, []byte) {
	t.Helper()
	return f.do(t, "POST", path, key, "application/json", body, "Idempotency-Key", idemKey)
}

func TestIdempotencyKey(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, nil)
	sk := f.merchant.SecretKey
	body := `{"currency":"EUR"}` // the id is generated: only the replay can return the same one
	r1, b1 := f.doKey(t, "/v1/ledger/accounts", sk, "k1", body)
	if r1.StatusCode != 201 || r1.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first = %d %s", r1.StatusCode, b1)
	}
	r2, b2 := f.doKey(t, "/v1/ledger/accounts", sk, "k1", body)
	if r2.StatusCode != 201 || string(b2) != string(b1) || r2.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay = %d %s (replayed=%q), want the first answer %s", r2.StatusCode, b2, r2.Header.Get("Idempotent-Replayed"), b1)
	}
	r3, b3 := f.doKey(t, "/v1/ledger/accounts", sk, "k1", `{"currency":"USD"}`)
	problem(t, r3, b3, 422, "idempotency_key_reused")
	// Without a key, or with another, the request runs again.
	if r, b := f.doKey(t, "/v1/ledger/accounts", sk, "k2", body); r.StatusCode != 201 || string(b) == string(b1) {
		t.Errorf("new key = %d %s", r.StatusCode, b)
	}
	// Keys are scoped to the merchant.
	other, _ := f.svc.Create(t.Context(), "Other")
	if r, b := f.doKey(t, "/v1/ledger/accounts", other.SecretKey, "k1", body); r.StatusCode != 201 || r.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("other merchant's k1 = %d %s", r.StatusCode, b)
	}
	// Problems are remembered too (same bad request, same answer).
	r4, b4 := f.doKey(t, "/v1/ledger/accounts", sk, "k3", `{"currency":"euro"}`)
	r5, b5 := f.doKey(t, "/v1/ledger/accounts", sk, "k3", `{"currency":"euro"}`)
	if r4.StatusCode != 400 || r5.StatusCode != 400 || r5.Header.Get("Idempotent-Replayed") != "true" || string(b4) != string(b5) {
		t.Errorf("problem replay = %d/%d %s / %s", r4.StatusCode, r5.StatusCode, b4, b5)
	}
	if r, b := f.doKey(t, "/v1/ledger/accounts", sk, strings.Repeat("x", 256), body); r.StatusCode != 400 {
		t.Errorf("long key = %d %s", r.StatusCode, b)
	}
}

func TestIdempotencyConcurrent(t *testing.T) {
	var runs atomic.Int32
	release := make(chan struct{})
	f := newFixture(t, httpapi.Config{}, func(s *httpapi.Server) {
		s.Handle("POST", "/v1/slow", httpapi.AuthSecret, func(w http.ResponseWriter, r *http.Request) error {
			runs.Add(1)
			<-release
			return httpapi.WriteJSON(w, 200, map[string]int32{"run": runs.Load()})
		})
	})
	sk := f.merchant.SecretKey
	first := make(chan []byte)
	go func() {
		_, b := f.doKey(t, "/v1/slow", sk, "same", `{}`)
		first <- b
	}()
	for runs.Load() == 0 { // wait until the first request is inside the handler
		time.Sleep(time.Millisecond)
	}
	resp, body := f.doKey(t, "/v1/slow", sk, "same", `{}`)
	problem(t, resp, body, 409, "idempotency_key_in_use")
	close(release)
	b1 := <-first
	// Now many concurrent replays all get the first answer; the handler
	// never runs again.
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			r, b := f.doKey(t, "/v1/slow", sk, "same", `{}`)
			if r.StatusCode != 200 || string(b) != string(b1) {
				t.Errorf("concurrent replay = %d %s, want %s", r.StatusCode, b, b1)
			}
		})
	}
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Errorf("handler ran %d times", n)
	}
}
