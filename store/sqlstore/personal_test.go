package sqlstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/identitytest"
	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/privacy"
	"github.com/kassa/kassa/privacy/seal"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/store/storetest"
	"github.com/kassa/kassa/vault"
	"github.com/kassa/kassa/webhook"
)

func testKeyring(t testing.TB) *seal.Keyring {
	t.Helper()
	k, err := seal.New(seal.Config{KEK: identitytest.Sealer(t), IndexKey: bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSealedStoresConform runs the conformance suites of every store
// that seals personal columns with sealing on: whatever the stores read
// back (payments, payouts, payer accounts, the vault's rewrap of sealed
// values) behaves as with clear columns.
func TestSealedStoresConform(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			storetest.RunOnly(t, func(t *testing.T) *sqlstore.DB {
				var db *sqlstore.DB
				var err error
				if backend == "sqlite" {
					db, err = sqlstore.OpenSQLite(context.Background(), t.TempDir())
				} else {
					db, err = sqlstore.OpenPostgres(context.Background(), pgtest.URL(t))
				}
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				db.SetSealing(testKeyring(t))
				return db
			}, "Payments", "Payouts", "Identity") // ("Sealed" always seals: storetest/sealed.go)
		})
	}
}

// rawRow is a row's columns as stored.
func (e *privacyEnv) rawRow(t *testing.T, table, id string, cols ...string) string {
	t.Helper()
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = e.text(t, fmt.Sprintf("SELECT %s FROM %s WHERE id = ?", c, table), id)
	}
	return strings.Join(parts, "|")
}

// TestSealedWhileLive: with sealing on, the personal columns of payments,
// payouts and payer accounts are ciphertext in the database from the
// first write (rows written in clear before are sealed by the backlog
// job); the stores read them back in clear; look-ups by IBAN work through
// the blind index; an erasure destroys the subjects' keys at the end of
// the retention, after which a copy of the rows taken before the erasure
// (a backup) no longer opens, not even with the vault's keys.
func TestSealedWhileLive(t *testing.T) {
	forPrivacyBackends(t, func(t *testing.T, e *privacyEnv) {
		ctx := context.Background()
		now := e.clock.Now()
		const email, phone, iban, holder = "anna@example.org", "+4915100000042", "DE89370400440532013000", "Anna Beispiel"
		e.merchant(t, "mer_a")
		// Written before sealing: clear.
		e.payment(t, "pay_old", "mer_a", "p7", email, "captured", now)
		if err := sqlstore.NewIdentity(e.db).CreateCustomer(ctx, identity.Record{ID: "cus_old", Email: "Old@Example.org",
			Phone: "+4915100000099", Level: "unverified", KYC: identity.KYCRecord{GivenName: "Olga"}, Created: now, Updated: now}); err != nil {
			t.Fatal(err)
		}
		k := testKeyring(t)
		e.db.SetSealing(k)
		// Before the backlog runs, the old account logs in by its clear
		// address; after, by its index.
		if r, err := sqlstore.NewIdentity(e.db).CustomerByEmail(ctx, "Old@Example.org"); err != nil || r.ID != "cus_old" {
			t.Errorf("old account by email before the backlog: %v", err)
		}
		if n, err := e.svc.SealBacklog(ctx); err != nil || n != 2 {
			t.Fatalf("backlog sealed %d rows, want the old payment and account: %v", n, err)
		}
		if raw := e.rawRow(t, "customers", "cus_old", "email", "phone", "given_name"); strings.Contains(raw, "Old@Example") || strings.Contains(raw, "4915100000099") || strings.Contains(raw, "Olga") {
			t.Errorf("old account not sealed: %q", raw)
		}
		if r, err := sqlstore.NewIdentity(e.db).CustomerByEmail(ctx, "Old@Example.org"); err != nil || r.ID != "cus_old" || r.KYC.GivenName != "Olga" {
			t.Errorf("old account by email after the backlog: %+v %v", r, err)
		}
		e.payment(t, "pay_guest", "mer_a", "", email, "captured", now) // clear again, sealed below
		if n, err := e.svc.SealBacklog(ctx); err != nil || n != 1 {
			t.Fatalf("backlog sealed %d rows, want 1: %v", n, err)
		}
		ids := sqlstore.NewIdentity(e.db)
		cus := "cus_anna"
		if err := ids.CreateCustomer(ctx, identity.Record{ID: cus, Email: "login-" + email, Phone: phone, Level: "unverified",
			KYC:     identity.KYCRecord{GivenName: "Anna", FamilyName: "Beispiel", Address: identity.Address{Line1: "Hauptstr. 1", City: "Berlin", Country: "DE"}},
			Created: now, Updated: now}); err != nil {
			t.Fatal(err)
		}
		pos := sqlstore.NewPayouts(e.db)
		// (CreatePayoutTx seals as CreatePayment does: the Payouts
		// conformance suite runs sealed in TestSealedStoresConform.)
		e.insert(t, "payouts", map[string]any{"id": "po_1", "merchant_id": "mer_a", "amount": 700, "currency": "EUR", "merchant_reference": "",
			"status": "paid", "destination_type": "bank_account", "destination_payment": "", "destination_card": "",
			"iban": iban, "account_holder": holder, "customer_id": cus, "customer_email": email, "customer_first_name": "Anna",
			"customer_last_name": "Beispiel", "checks": "", "failure_code": "", "failure_message": "", "metadata": "",
			"created_by": "", "reviewed_by": "", "request_key": "", "rail": "sepa_test", "rail_attempts": 0,
			"created_at": now.UnixMicro(), "updated_at": now.UnixMicro(), "arrival_estimate": 0, "paid_at": 0, "version": 1, "split_of": ""})
		if n, err := e.svc.SealBacklog(ctx); err != nil || n != 1 {
			t.Fatalf("backlog sealed %d payouts, want 1: %v", n, err)
		}

		raw := e.rawRow(t, "payments", "pay_old", "customer_email", "customer_phone") + e.rawRow(t, "payments", "pay_guest", "customer_email") +
			e.rawRow(t, "payouts", "po_1", "iban", "account_holder", "customer_email", "customer_first_name", "customer_last_name", "iban_index") +
			e.rawRow(t, "customers", cus, "email", "email_index", "phone", "given_name", "family_name", "address_line1", "address_city")
		for _, needle := range []string{email, phone, iban, "Beispiel", "Hauptstr", "Berlin"} { // (not "Anna": four letters turn up in base64)
			if strings.Contains(raw, needle) {
				t.Errorf("stored columns hold %q: %q", needle, raw)
			}
		}
		if got := e.rawRow(t, "payments", "pay_guest", "seal_subject"); got != "pay_guest" {
			t.Errorf("a payment without a customer is sealed under %q, want its own key", got)
		}

		// Read back in clear.
		p, err := sqlstore.NewPayments(e.db).Payment(ctx, "mer_a", "pay_old")
		if err != nil || p.Customer.Email != email || p.Customer.Phone != "+4915100000042" {
			t.Errorf("payment read back: %+v %v", p.Customer, err)
		}
		gotPo, err := pos.Payout(ctx, "mer_a", "po_1")
		if err != nil || gotPo.Destination.IBAN != iban || gotPo.Destination.AccountHolder != holder || gotPo.Customer.LastName != "Beispiel" {
			t.Errorf("payout read back: %+v %+v %v", gotPo.Destination, gotPo.Customer, err)
		}
		r, err := ids.Customer(ctx, cus)
		if err != nil || r.Phone != phone || r.KYC.GivenName != "Anna" || r.KYC.Address.City != "Berlin" || r.KYC.Address.Country != "DE" {
			t.Errorf("customer read back: %+v %v", r, err)
		}
		// Login look-up by the email's blind index; one account per address.
		if r, err := ids.CustomerByEmail(ctx, "login-"+email); err != nil || r.ID != cus || r.Email != "login-"+email {
			t.Errorf("customer by email: %+v %v", r, err)
		}
		if err := ids.CreateCustomer(ctx, identity.Record{ID: "cus_twin", Email: "login-" + email, Level: "unverified",
			Created: now, Updated: now}); !errors.Is(err, identity.ErrDuplicate) {
			t.Errorf("a second account with the same email: %v, want ErrDuplicate", err)
		}
		// Look-up by IBAN through the blind index, spaces and case aside.
		st, err := pos.DestinationStats(ctx, "mer_a", "other", "de89 3704 0044 0532 0130 00")
		if err != nil || st.OtherCustomers != 1 {
			t.Errorf("stats of a known IBAN for another customer: %+v %v", st, err)
		}
		if st, _ := pos.DestinationStats(ctx, "mer_a", cus, iban); !st.CustomerUsed {
			t.Errorf("the customer's own IBAN not found: %+v", st)
		}
		// The export opens the sealed columns.
		tables, err := sqlstore.NewPrivacy(e.db).Collect(ctx, privacy.Subject{CustomerID: cus})
		if err != nil || !strings.Contains(fmt.Sprint(tables), iban) || !strings.Contains(fmt.Sprint(tables), "Hauptstr. 1") {
			t.Errorf("export: %v %v", tables, err)
		}

		// A backup taken before the erasure.
		backup := map[string]string{}
		for _, c := range []struct{ table, id, col string }{{"payouts", "po_1", "iban"}, {"customers", cus, "given_name"},
			{"payments", "pay_old", "customer_email"}} {
			backup[c.table+"/"+c.col] = e.text(t, fmt.Sprintf("SELECT %s FROM %s WHERE id = ?", c.col, c.table), c.id)
		}
		if _, err := e.svc.Erase(ctx, privacy.Subject{CustomerID: cus}, "test"); err != nil {
			t.Fatal(err)
		}
		// The closed account's address is free for a new account at once.
		if err := ids.CreateCustomer(ctx, identity.Record{ID: "cus_new", Email: "login-" + email, Level: "unverified",
			Created: now, Updated: now}); err != nil {
			t.Errorf("a new account with an erased account's email: %v", err)
		}
		if r, err := ids.CustomerByEmail(ctx, "login-"+email); err != nil || r.ID != "cus_new" {
			t.Errorf("the address finds %q, %v; want the new account", r.ID, err)
		}
		if _, err := e.svc.Erase(ctx, privacy.Subject{MerchantID: "mer_a", CustomerID: "p7"}, "test"); err != nil {
			t.Fatal(err)
		}
		if n := e.text(t, `SELECT CAST(COUNT(*) AS TEXT) FROM privacy_keys WHERE shred_at > 0`); n != "2" {
			t.Errorf("%s keys scheduled for destruction, want 2 (the account's, the merchant customer's)", n)
		}
		e.clock.Advance(privacy.RetentionDefault + time.Hour)
		if _, err := e.svc.ShredDue(ctx); err != nil {
			t.Fatal(err)
		}
		for _, subject := range []string{cus, "mer_a/p7"} {
			if n := e.text(t, `SELECT CAST(COUNT(*) AS TEXT) FROM privacy_keys WHERE id = ?`, subject); n != "0" {
				t.Errorf("key of %s survived the shredding", subject)
			}
		}
		if n := e.text(t, `SELECT CAST(COUNT(*) AS TEXT) FROM privacy_keys WHERE id IN ('pay_guest', 'cus_new')`); n != "2" {
			t.Error("another subject's key (a guest payment) was destroyed")
		}
		// The backup's values: ciphertext whose key is gone. Restored
		// into the live rows, they read as nothing.
		for col, v := range backup {
			if !seal.Sealed(v) {
				t.Errorf("backup %s is not sealed: %q", col, v)
			}
		}
		if err := e.db.Transact(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE payouts SET iban = ? WHERE id = 'po_1'`, backup["payouts/iban"])
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if gotPo, err := pos.Payout(ctx, "mer_a", "po_1"); err != nil || gotPo.Destination.IBAN != "" {
			t.Errorf("a restored value of an erased person opened: %q %v", gotPo.Destination.IBAN, err)
		}
	})
}

// TestSubjectKeyRace: many transactions making one subject's first key
// at once end with one key, and every value sealed by any of them opens.
func TestSubjectKeyRace(t *testing.T) {
	forPrivacyBackends(t, func(t *testing.T, e *privacyEnv) {
		ctx := context.Background()
		e.merchant(t, "mer_a")
		e.db.SetSealing(testKeyring(t))
		ps := sqlstore.NewPayments(e.db)
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				now := e.clock.Now()
				p := payment.Payment{ID: fmt.Sprintf("pay_%d", i), MerchantID: "mer_a", Amount: 100, Currency: "EUR",
					CaptureMethod: payment.CaptureManual, Status: payment.StatusRequiresAction, ClientSecret: fmt.Sprintf("pay_%d_secret", i),
					Customer: payment.Customer{ID: "p7", Email: "anna@example.org", Phone: "+4915100000042"},
					Created:  now, Updated: now, Version: 1, Risk: payment.RiskResult{Score: -1}}
				errs <- ps.CreatePayment(ctx, p, webhook.Event{ID: fmt.Sprintf("evt_%d", i), MerchantID: "mer_a",
					Type: "payment.created", Created: now, Data: json.RawMessage(`{}`)})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if c := e.text(t, `SELECT CAST(COUNT(*) AS TEXT) FROM privacy_keys WHERE id = 'mer_a/p7'`); c != "1" {
			t.Fatalf("%s keys for one subject", c)
		}
		for i := range n {
			p, err := ps.Payment(ctx, "mer_a", fmt.Sprintf("pay_%d", i))
			if err != nil || p.Customer.Email != "anna@example.org" || p.Customer.Phone != "+4915100000042" {
				t.Errorf("payment %d: %+v %v", i, p.Customer, err)
			}
		}
	})
}

// BenchmarkCreatePaymentSealed compares CreatePayment on SQLite without
// sealing, with a customer whose key is cached, and with a payment that
// names no customer (a key of its own, inserted in the same transaction).
// Compare the three in one run: the durable commit dominates and moves
// with the machine's load.
func BenchmarkCreatePaymentSealed(b *testing.B) {
	for _, mode := range []string{"clear", "customer", "guest"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlstore.OpenSQLite(ctx, b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if err := db.Transact(ctx, func(tx *sqlstore.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO merchants (id, name, created_at) VALUES ('mer_a', 'a', 1)`)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			if mode != "clear" {
				db.SetSealing(testKeyring(b))
			}
			ps := sqlstore.NewPayments(db)
			now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			commits := db.Commits()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				p := payment.Payment{ID: fmt.Sprintf("pay_%d", i), MerchantID: "mer_a", Amount: 100, Currency: "EUR",
					CaptureMethod: payment.CaptureManual, Status: payment.StatusRequiresAction, ClientSecret: fmt.Sprintf("s_%d", i),
					Customer: payment.Customer{Email: "anna@example.org", Phone: "+4915100000042"},
					Created:  now, Updated: now, Version: 1, Risk: payment.RiskResult{Score: -1}}
				if mode == "customer" {
					p.Customer.ID = "p7"
				}
				if err := ps.CreatePayment(ctx, p, webhook.Event{ID: fmt.Sprintf("evt_%d", i), MerchantID: "mer_a",
					Type: "payment.created", Created: now, Data: json.RawMessage(`{}`)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(db.Commits()-commits)/float64(b.N), "commits/op")
		})
	}
}

// BenchmarkAllPaymentsSealed reads a page of 500 payments of 500 guest
// subjects (each a key of its own) as the reconciliation does: in clear,
// sealed with no key cached (one query per 100 keys), and sealed with the
// keys cached.
func BenchmarkAllPaymentsSealed(b *testing.B) {
	for _, mode := range []string{"clear", "cold", "warm"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlstore.OpenSQLite(ctx, b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if err := db.Transact(ctx, func(tx *sqlstore.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO merchants (id, name, created_at) VALUES ('mer_a', 'a', 1)`)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			k := testKeyring(b)
			if mode != "clear" {
				db.SetSealing(k)
			}
			ps := sqlstore.NewPayments(db)
			now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			var subjects []string
			for i := range 500 {
				id := fmt.Sprintf("pay_%04d", i)
				subjects = append(subjects, id)
				p := payment.Payment{ID: id, MerchantID: "mer_a", Amount: 100, Currency: "EUR",
					CaptureMethod: payment.CaptureManual, Status: payment.StatusRequiresAction, ClientSecret: id + "_s",
					Customer: payment.Customer{Email: "anna@example.org", Phone: "+4915100000042"},
					Created:  now, Updated: now, Version: 1, Risk: payment.RiskResult{Score: -1}}
				if err := ps.CreatePayment(ctx, p, webhook.Event{ID: "evt_" + id, MerchantID: "mer_a",
					Type: "payment.created", Created: now, Data: json.RawMessage(`{}`)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if mode == "cold" {
					k.Forget(subjects...)
				}
				page, err := ps.AllPayments(ctx, "", 500)
				if err != nil || len(page) != 500 || page[0].Customer.Email != "anna@example.org" {
					b.Fatalf("%d payments, %v", len(page), err)
				}
			}
		})
	}
}

// TestRotateAfterShred: after a shredding the privacy key file gets a new
// version, every live subject key is rewrapped to it and the old version
// is destroyed; a copy of the keys made before (a backup) then opens
// none of them, while the live database reads on.
func TestRotateAfterShred(t *testing.T) {
	forPrivacyBackends(t, func(t *testing.T, e *privacyEnv) {
		ctx := context.Background()
		keys, err := vault.OpenKeyFile(filepath.Join(t.TempDir(), "privacy-kek.json"))
		if err != nil {
			t.Fatal(err)
		}
		kek := &identity.VaultSealer{Wrapper: vault.NewLocalWrapper(keys)}
		k, err := seal.New(seal.Config{KEK: kek, IndexKey: bytes.Repeat([]byte{9}, 32)})
		if err != nil {
			t.Fatal(err)
		}
		e.db.SetSealing(k)
		e.merchant(t, "mer_a")
		now := e.clock.Now()
		e.payment(t, "pay_gone", "mer_a", "p7", "anna@example.org", "captured", now)
		e.payment(t, "pay_stays", "mer_a", "p8", "bert@example.org", "captured", now)
		if _, err := e.svc.SealBacklog(ctx); err != nil {
			t.Fatal(err)
		}
		backup := map[string][]byte{}
		for _, s := range []string{"mer_a/p7", "mer_a/p8"} {
			var b []byte
			if err := e.db.QueryRowContext(ctx, `SELECT key_wrapped FROM privacy_keys WHERE id = ?`, s).Scan(&b); err != nil {
				t.Fatal(err)
			}
			backup[s] = b
			if _, err := k.OpenKey(s, b); err != nil {
				t.Fatalf("the key of %s does not open before: %v", s, err)
			}
		}
		if _, err := e.svc.Erase(ctx, privacy.Subject{MerchantID: "mer_a", CustomerID: "p7"}, "test"); err != nil {
			t.Fatal(err)
		}
		store := sqlstore.NewPrivacy(e.db)
		if removed, err := seal.Rotate(ctx, store, keys, kek, false); err != nil || len(removed) != 0 {
			t.Fatalf("a rotation with nothing shredded removed %v: %v", removed, err)
		}
		e.clock.Advance(privacy.RetentionDefault + time.Hour)
		if n, err := e.svc.ShredDue(ctx); err != nil || n == 0 {
			t.Fatalf("shred: %d %v", n, err)
		}
		removed, err := seal.Rotate(ctx, store, keys, kek, true)
		if err != nil || !slices.Equal(removed, []int{1}) || !slices.Equal(keys.Versions(), []int{2}) {
			t.Fatalf("rotation removed %v (%v), versions now %v; want version 1 gone", removed, err, keys.Versions())
		}
		// A fresh process with the key file as it is now.
		keys2, err := vault.OpenKeyFile(keys.Path())
		if err != nil {
			t.Fatal(err)
		}
		k2, err := seal.New(seal.Config{KEK: &identity.VaultSealer{Wrapper: vault.NewLocalWrapper(keys2)}, IndexKey: bytes.Repeat([]byte{9}, 32)})
		if err != nil {
			t.Fatal(err)
		}
		for s, b := range backup {
			if _, err := k2.OpenKey(s, b); err == nil {
				t.Errorf("the backup's key of %s still opens after the rotation", s)
			}
		}
		e.db.SetSealing(k2)
		p, err := sqlstore.NewPayments(e.db).Payment(ctx, "mer_a", "pay_stays")
		if err != nil || p.Customer.Email != "bert@example.org" {
			t.Errorf("a live subject after the rotation: %q %v", p.Customer.Email, err)
		}
		if v, err := store.KeyVersions(ctx); err != nil || v[2] != 1 || len(v) != 1 {
			t.Errorf("key versions in use: %v %v", v, err)
		}
	})
}
