package account

import (
	"testing"

	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/web"
)

// TestWalletRowsWithdrawals: a withdrawal's reserve and its post are one
// row; a canceled one shows nothing taken; a returned one gets a row of
// the money coming back; a top-up is named as one.
func TestWalletRowsWithdrawals(t *testing.T) {
	at := "2026-03-10T12:00:00.000000Z"
	rows := walletRows(web.LangEN, []payout.WalletEntry{
		{Transfer: "pay:pay_a:auth:0", Amount: 2000, Created: at},
		{Transfer: "po_1:reserve", Amount: -500, Pending: true, Created: at},
		{Transfer: "po_2:reserve", Amount: -300, Pending: true, Created: at},
		{Transfer: "po_1:post", Amount: -500, Created: at},
		{Transfer: "po_2:void", Amount: -300, Created: at},
		{Transfer: "po_3:reserve", Amount: -200, Pending: true, Created: at},
		{Transfer: "po_3:post", Amount: -200, Created: at},
		{Transfer: "po_3:return", Amount: 200, Created: at},
	}, nil)
	want := []struct {
		what    string
		amount  int64
		pending bool
	}{
		{"Top-up", 2000, false},
		{"Withdrawal", -500, false},
		{"Withdrawal, canceled", 0, false},
		{"Withdrawal", -200, false},
		{"Withdrawal, returned by the bank", 200, false},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	for i, w := range want {
		if r := rows[i]; r.What != w.what || int64(r.amount) != w.amount || r.Pending != w.pending {
			t.Errorf("row %d: %q %d pending %v; want %q %d %v", i, r.What, r.amount, r.Pending, w.what, w.amount, w.pending)
		}
	}
}
