package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/voucher"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// forBothBackends runs test over a fresh SQLite and a fresh PostgreSQL
// database (skipped loudly without PostgreSQL, unless it is required).
func forBothBackends(t *testing.T, test func(t *testing.T, db *sqlstore.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		test(t, db)
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := sqlstore.OpenPostgres(context.Background(), pgtest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		test(t, db)
	})
}

// TestIdempotencyOneCommit: a create, confirm and capture under an
// Idempotency-Key each store their answer in their domain transaction.
// Create and capture are one durable commit each, and a confirm under a
// key commits exactly as often as one without (the voucher attempt
// reservation is its own); replays commit nothing and answer byte for byte.
func TestIdempotencyOneCommit(t *testing.T) {
	forBothBackends(t, func(t *testing.T, db *sqlstore.DB) {
		f := newFixtureDB(t, db, httpapi.Config{}, nil)
		ctx := context.Background()
		if err := f.cfg.Vouchers.AllowIssuing(ctx, f.merchant.ID); err != nil {
			t.Fatal(err)
		}
		vs, err := f.cfg.Vouchers.Issue(ctx, voucher.IssueRequest{Count: 3, Amount: 1000, Currency: "EUR", IssuedBy: f.merchant.ID})
		if err != nil {
			t.Fatal(err)
		}
		sk, pk := f.merchant.SecretKey, f.merchant.PublishableKey
		// pay runs create, confirm and capture with voucher v, under keys
		// when prefix is not empty; it returns the commits of each call
		// and the answers.
		pay := func(prefix string, v voucher.Issued) (commits [3]uint64, answers [3][]byte, bodies [3]string, paths [3]string, keys [3]string) {
			t.Helper()
			call := func(i int, path, key, body string) map[string]any {
				idem := ""
				if prefix != "" {
					idem = fmt.Sprintf("%s-%d", prefix, i)
				}
				c0 := db.Commits()
				resp, b := f.do(t, "POST", path, key, "application/json", body, "Idempotency-Key", idem)
				commits[i] = db.Commits() - c0
				if resp.StatusCode/100 != 2 {
					t.Fatalf("POST %s = %d %s", path, resp.StatusCode, b)
				}
				answers[i], bodies[i], paths[i], keys[i] = b, body, path, key
				return decode(t, b)
			}
			p := call(0, "/v1/payments", sk, `{"amount":700,"currency":"EUR","capture_method":"manual"}`)
			id := p["id"].(string)
			call(1, "/v1/payments/"+id+"/confirm", pk, fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"voucher","pins":[%q]}}`,
				p["client_secret"], v.PIN))
			if c := call(2, "/v1/payments/"+id+"/capture", sk, `{}`); c["status"] != "captured" {
				t.Fatalf("capture: %v", c)
			}
			return
		}
		pay("", vs[0]) // the merchant's ledger account and the like
		without, _, _, _, _ := pay("", vs[1])
		with, answers, bodies, paths, keys := pay("pay", vs[2])
		if with[0] != 1 || with[2] != 1 || with[1] != without[1] {
			t.Errorf("commits under a key (create, confirm, capture) = %v; without = %v; want 1, %d, 1", with, without, without[1])
		}
		c0 := db.Commits()
		for i := range 3 {
			resp, b := f.do(t, "POST", paths[i], keys[i], "application/json", bodies[i], "Idempotency-Key", fmt.Sprintf("pay-%d", i))
			if resp.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(b, answers[i]) {
				t.Errorf("replay of %s = %d %s (replayed %q), want %s", paths[i], resp.StatusCode, b, resp.Header.Get("Idempotent-Replayed"), answers[i])
			}
		}
		if n := db.Commits() - c0; n != 0 {
			t.Errorf("replays committed %d times", n)
		}
	})
}

// TestIdempotencyNoKeyHeld: a request under a key stores nothing while it
// runs, so a process that dies mid-request (or another node still running
// it) holds no key: the same request on another node runs at once. The
// first one, finishing later, loses on the key and answers with the
// stored answer.
func TestIdempotencyNoKeyHeld(t *testing.T) {
	forBothBackends(t, func(t *testing.T, db *sqlstore.DB) {
		var runs atomic.Int32
		entered, release := make(chan struct{}), make(chan struct{})
		slow := func(w http.ResponseWriter, r *http.Request) error {
			n := runs.Add(1)
			if n == 1 {
				close(entered)
				<-release // the first node hangs here (or dies)
			}
			return httpapi.WriteJSON(w, 200, map[string]int32{"run": n})
		}
		f := newFixtureDB(t, db, httpapi.Config{}, func(s *httpapi.Server) {
			s.Handle("POST", "/v1/slow", httpapi.AuthSecret, slow)
		})
		// A second node: its own server over the same database.
		other := httpapi.New(f.cfg)
		other.Handle("POST", "/v1/slow", httpapi.AuthSecret, slow)
		ts := httptest.NewTLSServer(other)
		defer ts.Close()
		sk := f.merchant.SecretKey

		first := make(chan []byte, 1)
		go func() {
			_, b := f.doKey(t, "/v1/slow", sk, "same", `{}`)
			first <- b
		}()
		<-entered
		f2 := *f
		f2.ts = ts
		resp, b := f2.doKey(t, "/v1/slow", sk, "same", `{}`)
		if resp.StatusCode != 200 || string(b) != "{\"run\":2}\n" {
			t.Fatalf("the key on another node while the first hangs = %d %s, want it run at once", resp.StatusCode, b)
		}
		close(release)
		if b1 := <-first; !bytes.Equal(b1, b) {
			t.Errorf("the first request, finishing last, answered %s; want the stored answer %s", b1, b)
		}
		if resp, b3 := f.doKey(t, "/v1/slow", sk, "same", `{}`); resp.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(b3, b) {
			t.Errorf("replay = %s, want %s", b3, b)
		}
	})
}

// TestPaymentCreateAcrossNodes sends one create under one key to two
// nodes at once, many times over: exactly one payment exists, and every
// answer is it (201) or the key in use (409).
func TestPaymentCreateAcrossNodes(t *testing.T) {
	forBothBackends(t, func(t *testing.T, db *sqlstore.DB) {
		f := newFixtureDB(t, db, httpapi.Config{}, nil)
		ts := httptest.NewTLSServer(httpapi.New(f.cfg))
		defer ts.Close()
		f2 := *f
		f2.ts = ts
		var wg sync.WaitGroup
		var mu sync.Mutex
		ids, statuses := map[string]int{}, map[int]int{}
		for i := range 16 {
			node := f
			if i%2 == 1 {
				node = &f2
			}
			wg.Go(func() {
				resp, b := node.doKey(t, "/v1/payments", f.merchant.SecretKey, "across", `{"amount":500,"currency":"EUR"}`)
				mu.Lock()
				defer mu.Unlock()
				statuses[resp.StatusCode]++
				if resp.StatusCode == 201 {
					ids[decode(t, b)["id"].(string)]++
				}
			})
		}
		wg.Wait()
		if len(ids) != 1 || statuses[201]+statuses[409] != 16 {
			t.Errorf("ids %v, statuses %v: want one payment, every answer 201 or 409", ids, statuses)
		}
		resp, b := f.do(t, "GET", "/v1/payments?limit=100", f.merchant.SecretKey, "", "")
		if n := len(decode(t, b)["data"].([]any)); resp.StatusCode != 200 || n != 1 {
			t.Errorf("%d payments exist, want 1", n)
		}
	})
}
