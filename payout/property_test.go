package payout_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/webhook"
)

var errCrash = errors.New("injected crash")

// faults decides, from one seeded source, where a step dies.
type faults struct {
	mu  sync.Mutex
	rnd *rand.Rand
	on  bool
}

func (f *faults) hit(p float64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.on && f.rnd.Float64() < p
}

// crashStore dies before a write commits (the effect's error undoes the
// ledger transfers with it, as a process dying before the commit would).
type crashStore struct {
	payout.Store
	f *faults
}

func (s crashStore) CreatePayoutTx(ctx context.Context, tx ledger.Tx, p payout.Payout, evs []webhook.Event) error {
	if s.f.hit(0.1) {
		return errCrash
	}
	return s.Store.CreatePayoutTx(ctx, tx, p, evs)
}

func (s crashStore) UpdatePayoutTx(ctx context.Context, tx ledger.Tx, p payout.Payout, evs []webhook.Event) error {
	if s.f.hit(0.15) {
		return errCrash
	}
	return s.Store.UpdatePayoutTx(ctx, tx, p, evs)
}

func (s crashStore) UpdatePayout(ctx context.Context, p payout.Payout, evs []webhook.Event) error {
	if s.f.hit(0.15) {
		return errCrash
	}
	return s.Store.UpdatePayout(ctx, p, evs)
}

// lossyRail loses requests before the bank and answers after it.
type lossyRail struct {
	payout.Rail
	f *faults
}

func (r lossyRail) Submit(ctx context.Context, in payout.Instruction) (payout.RailStatus, error) {
	if r.f.hit(0.15) {
		return payout.RailStatus{}, errCrash // never reached the bank
	}
	st, err := r.Rail.Submit(ctx, in)
	if err == nil && r.f.hit(0.15) {
		return payout.RailStatus{}, errCrash // the bank has it; the answer is lost
	}
	return st, err
}

func (r lossyRail) Query(ctx context.Context, key string) (payout.RailStatus, error) {
	if r.f.hit(0.1) {
		return payout.RailStatus{}, errCrash
	}
	return r.Rail.Query(ctx, key)
}

// TestPayoutStateMachine runs random operations — payouts to every test
// IBAN and the wallet, cancels, reviews, worker passes, time passing —
// with crashes before commits and lost rail requests and answers, and
// checks after every step that the ledger reserves exactly the open
// payouts and the merchant is never overdrawn; at the end, with faults
// off, that every payout agrees with the bank and the ledger verifies.
func TestPayoutStateMachine(t *testing.T) {
	for seed := range uint64(4) {
		t.Run("seed", func(t *testing.T) { runStateMachine(t, seed) })
	}
}

func runStateMachine(t *testing.T, seed uint64) {
	f := &faults{rnd: rand.New(rand.NewPCG(seed, 99))}
	rnd := rand.New(rand.NewPCG(seed, 7))
	db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, db, options{reviewAbove: 40_000, limits: payout.Limits{PayerDay: 10_000_000, PayerMonth: 10_000_000},
		wrap: func(s payout.Store) payout.Store { return crashStore{s, f} }})
	bank := e.bank
	e.svc = payout.New(payout.Config{Store: e.store, Ledger: e.led, Clock: e.clk.Now, ReviewAbove: 40_000, KYC: testKYC,
		Limits: payout.Limits{PayerDay: 10_000_000, PayerMonth: 10_000_000},
		Rails:  map[string]payout.Rail{payout.DestBankAccount: lossyRail{bank, f}}})
	e.fund(500_000)
	ctx := context.Background()
	var ids []string
	ibans := []string{ibanPaid, ibanClosed, ibanReturned, ibanLostAns, ibanLostReq,
		payout.IBANCheckDigits("DE", "100100100000000002")}
	f.on = true
	for step := range 300 {
		switch op := rnd.IntN(10); {
		case op < 4:
			req := bankReq(money.Amount(1+rnd.IntN(60_000)), ibans[rnd.IntN(len(ibans))])
			if rnd.IntN(4) == 0 {
				req.Customer.ID = "cus_w"
				req.Destination = payout.Destination{Type: payout.DestWallet}
			}
			p, err := e.svc.Create(ctx, e.merchant, req)
			if err == nil {
				ids = append(ids, p.ID)
			}
		case op < 5 && len(ids) > 0:
			e.svc.Cancel(ctx, e.merchant, ids[rnd.IntN(len(ids))])
		case op < 6 && len(ids) > 0:
			e.svc.Approve(ctx, e.merchant, ids[rnd.IntN(len(ids))], "key_b", true)
		case op < 7 && len(ids) > 0:
			e.svc.Reject(ctx, e.merchant, ids[rnd.IntN(len(ids))], "key_b", true)
		case op < 9:
			e.svc.Process(ctx)
		default:
			e.clk.Advance(time.Duration(rnd.IntN(48)) * time.Hour)
		}
		e.invariants(step)
		if t.Failed() {
			return
		}
	}
	// Faults off: approve what waits, let every payout finish.
	f.mu.Lock()
	f.on = false
	f.mu.Unlock()
	for _, id := range ids {
		e.svc.Approve(ctx, e.merchant, id, "key_b", true)
	}
	for range 6 {
		e.process()
		e.clk.Advance(48 * time.Hour)
	}
	e.process()
	e.check()
	e.agree(ids)
}

// invariants are the cheap checks after every step.
func (e *env) invariants(step int) {
	e.t.Helper()
	sums, err := e.store.PayoutSums(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	m := e.merchantAccount()
	if got, want := m.DebitsPending, sums["merchant:"+e.merchant+":EUR"].Open; got != want {
		e.t.Errorf("step %d: the ledger reserves %d, open payouts sum to %d", step, got, want)
	}
	if avail := m.CreditsPosted - m.DebitsPosted - m.DebitsPending; avail < 0 {
		e.t.Errorf("step %d: merchant overdrawn: %d", step, avail)
	}
}

// agree checks every finished payout against the bank and the ledger.
func (e *env) agree(ids []string) {
	e.t.Helper()
	ctx := context.Background()
	var paid, returned money.Amount
	for _, id := range ids {
		p := e.get(payout.Payout{ID: id})
		if p.Status.Open() && p.Status != payout.StatusRequiresReview {
			e.t.Errorf("%s still %s after the drain", id, p.Status)
			continue
		}
		if p.Destination.Type == payout.DestWallet {
			if p.Status == payout.StatusPaid {
				paid += p.Amount
			}
			continue
		}
		st, err := e.bank.Query(ctx, id)
		want := map[payout.RailState]payout.Status{payout.RailPaid: payout.StatusPaid,
			payout.RailFailed: payout.StatusFailed, payout.RailReturned: payout.StatusReturned}
		switch {
		case errors.Is(err, payout.ErrNotReceived):
			if p.Status != payout.StatusCanceled && p.Status != payout.StatusRequiresReview {
				e.t.Errorf("%s is %s but the bank never received it", id, p.Status)
			}
		case err != nil:
			e.t.Fatal(err)
		case want[st.State] != p.Status:
			e.t.Errorf("%s is %s, the bank says %s", id, p.Status, st.State)
		}
		switch p.Status {
		case payout.StatusPaid:
			paid += p.Amount
		case payout.StatusReturned:
			returned += p.Amount
		}
	}
	m := e.merchantAccount()
	if got, want := m.CreditsPosted-m.DebitsPosted, e.funded-paid; got != want {
		e.t.Errorf("merchant holds %d, funded %d less %d paid = %d", got, e.funded, paid, want)
	}
	c := e.account("payout_clearing:EUR")
	w := e.account(payout.WalletAccount("cus_w", "EUR"))
	if got, want := c.CreditsPosted-c.DebitsPosted+w.CreditsPosted, paid; got != want {
		e.t.Errorf("clearing plus wallet hold %d, want the %d paid", got, want)
	}
	counts := map[payout.Status]int{}
	for _, id := range ids {
		counts[e.get(payout.Payout{ID: id}).Status]++
	}
	e.t.Logf("%d payouts: %v; %d paid, %d returned", len(ids), counts, paid, returned)
}
