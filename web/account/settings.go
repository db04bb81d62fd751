package account

import (
	"bytes"
	"context"
	"encoding/base64"
	"html/template"
	"image/png"
	"net/http"
	"strings"
	"time"

	"github.com/pquerna/otp"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/passkey"
	"github.com/kassa/kassa/web"
)

// The account page and what it changes: passkeys, the authenticator app,
// devices and sessions. Every change is a POST that answers with a
// redirect back to the page (or to log in again when it ended this
// browser's own session).

// historyMax is how many payments the account page lists.
const historyMax = 20

// accountData is what the account page shows.
type accountData struct {
	Customer     identity.Customer
	Session      identity.Session
	Devices      []deviceRow
	Sessions     []sessionRow
	Passkeys     []passkey.Credential
	RecoveryLeft int
	Payments     []paymentRow
	Wallets      []walletView
	Money        *moneyData // top-up and withdrawal forms (money.go); nil without a wallet
	Limits       *limitsView
	PayLater     *payLaterView
	// FactorFresh: the session passed a second factor within the last
	// minutes, so it may change the factors themselves.
	FactorFresh bool
	// PersonalData: the payer can download their data (personaldata.go).
	PersonalData bool
}

type deviceRow struct {
	identity.Device
	Current bool
}

type sessionRow struct {
	identity.Session
	Current bool
}

type paymentRow struct {
	ID, Merchant, Amount, Currency, Status, Description string
	Created                                             time.Time
}

// notices confirm what a redirect back to the account page did: the
// done parameters it knows (their texts are "done."+name).
var notices = map[string]bool{
	"passkey_added": true, "passkey_renamed": true, "passkey_deleted": true, "device_revoked": true, "device_renamed": true,
	"session_revoked": true, "sessions_revoked": true, "totp_disabled": true, "kyc": true, "withdrawal": true,
}

// accountPage builds the account page of a session.
func (h *Handler) accountPage(v *visit, sess identity.Session) (page, error) {
	ctx, l := v.r.Context(), v.lang()
	cus, err := h.id.Customer(ctx, sess.CustomerID)
	if err != nil {
		return page{}, err
	}
	d := accountData{Customer: cus, Session: sess, FactorFresh: sess.FreshSecondFactor(h.now().UTC()),
		PersonalData: h.cfg.PersonalData != nil}
	devices, err := h.id.Devices(ctx, cus.ID)
	if err != nil {
		return page{}, err
	}
	for _, dev := range devices {
		d.Devices = append(d.Devices, deviceRow{dev, dev.ID == sess.DeviceID})
	}
	sessions, err := h.id.Sessions(ctx, cus.ID)
	if err != nil {
		return page{}, err
	}
	for _, s := range sessions {
		d.Sessions = append(d.Sessions, sessionRow{s, s.ID == sess.ID})
	}
	if d.Passkeys, err = h.pk.Credentials(ctx, cus.ID); err != nil {
		return page{}, err
	}
	if cus.TOTP {
		if d.RecoveryLeft, err = h.id.RecoveryCodesLeft(ctx, cus.ID); err != nil {
			return page{}, err
		}
	}
	ps, err := h.pay.ListByPayer(ctx, cus.ID, historyMax)
	if err != nil {
		return page{}, err
	}
	names := map[string]string{}
	for _, p := range ps {
		d.Payments = append(d.Payments, paymentRow{ID: p.ID, Merchant: h.merchantName(ctx, names, p.MerchantID),
			Amount: web.FormatMoney(p.Amount, p.Currency, l), Currency: string(p.Currency), Status: texts.T(l, statusWord(p)),
			Description: p.Description, Created: p.Created})
	}
	if d.Wallets, err = h.wallets(ctx, l, cus.ID, ps, names); err != nil {
		return page{}, err
	}
	if d.Money, err = h.moneyForms(ctx, l, cus, ps); err != nil {
		return page{}, err
	}
	if d.Limits, err = h.limitsView(ctx, l, cus.ID); err != nil {
		return page{}, err
	}
	if d.PayLater, err = h.payLater(ctx, l, cus.ID); err != nil {
		return page{}, err
	}
	return page{Template: "account", Title: texts.T(l, "acct.title"), Passkeys: true, Data: d, Text: texts.T(l, levelText[cus.Level]),
		Errors: map[string]string{}, Values: map[string]string{}}, nil
}

// merchantName names a merchant (Config.Merchants), remembering names in
// seen; its id when it cannot.
func (h *Handler) merchantName(ctx context.Context, seen map[string]string, merchantID string) string {
	if n, ok := seen[merchantID]; ok {
		return n
	}
	n := merchantID
	if h.cfg.Merchants != nil {
		if m, err := h.cfg.Merchants.Get(ctx, merchantID); err == nil {
			n = m.Name
		} else {
			h.log.WarnContext(ctx, "account page: merchant name", "merchant", merchantID, "err", err)
		}
	}
	seen[merchantID] = n
	return n
}

// showAccount is GET /account.
func (h *Handler) showAccount(v *visit) {
	sess, ok := h.requireLogin(v)
	if !ok {
		return
	}
	pg, err := h.accountPage(v, sess)
	if err != nil {
		h.fail(v, err)
		return
	}
	if done := v.r.URL.Query().Get("done"); notices[done] {
		pg.Notice = v.t("done." + done)
	}
	pg.Next = safeNext(v.r.URL.Query().Get("next"))
	h.render(v, http.StatusOK, pg)
}

// accountError shows the account page again with a refusal in section
// (passkeys, totp, devices, sessions).
func (h *Handler) accountError(v *visit, sess identity.Session, section string, err error) {
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
	pg.Next = safeNext(v.input("next"))
	pg.Errors[section] = passkeyMessage(v, e)
	h.render(v, statusOf(err), pg)
}

// passkeysVerify is where a session goes to pass a fresh second factor
// before changing its passkeys; it comes back to them.
var passkeysVerify = withNext("/login/verify", "/account#passkeys")

// freshFactor lets a change of the payer's factors (adding or removing a
// passkey, turning the authenticator app off) go on only in a session
// that passed a second factor within identity.SecondFactorFreshMax; any
// other is sent to pass one (then back to back) and nothing changes.
// The same as for a password change elsewhere: whoever holds a session
// left open, or a password on a known device, must not be able to swap
// the factors that guard the account and its payments.
func (h *Handler) freshFactor(v *visit, sess identity.Session, back string) bool {
	if sess.FreshSecondFactor(h.now().UTC()) {
		return true
	}
	h.log.InfoContext(v.r.Context(), "account page: factor change needs a fresh second factor", "customer", sess.CustomerID,
		"path", v.r.URL.Path)
	h.redirect(v, back)
	return false
}

// passkeyMessage says in a payer's words why a passkey was refused.
func passkeyMessage(v *visit, e *kassa.Error) string { return v.payerText(e) }

// passkeyUser is the customer as their authenticator shows them.
func passkeyUser(c identity.Customer) passkey.User {
	name := strings.TrimSpace(c.GivenName + " " + c.FamilyName)
	return passkey.User{CustomerID: c.ID, Email: c.Email, DisplayName: name}
}

// passkeyOptions is POST /account/passkeys/options (JSON): a registration
// ceremony for the logged-in payer, with user verification required.
func (h *Handler) passkeyOptions(v *visit) {
	if !h.jsonForm(v) {
		return
	}
	sess, ok := h.loggedIn(v)
	if !ok {
		h.writeJSON(v, http.StatusUnauthorized, jsonMessage{v.t("json.expired")})
		return
	}
	if !sess.FreshSecondFactor(h.now().UTC()) {
		h.writeJSON(v, http.StatusForbidden, jsonMessage{v.t("json.verify")})
		return
	}
	cus, err := h.id.Customer(v.r.Context(), sess.CustomerID)
	if err != nil {
		h.jsonError(v, err)
		return
	}
	opts, ceremony, err := h.pk.BeginRegistration(v.r.Context(), passkeyUser(cus))
	if err != nil {
		h.jsonError(v, err)
		return
	}
	h.writeJSON(v, http.StatusOK, passkeyOptions{CeremonyID: ceremony, Options: opts})
}

// addPasskey is POST /account/passkeys: the browser's answer to the
// registration ceremony (package passkey checks it, user verification
// included).
func (h *Handler) addPasskey(v *visit) {
	if !h.form(v, passkeyFormBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok || !h.freshFactor(v, sess, passkeysVerify) {
		return
	}
	ctx := v.r.Context()
	cus, err := h.id.Customer(ctx, sess.CustomerID)
	if err != nil {
		h.fail(v, err)
		return
	}
	cred, err := h.pk.FinishRegistration(ctx, v.input("ceremony_id"), passkeyUser(cus), []byte(v.r.PostForm.Get("response")))
	if err != nil {
		h.log.InfoContext(ctx, "account page: passkey refused", "customer", cus.ID, "code", codeOf(err))
		h.accountError(v, sess, "passkeys", err)
		return
	}
	if name := v.input("name"); name != "" {
		if _, err := h.pk.Rename(ctx, cus.ID, cred.ID, name); err != nil {
			h.accountError(v, sess, "passkeys", err)
			return
		}
	}
	if next := safeNext(v.input("next")); next != "" {
		h.redirect(v, next)
		return
	}
	h.redirect(v, "/account?done=passkey_added#passkeys")
}

// renamePasskey is POST /account/passkeys/{id}/rename.
func (h *Handler) renamePasskey(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok {
		return
	}
	if _, err := h.pk.Rename(v.r.Context(), sess.CustomerID, v.r.PathValue("id"), v.input("name")); err != nil {
		h.accountError(v, sess, "passkeys", err)
		return
	}
	h.redirect(v, "/account?done=passkey_renamed#passkeys")
}

// deletePasskey is POST /account/passkeys/{id}/delete.
func (h *Handler) deletePasskey(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok || !h.freshFactor(v, sess, passkeysVerify) {
		return
	}
	if err := h.pk.Delete(v.r.Context(), sess.CustomerID, v.r.PathValue("id")); err != nil {
		h.accountError(v, sess, "passkeys", err)
		return
	}
	h.redirect(v, "/account?done=passkey_deleted#passkeys")
}

// totpData is the enrolment page: the QR code, the otpauth:// URI and
// the secret for typing.
type totpData struct {
	QR     template.URL // data:image/png;base64,...
	URI    template.URL
	URIRaw string
	Secret string // grouped by four
	Codes  []string
	File   template.URL // the recovery codes as a text file (recoverycodes.go)
}

// enrolTOTP is POST /account/totp: a new authenticator's secret, shown
// until the payer confirms a first code.
func (h *Handler) enrolTOTP(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok {
		return
	}
	en, err := h.id.EnrolTOTP(v.r.Context(), sess.CustomerID)
	if err != nil {
		h.accountError(v, sess, "totp", err)
		return
	}
	pg := totpPage(v, en.URI, en.QRPNG, en.Secret)
	pg.Focus = "totp_code"
	h.render(v, http.StatusOK, pg)
}

func totpPage(v *visit, uri string, qr []byte, secret string) page {
	var grouped []string
	for s := secret; s != ""; {
		n := min(4, len(s))
		grouped, s = append(grouped, s[:n]), s[n:]
	}
	d := totpData{QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(qr)),
		URI: template.URL(uri), URIRaw: uri, Secret: strings.Join(grouped, " ")}
	return page{Template: "totp", Title: v.t("acct.appsetup"), Data: d,
		Errors: map[string]string{}, Values: map[string]string{}}
}

// confirmTOTP is POST /account/totp/confirm: the app's first code turns
// it on, and the recovery codes are shown, once.
func (h *Handler) confirmTOTP(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok {
		return
	}
	codes, err := h.id.ConfirmTOTP(v.r.Context(), sess.CustomerID, v.secretInput("totp_code"))
	if err == nil {
		h.render(v, http.StatusOK, page{Template: "recovery", Title: v.t("recovery.head"), Data: totpData{Codes: codes,
			File: recoveryFile(v.lang(), codes)}})
		return
	}
	e, ok := userFacing(err)
	if !ok || e.Code != identity.CodeCodeInvalid {
		h.accountError(v, sess, "totp", err)
		return
	}
	// The page again, from the URI it showed: enrolling again would
	// change the secret the app already holds.
	key, kerr := otp.NewKeyFromURL(v.input("uri"))
	if kerr != nil || key.Type() != "totp" {
		h.accountError(v, sess, "totp", err)
		return
	}
	img, kerr := key.Image(256, 256)
	var b bytes.Buffer
	if kerr == nil {
		kerr = png.Encode(&b, img)
	}
	if kerr != nil {
		h.fail(v, kerr)
		return
	}
	pg := totpPage(v, key.URL(), b.Bytes(), key.Secret())
	pg.Errors["totp_code"] = v.t("totp.wrongcode")
	h.render(v, http.StatusUnprocessableEntity, pg)
}

// disableTOTP is POST /account/totp/disable. Only a session that passed
// a second factor within the last minutes may turn the app off; any other
// is sent to pass one first.
func (h *Handler) disableTOTP(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok {
		return
	}
	if !h.freshFactor(v, sess, withNext("/login/verify", "/account#totp")) {
		return
	}
	if err := h.id.DisableTOTP(v.r.Context(), sess.CustomerID); err != nil {
		h.accountError(v, sess, "totp", err)
		return
	}
	h.redirect(v, "/account?done=totp_disabled#totp")
}

// renameDevice is POST /account/devices/{id}/rename: the payer names a
// device, to tell apart devices with the same browser and system.
func (h *Handler) renameDevice(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok {
		return
	}
	if _, err := h.id.RenameDevice(v.r.Context(), sess.CustomerID, v.r.PathValue("id"), v.input("name")); err != nil {
		h.accountError(v, sess, "devices", err)
		return
	}
	h.redirect(v, "/account?done=device_renamed#devices")
}

// revokeDevice is POST /account/devices/{id}/revoke. Removing this
// browser's own device ends its session too.
func (h *Handler) revokeDevice(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok {
		return
	}
	devID := v.r.PathValue("id")
	if err := h.id.RevokeDevice(v.r.Context(), sess.CustomerID, devID); err != nil {
		h.accountError(v, sess, "devices", err)
		return
	}
	if devID == sess.DeviceID {
		v.setSession("")
		h.redirect(v, "/login?out=1")
		return
	}
	h.redirect(v, "/account?done=device_revoked#devices")
}

// revokeSession is POST /account/sessions/{id}/revoke.
func (h *Handler) revokeSession(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok {
		return
	}
	sid := v.r.PathValue("id")
	if err := h.id.RevokeSession(v.r.Context(), sess.CustomerID, sid); err != nil {
		h.accountError(v, sess, "sessions", err)
		return
	}
	if sid == sess.ID {
		v.setSession("")
		h.redirect(v, "/login?out=1")
		return
	}
	h.redirect(v, "/account?done=session_revoked#sessions")
}

// revokeOtherSessions is POST /account/sessions/revoke-others.
func (h *Handler) revokeOtherSessions(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok {
		return
	}
	if _, err := h.id.RevokeOtherSessions(v.r.Context(), v.session); err != nil {
		h.accountError(v, sess, "sessions", err)
		return
	}
	h.redirect(v, "/account?done=sessions_revoked#sessions")
}

// codeOf is the code of a service's refusal, for the log.
func codeOf(err error) string {
	if e := kassa.AsError(err); e != nil {
		return e.Code
	}
	return "internal"
}
