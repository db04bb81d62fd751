package account

// The wallet on the account page: the payer's Kassa balance in each
// currency it holds (Config.Wallets, the payout engine's wallet) and its
// latest movements, from the ledger.

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/web"
)

// Wallets reads payers' wallets (payout.Service does).
type Wallets interface {
	Wallet(ctx context.Context, customerID string, cur money.Currency) (payout.WalletBalance, error)
	WalletHistory(ctx context.Context, customerID string, cur money.Currency, startingAfter string, limit int) ([]payout.WalletEntry, bool, error)
}

var _ Wallets = (*payout.Service)(nil)

// walletPagesMax bounds the ledger pages read for a wallet's latest
// movements (the history is read oldest first).
const walletPagesMax = 10

// walletView is one currency of the payer's wallet on the account page.
type walletView struct {
	Currency           string
	Available, Pending string // formatted; Pending "" when nothing is reserved
	Entries            []walletRow
	// Truncated: not every movement is shown (only the latest
	// historyMax, of at most walletPagesMax ledger pages read oldest
	// first).
	Truncated bool
}

type walletRow struct {
	Created time.Time
	What    string
	Amount  string // signed, with the currency: "+20.00 EUR", "-5.00 EUR"
	Pending bool
}

// wallets builds the wallet views of cus in the currencies of
// Config.WalletCurrencies and of the payer's payments ps; a currency
// with neither balance nor movements is left out.
func (h *Handler) wallets(ctx context.Context, cus string, ps []payment.Payment) ([]walletView, error) {
	if h.cfg.Wallets == nil {
		return nil, nil
	}
	curs := slices.Clone(h.cfg.WalletCurrencies)
	if curs == nil {
		curs = []money.Currency{"EUR"}
	}
	for _, p := range ps {
		if !slices.Contains(curs, p.Currency) {
			curs = append(curs, p.Currency)
		}
	}
	var out []walletView
	for _, cur := range curs {
		b, err := h.cfg.Wallets.Wallet(ctx, cus, cur)
		if err != nil {
			return nil, err
		}
		v := walletView{Currency: string(cur), Available: web.FormatAmount(b.Available, cur)}
		if b.Pending > 0 {
			v.Pending = web.FormatAmount(b.Pending, cur)
		}
		var all []payout.WalletEntry
		after := ""
		for page := 0; ; page++ {
			es, more, err := h.cfg.Wallets.WalletHistory(ctx, cus, cur, after, ledger.PageLimitMax)
			if err != nil {
				return nil, err
			}
			all = append(all, es...)
			if !more || len(es) == 0 {
				break
			}
			if page+1 == walletPagesMax {
				v.Truncated = true
				break
			}
			after = es[len(es)-1].Transfer
		}
		if len(all) == 0 && b.Available == 0 && b.Pending == 0 {
			continue
		}
		rows := walletRows(all)
		if len(rows) > historyMax {
			rows, v.Truncated = rows[len(rows)-historyMax:], true
		}
		for i := len(rows) - 1; i >= 0; i-- { // newest first
			r := rows[i]
			amt := web.FormatAmount(r.amount, cur)
			if r.amount > 0 {
				amt = "+" + amt
			}
			r.Amount = amt + " " + string(cur)
			v.Entries = append(v.Entries, r.walletRow)
		}
		out = append(out, v)
	}
	return out, nil
}

// row is a walletRow before its amount is formatted.
type row struct {
	walletRow
	amount money.Amount
}

// walletRows turns a wallet's ledger movements (oldest first) into the
// rows a payer reads: a payment's authorization, its capture and its
// release (pay:<id>:auth|capture|release:<n>) are one row with what the
// payment finally took (or reserves, while pending; nothing, when
// released).
func walletRows(es []payout.WalletEntry) []row {
	var rows []row
	byPayment := map[string]int{}
	byPayout := map[string]int{}
	for _, e := range es {
		created, _ := time.Parse("2006-01-02T15:04:05.000000Z", e.Created)
		// A withdrawal's reserve, and its post or void, are one row.
		if id, kind, ok := strings.Cut(e.Transfer, ":"); ok && strings.HasPrefix(id, "po_") {
			i, seen := byPayout[id]
			switch {
			case kind == "reserve":
				byPayout[id] = len(rows)
				rows = append(rows, row{walletRow: walletRow{Created: created, What: "Withdrawal " + id, Pending: e.Pending},
					amount: e.Amount})
				continue
			case kind == "post" && seen:
				rows[i].Pending = false
				continue
			case kind == "void" && seen:
				rows[i].amount, rows[i].Pending = 0, false
				rows[i].What = "Withdrawal " + id + " (canceled)"
				continue
			case kind == "return":
				rows = append(rows, row{walletRow: walletRow{Created: created, What: "Withdrawal " + id + " (returned)"},
					amount: e.Amount})
				continue
			}
		}
		if rest, ok := strings.CutPrefix(e.Transfer, "pay:"); ok {
			id, kind, _ := strings.Cut(rest, ":")
			kind, _, _ = strings.Cut(kind, ":")
			i, seen := byPayment[id]
			switch {
			case kind == "capture" && seen:
				rows[i].amount, rows[i].Pending = e.Amount, false
				continue
			case kind == "release" && seen:
				rows[i].amount, rows[i].Pending = 0, false
				rows[i].What = "Payment " + id + " (released)"
				continue
			case kind == "auth":
				byPayment[id] = len(rows)
			}
		}
		what := walletWhat(e.Transfer)
		if strings.HasPrefix(e.Transfer, "pay:") && e.Amount > 0 {
			what = strings.Replace(what, "Payment", "Top-up", 1) // a payment into the wallet
		}
		rows = append(rows, row{walletRow: walletRow{Created: created, What: what, Pending: e.Pending},
			amount: e.Amount})
	}
	return rows
}

// walletWhat names a wallet movement by its ledger transfer's id.
func walletWhat(transfer string) string {
	switch {
	case strings.HasPrefix(transfer, "pay:"):
		if id, _, ok := strings.Cut(strings.TrimPrefix(transfer, "pay:"), ":"); ok {
			return "Payment " + id
		}
		return "Payment"
	case strings.HasPrefix(transfer, "re_"):
		id, _, _ := strings.Cut(transfer, ":")
		return "Refund " + id
	case strings.HasPrefix(transfer, "po_"):
		id, _, _ := strings.Cut(transfer, ":")
		return "Payout " + id
	}
	return "Movement"
}
