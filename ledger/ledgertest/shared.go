package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
)

// SharedWriters runs two ledgers (two processes, as it were) on one store
// at once. They race to commit the same transfer ids, one posts the
// pending transfers the other created, and one expires what the other
// reserved. Every id commits exactly once (the other call answers
// Exists), every acknowledged transfer is stored, the balances are the
// sum of what was acknowledged, and the log verifies. Where the store
// reads ahead with the head lock (ledger.HeadReader), a writer follows the
// other's commits by extending its tree, never by reloading.
func SharedWriters(t *testing.T, open Opener) {
	ctx := context.Background()
	const eur = money.Currency("EUR")
	const accounts = 10
	e := NewEnv(t, open)
	a, b := e.L, e.Open(t, e.Store)
	var as []ledger.Account
	for i := range accounts {
		as = append(as, ledger.Account{ID: fmt.Sprintf("a%d", i), Currency: eur})
	}
	e.Accounts(t, "m", as...)
	readsAhead := storeReadsAhead(t, e.Store)

	// One writer commits after the other: the second must follow.
	call := func(l *ledger.Ledger, ts ...ledger.Transfer) []ledger.Result {
		t.Helper()
		rs, err := l.CreateTransfers(ctx, "m", ts)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	tr := func(id string, i int) ledger.Transfer {
		dr, cr := i%accounts, (i*7+1)%accounts
		if cr == dr {
			cr = (cr + 1) % accounts
		}
		return ledger.Transfer{ID: id, DebitAccountID: fmt.Sprintf("a%d", dr), CreditAccountID: fmt.Sprintf("a%d", cr),
			Amount: money.Amount(1 + i%7), Currency: eur}
	}
	want := make(map[string]int64) // account → credits minus debits, posted
	book := func(t ledger.Transfer) {
		want[t.DebitAccountID] -= int64(t.Amount)
		want[t.CreditAccountID] += int64(t.Amount)
	}
	for i, l := range []*ledger.Ledger{b, a, b, a} {
		t0 := tr(fmt.Sprintf("seq-%d", i), i)
		if rs := call(l, t0); rs[0].Code != ledger.OK {
			t.Fatalf("seq-%d: %v", i, rs[0].Code)
		}
		book(t0)
	}
	catchUps, reloads := a.Followed()
	if catchUps+reloads == 0 {
		t.Fatalf("a did not follow b's commits: %d catch-ups, %d reloads", catchUps, reloads)
	}
	if readsAhead && (catchUps == 0 || reloads != 0) {
		t.Fatalf("a followed b by %d catch-ups and %d reloads, want catch-ups only", catchUps, reloads)
	}

	// Both writers race on the same ids, and post each other's pending
	// transfers, concurrently.
	const goroutines, calls = 4, 40
	type answer struct {
		ids   []string
		codes []ledger.ResultCode
	}
	var mu sync.Mutex
	var answers []answer
	var wg sync.WaitGroup
	errs := make(chan error, 2*goroutines+2)
	for g := range goroutines {
		for _, l := range []*ledger.Ledger{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range calls {
					ts := []ledger.Transfer{tr(fmt.Sprintf("race-%d-%d-0", g, i), g+i), tr(fmt.Sprintf("race-%d-%d-1", g, i), g*3+i)}
					rs, err := l.CreateTransfers(ctx, "m", ts)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					answers = append(answers, answer{[]string{ts[0].ID, ts[1].ID}, Codes(rs)})
					mu.Unlock()
				}
			}()
		}
	}
	pendings := make([]ledger.Transfer, 0, calls)
	for k, pair := range [][2]*ledger.Ledger{{a, b}, {b, a}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls / 2 {
				p := tr(fmt.Sprintf("pend-%d-%d", k, i), i)
				p.Flags = ledger.FlagPending
				post := ledger.Transfer{ID: "post-" + p.ID, PendingID: p.ID, Amount: p.Amount, Currency: eur, Flags: ledger.FlagPostPending}
				for j, step := range []struct {
					l *ledger.Ledger
					t ledger.Transfer
				}{{pair[0], p}, {pair[1], post}} {
					rs, err := step.l.CreateTransfers(ctx, "m", []ledger.Transfer{step.t})
					if err == nil && rs[0].Code != ledger.OK {
						err = fmt.Errorf("%s (step %d): %v", step.t.ID, j, rs[0].Code)
					}
					if err != nil {
						errs <- err
						return
					}
				}
				mu.Lock()
				pendings = append(pendings, p)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, p := range pendings {
		book(p)
	}
	won := make(map[string]int)
	for _, an := range answers {
		for i, id := range an.ids {
			switch an.codes[i] {
			case ledger.OK:
				won[id]++
			case ledger.Exists:
			default:
				t.Fatalf("%s: %v", id, an.codes[i])
			}
		}
	}
	for g := range goroutines {
		for i := range calls {
			for k, j := range []int{g + i, g*3 + i} {
				id := fmt.Sprintf("race-%d-%d-%d", g, i, k)
				if won[id] != 1 {
					t.Fatalf("%s committed %d times, want once", id, won[id])
				}
				got, err := e.Store.Transfer(ctx, "m", id)
				if err != nil {
					t.Fatalf("acknowledged %s: %v", id, err)
				}
				if want := tr(id, j); got.Amount != want.Amount || got.DebitAccountID != want.DebitAccountID {
					t.Fatalf("%s stored as %+v", id, got)
				}
				book(tr(id, j))
			}
		}
	}

	// A pending transfer one writer made expires through the other.
	exp := tr("expiring", 3)
	exp.Flags, exp.Timeout = ledger.FlagPending, time.Second
	if rs := call(a, exp); rs[0].Code != ledger.OK {
		t.Fatalf("expiring: %v", rs[0].Code)
	}
	e.Clock.Advance(2 * time.Second)
	if err := b.ExpirePending(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := e.Store.Pending(ctx, "m", "expiring"); err != nil || p.State != ledger.StateExpired {
		t.Fatalf("pending transfer made by a, expired through b: %+v, %v", p, err)
	}

	for i := range accounts {
		id := fmt.Sprintf("a%d", i)
		acc, err := e.Store.Account(ctx, "m", id)
		if err != nil {
			t.Fatal(err)
		}
		if got := int64(acc.CreditsPosted) - int64(acc.DebitsPosted); got != want[id] || acc.DebitsPending != 0 || acc.CreditsPending != 0 {
			t.Errorf("%s: posted net %d (pending %d/%d), want %d", id, got, acc.DebitsPending, acc.CreditsPending, want[id])
		}
	}
	sum := e.Verify(t)
	if wantTransfers := int64(4 + 2*goroutines*calls + 2*len(pendings) + 2); sum.Transfers != wantTransfers {
		t.Errorf("verify saw %d transfers, want %d", sum.Transfers, wantTransfers)
	}
	catchUps, reloads = a.Followed()
	cb, rb := b.Followed()
	t.Logf("a followed b %d times by catch-up, %d by reload; b followed a %d and %d", catchUps, reloads, cb, rb)
	if readsAhead && reloads+rb != 0 {
		t.Errorf("%d reloads with a store that reads ahead", reloads+rb)
	}
}

var errPeek = errors.New("ledgertest: peek only")

// storeReadsAhead reports whether s's transactions implement ledger.HeadReader.
func storeReadsAhead(t *testing.T, s ledger.Store) bool {
	var ok bool
	err := s.Update(context.Background(), func(ctx context.Context, tx ledger.Tx) error {
		_, ok = tx.(ledger.HeadReader)
		return errPeek
	})
	if !errors.Is(err, errPeek) {
		t.Fatalf("peek: %v", err)
	}
	return ok
}
