package ledgertest

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
)

// model is a deliberately simple ledger: maps, whole-state copies for
// linked chains, no caches, no batching. The property test checks that the
// real ledger behaves exactly like it.
type model struct {
	accounts  map[string]*mAccount
	transfers map[string]ledger.Transfer // effective committed transfers
	pendings  map[string]*mPending
	order     []string // pending ids by creation
	lastTS    int64
	leaves    int64
}

type mAccount struct {
	currency money.Currency
	flags    ledger.AccountFlags
	dp, dpo  int64
	cp, cpo  int64
}

type mPending struct {
	t       ledger.Transfer
	expires int64
	state   ledger.PendingState
	posted  int64
}

func (m *model) clone() *model {
	c := &model{
		accounts:  map[string]*mAccount{},
		transfers: maps.Clone(m.transfers),
		pendings:  map[string]*mPending{},
		order:     slices.Clone(m.order),
		lastTS:    m.lastTS,
		leaves:    m.leaves,
	}
	for k, v := range m.accounts {
		x := *v
		c.accounts[k] = &x
	}
	for k, v := range m.pendings {
		x := *v
		c.pendings[k] = &x
	}
	return c
}

func (m *model) stamp(now int64) (ts, leaf int64) {
	ts = max(now, m.lastTS+1)
	m.lastTS = ts
	m.leaves++
	return ts, m.leaves - 1
}

// expire voids timed-out pending transfers, oldest deadline first.
func (m *model) expire(now int64) {
	const expiryBatchMax = 1 // as configured in runModel
	var due []*mPending
	for _, id := range m.order {
		p := m.pendings[id]
		if p.state == ledger.StatePending && p.expires != 0 && p.expires <= now {
			due = append(due, p)
		}
	}
	slices.SortStableFunc(due, func(a, b *mPending) int { return int(a.expires - b.expires) })
	for i, p := range due {
		if i == expiryBatchMax {
			break
		}
		p.state = ledger.StateExpired
		m.accounts[p.t.DebitAccountID].dp -= int64(p.t.Amount)
		m.accounts[p.t.CreditAccountID].cp -= int64(p.t.Amount)
		ts, leaf := m.stamp(now)
		id := ledger.ExpiryIDPrefix + p.t.ID
		m.transfers[id] = ledger.Transfer{ID: id, LeafIndex: leaf, Timestamp: time.Unix(0, ts).UTC()}
	}
}

func (m *model) call(now int64, in []ledger.Transfer) []ledger.Result {
	m.expire(now)
	out := make([]ledger.Result, len(in))
	for i := 0; i < len(in); {
		j := i // the chain is in[i..j]
		for j < len(in)-1 && in[j].Flags&ledger.FlagLinked != 0 {
			j++
		}
		open := in[j].Flags&ledger.FlagLinked != 0
		saved := m.clone()
		failed := -1
		for k := i; k <= j; k++ {
			if open && k == j {
				out[k] = ledger.Result{Code: ledger.LinkedEventChainOpen}
			} else {
				out[k] = m.one(now, in[k])
			}
			if out[k].Code != ledger.OK {
				failed = k
				break
			}
		}
		if failed >= 0 && j > i || failed >= 0 && open {
			*m = *saved
			for k := i; k <= j; k++ {
				if k != failed {
					out[k] = ledger.Result{Code: ledger.LinkedEventFailed}
				}
			}
			if open {
				out[j] = ledger.Result{Code: ledger.LinkedEventChainOpen}
			}
		}
		i = j + 1
	}
	return out
}

func (m *model) one(now int64, t ledger.Transfer) ledger.Result {
	r := func(c ledger.ResultCode) ledger.Result { return ledger.Result{Code: c} }
	pv := t.Flags&(ledger.FlagPostPending|ledger.FlagVoidPending) != 0
	if !pv && t.Amount <= 0 {
		return r(ledger.AmountMustBePositive)
	}
	if e, ok := m.transfers[t.ID]; ok {
		res := ledger.Result{LeafIndex: e.LeafIndex, Timestamp: e.Timestamp}
		switch {
		case e.Flags != t.Flags:
			res.Code = ledger.ExistsWithDifferentFlags
		case e.PendingID != t.PendingID:
			res.Code = ledger.ExistsWithDifferentPendingID
		case e.Timeout != t.Timeout:
			res.Code = ledger.ExistsWithDifferentTimeout
		case e.DebitAccountID != t.DebitAccountID && !(pv && t.DebitAccountID == ""):
			res.Code = ledger.ExistsWithDifferentDebitAccountID
		case e.CreditAccountID != t.CreditAccountID && !(pv && t.CreditAccountID == ""):
			res.Code = ledger.ExistsWithDifferentCreditAccountID
		case e.Amount != t.Amount && !(pv && t.Amount == 0):
			res.Code = ledger.ExistsWithDifferentAmount
		case e.Currency != t.Currency && !(pv && t.Currency == ""):
			res.Code = ledger.ExistsWithDifferentCurrency
		case e.Code != t.Code && !(pv && t.Code == 0):
			res.Code = ledger.ExistsWithDifferentCode
		case string(e.Metadata) != string(t.Metadata):
			res.Code = ledger.ExistsWithDifferentMetadata
		default:
			res.Code = ledger.Exists
		}
		return res
	}
	ts := max(now, m.lastTS+1)
	if pv {
		p := m.pendings[t.PendingID]
		if p == nil {
			if _, ok := m.transfers[t.PendingID]; ok {
				return r(ledger.PendingTransferNotPending)
			}
			return r(ledger.PendingTransferNotFound)
		}
		post := t.Flags&ledger.FlagPostPending != 0
		switch {
		case t.DebitAccountID != "" && t.DebitAccountID != p.t.DebitAccountID, t.CreditAccountID != "" && t.CreditAccountID != p.t.CreditAccountID:
			return r(ledger.PendingTransferHasDifferentAccounts)
		case t.Currency != "" && t.Currency != p.t.Currency:
			return r(ledger.PendingTransferHasDifferentCurrency)
		case t.Code != 0 && t.Code != p.t.Code:
			return r(ledger.PendingTransferHasDifferentCode)
		case !post && t.Amount != 0 && t.Amount != p.t.Amount:
			return r(ledger.PendingTransferHasDifferentAmount)
		case post && t.Amount > p.t.Amount:
			return r(ledger.ExceedsPendingTransferAmount)
		case p.state == ledger.StatePosted:
			return r(ledger.PendingTransferAlreadyPosted)
		case p.state == ledger.StateVoided:
			return r(ledger.PendingTransferAlreadyVoided)
		case p.state == ledger.StateExpired, p.expires != 0 && ts >= p.expires:
			return r(ledger.PendingTransferExpired)
		}
		amount := t.Amount
		if amount == 0 {
			amount = p.t.Amount
		}
		dr, cr := m.accounts[p.t.DebitAccountID], m.accounts[p.t.CreditAccountID]
		dr.dp -= int64(p.t.Amount)
		cr.cp -= int64(p.t.Amount)
		if post {
			dr.dpo += int64(amount)
			cr.cpo += int64(amount)
			p.state, p.posted = ledger.StatePosted, int64(amount)
		} else {
			p.state = ledger.StateVoided
		}
		e := t
		e.DebitAccountID, e.CreditAccountID, e.Currency, e.Code, e.Amount = p.t.DebitAccountID, p.t.CreditAccountID, p.t.Currency, p.t.Code, amount
		return m.commit(now, e)
	}
	dr, cr := m.accounts[t.DebitAccountID], m.accounts[t.CreditAccountID]
	switch {
	case dr == nil:
		return r(ledger.DebitAccountNotFound)
	case cr == nil:
		return r(ledger.CreditAccountNotFound)
	case dr.currency != t.Currency || cr.currency != t.Currency:
		return r(ledger.CurrencyMismatch)
	}
	a := int64(t.Amount)
	pending := t.Flags&ledger.FlagPending != 0
	if dr.flags&ledger.DebitsMustNotExceedCredits != 0 && dr.dp+dr.dpo+a > dr.cpo {
		return r(ledger.ExceedsCredits)
	}
	if cr.flags&ledger.CreditsMustNotExceedDebits != 0 && cr.cp+cr.cpo+a > cr.dpo {
		return r(ledger.ExceedsDebits)
	}
	if pending {
		dr.dp += a
		cr.cp += a
		p := &mPending{t: t, state: ledger.StatePending}
		if t.Timeout > 0 {
			p.expires = ts + int64(t.Timeout)
		}
		m.pendings[t.ID] = p
		m.order = append(m.order, t.ID)
	} else {
		dr.dpo += a
		cr.cpo += a
	}
	return m.commit(now, t)
}

func (m *model) commit(now int64, t ledger.Transfer) ledger.Result {
	ts, leaf := m.stamp(now)
	t.LeafIndex, t.Timestamp = leaf, time.Unix(0, ts).UTC()
	m.transfers[t.ID] = t
	return ledger.Result{Code: ledger.OK, LeafIndex: leaf, Timestamp: t.Timestamp}
}

// gen makes random calls that exercise every path the model knows.
type gen struct {
	r       *rand.Rand
	n       int
	history []ledger.Transfer
	m       *model
}

var modelAccounts = []struct {
	id       string
	currency money.Currency
	flags    ledger.AccountFlags
}{
	{"a", "EUR", 0}, {"b", "EUR", 0}, {"c", "EUR", 0},
	{"lim", "EUR", ledger.DebitsMustNotExceedCredits},
	{"clim", "EUR", ledger.CreditsMustNotExceedDebits},
	{"usd", "USD", 0},
}

func (g *gen) account() string {
	if g.r.IntN(30) == 0 {
		return "ghost"
	}
	return modelAccounts[g.r.IntN(len(modelAccounts))].id
}

func (g *gen) pendingID() string {
	if len(g.m.order) == 0 || g.r.IntN(12) == 0 {
		if len(g.history) > 0 && g.r.IntN(2) == 0 {
			return g.history[g.r.IntN(len(g.history))].ID
		}
		return "nope"
	}
	// Prefer recent pending transfers, which are more likely still open.
	i := len(g.m.order) - 1 - g.r.IntN(min(len(g.m.order), 8))
	return g.m.order[i]
}

func (g *gen) transfer() ledger.Transfer {
	if len(g.history) > 0 && g.r.IntN(10) == 0 {
		t := g.history[g.r.IntN(len(g.history))]
		switch g.r.IntN(5) {
		case 0:
			t.Amount++
		case 1:
			t.Code++
		case 2:
			t.Metadata = []byte(`{"x":1}`)
		}
		return t
	}
	g.n++
	t := ledger.Transfer{ID: fmt.Sprintf("t%d", g.n)}
	switch k := g.r.IntN(10); {
	case k < 4:
		t.DebitAccountID, t.CreditAccountID = g.account(), g.account()
		for t.CreditAccountID == t.DebitAccountID {
			t.CreditAccountID = g.account()
		}
		t.Amount = money.Amount(g.r.IntN(100))
		t.Currency = "EUR"
		if g.r.IntN(3) == 0 && t.DebitAccountID != "ghost" && t.CreditAccountID != "ghost" {
			// Mostly same-currency pairs; sometimes a mismatch.
			t.DebitAccountID, t.CreditAccountID = "usd", "a"
			if g.r.IntN(4) == 0 {
				t.Currency = "USD"
			} else {
				t.DebitAccountID, t.CreditAccountID = "a", "lim"
				if g.r.IntN(2) == 0 {
					t.DebitAccountID, t.CreditAccountID = "lim", "b"
				}
			}
		}
		for t.DebitAccountID == "usd" || t.CreditAccountID == "usd" {
			if t.Currency == "USD" {
				break
			}
			t.DebitAccountID, t.CreditAccountID = g.account(), g.account()
			for t.CreditAccountID == t.DebitAccountID {
				t.CreditAccountID = g.account()
			}
		}
		if k < 2 {
			t.Flags = ledger.FlagPending
			if g.r.IntN(2) == 0 {
				t.Timeout = time.Duration(1+g.r.IntN(60)) * time.Second
			}
		}
	case k < 8:
		t.Flags = ledger.FlagPostPending
		t.PendingID = g.pendingID()
		if g.r.IntN(2) == 0 {
			t.Amount = money.Amount(g.r.IntN(60))
		}
		if g.r.IntN(20) == 0 {
			t.CreditAccountID = "c"
		}
	default:
		t.Flags = ledger.FlagVoidPending
		t.PendingID = g.pendingID()
		if g.r.IntN(20) == 0 {
			t.Amount = 1
		}
	}
	if g.r.IntN(5) == 0 {
		t.Flags |= ledger.FlagLinked
	}
	return t
}

func Model(t *testing.T, open Opener) {
	steps := 3000
	if testing.Short() {
		steps = 500
	}
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, open, seed, steps) })
	}
}

func runModel(t *testing.T, open Opener, seed uint64, steps int) {
	ctx := context.Background()
	// Few expiries per batch, so that some timed-out transfers are still
	// pending when a post or void arrives.
	e := NewEnv(t, open, func(c *ledger.Config) { c.ExpiryBatchMax = 1 })
	// A second process over the same store: calls alternate at random, so
	// each must notice the other's commits and reload.
	other := e.Open(t, e.Store)
	m := &model{accounts: map[string]*mAccount{}, transfers: map[string]ledger.Transfer{}, pendings: map[string]*mPending{}}
	for _, a := range modelAccounts {
		if r := e.Accounts(t, "m", ledger.Account{ID: a.id, Currency: a.currency, Flags: a.flags}); r[0].Code != ledger.OK {
			t.Fatal(r[0].Code)
		}
		m.accounts[a.id] = &mAccount{currency: a.currency, flags: a.flags}
		m.stamp(e.Clock.Now().UnixNano())
	}
	g := &gen{r: rand.New(rand.NewPCG(seed, 42)), m: m}
	hist := map[ledger.ResultCode]int{}
	for i := 0; i < steps; {
		switch g.r.IntN(8) {
		case 0:
			e.Clock.Advance(time.Duration(g.r.IntN(20)) * time.Second)
		case 1:
			if err := e.L.ExpirePending(ctx); err != nil {
				t.Fatal(err)
			}
			m.expire(e.Clock.Now().UnixNano())
		}
		n := 1 + g.r.IntN(6)
		in := make([]ledger.Transfer, n)
		for j := range in {
			in[j] = g.transfer()
		}
		g.history = append(g.history, in...)
		l := e.L
		if g.r.IntN(4) == 0 {
			l = other
		}
		got, err := l.CreateTransfers(ctx, "m", in)
		if err != nil {
			t.Fatal(err)
		}
		want := m.call(e.Clock.Now().UnixNano(), in)
		for _, w := range want {
			hist[w.Code]++
		}
		for j := range in {
			if got[j] != want[j] {
				t.Fatalf("seed %d step %d: transfer %d %+v:\ngot  %+v\nwant %+v\ncall codes %v / %v", seed, i, j, in[j], got[j], want[j], Codes(got), Codes(want))
			}
		}
		i += n
		checkModelBalances(t, e, m)
	}
	for id, p := range m.pendings {
		s, err := e.Store.Pending(ctx, "m", id)
		if err != nil || s.State != p.state || int64(s.AmountPosted) != p.posted {
			t.Fatalf("pending %s: got %+v, %v; want state %v posted %d", id, s, err, p.state, p.posted)
		}
	}
	sum := e.Verify(t)
	if sum.Leaves != m.leaves {
		t.Fatalf("verify saw %d leaves, model has %d", sum.Leaves, m.leaves)
	}
	t.Logf("seed %d: %d leaves, %d transfers; results %v", seed, sum.Leaves, sum.Transfers, hist)
}

func checkModelBalances(t *testing.T, e *Env, m *model) {
	t.Helper()
	var all []ledger.Account
	for _, a := range modelAccounts {
		got, err := e.L.Account(context.Background(), "m", a.id)
		if err != nil {
			t.Fatal(err)
		}
		w := m.accounts[a.id]
		if int64(got.DebitsPending) != w.dp || int64(got.DebitsPosted) != w.dpo || int64(got.CreditsPending) != w.cp || int64(got.CreditsPosted) != w.cpo {
			t.Fatalf("account %s: got %d/%d/%d/%d, want %d/%d/%d/%d", a.id,
				got.DebitsPending, got.DebitsPosted, got.CreditsPending, got.CreditsPosted, w.dp, w.dpo, w.cp, w.cpo)
		}
		all = append(all, got)
	}
	if err := ledger.CheckInvariants(all); err != nil {
		t.Fatal(err)
	}
}
