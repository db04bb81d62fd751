package httpapi_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/identity/identitytest"
	"github.com/kassa/kassa/store/sqlstore"
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

// TestIdempotencyKeyKindsApart: a payer's browser holds the publishable
// key, so a pk_ caller must not replay (and read) the answer a secret-key
// caller stored under the same Idempotency-Key, nor the reverse.
func TestIdempotencyKeyKindsApart(t *testing.T) {
	var runs atomic.Int32
	f := newFixture(t, httpapi.Config{}, func(s *httpapi.Server) {
		s.Handle("POST", "/v1/run", httpapi.AuthPublishable, func(w http.ResponseWriter, r *http.Request) error {
			return httpapi.WriteJSON(w, 200, map[string]int32{"run": runs.Add(1)})
		})
	})
	sk, pk := f.merchant.SecretKey, f.merchant.PublishableKey
	r1, b1 := f.doKey(t, "/v1/run", sk, "shared", `{}`)
	r2, b2 := f.doKey(t, "/v1/run", pk, "shared", `{}`)
	if r1.StatusCode != 200 || r2.StatusCode != 200 || r2.Header.Get("Idempotent-Replayed") != "" || string(b1) == string(b2) {
		t.Errorf("sk then pk with one key: %d %s, %d %s (replayed %q); want two runs", r1.StatusCode, b1, r2.StatusCode, b2, r2.Header.Get("Idempotent-Replayed"))
	}
	// Each kind still replays its own answer.
	for _, c := range []struct{ key, want string }{{sk, string(b1)}, {pk, string(b2)}} {
		r, b := f.doKey(t, "/v1/run", c.key, "shared", `{}`)
		if string(b) != c.want || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay for %s… = %s (replayed %q), want %s", c.key[:3], b, r.Header.Get("Idempotent-Replayed"), c.want)
		}
	}
	if n := runs.Load(); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
}

// TestIdempotencySealsAnswers: an answer carrying a bearer secret (the
// session token of POST /v1/signups/password) is remembered for 24 hours;
// it must not rest in clear in the database files.
func TestIdempotencySealsAnswers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlstore.OpenSQLite(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, outbox := newIdentityService(t, db)
	f := newFixtureDB(t, db, httpapi.Config{Identity: svc}, nil)
	pk := f.merchant.PublishableKey
	post := func(path, idem, body string) (*http.Response, map[string]any) {
		resp, b := f.doKey(t, path, pk, idem, body)
		return resp, decode(t, b)
	}
	_, su := post("/v1/signups", "su-1", `{"email":"ada@example.com","phone":"+436641234567"}`)
	tok, _ := su["token"].(string)
	if tok == "" {
		t.Fatalf("sign-up = %v", su)
	}
	for _, to := range []string{"ada@example.com", "+436641234567"} {
		if r, p := post("/v1/signups/verify", "", `{"token":"`+tok+`","code":"`+identitytest.LastCode(t, outbox, to)+`"}`); r.StatusCode != 200 {
			t.Fatalf("verify %s = %d %v", to, r.StatusCode, p)
		}
	}
	body := `{"token":"` + tok + `","password":"correct horse battery staple"}`
	r1, ses := post("/v1/signups/password", "pw-1", body)
	session, _ := ses["token"].(string)
	if r1.StatusCode != 201 || session == "" {
		t.Fatalf("password = %d %v", r1.StatusCode, ses)
	}
	// A retry gets the same session back...
	r2, again := post("/v1/signups/password", "pw-1", body)
	if r2.StatusCode != 201 || again["token"] != session || r2.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay = %d %v (replayed %q)", r2.StatusCode, again, r2.Header.Get("Idempotent-Replayed"))
	}
	// ...but neither it nor the sign-up token is in the database files.
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for name, secret := range map[string]string{"session token": session, "sign-up token": tok} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("the %s rests in clear in %s", name, filepath.Base(file))
			}
		}
	}
}
