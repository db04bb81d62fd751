package account

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/kassa/kassa/web"
)

// PersonalData is what the account page does with a payer's data
// (privacy.Service): WriteAccountZIP writes everything Kassa holds on the
// account as a ZIP of JSON files; EraseAccount closes the account, erases
// its live data at once and returns when the sealed copy kept for the
// anti-money-laundering retention is destroyed (errors: kassa EConflict
// erasure_blocked while money is moving).
type PersonalData interface {
	WriteAccountZIP(ctx context.Context, customerID string, w io.Writer) error
	EraseAccount(ctx context.Context, customerID string) (shredAt time.Time, err error)
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

// eraseAccount is POST /account/privacy/erase: the payer closes their
// account and has their data erased (GDPR Art. 17). It needs the form's
// CSRF token, a fresh second factor and the confirmation box ticked. The
// page then tells the payer until when the law makes Kassa keep a sealed
// copy; the browser's session and device cookies are cleared (the
// erasure deleted both).
func (h *Handler) eraseAccount(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok || !h.freshFactor(v, sess, personalDataVerify) {
		return
	}
	if v.input("confirm") != "yes" {
		pg, err := h.accountPage(v, sess)
		if err != nil {
			h.fail(v, err)
			return
		}
		pg.Errors["privacy"] = v.t("mydata.confirmfirst")
		h.render(v, http.StatusUnprocessableEntity, pg)
		return
	}
	shredAt, err := h.cfg.PersonalData.EraseAccount(v.sendCtx(), sess.CustomerID) // the notice in the payer's language
	if err != nil {
		h.accountError(v, sess, "privacy", err)
		return
	}
	h.log.InfoContext(v.r.Context(), "account page: account closed and erased", "customer", sess.CustomerID)
	v.setSession("")
	v.setCookie(h.names.device, "", 0, http.SameSiteLaxMode)
	l := v.lang()
	h.render(v, http.StatusOK, messagePage(v.t("mydata.closed"), v.t("mydata.closedtext", web.FormatTime(shredAt, l)), "", ""))
}
