package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity/identitytest"
	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/privacy"
	"github.com/kassa/kassa/store/sqlstore"
)

// privacyEnv is a privacy service over a real database, on a test clock.
type privacyEnv struct {
	db    *sqlstore.DB
	svc   *privacy.Service
	clock *testclock.Clock
}

func forPrivacyBackends(t *testing.T, fn func(t *testing.T, e *privacyEnv)) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			var db *sqlstore.DB
			var err error
			if backend == "sqlite" {
				db, err = sqlstore.OpenSQLite(ctx, t.TempDir())
			} else {
				db, err = sqlstore.OpenPostgres(ctx, pgtest.URL(t))
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			clock := testclock.New(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
			svc, err := privacy.New(privacy.Config{Store: sqlstore.NewPrivacy(db), Sealer: identitytest.Sealer(t),
				Now: clock.Now, NewID: func() string { return id.New("gdpr") }})
			if err != nil {
				t.Fatal(err)
			}
			fn(t, &privacyEnv{db: db, svc: svc, clock: clock})
		})
	}
}

// insert writes one row; columns not given are ” or 0 by their type in
// cols (a name ending in _at, amount or version is a number).
func (e *privacyEnv) insert(t *testing.T, table string, row map[string]any) {
	t.Helper()
	var names, marks []string
	var args []any
	keys := make([]string, 0, len(row))
	for k := range row {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		names, marks, args = append(names, k), append(marks, "?"), append(args, row[k])
	}
	err := e.db.Transact(context.Background(), func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(context.Background(), fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", table,
			strings.Join(names, ", "), strings.Join(marks, ", ")), args...)
		return err
	})
	if err != nil {
		t.Fatalf("insert into %s: %v", table, err)
	}
}

func (e *privacyEnv) merchant(t *testing.T, id string) {
	e.insert(t, "merchants", map[string]any{"id": id, "name": id, "created_at": 1})
}

func (e *privacyEnv) payment(t *testing.T, id, merchant, customer, email, status string, created time.Time) {
	e.insert(t, "payments", map[string]any{"id": id, "merchant_id": merchant, "amount": 1000, "currency": "EUR",
		"capture_method": "automatic", "status": status, "amount_capturable": 0, "amount_captured": 1000, "amount_refunded": 0,
		"description": "", "return_url": "", "client_secret": "pay_secret_" + id, "method_type": "voucher", "failure_code": "",
		"expires_at": 0, "created_at": created.UnixMicro(), "updated_at": created.UnixMicro(), "version": 1,
		"customer_id": customer, "customer_email": email, "customer_phone": "+4915100000042"})
}

func (e *privacyEnv) evaluation(t *testing.T, id, merchant, subject string, created time.Time, event map[string]any) {
	b, _ := json.Marshal(event)
	e.insert(t, "risk_evaluations", map[string]any{"id": id, "merchant_id": merchant, "subject": subject, "node": "n",
		"created_at": created.UnixMicro(), "score": 10, "level": "low", "decision": "allow", "factor": "", "rule_id": "",
		"reasons": "[]", "model_version": "m", "shadow_version": "", "shadow_score": -1, "feature_set": "f",
		"features": []byte{0}, "event": string(b)})
}

func (e *privacyEnv) text(t *testing.T, q string, args ...any) string {
	t.Helper()
	var s string
	if err := e.db.QueryRowContext(context.Background(), q, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

// TestPrivacyEraseMerchantCustomer: a merchant's customer is erased
// once however many requests race; another merchant's customer with the
// same id is neither exported nor touched (a hostile merchant cannot
// reach or erase another's customers); the archive opens until the
// retention ends on the clock and never after.
func TestPrivacyEraseMerchantCustomer(t *testing.T) {
	forPrivacyBackends(t, func(t *testing.T, e *privacyEnv) {
		ctx := context.Background()
		now := e.clock.Now()
		e.merchant(t, "mer_a")
		e.merchant(t, "mer_b")
		e.payment(t, "pay_a1", "mer_a", "p7", "anna@example.org", "captured", now)
		e.payment(t, "pay_b1", "mer_b", "p7", "bob@example.org", "captured", now)
		e.evaluation(t, "rev_a1", "mer_a", "pay_a1", now, map[string]any{"id": "pay_a1", "email": "anna@example.org", "ip": "203.0.113.9"})
		for id, data := range map[string]string{
			"evt_a1": `{"object":{"id":"pay_a1","customer":{"id":"p7","email":"anna@example.org","phone":"+4915100000042"}}}`,
			"evt_a2": `{"object":{"id":"pay_a9","note":"anna@example.org is another payment's"}}`,
		} {
			e.insert(t, "webhook_events", map[string]any{"id": id, "merchant_id": "mer_a", "type": "payment.captured", "created_at": 1, "data": data})
		}

		x, err := e.svc.Export(ctx, privacy.Subject{MerchantID: "mer_b", CustomerID: "p7"})
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(x); strings.Contains(string(b), "anna@") || !strings.Contains(string(b), "bob@") ||
			strings.Contains(string(b), "pay_secret") {
			t.Errorf("mer_b's export of p7: %s", b)
		}
		if _, err := e.svc.Export(ctx, privacy.Subject{MerchantID: "mer_c", CustomerID: "p7"}); kassa.ErrorKind(err) != kassa.ENotFound {
			t.Errorf("export of a customer nobody holds: %v", err)
		}

		sub := privacy.Subject{MerchantID: "mer_a", CustomerID: "p7"}
		const n = 8
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				er, err := e.svc.Erase(ctx, sub, "test")
				if err != nil {
					t.Error(err)
				}
				ids[i] = er.ID
			})
		}
		wg.Wait()
		for _, got := range ids[1:] {
			if got != ids[0] {
				t.Fatalf("concurrent erasures gave %v", ids)
			}
		}
		if c := e.text(t, `SELECT CAST(COUNT(*) AS TEXT) FROM privacy_erasures`); c != "1" {
			t.Errorf("%s erasure rows", c)
		}
		if got := e.text(t, `SELECT customer_email FROM payments WHERE id = 'pay_a1'`); got != "" {
			t.Errorf("pay_a1 keeps %q", got)
		}
		if got := e.text(t, `SELECT customer_email FROM payments WHERE id = 'pay_b1'`); got != "bob@example.org" {
			t.Errorf("the erasure touched another merchant's customer: %q", got)
		}
		if ev := e.text(t, `SELECT event FROM risk_evaluations WHERE id = 'rev_a1'`); strings.Contains(ev, "anna") || strings.Contains(ev, "203.0.113") {
			t.Errorf("risk evaluation keeps %s", ev)
		}

		if d := e.text(t, `SELECT data FROM webhook_events WHERE id = 'evt_a1'`); strings.Contains(d, "anna@") || strings.Contains(d, "+4915100000042") || !strings.Contains(d, "pay_a1") {
			t.Errorf("the payment's event keeps %s", d)
		}
		if d := e.text(t, `SELECT data FROM webhook_events WHERE id = 'evt_a2'`); !strings.Contains(d, "anna@") {
			t.Errorf("an event about another payment was changed: %s", d)
		}
		er, err := e.svc.Erasure(ctx, sub)
		if err != nil || !er.ShredAt.Equal(now.Add(privacy.RetentionDefault)) {
			t.Fatalf("erasure %+v %v", er, err)
		}
		e.clock.Set(er.ShredAt.Add(-time.Second))
		if n, err := e.svc.ShredDue(ctx); n != 0 || err != nil {
			t.Fatalf("shredded %d before the date: %v", n, err)
		}
		x, err = e.svc.Export(ctx, sub)
		if err != nil || x.Archive == nil || !strings.Contains(fmt.Sprint(x.Archive.Tables), "anna@example.org") {
			t.Fatalf("the archive does not open during the retention: %v %+v", err, x.Archive)
		}
		e.clock.Set(er.ShredAt)
		if n, err := e.svc.ShredDue(ctx); n != 1 || err != nil {
			t.Fatalf("shredded %d at the date: %v", n, err)
		}
		x, err = e.svc.Export(ctx, sub)
		if err != nil || x.Archive != nil || x.Erasure == nil || !x.Erasure.Shredded() {
			t.Fatalf("after the date: %v %+v", err, x.Erasure)
		}
		if k := e.text(t, `SELECT CAST(COUNT(*) AS TEXT) FROM privacy_erasures WHERE key_sealed IS NULL AND archive_ct IS NULL`); k != "1" {
			t.Errorf("the key survived the shredding")
		}
	})
}

// TestPrivacyEraseBlocked: money still moving refuses the erasure, and
// the refusal changes nothing.
func TestPrivacyEraseBlocked(t *testing.T) {
	forPrivacyBackends(t, func(t *testing.T, e *privacyEnv) {
		ctx := context.Background()
		e.merchant(t, "mer_a")
		e.payment(t, "pay_1", "mer_a", "p8", "carla@example.org", "authorized", e.clock.Now())
		_, err := e.svc.Erase(ctx, privacy.Subject{MerchantID: "mer_a", CustomerID: "p8"}, "test")
		if ke := kassa.AsError(err); ke == nil || ke.Kind != kassa.EConflict || ke.Code != privacy.CodeErasureBlocked {
			t.Fatalf("erase with a payment in flight: %v", err)
		}
		if got := e.text(t, `SELECT customer_email FROM payments WHERE id = 'pay_1'`); got != "carla@example.org" {
			t.Errorf("a refused erasure scrubbed %q", got)
		}
		if _, err := e.svc.Erasure(ctx, privacy.Subject{MerchantID: "mer_a", CustomerID: "p8"}); !errors.Is(err, privacy.ErrNotFound) {
			t.Errorf("a refused erasure was recorded: %v", err)
		}
		for _, bad := range []privacy.Subject{{CustomerID: "p8"}, {MerchantID: "mer_a", CustomerID: ""}, {MerchantID: "mer_a", CustomerID: "a/b"}} {
			if _, err := e.svc.Erase(ctx, bad, "test"); kassa.ErrorKind(err) != kassa.EInvalid {
				t.Errorf("erase %+v: %v", bad, err)
			}
		}
	})
}

// TestPrivacyRetention: the retention job truncates the IPs of risk
// evaluations older than its period (and only those), and deletes
// devices idle longer than theirs.
func TestPrivacyRetention(t *testing.T) {
	forPrivacyBackends(t, func(t *testing.T, e *privacyEnv) {
		ctx := context.Background()
		now := e.clock.Now()
		old, recent := now.Add(-privacy.IPRetentionDefault-time.Hour), now.Add(-privacy.IPRetentionDefault+time.Hour)
		e.evaluation(t, "rev_old4", "", "", old, map[string]any{"id": "x", "ip": "198.51.100.77", "kind": "login"})
		e.evaluation(t, "rev_old6", "", "", old, map[string]any{"id": "y", "ip": "2001:db8:aa:bb::7"})
		e.evaluation(t, "rev_new", "", "", recent, map[string]any{"id": "z", "ip": "198.51.100.78"})
		e.insert(t, "customers", map[string]any{"id": "cus_1", "email": "d@example.org", "email_verified_at": 0, "phone": "",
			"phone_verified_at": 0, "password_hash": "", "password_changed_at": 0, "level": "verified", "given_name": "",
			"family_name": "", "address_line1": "", "address_line2": "", "address_city": "", "address_postal_code": "",
			"address_region": "", "address_country": "", "document_type": "", "document_country": "", "kyc_submitted_at": 0,
			"kyc_verified_at": 0, "totp_enabled_at": 0, "totp_last_step": 0, "created_at": 1, "updated_at": 1})
		for name, seen := range map[string]time.Time{"dev_idle": now.Add(-privacy.DeviceIdleDefault - time.Hour), "dev_used": now.Add(-time.Hour)} {
			e.insert(t, "identity_devices", map[string]any{"id": name, "customer_id": "cus_1", "user_agent": "ua", "ip": "192.0.2.1",
				"created_at": 1, "last_seen_at": seen.UnixMicro(), "revoked_at": 0})
		}
		ips, devices, err := e.svc.Retain(ctx)
		if err != nil || ips != 2 || devices != 1 {
			t.Fatalf("Retain = %d ips, %d devices, %v; want 2, 1", ips, devices, err)
		}
		for id, want := range map[string]string{"rev_old4": `"198.51.100.0"`, "rev_old6": `"2001:db8:aa::"`, "rev_new": `"198.51.100.78"`} {
			if ev := e.text(t, `SELECT event FROM risk_evaluations WHERE id = ?`, id); !strings.Contains(ev, want) {
				t.Errorf("%s: %s, want ip %s", id, ev, want)
			}
		}
		if d := e.text(t, `SELECT id FROM identity_devices`); d != "dev_used" {
			t.Errorf("devices left: %s", d)
		}
		if ips, devices, err := e.svc.Retain(ctx); ips != 0 || devices != 0 || err != nil {
			t.Errorf("a second run did %d, %d: %v", ips, devices, err)
		}
	})
}

// BenchmarkPrivacyExport exports a merchant's customer with 2,000
// payments and their risk evaluations among 20,000 of other customers
// (SQLite).
func BenchmarkPrivacyExport(b *testing.B) {
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc, err := privacy.New(privacy.Config{Store: sqlstore.NewPrivacy(db), Sealer: identitytest.Sealer(b),
		NewID: func() string { return id.New("gdpr") }})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	err = db.Transact(ctx, func(tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO merchants (id, name, created_at) VALUES ('mer_a', 'a', 1)`); err != nil {
			return err
		}
		for i := range 22000 {
			cust := fmt.Sprintf("c%d", i%10)
			if i >= 2000 {
				cust = fmt.Sprintf("other%d", i)
			}
			pid := fmt.Sprintf("pay_%d", i)
			if _, err := tx.ExecContext(ctx, `INSERT INTO payments (id, merchant_id, amount, currency, capture_method, status,
				amount_capturable, amount_captured, amount_refunded, description, return_url, client_secret, method_type,
				failure_code, expires_at, created_at, updated_at, version, customer_id, customer_email)
				VALUES (?, 'mer_a', 100, 'EUR', 'automatic', 'captured', 0, 100, 0, '', '', 's', 'voucher', '', 0, ?, ?, 1, ?, ?)`,
				pid, now.UnixMicro(), now.UnixMicro(), cust, cust+"@example.org"); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO risk_evaluations (id, merchant_id, subject, node, created_at, score, level,
				decision, factor, rule_id, reasons, model_version, shadow_version, shadow_score, feature_set, features, event)
				VALUES (?, 'mer_a', ?, 'n', ?, 1, 'low', 'allow', '', '', '[]', 'm', '', -1, 'f', x'00', '{}')`,
				"rev_"+pid, pid, now.UnixMicro()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		x, err := svc.Export(ctx, privacy.Subject{MerchantID: "mer_a", CustomerID: "c3"})
		if err != nil || len(x.Tables[0].Rows) != 200 {
			b.Fatalf("export: %v", err)
		}
	}
}
