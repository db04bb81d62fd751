package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/kassa/kassa/payment"
)

// The voucher receipt. Right after the payer paid with vouchers, the
// form's answer is not the redirect to the shop but the paid page with
// what is left on each voucher (masked serial, balance in the payer's
// language) and the way back to the shop. A voucher's balance is its
// holder's: only the answer to the POST that carried the PINs shows it.
// The page's link (which the shop has as well) shows the paid state
// without balances, so it tells nobody how a voucher is spent later.
// The server never writes a PIN into the page; pay.js, which still holds
// the PINs it sent, adds each one's last four digits beside its voucher.

// vouchersLefter is what the receipt needs of the payment service
// (payment.Service has it); without it a paid form goes on to the shop.
type vouchersLefter interface {
	VouchersLeft(ctx context.Context, p payment.Payment) ([]payment.VoucherLeft, error)
}

var _ vouchersLefter = (*payment.Service)(nil)

// voucherLeft is one voucher on the receipt.
type voucherLeft struct {
	Seq    int    // the PIN's place among those sent, for pay.js
	Serial string // masked: "•••• 4821"
	Left   string // formatted for the page's language
	Empty  bool   // nothing is left
}

// serialTailLength is how many digits of a serial the receipt shows.
const serialTailLength = 4

// maskSerial shows the last digits of a voucher's serial only.
func maskSerial(serial string) string {
	if len(serial) <= serialTailLength {
		return strings.Repeat("•", len(serial))
	}
	return "••••\u00a0" + serial[len(serial)-serialTailLength:] // kept on one line
}

// showReceipt answers a voucher form that paid p with the receipt and
// reports whether it did; false leaves the answer to the caller (the
// redirect to the shop). A failure to read the balances is logged and
// gives false: the payment is paid either way.
func (h *Handler) showReceipt(w http.ResponseWriter, r *http.Request, p payment.Payment) bool {
	lefter, ok := h.cfg.Payments.(vouchersLefter)
	if !ok || p.MethodType != payment.MethodVoucher ||
		(p.Status != payment.StatusAuthorized && p.Status != payment.StatusCaptured) {
		return false
	}
	left, err := lefter.VouchersLeft(r.Context(), p)
	if err != nil || len(left) == 0 {
		if err != nil {
			h.log.WarnContext(r.Context(), "payment page: voucher balances after paying", "payment", p.ID, "err", err)
		}
		return false
	}
	pg, err := h.statusPage(r, p)
	if err != nil {
		h.log.WarnContext(r.Context(), "payment page: receipt", "payment", p.ID, "err", err)
		return false
	}
	for _, v := range left {
		pg.Left = append(pg.Left, voucherLeft{Seq: v.Seq, Serial: maskSerial(v.Serial),
			Left: FormatMoney(v.Left, v.Currency, pg.Lang), Empty: v.Left == 0})
	}
	h.log.InfoContext(r.Context(), "payment page: paid with vouchers", "payment", p.ID, "vouchers", len(left))
	h.render(w, r, http.StatusOK, pg)
	return true
}
