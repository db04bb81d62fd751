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
	Available, Pending string // formatted in the page's language; Pending "" when nothing is reserved
	Entries            []walletRow
	// Truncated: not every movement is shown (only the latest
	// historyMax, of at most walletPagesMax ledger pages read oldest
	// first).
	Truncated bool
}

type walletRow struct {
	Created time.Time
	What    string // in the page's language (wallet.row.* in texts.go)
	Amount  string // signed, in the page's language: "+€20.00", "-5,00 €"
	Pending bool
}

// wallets builds the wallet views of cus in the currencies of
// Config.WalletCurrencies and of the payer's payments ps, in l; a
// currency with neither balance nor movements is left out. names has
// the merchants of ps by merchant id (a row names whom a payment went to).
func (h *Handler) wallets(ctx context.Context, l web.Lang, cus string, ps []payment.Payment, names map[string]string) ([]walletView, error) {
	if h.cfg.Wallets == nil {
		return nil, nil
	}
	curs := slices.Clone(h.cfg.WalletCurrencies)
	if curs == nil {
		curs = []money.Currency{"EUR"}
	}
	payee := map[string]string{} // payment id → merchant name
	for _, p := range ps {
		if !slices.Contains(curs, p.Currency) {
			curs = append(curs, p.Currency)
		}
		payee[p.ID] = names[p.MerchantID]
	}
	var out []walletView
	for _, cur := range curs {
		b, err := h.cfg.Wallets.Wallet(ctx, cus, cur)
		if err != nil {
			return nil, err
		}
		v := walletView{Currency: string(cur), Available: web.FormatMoney(b.Available, cur, l)}
		if b.Pending > 0 {
			v.Pending = web.FormatMoney(b.Pending, cur, l)
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
		rows := walletRows(l, all, payee)
		if len(rows) > historyMax {
			rows, v.Truncated = rows[len(rows)-historyMax:], true
		}
		for i := len(rows) - 1; i >= 0; i-- { // newest first
			r := rows[i]
			r.Amount = web.FormatMoney(r.amount, cur, l)
			if r.amount > 0 {
				r.Amount = "+" + r.Amount
			}
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
// rows a payer reads, in l: a payment's authorization, its capture and
// its release (pay:<id>:auth|capture|release:<n>) are one row with what
// the payment finally took (or reserves, while pending; nothing, when
// released). payee names the merchant of a payment by its id, when the
// page knows it. No row shows an id: a payer knows a payment by whom it
// went to.
func walletRows(l web.Lang, es []payout.WalletEntry, payee map[string]string) []row {
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
				rows = append(rows, row{walletRow: walletRow{Created: created, What: texts.T(l, "wallet.row.withdrawal"), Pending: e.Pending},
					amount: e.Amount})
				continue
			case kind == "post" && seen:
				rows[i].Pending = false
				continue
			case kind == "void" && seen:
				rows[i].amount, rows[i].Pending = 0, false
				rows[i].What = texts.T(l, "wallet.row.withdrawal_canceled")
				continue
			case kind == "return":
				rows = append(rows, row{walletRow: walletRow{Created: created, What: texts.T(l, "wallet.row.withdrawal_returned")},
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
				rows[i].What = walletPayment(l, payee[id], true)
				continue
			case kind == "auth":
				byPayment[id] = len(rows)
			}
		}
		rows = append(rows, row{walletRow: walletRow{Created: created, What: walletWhat(l, e, payee), Pending: e.Pending},
			amount: e.Amount})
	}
	return rows
}

// walletWhat names a wallet movement, in l, by its ledger transfer's id.
func walletWhat(l web.Lang, e payout.WalletEntry, payee map[string]string) string {
	switch t := e.Transfer; {
	case strings.HasPrefix(t, "pay:") && e.Amount > 0: // a payment into the wallet
		return texts.T(l, "wallet.row.topup")
	case strings.HasPrefix(t, "pay:"):
		id, _, _ := strings.Cut(strings.TrimPrefix(t, "pay:"), ":")
		return walletPayment(l, payee[id], false)
	case strings.HasPrefix(t, "re_"):
		return texts.T(l, "wallet.row.refund")
	case strings.HasPrefix(t, "po_") && e.Amount < 0:
		return texts.T(l, "wallet.row.withdrawal")
	case strings.HasPrefix(t, "po_"):
		return texts.T(l, "wallet.row.payout")
	case strings.HasPrefix(t, "cpl_"): // cpl_X:i<n>:a<attempt>, docs/pay-later.md
		if _, rest, ok := strings.Cut(t, ":i"); ok {
			n, _, _ := strings.Cut(rest, ":")
			return texts.T(l, "wallet.row.paylater_part", n)
		}
		return texts.T(l, "wallet.row.paylater")
	}
	return texts.T(l, "wallet.row.other")
}

// walletPayment names a payment from the wallet to merchant ("" when the
// page does not know it), released when its reservation was given back.
func walletPayment(l web.Lang, merchant string, released bool) string {
	switch {
	case merchant == "" && released:
		return texts.T(l, "wallet.row.released_any")
	case merchant == "":
		return texts.T(l, "wallet.row.payment_any")
	case released:
		return texts.T(l, "wallet.row.released", merchant)
	}
	return texts.T(l, "wallet.row.payment", merchant)
}
