package account_test

import (
	"archive/zip"
	"bytes"
	"io"
	"net/url"
	"strings"
	"testing"
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
