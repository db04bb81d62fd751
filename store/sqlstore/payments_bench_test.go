package sqlstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/webhook"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPaymentEffect measures a payment's ledger effect on SQLite as
// confirm books it: one voucher's transfer with the payment's new state,
// its voucher row and its event, 32 callers at once so that commits carry
// many effects, as under load. It reports the process's CPU time per
// effect (cpu-ns/op), which depends less on what else runs on the machine
// than the wall time does; compare builds in the same minute.
func BenchmarkPaymentEffect(b *testing.B) {
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	skey, _, err := note.GenerateKey(rand.Reader, "kassa.test/bench")
	if err != nil {
		b.Fatal(err)
	}
	l, err := ledger.New(ledger.Config{Store: sqlstore.NewLedger(db), SignerKey: skey})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	store := sqlstore.NewPayments(db)
	if err := db.Transact(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO merchants (id, name, created_at) VALUES ('m', 'm', 0)`)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	if _, err := l.CreateAccounts(ctx, "", []ledger.Account{{ID: "merchant:m:EUR", Currency: "EUR"}}); err != nil {
		b.Fatal(err)
	}
	const callers = 32
	now := time.Now().UTC()
	// Payments and their vouchers' accounts are made before the timer.
	ps := make([]payment.Payment, b.N)
	for i := range ps {
		p := payment.Payment{ID: fmt.Sprintf("pay_bench%07d", i), MerchantID: "m", Amount: 700, Currency: "EUR",
			CaptureMethod: payment.CaptureManual, Status: payment.StatusRequiresAction, Version: 1,
			ClientSecret: "s", ExpiresAt: now.Add(time.Hour), Created: now, Updated: now, Risk: payment.RiskResult{Score: -1}}
		ev := webhook.Event{ID: fmt.Sprintf("evt_benchc%07d", i), MerchantID: "m", Type: payment.EventCreated, Created: now, Data: []byte(`{}`)}
		if err := store.CreatePayment(ctx, p, ev); err != nil {
			b.Fatal(err)
		}
		ps[i] = p
	}
	accts := make([]ledger.Account, 0, 1000)
	for i := 0; i < b.N; i += 1000 {
		accts = accts[:0]
		for j := i; j < min(i+1000, b.N); j++ {
			accts = append(accts, ledger.Account{ID: fmt.Sprintf("voucher:bench%07d", j), Currency: "EUR", Flags: ledger.DebitsMustNotExceedCredits})
		}
		if _, err := l.CreateAccounts(ctx, "", accts); err != nil {
			b.Fatal(err)
		}
		ts := make([]ledger.Transfer, 0, len(accts))
		for _, a := range accts {
			ts = append(ts, ledger.Transfer{ID: "fund:" + a.ID, DebitAccountID: "merchant:m:EUR", CreditAccountID: a.ID, Amount: 1000, Currency: "EUR"})
		}
		if _, err := l.CreateTransfers(ctx, "", ts); err != nil {
			b.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	work := make(chan int)
	errs := make(chan error, callers)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for range callers {
		wg.Go(func() {
			for i := range work {
				p := ps[i]
				next := p
				next.Version++
				next.Status, next.AmountCapturable, next.MethodType, next.Attempts = payment.StatusAuthorized, p.Amount, "voucher", 1
				next.Vouchers = []payment.VoucherUse{{Seq: 0, Serial: fmt.Sprintf("bench%07d", i), Amount: p.Amount}}
				next.Risk = payment.RiskResult{EvaluationID: "eval", Score: 3, Level: "low", Decision: "allow"}
				ev := webhook.Event{ID: fmt.Sprintf("evt_bencha%07d", i), MerchantID: "m", Type: payment.EventAuthorized, Created: now, Data: []byte(`{"id":"` + p.ID + `"}`)}
				ts := []ledger.Transfer{{ID: "pay:" + p.ID + ":auth:0", DebitAccountID: "voucher:" + next.Vouchers[0].Serial,
					CreditAccountID: "merchant:m:EUR", Amount: money.Amount(p.Amount), Currency: "EUR", Flags: ledger.FlagPending}}
				_, err := l.CreateTransfersWith(ctx, "", ts, func(ctx context.Context, tx ledger.Tx, results []ledger.Result) error {
					if results[0].Code != ledger.OK {
						return fmt.Errorf("transfer: %s", results[0].Code)
					}
					return store.UpdatePaymentTx(ctx, tx, next, []webhook.Event{ev})
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range b.N {
		work <- i
	}
	close(work)
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}
