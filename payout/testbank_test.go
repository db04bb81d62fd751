package payout_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/payout"
)

// TestTestBankBounded: the test bank holds at most TransfersMax
// transfers; a new one evicts the oldest final ones (never one that may
// still fail or come back), and while none is final Submit answers an
// unknown outcome instead of growing.
func TestTestBankBounded(t *testing.T) {
	ctx := context.Background()
	clk := testclock.New(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	b := payout.NewTestBank(clk.Now)
	b.TransfersMax = 3
	in := func(key, iban string) payout.Instruction {
		return payout.Instruction{Key: key, Amount: 100, Currency: "EUR", IBAN: iban, AccountHolder: "Jane Doe"}
	}
	for i, iban := range []string{ibanPaid, ibanReturned, ibanPaid} {
		if _, err := b.Submit(ctx, in(fmt.Sprint("k", i), iban)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Submit(ctx, in("k3", ibanPaid)); !errors.Is(err, payout.ErrTestBankFull) {
		t.Fatalf("a fourth unsettled transfer: %v; want ErrTestBankFull", err)
	}
	// Settled: k0 and k2 are final, k1 may still come back.
	clk.Advance(25 * time.Hour)
	for _, k := range []string{"k3", "k4"} {
		if _, err := b.Submit(ctx, in(k, ibanPaid)); err != nil {
			t.Fatalf("%s after settling: %v", k, err)
		}
	}
	if n, _ := b.Received(); n != 3 {
		t.Fatalf("the bank holds %d transfers, want at most 3", n)
	}
	if _, err := b.Query(ctx, "k0"); !errors.Is(err, payout.ErrNotReceived) {
		t.Fatalf("the oldest final transfer was kept: %v", err)
	}
	if st, err := b.Query(ctx, "k1"); err != nil || st.State != payout.RailPaid {
		t.Fatalf("the returning transfer was evicted before its return: %+v %v", st, err)
	}
	clk.Advance(73 * time.Hour)
	if st, err := b.Query(ctx, "k1"); err != nil || st.State != payout.RailReturned {
		t.Fatalf("returning transfer: %+v %v", st, err)
	}
	// Many refused submissions (bad IBANs) do not grow it either.
	for i := range 50 {
		b.Submit(ctx, in(fmt.Sprint("bad", i), "DE00100100100000000000"))
	}
	if n, _ := b.Received(); n > 3 {
		t.Fatalf("the bank holds %d transfers", n)
	}
	if got := b.Submits("bad0"); got > 1 {
		t.Fatalf("submissions of bad0: %d", got)
	}
}

// TestWorkerAfterEviction: a paid payout whose transfer the test bank
// forgot is left as it is: no error, no change, no second payment.
func TestWorkerAfterEviction(t *testing.T) {
	e := newSQLiteEnv(t, options{})
	e.bank.TransfersMax = 1
	e.fund(10_000)
	ctx := context.Background()
	p, err := e.svc.Create(ctx, e.merchant, bankReqFor("p-1", 1_000, ibanPaid))
	if err != nil {
		t.Fatal(err)
	}
	e.process()
	e.clk.Advance(25 * time.Hour)
	e.process()
	if got := e.get(p); got.Status != payout.StatusPaid {
		t.Fatalf("payout %s", got.Status)
	}
	q, err := e.svc.Create(ctx, e.merchant, bankReqFor("p-2", 1_000, ibanPaid))
	if err != nil {
		t.Fatal(err)
	}
	e.process() // q's transfer evicts p's
	if _, err := e.bank.Query(ctx, p.ID); !errors.Is(err, payout.ErrNotReceived) {
		t.Fatalf("p was not evicted: %v", err)
	}
	if n, err := e.svc.Process(ctx); err != nil || n != 0 {
		t.Fatalf("a pass after the eviction changed %d payouts (%v)", n, err)
	}
	if got := e.get(p); got.Status != payout.StatusPaid {
		t.Fatalf("payout after eviction: %s", got.Status)
	}
	if got := e.get(q); got.Status != payout.StatusInTransit {
		t.Fatalf("second payout: %s", got.Status)
	}
	e.check()
}
