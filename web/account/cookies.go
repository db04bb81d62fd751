package account

import (
	"github.com/kassa/kassa/web"

	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"time"
)

var b64 = base64.RawURLEncoding

// cookieNames are the pages' cookies, __Host- prefixed when Secure (the
// browser then refuses them from anything but this host over HTTPS, with
// Path=/ and no Domain: a sibling subdomain cannot plant one).
type cookieNames struct {
	session, device, signUp, csrf string
	secure                        bool
}

func newCookieNames(secure bool) cookieNames {
	prefix := ""
	if secure {
		prefix = "__Host-"
	}
	return cookieNames{session: prefix + "kassa_session", device: prefix + "kassa_device",
		signUp: prefix + "kassa_signup", csrf: prefix + "kassa_csrf", secure: secure}
}

// Cookie limits.
const (
	// deviceCookieAge is how long the browser keeps the device cookie:
	// 400 days, the most Chromium keeps any cookie. identity decides
	// whether the device is still known (it may be revoked).
	deviceCookieAge = 400 * 24 * time.Hour
	// cookieValueMax bounds a cookie value read (tokens are far shorter).
	cookieValueMax = 256
	// csrfKeyBytes is the randomness of the CSRF secret.
	csrfKeyBytes = 32
	// csrfField is the forms' token field.
	csrfField = "csrf"
)

// cookieValue is the value of a cookie of the request, "" when absent or
// over-long.
func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil || len(c.Value) > cookieValueMax {
		return ""
	}
	return c.Value
}

// visit is one request to the pages and what its response does to the
// browser's cookies.
type visit struct {
	h *Handler
	w http.ResponseWriter
	r *http.Request
	// csrfKey is the browser's CSRF secret (from its cookie, or new in
	// this response); nil until needed when the browser has none.
	csrfKey []byte
	// session is the session token the browser holds after this
	// response: the cookie it sent, or what this response sets.
	session string
	// language is the payer's language once langSet (texts.go).
	language web.Lang
	langSet  bool
}

func (h *Handler) newVisit(w http.ResponseWriter, r *http.Request) *visit {
	v := &visit{h: h, w: w, r: r, session: cookieValue(r, h.names.session)}
	if k, err := b64.DecodeString(cookieValue(r, h.names.csrf)); err == nil && len(k) == csrfKeyBytes {
		v.csrfKey = k
	}
	return v
}

func (v *visit) setCookie(name, value string, maxAge time.Duration, sameSite http.SameSite) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: v.h.names.secure, SameSite: sameSite}
	switch {
	case value == "":
		c.MaxAge = -1 // delete
	case maxAge > 0:
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(v.w, c)
}

// setSession gives the browser a session token (a new login, or one that
// identity rotated); "" logs the browser out. A browser-session cookie:
// identity ends the session after its idle and absolute limits anyway.
func (v *visit) setSession(token string) {
	v.session = token
	v.setCookie(v.h.names.session, token, 0, http.SameSiteLaxMode)
}

// setDevice gives the browser identity's token of a new known device.
func (v *visit) setDevice(token string) {
	if token != "" {
		v.setCookie(v.h.names.device, token, deviceCookieAge, http.SameSiteLaxMode)
	}
}

// setSignUp keeps a sign-up's token until it expires ("" ends it).
func (v *visit) setSignUp(token string, expires time.Time) {
	v.setCookie(v.h.names.signUp, token, expires.Sub(v.h.now()), http.SameSiteStrictMode)
}

// csrfToken is the token the forms of this response carry: bound to the
// browser's CSRF secret and to the session it will hold. A browser
// without a secret gets one.
func (v *visit) csrfToken() string {
	if v.csrfKey == nil {
		v.csrfKey = make([]byte, csrfKeyBytes)
		rand.Read(v.csrfKey)
		v.setCookie(v.h.names.csrf, b64.EncodeToString(v.csrfKey), 0, http.SameSiteLaxMode)
	}
	return csrfToken(v.csrfKey, v.session)
}

func csrfToken(key []byte, session string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("kassa/account/csrf/v1\x00"))
	m.Write([]byte(session))
	return b64.EncodeToString(m.Sum(nil))
}

// csrfOK checks the parsed form's token against the cookies the request
// came with.
func (v *visit) csrfOK() bool {
	if v.csrfKey == nil {
		return false
	}
	got, err := b64.DecodeString(v.r.PostForm.Get(csrfField))
	if err != nil {
		return false
	}
	want, _ := b64.DecodeString(csrfToken(v.csrfKey, cookieValue(v.r, v.h.names.session)))
	return hmac.Equal(got, want)
}
