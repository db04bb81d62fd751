package account

// Money in and out of the payer's wallet from the account page:
//
//   - POST /account/topup creates a top-up (payment.CreateTopUp) and
//     sends the payer to the hosted payment page, where they pay it with
//     vouchers or a card like any payment (risk, step-up and all); the
//     page brings them back to the account;
//   - POST /account/withdraw pays out of the wallet (payout.Withdraw) to
//     a bank account in the payer's verified name or back to the card of
//     a top-up. It needs a session that passed a second factor (passkey
//     or one-time code) within identity.SecondFactorFreshMax: any other
//     is sent to pass one first, and nothing moves.
//
// Both forms are plain HTML forms with labels (keyboard and screen
// reader friendly), CSRF-protected like every form here. No card number,
// PIN or code passes through these handlers.

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/web"
)

// Withdrawals pays payers' wallets out (payout.Service does).
type Withdrawals interface {
	Withdraw(ctx context.Context, req payout.WithdrawRequest) (payout.Payout, error)
	Withdrawals(ctx context.Context, customerID string, limit int) ([]payout.Payout, error)
}

var _ Withdrawals = (*payout.Service)(nil)

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string { return s[:min(len(s), n)] }

// ibanInputMax bounds an IBAN filled back into the form.
const ibanInputMax = 64

// withdrawalsShown is how many withdrawals the account page lists.
const withdrawalsShown = 10

// withdrawVerify is where a session without a fresh second factor goes
// before it may withdraw; it comes back to the form.
var withdrawVerify = withNext("/login/verify", "/account#withdraw")

// moneyData is the wallet's forms on the account page.
type moneyData struct {
	FormID      string   // the withdrawal form's idempotency key: a repeated submit withdraws once
	Currencies  []string // what a top-up may be in
	CanWithdraw bool     // KYC verified: withdrawals are possible
	Cards       []cardChoice
	Withdrawals []withdrawalRow
}

type cardChoice struct{ Payment, Label string }

type withdrawalRow struct {
	ID, Amount, To, Status string
	Created                time.Time
}

// moneyForms builds the top-up and withdrawal forms and the latest
// withdrawals of cus; ps are the payer's latest payments (card top-ups
// are the cards a withdrawal may go back to).
func (h *Handler) moneyForms(ctx context.Context, l web.Lang, cus identity.Customer, ps []payment.Payment) (*moneyData, error) {
	if h.cfg.Wallets == nil {
		return nil, nil
	}
	d := &moneyData{CanWithdraw: cus.Level == identity.LevelKYCVerified && h.cfg.Withdrawals != nil, FormID: rand.Text()}
	for _, c := range h.walletCurrencies() {
		d.Currencies = append(d.Currencies, string(c))
	}
	for _, p := range ps {
		if payment.IsTopUp(p) && p.MethodType == payment.MethodCard && p.Status == payment.StatusCaptured && p.Card.Last4 != "" {
			d.Cards = append(d.Cards, cardChoice{Payment: p.ID, Label: texts.T(l, "wd.card", p.Card.Brand, p.Card.Last4,
				web.FormatMoney(p.Amount, p.Currency, l))})
		}
	}
	if h.cfg.Withdrawals == nil {
		return d, nil
	}
	ws, err := h.cfg.Withdrawals.Withdrawals(ctx, cus.ID, withdrawalsShown)
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		to := texts.T(l, "wd.tobank", maskIBAN(w.Destination.IBAN))
		if w.Destination.Type == payout.DestCard {
			to = texts.T(l, "wd.tocard")
		}
		row := withdrawalRow{ID: w.ID, Amount: web.FormatMoney(w.Amount, w.Currency, l), To: to,
			Status: texts.T(l, "wd.status."+string(w.Status)), Created: w.Created}
		d.Withdrawals = append(d.Withdrawals, row)
	}
	return d, nil
}

// walletCurrencies are the currencies a payer may top up in.
func (h *Handler) walletCurrencies() []money.Currency {
	if h.cfg.WalletCurrencies == nil {
		return []money.Currency{"EUR"}
	}
	return h.cfg.WalletCurrencies
}

// maskIBAN shows an IBAN's country and last four characters only.
func maskIBAN(iban string) string {
	if len(iban) < 8 {
		return iban
	}
	return iban[:2] + " … " + iban[len(iban)-4:]
}

// parseAmount reads a payer's amount ("20", "20.5", "20,50") in minor
// units of cur: digits, at most one decimal separator and as many
// decimals as the currency has.
func parseAmount(s string, cur money.Currency) (money.Amount, bool) {
	exp, ok := cur.Exponent()
	if !ok || s == "" || len(s) > 16 {
		return 0, false
	}
	whole, frac, _ := strings.Cut(strings.ReplaceAll(s, ",", "."), ".")
	if whole == "" || len(frac) > exp {
		return 0, false
	}
	for _, part := range []string{whole, frac} {
		for _, r := range part {
			if r < '0' || r > '9' {
				return 0, false
			}
		}
	}
	frac += strings.Repeat("0", exp-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return money.Amount(n), true
}

// formCurrency is the form's currency if the wallet takes it.
func (h *Handler) formCurrency(v *visit) (money.Currency, bool) {
	c := v.input("currency")
	if c == "" {
		c = "EUR"
	}
	for _, w := range h.walletCurrencies() {
		if string(w) == c {
			return w, true
		}
	}
	return "", false
}

// topUp is POST /account/topup.
func (h *Handler) topUp(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok {
		return
	}
	cur, ok := h.formCurrency(v)
	amt, amtOK := parseAmount(v.input("amount"), cur)
	if !ok || !amtOK {
		h.moneyError(v, sess, "topup", kassa.Invalid("amount", "amount_invalid", "enter an amount"))
		return
	}
	p, err := h.pay.CreateTopUp(v.r.Context(), payment.TopUpRequest{PayerID: sess.CustomerID, Amount: amt,
		Currency: string(cur), ReturnURL: h.backURL(v.r), Locale: string(v.lang())})
	if err != nil {
		h.moneyError(v, sess, "topup", err)
		return
	}
	h.log.InfoContext(v.r.Context(), "account page: top-up created", "customer", sess.CustomerID, "payment", p.ID)
	h.redirect(v, "/pay/"+url.PathEscape(p.ID)+"?client_secret="+url.QueryEscape(p.ClientSecret))
}

// backURL is the account page's wallet section as an absolute URL, for
// the hosted payment page's way back ("" when it cannot be told).
func (h *Handler) backURL(r *http.Request) string {
	base := strings.TrimSuffix(h.cfg.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	u := base + "/account#wallet"
	if !payment.ReturnURLValid(u) {
		return ""
	}
	return u
}

// withdraw is POST /account/withdraw.
func (h *Handler) withdraw(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok || !h.freshFactor(v, sess, withdrawVerify) {
		return
	}
	if h.cfg.Withdrawals == nil {
		h.moneyError(v, sess, "withdraw", kassa.Invalid("destination.type", payout.CodeWithdrawDestination, "withdrawals are off"))
		return
	}
	cur, ok := h.formCurrency(v)
	amt, amtOK := parseAmount(v.input("amount"), cur)
	if !ok || !amtOK {
		h.moneyError(v, sess, "withdraw", kassa.Invalid("amount", "amount_invalid", "enter an amount"))
		return
	}
	req := payout.WithdrawRequest{CustomerID: sess.CustomerID, Amount: amt, Currency: string(cur),
		RequestKey: v.input("form_id"), Client: payout.Client{IP: web.ClientIP(v.r), DeviceID: sess.DeviceID,
			UserAgent: truncate(web.UserAgent(v.r), payout.ClientUserAgentMax)}}
	if to := v.input("to"); to == "bank" {
		req.Destination = payout.Destination{Type: payout.DestBankAccount, IBAN: v.input("iban")}
	} else if pay, isCard := strings.CutPrefix(to, "card:"); isCard {
		req.Destination = payout.Destination{Type: payout.DestCard, Payment: pay}
	}
	p, err := h.cfg.Withdrawals.Withdraw(v.r.Context(), req)
	if err != nil {
		h.moneyError(v, sess, "withdraw", err)
		return
	}
	h.log.InfoContext(v.r.Context(), "account page: withdrawal", "customer", sess.CustomerID, "payout", p.ID, "status", string(p.Status))
	h.redirect(v, "/account?done=withdrawal#withdraw")
}

// moneyError shows the account page again with a refusal of a top-up or
// withdrawal in section, the amount filled back in.
func (h *Handler) moneyError(v *visit, sess identity.Session, section string, err error) {
	e, ok := userFacing(err)
	if !ok {
		h.fail(v, err)
		return
	}
	pg, perr := h.accountPage(v, sess)
	if perr != nil {
		h.fail(v, perr)
		return
	}
	pg.Errors[section] = v.payerText(e)
	pg.Values[section+"_amount"] = v.input("amount")
	if section == "withdraw" && len(v.input("iban")) <= ibanInputMax {
		pg.Values["iban"] = v.input("iban")
	}
	pg.Focus = section + "-amount"
	h.render(v, statusOf(err), pg)
}
