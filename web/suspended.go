package web

import (
	"net/http"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/payment"
)

// suspended answers the payer of a suspended merchant's payment form
// with a page of their own words (nothing was charged) and reports true;
// the form is neither shown nor taken.
func (h *Handler) suspended(w http.ResponseWriter, r *http.Request, p payment.Payment) bool {
	m, err := h.cfg.Merchants.Get(r.Context(), p.MerchantID)
	if err != nil && kassa.ErrorKind(err) != kassa.ENotFound {
		h.fail(w, r, err)
		return true
	}
	if err != nil || m.SuspendedAt == nil {
		return false
	}
	h.render(w, r, http.StatusForbidden, messagePage(h.lang(r, p), "suspended.title", "suspended.text"))
	return true
}
