package account_test

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/privacy"
)

// TestPersonalDataDownload: the account page offers the payer a copy of
// their data; the download needs the form's CSRF token and a second
// factor passed within minutes (it holds the opened identity document),
// and gives each payer only their own data. A stranger without a
// session is sent to log in.
func TestPersonalDataDownload(t *testing.T) {
	f := newFixture(t)
	const email, other = "greta@example.com", "hugo@example.com"
	res := f.signUp(t, email, "+4915112347777")
	f.signUp(t, other, "+4915112348888")

	stranger := f.visitor(t)
	stranger.get("/login")
	if resp := stranger.post("/account/privacy/export", url.Values{"csrf": {stranger.csrf()}}); resp.StatusCode != 303 ||
		!strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("without a session = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	v := f.visitor(t)
	v.setSession(res)
	v.wantPage("account page", v.get("/account"), 200, "Your data", "Download my data", "confirm it is you first")
	if resp := v.post("/account/privacy/export", url.Values{"csrf": {""}}); resp.StatusCode != 403 {
		t.Errorf("without the CSRF token = %d", resp.StatusCode)
	}
	v.get("/account")
	const verify = "/login/verify?next=%2Faccount%23privacy"
	if resp := v.post("/account/privacy/export", url.Values{"csrf": {v.csrf()}}); resp.StatusCode != 303 || resp.Header.Get("Location") != verify {
		t.Errorf("one-factor session = %d %q, want 303 to %s", resp.StatusCode, resp.Header.Get("Location"), verify)
	}

	stepUp(t, f, v, email, "/account#privacy")
	v.get("/account")
	resp := v.post("/account/privacy/export", url.Values{"csrf": {v.csrf()}})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" ||
		!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("download = %d %v", resp.StatusCode, resp.Header)
	}
	z, err := zip.NewReader(strings.NewReader(v.body), int64(len(v.body)))
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	names := map[string]bool{}
	for _, zf := range z.File {
		names[zf.Name] = true
		r, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(&all, r)
		r.Close()
	}
	for _, want := range []string{"README.txt", "customers.json", "identity_sessions.json", "identity_devices.json", "payments.json"} {
		if !names[want] {
			t.Errorf("the ZIP lacks %s: %v", want, names)
		}
	}
	got := all.String()
	if !strings.Contains(got, email) || strings.Contains(got, other) {
		t.Errorf("the download holds the wrong person's data")
	}
	for _, secret := range []string{"password_hash", "token_hash", "code_hash", "totp_secret", "argon2id", res.Token} {
		if strings.Contains(got, secret) {
			t.Errorf("the download holds %s", secret)
		}
	}
}

// TestCloseAccount: the payer closes their account from the account
// page. A one-factor session (a password stolen on a known device, a
// session left open) is sent to pass a second factor and nothing
// happens; without the confirmation box nothing happens; then the
// account is closed, the browser logged out, and the page tells the
// payer the date the sealed copy is destroyed.
func TestCloseAccount(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const email = "ida@example.com"
	res := f.signUp(t, email, "+4915112349999")
	v := f.visitor(t)
	v.setSession(res)
	v.get("/account")
	if resp := v.post("/account/privacy/erase", url.Values{"confirm": {"yes"}}); resp.StatusCode != 303 ||
		resp.Header.Get("Location") != "/login/verify?next=%2Faccount%23privacy" {
		t.Errorf("one-factor session = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	stepUp(t, f, v, email, "/account#privacy")
	v.get("/account")
	v.wantPage("unconfirmed", v.post("/account/privacy/erase", url.Values{}), 422, "Tick the box")
	if c, err := f.identity.Customer(ctx, res.Customer.ID); err != nil || c.Email != email {
		t.Fatalf("before the erasure: %+v %v", c, err)
	}
	year := strconv.Itoa(time.Now().Add(privacy.RetentionDefault).Year())
	v.wantPage("closed", v.post("/account/privacy/erase", url.Values{"confirm": {"yes"}}), 200, "Your account is closed", year)
	if v.cookie("kassa_session") != "" {
		t.Errorf("the session cookie survived")
	}
	if c, err := f.identity.Customer(ctx, res.Customer.ID); err != nil || c.Email == email {
		t.Errorf("after the erasure: %+v %v", c, err)
	}
	// The payer is sent the date too, in their language, at the address
	// the account had (the development outbox shows it).
	ms, err := f.outbox.Messages(ctx, email, 1)
	if err != nil || len(ms) != 1 || !strings.Contains(ms[0].Subject, "closed") ||
		!strings.Contains(ms[0].Body, time.Now().Add(privacy.RetentionDefault).UTC().Format("2 January 2006")) {
		t.Errorf("erasure notice: %+v %v", ms, err)
	}
	v.setSession(res) // the old cookie, replayed
	if resp := v.get("/account"); resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("the closed account's old session = %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
