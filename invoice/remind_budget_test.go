package invoice_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/invoice"
	"github.com/kassa/kassa/store/sqlstore"
)

// TestRemindersPerMerchantDay: a merchant's invoices send at most
// RemindersPerDay reminders in a UTC day, counted in the reminder's own
// transaction (two workers at once cannot pass it); the rest wait for the
// next day, and another merchant's reminders are not held up.
func TestRemindersPerMerchantDay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const perDay = 3
		svc := invoice.New(invoice.Config{Store: sqlstore.NewInvoices(e.db), Payments: e.payments, Merchants: e.merchants,
			Notifier: e.outbox, PublicURL: "https://pay.example", Clock: e.clk.Now, RemindersPerDay: perDay})
		var mine []invoice.Invoice
		for range 5 {
			mine = append(mine, e.finalized())
		}
		theirs, err := svc.Create(ctx, e.other, params())
		if err != nil {
			t.Fatal(err)
		}
		if theirs, err = svc.Finalize(ctx, e.other, theirs.ID); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(11*24*time.Hour + time.Minute) // three days before due: every reminder is due

		var wg sync.WaitGroup
		sent := make([]int, 2)
		for i := range sent {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Without a lease both workers take the same invoices; the
				// loser of each race gets invoice_changed and sends nothing.
				n, err := svc.SendReminders(ctx)
				for _, err := range unjoin(err) {
					if ke := kassa.AsError(err); ke == nil || ke.Code != "invoice_changed" {
						t.Errorf("worker %d: %v", i, err)
					}
				}
				sent[i] = n
			}()
		}
		wg.Wait()
		reminded := func(invs ...invoice.Invoice) int {
			t.Helper()
			n := 0
			for _, inv := range invs {
				got, err := svc.Get(ctx, inv.MerchantID, inv.ID)
				if err != nil {
					t.Fatal(err)
				}
				n += got.RemindersSent
			}
			return n
		}
		if got := reminded(mine...); got != perDay {
			t.Fatalf("%d of the merchant's reminders recorded on day one, cap %d (workers sent %v)", got, perDay, sent)
		}
		if got := reminded(theirs); got != 1 {
			t.Fatalf("the other merchant's reminder was held up: %d", got)
		}
		if sent[0]+sent[1] != perDay+1 {
			t.Fatalf("workers sent %v, want %d in all", sent, perDay+1)
		}
		// The deferred ones wait for the next UTC day, then go.
		if n, err := svc.SendReminders(ctx); err != nil || n != 0 {
			t.Fatalf("same day again: %d sent, %v", n, err)
		}
		e.clk.Set(e.clk.Now().Truncate(24 * time.Hour).Add(24*time.Hour + time.Second))
		if n, err := svc.SendReminders(ctx); err != nil || n != len(mine)-perDay {
			t.Fatalf("next day: %d sent, %v", n, err)
		}
		if got := reminded(mine...); got != len(mine) {
			t.Fatalf("%d reminders after two days, want %d", got, len(mine))
		}
	})
}

// unjoin lists the errors errors.Join joined (and wrapped ones).
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
