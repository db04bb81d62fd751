// Package shoptest sets up what the tests of the payment pages share: a
// fresh SQLite store with a ledger, a merchant, a voucher issuer and the
// voucher service, all closed when the test ends.
package shoptest

import (
	"context"
	"crypto/rand"
	"log/slog"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/voucher"
)

// Shop is a merchant and a voucher issuer on a fresh store.
type Shop struct {
	DB        *sqlstore.DB
	Ledger    *ledger.Ledger
	Merchants *merchant.Service
	Merchant  merchant.Created // "Acme Bets & Games"
	Issuer    string           // "Voucher Kiosk", allowed to issue vouchers
	Vouchers  *voucher.Service
}

// New opens the store in a temporary directory and sets up the shop.
func New(t testing.TB, logger *slog.Logger) *Shop {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	skey, _, err := note.GenerateKey(rand.Reader, "kassa.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	led, err := ledger.New(ledger.Config{Store: sqlstore.NewLedger(db), SignerKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close() })
	s := &Shop{DB: db, Ledger: led, Merchants: merchant.NewService(sqlstore.NewMerchants(db), nil, id.Generator{})}
	if s.Merchant, err = s.Merchants.Create(ctx, "Acme Bets & Games"); err != nil {
		t.Fatal(err)
	}
	kiosk, err := s.Merchants.Create(ctx, "Voucher Kiosk")
	if err != nil {
		t.Fatal(err)
	}
	s.Issuer = kiosk.ID
	if s.Vouchers, err = voucher.New(voucher.Config{Store: sqlstore.NewVouchers(db), Ledger: led,
		PINKey: voucher.GenerateKey(), Logger: logger}); err != nil {
		t.Fatal(err)
	}
	if err := s.Vouchers.AllowIssuing(ctx, s.Issuer); err != nil {
		t.Fatal(err)
	}
	return s
}
