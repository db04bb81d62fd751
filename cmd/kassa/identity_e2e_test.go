package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// The payer pages run in the real binary: a sign-up's email code lands in
// the development outbox, where kassa outbox shows it, and not in the log.
func TestE2ESignUpCodeInOutbox(t *testing.T) { forEachBackend(t, testE2ESignUpCodeInOutbox) }

func testE2ESignUpCodeInOutbox(t *testing.T, be backend) {
	s := startServe(t, be, "--dev-outbox")
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: s.client.Transport, Jar: jar, Timeout: s.client.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(s.base + "/signup")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("GET /signup = %d, csrf token found: %v", resp.StatusCode, m != nil)
	}
	for _, h := range []string{"Content-Security-Policy", "Set-Cookie"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("GET /signup has no %s", h)
		}
	}
	if sc := strings.Join(resp.Header.Values("Set-Cookie"), "; "); !strings.Contains(sc, "Secure") || !strings.Contains(sc, "HttpOnly") {
		t.Errorf("cookies over TLS are not Secure and HttpOnly: %s", sc)
	}
	form := url.Values{"csrf": {string(m[1])}, "email": {"payer@example.com"}, "phone": {"+436641234567"}}
	req, _ := http.NewRequest("POST", s.base+"/signup", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.base)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != 200 {
		t.Fatalf("POST /signup = %d", resp.StatusCode)
	}
	out, err := runKassa(t, be, "outbox", "--to", "payer@example.com", "--json")
	if err != nil {
		t.Fatal(err)
	}
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(out)
	if code == "" {
		t.Fatalf("kassa outbox shows no code:\n%s", out)
	}
	if strings.Contains(s.stderr.String(), code) || strings.Contains(s.stdout.String(), code) {
		t.Error("the one-time code is in the server's log")
	}
}
