package account_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestCSRF: a form without its token, with a wrong one, with another
// browser's, with one rendered for another session, or sent from another
// origin is refused with 403 and changes nothing; with the right token
// it goes through.
func TestCSRF(t *testing.T) {
	f := newFixture(t)
	res := f.signUp(t, "carl@example.com", "+4915112343333")
	v := f.visitor(t)
	v.setCookie("kassa_device", res.DeviceToken)
	v.get("/signup")
	good := v.csrf()
	other := f.visitor(t)
	other.get("/signup")
	forged := base64.RawURLEncoding.EncodeToString(make([]byte, 32))

	signUp := func(csrf string, header ...string) *http.Response {
		return v.post("/signup", url.Values{"email": {"new@example.com"}, "phone": {"+4915112349999"}, "csrf": {csrf}}, header...)
	}
	tests := []struct {
		name   string
		csrf   string
		header []string
	}{
		{"no token", "", nil},
		{"forged token", forged, nil},
		{"another browser's token", other.csrf(), nil},
		{"cross-site (Sec-Fetch-Site)", good, []string{"Sec-Fetch-Site", "cross-site"}},
		{"another origin (Origin)", good, []string{"Origin", "https://evil.example"}},
	}
	for _, tt := range tests {
		if resp := signUp(tt.csrf, tt.header...); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: POST /signup = %d, want 403", tt.name, resp.StatusCode)
		}
	}
	if n := f.outboxCount(t, "new@example.com"); n != 0 || v.cookie("kassa_signup") != "" {
		t.Fatalf("refused sign-ups sent %d messages, sign-up cookie %q", n, v.cookie("kassa_signup"))
	}
	// Without the CSRF cookie, the page's token is nothing.
	noCookie := f.visitor(t)
	noCookie.body = `name="csrf" value="` + good + `"`
	if resp := noCookie.post("/login", url.Values{"email": {"carl@example.com"}, "password": {goodPassword}}); resp.StatusCode != 403 || noCookie.cookie("kassa_session") != "" {
		t.Errorf("login with a token but no CSRF cookie = %d, session %q", resp.StatusCode, noCookie.cookie("kassa_session"))
	}

	// The token is bound to the session: one rendered before the login
	// does not work after it.
	v.get("/login")
	before := v.csrf()
	if resp := v.post("/login", url.Values{"email": {"carl@example.com"}, "password": {goodPassword}}); resp.StatusCode != 303 {
		t.Fatalf("login = %d", resp.StatusCode)
	}
	if resp := v.post("/logout", url.Values{"csrf": {before}}); resp.StatusCode != 403 {
		t.Errorf("logout with the token of before the login = %d, want 403", resp.StatusCode)
	}
	v.wantPage("still logged in", v.get("/account"), 200, "Your Kassa account")
	// The endpoints the script calls refuse in JSON.
	resp := v.post("/account/passkeys/options", url.Values{"csrf": {""}})
	if resp.StatusCode != 403 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("passkey options without a token = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	stepUp(t, f, v, "carl@example.com", "/account") // adding a passkey needs a fresh second factor
	v.get("/account")
	if resp := v.post("/account/passkeys/options", url.Values{}); resp.StatusCode != 200 || !strings.Contains(v.body, `"ceremony_id"`) {
		t.Errorf("passkey options with the token = %d %s", resp.StatusCode, v.body)
	}
	v.get("/account")
	if resp := v.post("/logout", url.Values{}); resp.StatusCode != 303 || v.cookie("kassa_session") != "" {
		t.Errorf("logout with the token = %d, session cookie %q", resp.StatusCode, v.cookie("kassa_session"))
	}
}

// TestCookies checks the Set-Cookie attributes in both settings of
// SecureCookies, through a sign-up and a login from a new device: the
// session cookie (HttpOnly, SameSite=Lax, a browser-session cookie,
// rotated when the second factor passes), the device cookie (HttpOnly,
// Lax, 400 days), the CSRF cookie and the sign-up cookie (Strict). With
// SecureCookies each is Secure and __Host- prefixed (so Path=/ and no
// Domain).
func TestCookies(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run("secure="+map[bool]string{false: "false", true: "true"}[secure], func(t *testing.T) {
			f := newFixture(t, func(o *fixtureOptions) { o.secureCookies = secure })
			prefix := ""
			if secure {
				prefix = "__Host-"
			}
			res := f.signUp(t, "cora@example.com", "+4915112344444")
			v := f.visitor(t)
			v.get("/signup")
			v.follow(v.post("/signup", url.Values{"email": {"other@example.com"}, "phone": {"+4915112345555"}}))
			// A login from this new device: a pending session, then the
			// second factor.
			v.get("/login")
			v.follow(v.post("/login", url.Values{"email": {"cora@example.com"}, "password": {goodPassword}}))
			pending := v.cookie(prefix + "kassa_session")
			v.follow(v.post("/login/send-code", url.Values{"channel": {"email"}}))
			resp := v.post("/login/verify", url.Values{"factor": {"otp"}, "otp_code": {f.lastCode(t, "cora@example.com")}})
			v.wantPage("logged in", v.follow(resp), 200, "Your Kassa account")
			rotated := v.cookie(prefix + "kassa_session")
			if pending == "" || rotated == "" || rotated == pending {
				t.Errorf("session cookie %q before the second factor, %q after: want it rotated", pending, rotated)
			}
			ctx := context.Background()
			if _, err := f.identity.Authenticate(ctx, pending); err == nil {
				t.Error("the session token of before the rotation still authenticates")
			}
			if sess, err := f.identity.Authenticate(ctx, rotated); err != nil || sess.CustomerID != res.Customer.ID {
				t.Errorf("the rotated token: %v", err)
			}

			want := map[string]struct {
				sameSite http.SameSite
				maxAge   time.Duration // 0: a browser-session cookie
			}{
				prefix + "kassa_session": {http.SameSiteLaxMode, 0},
				prefix + "kassa_device":  {http.SameSiteLaxMode, 400 * 24 * time.Hour},
				prefix + "kassa_csrf":    {http.SameSiteLaxMode, 0},
				prefix + "kassa_signup":  {http.SameSiteStrictMode, -1}, // -1: until the sign-up expires
			}
			seen := map[string]bool{}
			for _, raw := range v.setCookies {
				c, err := http.ParseSetCookie(raw)
				if err != nil {
					t.Errorf("Set-Cookie %q: %v", raw, err)
					continue
				}
				w, ok := want[c.Name]
				if !ok {
					t.Errorf("unexpected cookie %q", c.Name)
					continue
				}
				seen[c.Name] = true
				if !c.HttpOnly || c.Secure != secure || c.SameSite != w.sameSite || c.Path != "/" || c.Domain != "" {
					t.Errorf("Set-Cookie %q: HttpOnly %v Secure %v SameSite %v Path %q Domain %q", raw, c.HttpOnly, c.Secure, c.SameSite, c.Path, c.Domain)
				}
				switch {
				case c.MaxAge < 0: // a deletion
				case w.maxAge == 0 && (c.MaxAge != 0 || !c.Expires.IsZero()):
					t.Errorf("%s is not a browser-session cookie: %q", c.Name, raw)
				case w.maxAge > 0 && time.Duration(c.MaxAge)*time.Second != w.maxAge:
					t.Errorf("%s: Max-Age %d, want %v", c.Name, c.MaxAge, w.maxAge)
				case w.maxAge < 0 && (c.MaxAge <= 0 || c.MaxAge > 24*3600):
					t.Errorf("%s: Max-Age %d, want up to the sign-up's 24 hours", c.Name, c.MaxAge)
				}
			}
			for name := range want {
				if !seen[name] {
					t.Errorf("no Set-Cookie of %s", name)
				}
			}
		})
	}
}
