package web

// The wallet method's part of the payment page: a logged-in payer (Config.
// Payers) with a balance in the payment's currency (Config.Wallets) is
// offered to pay from it (package payment, wallet.go). Nobody else sees
// the form; a post of it without a session is refused by the payment
// service as by the page.

import (
	"context"
	"net/http"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
)

// Wallets reads a payer's wallet balance (payment.Service does).
type Wallets interface {
	WalletAvailable(ctx context.Context, customerID string, cur money.Currency) (money.Amount, error)
}

var _ Wallets = (*payment.Service)(nil)

func init() {
	methodPages[payment.MethodKassaBalance] = methodPage{confirm: (*Handler).confirmWallet,
		declined: func(l Lang, pg *page, p payment.Payment) {
			pg.WalletFormError = walletMessage(l, p.FailureCode)
		}}
}

// walletMessages are the catalogue keys of the wallet's refusals.
var walletMessages = map[string]string{
	payment.CodeWalletShort:         "wallet.short",
	payment.CodeWalletLoginRequired: "wallet.login",
	payment.CodeWalletPayerMismatch: "wallet.payer",
}

func walletMessage(l Lang, code string) string {
	if key, ok := walletMessages[code]; ok {
		return l.T(key)
	}
	return l.T("wallet.other")
}

// walletForm adds the wallet form to pg when the request's payer is
// logged in and holds a balance in p's currency. A failure to tell is
// logged and leaves the form out: the payer pays another way.
func (h *Handler) walletForm(r *http.Request, p payment.Payment, pg *page) {
	if h.cfg.Wallets == nil || h.cfg.Payers == nil {
		return
	}
	who, err := h.cfg.Payers.Payer(r.Context(), r)
	if err != nil {
		h.log.WarnContext(r.Context(), "payment page: recognise payer", "err", err)
		return
	}
	if who.CustomerID == "" {
		return
	}
	avail, err := h.cfg.Wallets.WalletAvailable(r.Context(), who.CustomerID, p.Currency)
	if err != nil {
		h.log.WarnContext(r.Context(), "payment page: wallet balance", "payment", p.ID, "err", err)
		return
	}
	if avail > 0 {
		pg.WalletForm, pg.WalletBalance = true, FormatMoney(avail, p.Currency, pg.Lang)
	}
}

// confirmWallet is POST /pay/{id} with method=kassa_balance: the payment
// service pays from the wallet of the session's payer, and of nobody's
// without one.
func (h *Handler) confirmWallet(w http.ResponseWriter, r *http.Request, p payment.Payment, payer func() Payer) {
	who := payer()
	paid, err := h.cfg.Payments.Confirm(r.Context(), "", p.ID, payment.ConfirmRequest{
		ClientSecret: p.ClientSecret, Method: payment.MethodKassaBalance, ClientIP: clientIP(r),
		UserAgent: userAgent(r), Signals: h.clientSignals(r, p.ID), PayerID: who.CustomerID, DeviceID: who.DeviceID,
		CredentialsChangedAt: who.CredentialsChangedAt, CustomerCreatedAt: who.CustomerCreatedAt})
	if err == nil {
		h.confirmed(w, r, paid)
		return
	}
	e := kassa.AsError(err)
	if e == nil || e.Kind == kassa.EInternal {
		h.fail(w, r, err)
		return
	}
	if _, mine := walletMessages[e.Code]; !mine {
		// Not the wallet's: the payment moved on, expired, or a limit.
		h.confirmFailed(w, r, p, err, nil, -1)
		return
	}
	h.log.InfoContext(r.Context(), "payment page: wallet refused", "payment", p.ID, "code", e.Code)
	pg, perr := h.formPage(r, p, pinsVisibleMin, nil, "")
	if perr != nil {
		h.fail(w, r, perr)
		return
	}
	pg.WalletFormError = walletMessage(pg.Lang, e.Code)
	status := http.StatusUnprocessableEntity
	if e.Kind == kassa.EForbidden {
		status = http.StatusForbidden
	}
	h.render(w, r, status, pg)
}
