// Package storetest is the storage conformance suite: every backend of
// store/sqlstore (SQLite and PostgreSQL) must pass the same tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/store/sqlstore"
)

// Opener returns a fresh, migrated, empty database for one test.
type Opener func(t *testing.T) *sqlstore.DB

// Run runs the whole suite against a backend.
func Run(t *testing.T, open Opener) {
	t.Run("Migrations", func(t *testing.T) { testMigrations(t, open) })
	t.Run("Transact", func(t *testing.T) { testTransact(t, open) })
	t.Run("Merchants", func(t *testing.T) { testMerchants(t, open) })
	t.Run("MerchantProfile", func(t *testing.T) { testMerchantProfile(t, open) })
	t.Run("MerchantSuspension", func(t *testing.T) { testMerchantSuspension(t, open) })
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) { s.run(t, open) })
	}
}

// RunOnly runs the named suites of the domain conformance tests.
func RunOnly(t *testing.T, open Opener, names ...string) {
	for _, s := range suites {
		if slices.Contains(names, s.name) {
			t.Run(s.name, func(t *testing.T) { s.run(t, open) })
		}
	}
}

type suite struct {
	name string
	run  func(t *testing.T, open Opener)
}

var suites []suite

// Register adds a domain's conformance tests to Run. Call it from an init
// function in this package.
func Register(name string, run func(t *testing.T, open Opener)) {
	suites = append(suites, suite{name, run})
}

func testMigrations(t *testing.T, open Opener) {
	db := open(t)
	ctx := context.Background()
	ms, err := sqlstore.Migrations(db.Dialect())
	if err != nil {
		t.Fatal(err)
	}
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := ms[len(ms)-1].Version; v != want {
		t.Errorf("schema version %d, want %d", v, want)
	}
	// Migrating again is a no-op, also when two run at once.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { errs[i] = db.Migrate(ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("second migrate: %v", err)
		}
	}
}

func testTransact(t *testing.T, open Opener) {
	db := open(t)
	ctx := context.Background()
	svc := merchant.NewService(sqlstore.NewMerchants(db), nil, id.Generator{})
	m, err := svc.Create(ctx, "rollback")
	if err != nil {
		t.Fatal(err)
	}
	// An error from fn rolls everything back.
	boom := errors.New("boom")
	err = db.Transact(ctx, func(tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE merchants SET name = ? WHERE id = ?`, "changed", m.ID); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Transact = %v, want boom", err)
	}
	// A panic rolls back and is re-raised.
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic was swallowed")
			}
		}()
		_ = db.Transact(ctx, func(tx *sqlstore.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE merchants SET name = ? WHERE id = ?`, "panicked", m.ID); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	got, err := svc.Get(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "rollback" {
		t.Errorf("name = %q after rolled-back transactions, want %q", got.Name, "rollback")
	}
	// Concurrent read-modify-write transactions lose no update: on
	// PostgreSQL with row locks, on SQLite because writers serialize.
	var wg sync.WaitGroup
	const n = 20
	for range n {
		wg.Go(func() {
			err := db.Transact(ctx, func(tx *sqlstore.Tx) error {
				var name string
				q := `SELECT name FROM merchants WHERE id = ?`
				if db.Dialect() == sqlstore.Postgres {
					q += ` FOR UPDATE`
				}
				if err := tx.QueryRowContext(ctx, q, m.ID).Scan(&name); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, `UPDATE merchants SET name = ? WHERE id = ?`, name+"+", m.ID)
				return err
			})
			if err != nil {
				t.Errorf("concurrent transaction: %v", err)
			}
		})
	}
	wg.Wait()
	got, _ = svc.Get(ctx, m.ID)
	if want := "rollback" + strings.Repeat("+", n); got.Name != want {
		t.Errorf("name = %q after %d concurrent increments, want %q", got.Name, n, want)
	}

	// Concurrent calls of which some fail after writing and some panic
	// (on SQLite they share transactions): each caller hears its own
	// outcome, and exactly the successful calls' writes remain.
	const merchants, calls = 3, 90
	var ms []merchant.Created
	for i := range merchants {
		c, err := svc.Create(ctx, fmt.Sprintf("m%d", i))
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, c)
	}
	wins := make([]atomic.Int64, merchants)
	for i := range calls {
		wg.Go(func() {
			target := ms[i%merchants].ID
			fails, panics := i%5 == 0, i%7 == 0 && i%5 != 0
			defer func() {
				p := recover()
				if (p != nil) != panics {
					t.Errorf("call %d: panic %v, want one: %v", i, p, panics)
				}
			}()
			err := db.Transact(ctx, func(tx *sqlstore.Tx) error {
				var name string
				q := `SELECT name FROM merchants WHERE id = ?`
				if db.Dialect() == sqlstore.Postgres {
					q += ` FOR UPDATE`
				}
				if err := tx.QueryRowContext(ctx, q, target).Scan(&name); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `UPDATE merchants SET name = ? WHERE id = ?`, name+"+", target); err != nil {
					return err
				}
				switch {
				case fails:
					return fmt.Errorf("call %d: %w", i, boom)
				case panics:
					panic(fmt.Sprintf("call %d", i))
				}
				return nil
			})
			switch {
			case fails && !errors.Is(err, boom), !fails && err != nil:
				t.Errorf("call %d (fails %v): %v", i, fails, err)
			case !fails && !panics:
				wins[i%merchants].Add(1)
			}
		})
	}
	wg.Wait()
	for i, c := range ms {
		got, err := svc.Get(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("m%d", i) + strings.Repeat("+", int(wins[i].Load())); got.Name != want {
			t.Errorf("merchant %d: name %q, want %q (%d successful calls)", i, got.Name, want, wins[i].Load())
		}
	}
}

func testMerchants(t *testing.T, open Opener) {
	db := open(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	svc := merchant.NewService(sqlstore.NewMerchants(db), clock, id.Generator{})

	c, err := svc.Create(ctx, "  Acme Bets  ")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "Acme Bets" {
		t.Errorf("name = %q, want trimmed", c.Name)
	}
	for _, tt := range []struct {
		key  string
		kind merchant.Kind
	}{{c.SecretKey, merchant.Secret}, {c.PublishableKey, merchant.Publishable}} {
		p, err := svc.Authenticate(ctx, tt.key)
		if err != nil {
			t.Fatalf("Authenticate(%s key): %v", tt.kind, err)
		}
		if p.Merchant.ID != c.ID || p.Kind != tt.kind || !p.Merchant.CreatedAt.Equal(now) {
			t.Errorf("principal = %+v, want merchant %s kind %s", p, c.ID, tt.kind)
		}
	}
	// Wrong keys of every shape are refused alike.
	for _, bad := range []string{"", "sk_", "sk_x_y", c.SecretKey + "x", c.SecretKey[:len(c.SecretKey)-1] + "a",
		"pk" + c.SecretKey[2:], "xx" + c.SecretKey[2:], string(make([]byte, 500))} {
		if bad == c.SecretKey {
			continue
		}
		if _, err := svc.Authenticate(ctx, bad); kassa.ErrorKind(err) != kassa.EUnauthorized {
			t.Errorf("Authenticate(%.20q) = %v, want unauthorized", bad, err)
		}
	}
	// Only hashes are stored: the key string appears nowhere.
	keys, err := svc.Keys(ctx, c.ID)
	if err != nil || len(keys) != 2 {
		t.Fatalf("Keys = %v, %v; want 2 keys", keys, err)
	}
	for _, k := range keys {
		if string(k.Hash) == c.SecretKey || len(k.Hash) != 32 {
			t.Errorf("key %s stored hash of length %d", k.ID, len(k.Hash))
		}
	}

	// Rotation: the old key works through the grace period, then stops.
	_, newKey, err := svc.RotateKey(ctx, c.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, c.SecretKey); err != nil {
		t.Errorf("old key inside grace: %v", err)
	}
	now = now.Add(time.Hour + time.Second)
	if _, err := svc.Authenticate(ctx, c.SecretKey); kassa.ErrorKind(err) != kassa.EUnauthorized {
		t.Errorf("old key after grace = %v, want unauthorized", err)
	}
	p, err := svc.Authenticate(ctx, newKey)
	if err != nil {
		t.Fatalf("new key: %v", err)
	}
	// Revocation is immediate, and revoking twice is a conflict.
	if err := svc.RevokeKey(ctx, p.KeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, newKey); kassa.ErrorKind(err) != kassa.EUnauthorized {
		t.Errorf("revoked key = %v, want unauthorized", err)
	}
	if err := svc.RevokeKey(ctx, p.KeyID); kassa.ErrorKind(err) != kassa.EConflict {
		t.Errorf("second revoke = %v, want conflict", err)
	}
	if err := svc.RevokeKey(ctx, "key_nope"); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("revoke unknown = %v, want not found", err)
	}
	if _, _, err := svc.RotateKey(ctx, "mer_nope", 0); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("rotate unknown merchant = %v, want not found", err)
	}
	if _, _, err := svc.RotateKey(ctx, c.ID, -time.Second); kassa.ErrorKind(err) != kassa.EInvalid {
		t.Errorf("negative grace = %v, want invalid", err)
	}

	// Another process (a second service over the same store) revokes a
	// key: this one trusts its cache for at most merchant.AuthCacheTTL.
	fresh, err := svc.Create(ctx, "Cache Shop")
	if err != nil {
		t.Fatal(err)
	}
	cached, err := svc.Authenticate(ctx, fresh.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	other := merchant.NewService(sqlstore.NewMerchants(db), clock, id.Generator{})
	if err := other.RevokeKey(ctx, cached.KeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Authenticate(ctx, fresh.SecretKey); kassa.ErrorKind(err) != kassa.EUnauthorized {
		t.Errorf("the revoking process still accepts the key: %v", err)
	}
	now = now.Add(merchant.AuthCacheTTL)
	if _, err := svc.Authenticate(ctx, fresh.SecretKey); kassa.ErrorKind(err) != kassa.EUnauthorized {
		t.Errorf("another process accepts a revoked key after AuthCacheTTL: %v", err)
	}

	// Bad names change nothing.
	for _, name := range []string{"", "   ", string(make([]rune, merchant.NameLengthMax+1))} {
		if _, err := svc.Create(ctx, name); kassa.ErrorKind(err) != kassa.EInvalid {
			t.Errorf("Create(%.10q) = %v, want invalid", name, err)
		}
	}
	// Listing pages through everything, oldest first.
	for i := range 5 {
		now = now.Add(time.Second)
		if _, err := svc.Create(ctx, "m"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	var all []merchant.Merchant
	after := ""
	for {
		page, err := svc.List(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			// The platform's own merchant of top-ups and withdrawals,
			// which the migrations create.
			if m.ID != payout.WalletMerchant {
				all = append(all, m)
			}
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ID
	}
	if len(all) != 7 || all[0].ID != c.ID || all[6].Name != "me" {
		t.Errorf("listed %d merchants (%v), want 7 oldest first", len(all), all)
	}
}

func testMerchantProfile(t *testing.T, open Opener) {
	db := open(t)
	ctx := context.Background()
	svc := merchant.NewService(sqlstore.NewMerchants(db), nil, id.Generator{})
	c, err := svc.Create(ctx, "Profile Bets")
	if err != nil {
		t.Fatal(err)
	}
	if c.Category != merchant.CategoryGeneral || c.Country != "" {
		t.Errorf("new merchant = %q/%q, want general and no country", c.Category, c.Country)
	}
	gambling, de := merchant.CategoryGambling, "de"
	m, err := svc.SetProfile(ctx, c.ID, merchant.Profile{Category: &gambling, Country: &de})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Gambling() || m.Country != "DE" {
		t.Errorf("SetProfile = %+v, want gambling in DE", m)
	}
	// Read back three ways: by id, in the list, and through a key.
	got, err := svc.Get(ctx, c.ID)
	if err != nil || got.Category != gambling || got.Country != "DE" {
		t.Errorf("Get = %+v, %v", got, err)
	}
	list, err := svc.List(ctx, "", 10)
	i := slices.IndexFunc(list, func(m merchant.Merchant) bool { return m.ID == c.ID }) // the list also holds the platform's mer_kassa_topup
	if err != nil || i < 0 || list[i].Category != gambling || list[i].Country != "DE" {
		t.Errorf("List = %+v, %v", list, err)
	}
	p, err := svc.Authenticate(ctx, c.SecretKey)
	if err != nil || !p.Merchant.Gambling() || p.Merchant.Country != "DE" {
		t.Errorf("Authenticate = %+v, %v", p.Merchant, err)
	}
	// Bad input changes nothing.
	bad, xx := merchant.Category("casino"), "Deutschland"
	for _, pr := range []merchant.Profile{{Category: &bad}, {Country: &xx}} {
		if _, err := svc.SetProfile(ctx, c.ID, pr); kassa.ErrorKind(err) != kassa.EInvalid {
			t.Errorf("SetProfile(%+v) = %v, want invalid", pr, err)
		}
	}
	if _, err := svc.SetProfile(ctx, "mer_nope", merchant.Profile{Category: &gambling}); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("SetProfile unknown = %v, want not found", err)
	}
	got, _ = svc.Get(ctx, c.ID)
	if got.Category != gambling || got.Country != "DE" {
		t.Errorf("after bad input = %+v, want unchanged", got)
	}
	// A nil field stays; an empty country clears.
	none := ""
	if m, err = svc.SetProfile(ctx, c.ID, merchant.Profile{Country: &none}); err != nil || m.Category != gambling || m.Country != "" {
		t.Errorf("clear country = %+v, %v", m, err)
	}
}
