package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/kassa/kassa/internal/syncbuf"
	"github.com/kassa/kassa/internal/testclock"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/voucher"
)

func newVoucherService(t testing.TB, db *sqlstore.DB, led *ledger.Ledger, clock func() time.Time) *voucher.Service {
	t.Helper()
	svc, err := voucher.New(voucher.Config{Store: sqlstore.NewVouchers(db), Ledger: led, PINKey: voucher.GenerateKey(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// voucherFixture is a server with vouchers over one SQLite store in dir,
// a fake clock, a distributor (f.merchant) and another merchant.
type voucherFixture struct {
	*fixture
	dir      string
	db       *sqlstore.DB
	clock    *testclock.Clock
	vouchers *voucher.Service
	other    merchant.Created
	bodies   []string // every answer but the one that issued
}

func newVoucherFixture(t *testing.T) *voucherFixture {
	t.Helper()
	return newVoucherFixtureWith(t, nil)
}

// newVoucherFixtureWith is newVoucherFixture with changes to the server's
// configuration.
func newVoucherFixtureWith(t *testing.T, change func(*voucherFixture, *httpapi.Config)) *voucherFixture {
	t.Helper()
	vf := &voucherFixture{dir: t.TempDir(), clock: testclock.New(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))}
	db, err := sqlstore.OpenSQLite(context.Background(), vf.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	vf.db = db
	f := &fixture{svc: merchant.NewService(sqlstore.NewMerchants(db), nil, id.Generator{}), logs: &syncbuf.Buffer{}}
	if f.merchant, err = f.svc.Create(context.Background(), "Card Seller"); err != nil {
		t.Fatal(err)
	}
	if vf.other, err = f.svc.Create(context.Background(), "Casino"); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	vf.vouchers = newVoucherService(t, db, newLedger(t, db), vf.clock.Now)
	cfg := httpapi.Config{Merchants: f.svc, DB: db, Logger: logger, Vouchers: vf.vouchers,
		Idempotency: sqlstore.NewIdempotency(db), IdempotencySecret: []byte("test idempotency secret, 32 bytes or more"), RateLimit: -1}
	if change != nil {
		change(vf, &cfg)
	}
	f.cfg = cfg
	f.srv = httpapi.New(cfg)
	f.ts = httptest.NewTLSServer(f.srv)
	t.Cleanup(f.ts.Close)
	vf.fixture = f
	return vf
}

// call sends a request (with an Idempotency-Key when idem is set) and
// keeps the answer for the PIN scan.
func (f *voucherFixture) call(t *testing.T, method, path, key, idem, body string) (*http.Response, []byte) {
	t.Helper()
	contentType := ""
	if body != "" {
		contentType = "application/json"
	}
	resp, b := f.do(t, method, path, key, contentType, body, "Idempotency-Key", idem)
	f.bodies = append(f.bodies, string(b))
	return resp, b
}

type voucherOut struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	Serial   string `json:"serial"`
	PIN      string `json:"pin"`
	Amount   int64  `json:"amount"`
	Balance  int64  `json:"balance"`
	Currency string `json:"currency"`
	Status   string `json:"status"`
	Expires  string `json:"expires"`
}

func decodeVoucher(t *testing.T, body []byte) voucherOut {
	t.Helper()
	var v voucherOut
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("voucher %s: %v", body, err)
	}
	return v
}

func TestVouchersAPI(t *testing.T) {
	f := newVoucherFixture(t)
	sk, pk := f.merchant.SecretKey, f.merchant.PublishableKey
	ctx := context.Background()
	issueBody := `{"count":2,"amount":5000,"currency":"EUR","expires":"2030-12-31"}`

	resp, body := f.call(t, "POST", "/v1/vouchers", sk, "", issueBody)
	problem(t, resp, body, 403, voucher.CodeIssuingNotAllowed)
	if err := f.vouchers.AllowIssuing(ctx, f.merchant.ID); err != nil {
		t.Fatal(err)
	}
	// The answer holds PINs, so it must not go to the idempotency store.
	resp, body = f.call(t, "POST", "/v1/vouchers", sk, "issue-1", issueBody)
	problem(t, resp, body, 400, "idempotency_key_not_supported")
	for _, tt := range []struct{ body, code, param string }{
		{`{"count":0,"amount":5000,"currency":"EUR"}`, "count_invalid", "count"},
		{`{"count":1,"amount":5000,"currency":"EUR","expires":"soon"}`, "expires_invalid", "expires"},
		{`{"count":1,"amount":5000,"currency":"EUR","expires":"2020-01-01"}`, "expires_invalid", "expires"},
		{`{"count":1,"amount":-1,"currency":"EUR"}`, "amount_invalid", "amount"},
		{`{"count":1,"amount":5000,"currency":"EUR","pin":"1"}`, "unknown_field", "pin"},
	} {
		resp, body := f.call(t, "POST", "/v1/vouchers", sk, "", tt.body)
		if p := problem(t, resp, body, 400, tt.code); p["param"] != tt.param {
			t.Errorf("%s: param %v, want %s", tt.body, p["param"], tt.param)
		}
	}
	resp, body = f.call(t, "POST", "/v1/vouchers", pk, "", issueBody)
	problem(t, resp, body, 403, "secret_key_required")

	// Issue: the only answer with PINs.
	issued := len(f.bodies)
	resp, body = f.call(t, "POST", "/v1/vouchers", sk, "", issueBody)
	f.bodies = append(f.bodies[:issued], f.bodies[issued+1:]...)
	if resp.StatusCode != 201 {
		t.Fatalf("issue = %d %s", resp.StatusCode, body)
	}
	var list struct {
		Object string       `json:"object"`
		Data   []voucherOut `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list.Data) != 2 || list.Object != "list" {
		t.Fatalf("issue answer %s: %v", body, err)
	}
	v := list.Data[0]
	if len(v.PIN) != 16 || len(v.Serial) != 12 || !strings.HasPrefix(v.ID, "vch_") || v.Object != "voucher" ||
		v.Amount != 5000 || v.Balance != 5000 || v.Currency != "EUR" || v.Status != "active" || v.Expires != "2031-01-01T00:00:00Z" {
		t.Errorf("issued %+v", v)
	}
	pins := []string{list.Data[0].PIN, list.Data[1].PIN}
	path := "/v1/vouchers/" + v.Serial

	resp, body = f.call(t, "GET", path, sk, "", "")
	if got := decodeVoucher(t, body); resp.StatusCode != 200 || got.Balance != 5000 || got.Status != "active" || got.PIN != "" ||
		strings.Contains(string(body), `"pin"`) {
		t.Errorf("GET = %d %s", resp.StatusCode, body)
	}
	resp, body = f.call(t, "GET", path, f.other.SecretKey, "", "")
	problem(t, resp, body, 404, voucher.CodeNotFound)
	resp, body = f.call(t, "GET", "/v1/vouchers/12345", sk, "", "")
	problem(t, resp, body, 404, voucher.CodeNotFound)
	resp, body = f.call(t, "GET", path, pk, "", "")
	problem(t, resp, body, 403, "secret_key_required")

	// A payer checks the balance with the publishable key, PIN as printed.
	printed := v.PIN[:4] + " " + v.PIN[4:8] + "-" + v.PIN[8:12] + " " + v.PIN[12:]
	resp, body = f.call(t, "POST", "/v1/vouchers/balance", pk, "", `{"pin":"`+printed+`"}`)
	if m := decode(t, body); resp.StatusCode != 200 || m["serial"] != v.Serial || m["balance"] != 5000.0 ||
		m["currency"] != "EUR" || m["status"] != "active" || m["expires"] != "2031-01-01T00:00:00Z" || m["object"] != "voucher_balance" {
		t.Errorf("balance = %d %s", resp.StatusCode, body)
	}

	// Lock, unlock, invalidate: only the issuer.
	for _, tt := range []struct{ action, status string }{{"lock", "locked"}, {"unlock", "active"}, {"lock", "locked"}} {
		resp, body = f.call(t, "POST", path+"/"+tt.action, f.other.SecretKey, "", "")
		problem(t, resp, body, 404, voucher.CodeNotFound)
		resp, body = f.call(t, "POST", path+"/"+tt.action, sk, "", "")
		if got := decodeVoucher(t, body); resp.StatusCode != 200 || got.Status != tt.status || got.Balance != 5000 {
			t.Errorf("%s = %d %s", tt.action, resp.StatusCode, body)
		}
	}
	resp, body = f.call(t, "POST", "/v1/vouchers/balance", pk, "", `{"pin":"`+v.PIN+`"}`)
	if m := decode(t, body); resp.StatusCode != 200 || m["status"] != "locked" {
		t.Errorf("balance of a locked voucher = %d %s", resp.StatusCode, body)
	}
	resp, body = f.call(t, "POST", path+"/invalidate", sk, "idem-inv", "")
	if got := decodeVoucher(t, body); resp.StatusCode != 200 || got.Status != "invalidated" || got.Balance != 0 {
		t.Errorf("invalidate = %d %s", resp.StatusCode, body)
	}
	resp, body = f.call(t, "POST", path+"/unlock", sk, "", "")
	problem(t, resp, body, 409, voucher.CodeStatusConflict)
	resp, body = f.call(t, "GET", path, sk, "", "")
	if got := decodeVoucher(t, body); got.Status != "invalidated" || got.Balance != 0 {
		t.Errorf("GET after invalidate = %s", body)
	}
	hooks := sqlstore.NewWebhooks(f.db)
	for _, typ := range []string{voucher.EventLocked, voucher.EventUnlocked, voucher.EventInvalidated} {
		evs, _, err := hooks.Events(ctx, f.merchant.ID, typ, "", 10)
		if want := map[string]int{voucher.EventLocked: 2}[typ]; err != nil || len(evs) != max(want, 1) {
			t.Errorf("%s events: %d, %v", typ, len(evs), err)
		}
	}

	// Guessing from one IP: 10 wrong PINs, then 429 with Retry-After
	// for 15 minutes, one event; then it works again.
	for i := range voucher.IPFailuresMax {
		resp, body := f.call(t, "POST", "/v1/vouchers/balance", pk, "", fmt.Sprintf(`{"pin":"%016d"}`, i))
		if p := problem(t, resp, body, 400, voucher.CodePINInvalid); p["param"] != "pin" {
			t.Errorf("wrong PIN param = %v", p["param"])
		}
		f.clock.Advance(10 * time.Second)
	}
	resp, body = f.call(t, "POST", "/v1/vouchers/balance", pk, "", `{"pin":"`+pins[1]+`"}`)
	problem(t, resp, body, 429, voucher.CodePINAttemptsExceeded)
	if ra := resp.Header.Get("Retry-After"); ra != "890" {
		t.Errorf("Retry-After = %q, want 890", ra)
	}
	evs, _, err := hooks.Events(ctx, f.merchant.ID, voucher.EventPINAttemptsExceeded, "", 10)
	if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0].Data), `"scope":"ip"`) {
		t.Errorf("lockout events = %v, %v", evs, err)
	}
	f.clock.Advance(voucher.IPLockout)
	resp, body = f.call(t, "POST", "/v1/vouchers/balance", pk, "", `{"pin":"`+pins[1]+`"}`)
	if m := decode(t, body); resp.StatusCode != 200 || m["serial"] != list.Data[1].Serial {
		t.Errorf("balance after the lockout = %d %s", resp.StatusCode, body)
	}

	// The PINs appear in no other answer, no log line and nowhere in the
	// database files.
	logs := f.logs.String()
	var files strings.Builder
	err = filepath.WalkDir(f.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		files.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if files.Len() == 0 || !strings.Contains(logs, `"route":"/v1/vouchers/balance"`) {
		t.Fatalf("nothing to scan: %d bytes of files, logs %q", files.Len(), logs)
	}
	for _, pin := range pins {
		for i, b := range f.bodies {
			if strings.Contains(b, pin) {
				t.Errorf("answer %d holds a PIN: %s", i, b)
			}
		}
		if strings.Contains(logs, pin) {
			t.Error("the logs hold a PIN")
		}
		if strings.Contains(files.String(), pin) {
			t.Error("the database files hold a PIN")
		}
	}
}
