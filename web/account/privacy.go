package account

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
)

// PersonalData writes everything Kassa holds on a payer's account as a
// ZIP of JSON files (privacy.Service.WriteAccountZIP).
type PersonalData interface {
	WriteAccountZIP(ctx context.Context, customerID string, w io.Writer) error
}

// personalDataVerify is where a session goes to pass a fresh second
// factor before downloading the payer's data; it comes back to the form.
var personalDataVerify = withNext("/login/verify", "/account#privacy")

// exportPersonalData is POST /account/privacy/export: the logged-in
// payer's data as a download (GDPR Art. 15 and 20). It holds the opened
// identity document, so, like a change of factors, it needs a session
// that passed a second factor within minutes; the form (CSRF-checked, a
// POST) makes sure no other site can start it.
func (h *Handler) exportPersonalData(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok || !h.freshFactor(v, sess, personalDataVerify) {
		return
	}
	var buf bytes.Buffer
	if err := h.cfg.PersonalData.WriteAccountZIP(v.r.Context(), sess.CustomerID, &buf); err != nil {
		h.accountError(v, sess, "privacy", err)
		return
	}
	h.log.InfoContext(v.r.Context(), "account page: personal data downloaded", "customer", sess.CustomerID)
	hd := v.w.Header()
	hd.Set("Content-Type", "application/zip")
	hd.Set("Content-Disposition", `attachment; filename="kassa-data-`+sess.CustomerID+`.zip"`)
	hd.Set("Content-Length", strconv.Itoa(buf.Len()))
	hd.Set("Cache-Control", "no-store")
	v.w.WriteHeader(http.StatusOK)
	_, _ = v.w.Write(buf.Bytes())
}
