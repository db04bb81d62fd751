package ledger_test

import (
	"context"
	"testing"

	"github.com/kassa/kassa/ledger"
)

func TestSmoke(t *testing.T) {
	e := newEnv(t)
	rs := e.Accounts(t, "m1",
		ledger.Account{ID: "a", Currency: "EUR"},
		ledger.Account{ID: "b", Currency: "EUR", Flags: ledger.DebitsMustNotExceedCredits},
	)
	t.Log(codes(rs))
	rs = e.Transfers(t, "m1",
		ledger.Transfer{ID: "t1", DebitAccountID: "a", CreditAccountID: "b", Amount: 100, Currency: "EUR"},
		ledger.Transfer{ID: "t2", DebitAccountID: "b", CreditAccountID: "a", Amount: 101, Currency: "EUR"},
		ledger.Transfer{ID: "t3", DebitAccountID: "b", CreditAccountID: "a", Amount: 60, Currency: "EUR", Flags: ledger.FlagPending},
		ledger.Transfer{ID: "t4", PendingID: "t3", Amount: 50, Flags: ledger.FlagPostPending},
		ledger.Transfer{ID: "t1", DebitAccountID: "a", CreditAccountID: "b", Amount: 100, Currency: "EUR"},
	)
	t.Log(codes(rs))
	rs = e.Transfers(t, "m1", ledger.Transfer{ID: "t1", DebitAccountID: "a", CreditAccountID: "b", Amount: 100, Currency: "EUR"})
	t.Log(codes(rs))
	a, err := e.L.Account(context.Background(), "m1", "b")
	t.Logf("%+v %v", a, err)
	t.Logf("%+v", e.Verify(t))
}
