package passkey_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity/passkey"
	"github.com/kassa/kassa/internal/browser"
	"github.com/kassa/kassa/store/sqlstore"
)

// site is a relying party on http://localhost:<port> (loopback over plain
// HTTP is a secure context): a page whose script runs the ceremonies with
// passkey.js, and endpoints that call the Service.
type site struct {
	*httptest.Server
	origin string
	svc    *passkey.Service
	store  *sqlstore.Passkeys
	dbDir  string
	user   passkey.User
}

// Limits of the test site.
const (
	siteBodyBytesMax = 128 << 10
	siteTimeout      = 30 * time.Second
)

// newSite starts the site. The service accepts extraOrigins besides the
// site's own, or only them when onlyExtra is set (to test a wrong origin).
func newSite(t *testing.T, onlyExtra bool, extraOrigins ...string) *site {
	t.Helper()
	s := &site{dbDir: t.TempDir(), user: passkey.User{
		CustomerID: "cus_browserpayer00001", Email: "payer@example.com", DisplayName: "Pat Payer"}}
	db, err := sqlstore.OpenSQLite(context.Background(), s.dbDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s.store = sqlstore.NewPasskeys(db)
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Config.ReadTimeout, s.Config.WriteTimeout, s.Config.IdleTimeout = siteTimeout, siteTimeout, siteTimeout
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	s.origin = "http://localhost:" + port
	origins := append([]string{s.origin}, extraOrigins...)
	if onlyExtra {
		origins = extraOrigins
	}
	s.svc, err = passkey.New(passkey.Config{RPID: "localhost", RPDisplayName: "Kassa Test", Origins: origins, Store: s.store})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

const testPage = `<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Passkey test</title>
<style>body{font:16px system-ui;margin:2em} pre{white-space:pre-wrap;background:#f2f4f8;padding:1em}</style>
<h1>Passkeys</h1>
<p>Customer <b id="customer"></b></p>
<pre id="result" data-state="idle">idle</pre>
<script src="/passkey.js"></script>
<script src="/page.js"></script>
</html>`

// pageScript runs one ceremony against the site: begin, the browser's
// WebAuthn call through passkey.js, finish. It shows and returns
// {stage, error, message} or {stage: "done", credential}; stage says how
// far it got ("browser" means navigator.credentials refused).
const pageScript = `"use strict";
const out = document.getElementById("result");
async function post(path, body) {
  const r = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
  return {ok: r.ok, body: await r.json()};
}
function done(r) {
  out.dataset.state = r.error ? "error" : "ok";
  out.textContent = JSON.stringify(r, null, 1);
  return r;
}
window.kassaTest = {
  last: null,
  run: async function (kind, subject) {
    out.dataset.state = "running";
    out.textContent = kind + " " + subject + " ...";
    let stage = "begin";
    try {
      const begin = await post("/begin", {kind: kind, subject: subject});
      if (!begin.ok) {
        return done({stage: stage, error: begin.body.code, message: begin.body.message});
      }
      stage = "browser";
      const signal = AbortSignal.timeout(20000);
      const response = kind === "register"
        ? await kassaPasskey.create(begin.body.options, signal)
        : await kassaPasskey.get(begin.body.options, signal);
      stage = "finish";
      this.last = {kind: kind, subject: subject, ceremony_id: begin.body.ceremony_id, response: response};
      return await this.finish(this.last);
    } catch (e) {
      return done({stage: stage, error: e.name, message: String(e.message)});
    }
  },
  // finish posts a response (again, for replays).
  finish: async function (req) {
    const fin = await post("/finish", req);
    if (!fin.ok) {
      return done({stage: "finish", error: fin.body.code, message: fin.body.message});
    }
    return done({stage: "done", credential: fin.body});
  },
};
`

type beginRequest struct {
	Kind    string `json:"kind"` // register, login (a step-up) or discoverable
	Subject string `json:"subject"`
}

type finishRequest struct {
	beginRequest
	CeremonyID string          `json:"ceremony_id"`
	Response   json.RawMessage `json:"response"`
}

type siteCredential struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	SignCount  uint32 `json:"sign_count"`
}

func (s *site) serve(w http.ResponseWriter, r *http.Request) {
	switch r.Method + " " + r.URL.Path {
	case "GET /":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(testPage))
	case "GET /passkey.js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Write(passkey.Script)
	case "GET /page.js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Write([]byte(pageScript))
	case "POST /begin":
		var req beginRequest
		if !decodeBody(w, r, &req) {
			return
		}
		var opts json.RawMessage
		var cid string
		var err error
		switch req.Kind {
		case "register":
			opts, cid, err = s.svc.BeginRegistration(r.Context(), s.user)
		case "login":
			opts, cid, err = s.svc.BeginLogin(r.Context(), s.user, passkey.PurposeStepUp, req.Subject)
		default:
			opts, cid, err = s.svc.BeginDiscoverableLogin(r.Context(), passkey.PurposeLogin, req.Subject)
		}
		reply(w, map[string]any{"ceremony_id": cid, "options": opts}, err)
	case "POST /finish":
		var req finishRequest
		if !decodeBody(w, r, &req) {
			return
		}
		var c passkey.Credential
		var err error
		switch req.Kind {
		case "register":
			c, err = s.svc.FinishRegistration(r.Context(), req.CeremonyID, s.user, req.Response)
		case "login":
			c, err = s.svc.FinishLogin(r.Context(), req.CeremonyID, passkey.PurposeStepUp, req.Subject, req.Response)
		default:
			c, err = s.svc.FinishLogin(r.Context(), req.CeremonyID, passkey.PurposeLogin, req.Subject, req.Response)
		}
		reply(w, siteCredential{ID: c.ID, CustomerID: c.CustomerID, SignCount: c.SignCount}, err)
	default:
		http.NotFound(w, r)
	}
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, siteBodyBytesMax)).Decode(v); err != nil {
		reply(w, nil, kassa.Invalid("body", "invalid_json", "%v", err))
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		e := kassa.AsError(err)
		if e == nil {
			e = kassa.Errorf(kassa.EInternal, "internal", "%v", err)
		}
		w.WriteHeader(http.StatusUnprocessableEntity)
		v = map[string]string{"code": e.Code, "message": e.Message}
	}
	json.NewEncoder(w).Encode(v)
}

// result is what the page's kassaTest.run returns.
type result struct {
	Stage      string          `json:"stage"`
	Error      string          `json:"error"`
	Message    string          `json:"message"`
	Credential *siteCredential `json:"credential"`
}

func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// run runs a ceremony on the page.
func run(b *browser.Browser, kind, subject string) result {
	var r result
	b.Run(chromedp.Evaluate(fmt.Sprintf(`kassaTest.run(%q, %q)`, kind, subject), &r, awaitPromise))
	return r
}

// open loads the site's page in the browser with WebAuthn emulation on.
func (s *site) open(b *browser.Browser) {
	b.Run(
		cdpwebauthn.Enable().WithEnableUI(false),
		chromedp.Navigate(s.origin+"/"),
		browser.Loaded("#result"),
		chromedp.SetJavascriptAttribute("#customer", "textContent", s.user.CustomerID, chromedp.ByID),
	)
}

// wantUVRefused accepts the two ways an unverified ceremony may end:
// Chromium refuses it itself (NotAllowedError, which is what it does when
// the options require UV that the authenticator cannot do), or the server
// refuses the response.
func wantUVRefused(t *testing.T, what string, r result) {
	t.Helper()
	browserRefused := r.Stage == "browser" && r.Error == "NotAllowedError"
	serverRefused := r.Stage == "finish" && r.Error == passkey.CodeUserVerificationRequired
	if !browserRefused && !serverRefused {
		t.Errorf("%s: %+v, want Chromium's NotAllowedError or the server's %s", what, r, passkey.CodeUserVerificationRequired)
	}
}

func snap(b *browser.Browser, name string) {
	if os.Getenv(browser.EnvArtifacts) != "" {
		b.Screenshot(name)
	}
}

func wantDone(t *testing.T, what string, r result) *siteCredential {
	t.Helper()
	if r.Stage != "done" || r.Error != "" || r.Credential == nil {
		t.Fatalf("%s: %+v, want it done", what, r)
	}
	return r.Credential
}

func wantRefused(t *testing.T, what string, r result, code string) {
	t.Helper()
	if r.Stage != "finish" || r.Error != code {
		t.Errorf("%s: %+v, want the server to refuse it with %s", what, r, code)
	}
}

// TestBrowserPasskey registers a passkey in Chromium with a virtual
// platform authenticator that verifies its user, steps up a payment with
// it, logs in without naming the user, and checks what the server stored:
// the public key of the authenticator's key pair, nothing private, the
// authenticator's sign count.
func TestBrowserPasskey(t *testing.T) {
	s := newSite(t, false)
	b := browser.New(t)
	s.open(b)
	auth := b.AddAuthenticator(true)
	ctx := context.Background()

	reg := wantDone(t, "registration", run(b, "register", ""))
	snap(b, "registered")
	stored, err := s.store.Credential(ctx, s.user.CustomerID, reg.ID)
	if err != nil {
		t.Fatal(err)
	}
	held := auth.Credentials()
	if len(held) != 1 {
		t.Fatalf("the authenticator holds %d credentials, want 1", len(held))
	}
	h := held[0]
	if id, _ := base64.StdEncoding.DecodeString(h.CredentialID); !bytes.Equal(id, stored.CredentialID) {
		t.Errorf("stored credential id %x, the authenticator's %s", stored.CredentialID, h.CredentialID)
	}
	if !h.IsResidentCredential || h.RpID != "localhost" || h.UserHandle != base64.StdEncoding.EncodeToString([]byte(s.user.CustomerID)) {
		t.Errorf("the authenticator's credential: resident %v, rp %q, user handle %q", h.IsResidentCredential, h.RpID, h.UserHandle)
	}
	if !stored.UserVerified || stored.Discoverable == nil || !*stored.Discoverable || stored.Attachment != "platform" ||
		len(stored.Transports) == 0 || stored.Transports[0] != "internal" || stored.SignCount != uint32(h.SignCount) {
		t.Errorf("stored %+v; authenticator sign count %d", stored, h.SignCount)
	}
	t.Logf("registered: sign count %d, AAGUID %s, transports %v, attestation %q, BE %v",
		stored.SignCount, stored.AAGUIDString(), stored.Transports, stored.AttestationFormat, stored.BackupEligible)
	checkPublicKeyOnly(t, s, stored, h)

	// Step-up for a payment.
	used := wantDone(t, "step-up", run(b, "login", "pay_123"))
	snap(b, "stepped-up")
	h = auth.Credentials()[0]
	if used.ID != reg.ID || used.SignCount != uint32(h.SignCount) || used.SignCount <= stored.SignCount {
		t.Errorf("after step-up: %+v; authenticator sign count %d, registered with %d", used, h.SignCount, stored.SignCount)
	}
	if got, _ := s.store.Credential(ctx, s.user.CustomerID, reg.ID); got.SignCount != used.SignCount || got.LastUsed.IsZero() {
		t.Errorf("stored after step-up: count %d, last used %v", got.SignCount, got.LastUsed)
	}
	// The same response posted again is refused.
	var replay result
	b.Run(chromedp.Evaluate(`kassaTest.finish(kassaTest.last)`, &replay, awaitPromise))
	wantRefused(t, "replayed step-up", replay, passkey.CodeCeremonyUnknown)

	// Login without naming the user: the authenticator does.
	disc := wantDone(t, "discoverable login", run(b, "discoverable", ""))
	if disc.ID != reg.ID || disc.CustomerID != s.user.CustomerID {
		t.Errorf("discoverable login: %+v", disc)
	}
	// A second registration on the same authenticator is excluded by the
	// browser (InvalidStateError) before the server sees it.
	if r := run(b, "register", ""); r.Stage != "browser" || r.Error != "InvalidStateError" {
		t.Errorf("registering the authenticator twice: %+v, want the browser to refuse", r)
	}

	// A clone: the same key pair with an older counter.
	h = auth.Credentials()[0]
	auth.Remove()
	clone := b.AddAuthenticator(true)
	old := *h
	old.SignCount = int64(stored.SignCount)
	clone.Add(&old)
	wantRefused(t, "step-up from a clone", run(b, "login", "pay_456"), passkey.CodePossiblyCloned)
	snap(b, "clone-refused")
	if got, _ := s.store.Credential(ctx, s.user.CustomerID, reg.ID); got.CloneSuspected.IsZero() {
		t.Error("the credential is not flagged after a counter regression")
	}
}

// checkPublicKeyOnly checks that the stored key is the public half of the
// authenticator's key pair and that no byte of the private key is in the
// database's files.
func checkPublicKeyOnly(t *testing.T, s *site, stored passkey.Credential, h *cdpwebauthn.Credential) {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(h.PrivateKey)
	if err != nil {
		t.Fatalf("the authenticator's private key: %v", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	priv := k.(*ecdsa.PrivateKey)
	pub, err := webauthncose.ParsePublicKey(stored.PublicKey)
	if err != nil {
		t.Fatalf("stored public key: %v", err)
	}
	ec, ok := pub.(webauthncose.EC2PublicKeyData)
	if !ok {
		t.Fatalf("stored public key is a %T, want EC2", pub)
	}
	raw, err := priv.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ec.XCoord, raw[1:33]) || !bytes.Equal(ec.YCoord, raw[33:]) || ec.Algorithm != -7 {
		t.Error("the stored public key is not the authenticator's")
	}
	d, err := priv.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(s.dbDir, "*"))
	if len(files) == 0 {
		t.Fatal("no database files to search")
	}
	foundPub := false
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, d) || bytes.Contains(data, der) {
			t.Errorf("%s contains the private key", filepath.Base(f))
		}
		foundPub = foundPub || bytes.Contains(data, ec.XCoord)
	}
	if !foundPub {
		t.Error("the public key is in no database file: the search looks in the wrong place")
	}
}

// TestBrowserBase64url checks passkey.js's conversions against Go's
// encoding, on lengths around the padding and on the bytes that encode to
// '-' and '_'.
func TestBrowserBase64url(t *testing.T) {
	s := newSite(t, false)
	b := browser.New(t)
	s.open(b)
	var inputs [][]byte
	for n := range 7 {
		in := make([]byte, n)
		for i := range in {
			in[i] = byte(0xff - 3*i) // ff fc f9 ...: '_' and '-' in the output
		}
		inputs = append(inputs, in)
	}
	inputs = append(inputs, []byte{0xfb, 0xef, 0xbe}, []byte("cus_browserpayer00001"))
	for _, in := range inputs {
		arr, _ := json.Marshal(bytesToInts(in))
		want := base64.RawURLEncoding.EncodeToString(in)
		var got string
		var back, backPadded []int
		b.Run(
			chromedp.Evaluate(`kassaPasskey.bufToB64url(new Uint8Array(`+string(arr)+`))`, &got),
			chromedp.Evaluate(fmt.Sprintf(`Array.from(new Uint8Array(kassaPasskey.b64urlToBuf(%q)))`, want), &back),
			chromedp.Evaluate(fmt.Sprintf(`Array.from(new Uint8Array(kassaPasskey.b64urlToBuf(%q)))`,
				base64.URLEncoding.EncodeToString(in)), &backPadded),
		)
		if got != want {
			t.Errorf("bufToB64url(%x) = %q, want %q", in, got, want)
		}
		if a, c := fmt.Sprint(back), fmt.Sprint(bytesToInts(in)); a != c || fmt.Sprint(backPadded) != c {
			t.Errorf("b64urlToBuf(%q) = %v (padded: %v), want %v", want, back, backPadded, c)
		}
	}
	// A view into a larger buffer encodes only its own bytes.
	var view string
	b.Run(chromedp.Evaluate(`kassaPasskey.bufToB64url(new Uint8Array([1, 2, 3, 4, 5]).subarray(1, 3))`, &view))
	if want := base64.RawURLEncoding.EncodeToString([]byte{2, 3}); view != want {
		t.Errorf("bufToB64url(subarray) = %q, want %q", view, want)
	}
}

func bytesToInts(b []byte) []int {
	out := make([]int, len(b))
	for i, c := range b {
		out[i] = int(c)
	}
	return out
}

// TestBrowserWithoutUserVerification shows what happens to an
// authenticator that cannot verify its user, at registration and at
// authentication: Chromium refuses it itself when the options require
// verification; when a relying party asks only for "preferred" (or the
// response's UV bit is cleared on the way), the server refuses it.
func TestBrowserWithoutUserVerification(t *testing.T) {
	s := newSite(t, false)
	b := browser.New(t)
	s.open(b)
	ctx := context.Background()

	// Registration, options requiring UV, an authenticator without UV.
	noUV := b.AddAuthenticator(false)
	r := run(b, "register", "")
	snap(b, "register-no-uv-required")
	t.Logf("Chromium, userVerification required, authenticator without UV: %+v", r)
	wantUVRefused(t, "registration with UV required on an authenticator without UV", r)
	// The same when the relying party asks only for "preferred": Chromium
	// creates the credential without UV, and the server refuses it.
	passkey.SetUserVerification(s.svc, "preferred")
	r = run(b, "register", "")
	snap(b, "register-no-uv-preferred")
	wantRefused(t, "registration without UV, UV preferred", r, passkey.CodeUserVerificationRequired)
	if n := len(noUV.Credentials()); n != 1 {
		t.Errorf("the authenticator holds %d credentials, want the one the server refused", n)
	}
	noUV.Remove()
	passkey.SetUserVerification(s.svc, "required")

	// An authenticator that can verify, but whose response has the UV bit
	// cleared on the way: the options required UV, the server refuses.
	uv := b.AddAuthenticator(true)
	b.Run(cdpwebauthn.SetResponseOverrideBits(uv.ID).WithIsBadUV(true))
	r = run(b, "register", "")
	t.Logf("Chromium, userVerification required, UV bit cleared in the response: %+v", r)
	wantRefused(t, "registration with the UV bit cleared", r, passkey.CodeUserVerificationRequired)
	b.Run(cdpwebauthn.SetResponseOverrideBits(uv.ID))
	uv.Remove()
	if list, _ := s.store.Credentials(ctx, s.user.CustomerID, 10); len(list) != 0 {
		t.Fatalf("%d passkeys stored after refusals", len(list))
	}

	// Authentication: register properly, then present the same key pair
	// from an authenticator without UV.
	uv = b.AddAuthenticator(true)
	reg := wantDone(t, "registration with UV", run(b, "register", ""))
	key := uv.Credentials()[0]
	uv.Remove()
	noUV = b.AddAuthenticator(false)
	noUV.Add(key)
	r = run(b, "login", "pay_1")
	snap(b, "login-no-uv-required")
	t.Logf("Chromium, login with userVerification required, authenticator without UV: %+v", r)
	wantUVRefused(t, "step-up with UV required on an authenticator without UV", r)
	passkey.SetUserVerification(s.svc, "preferred")
	r = run(b, "login", "pay_1")
	snap(b, "login-no-uv-preferred")
	wantRefused(t, "step-up without UV, UV preferred", r, passkey.CodeUserVerificationRequired)
	// Chromium offers no discoverable credential of this authenticator
	// without UV (NotAllowedError); the server would refuse it anyway.
	r = run(b, "discoverable", "")
	t.Logf("Chromium, discoverable login with userVerification preferred, authenticator without UV: %+v", r)
	wantUVRefused(t, "discoverable login without UV, UV preferred", r)
	passkey.SetUserVerification(s.svc, "required")
	noUV.Remove()

	// The UV bit cleared on the way of an assertion.
	uv = b.AddAuthenticator(true)
	uv.Add(key)
	b.Run(cdpwebauthn.SetResponseOverrideBits(uv.ID).WithIsBadUV(true))
	wantRefused(t, "step-up with the UV bit cleared", run(b, "login", "pay_1"), passkey.CodeUserVerificationRequired)
	b.Run(cdpwebauthn.SetResponseOverrideBits(uv.ID).WithIsBadUP(true))
	wantRefused(t, "step-up with the UP bit cleared", run(b, "login", "pay_1"), passkey.CodeUserPresenceRequired)
	b.Run(cdpwebauthn.SetResponseOverrideBits(uv.ID).WithIsBogusSignature(true))
	wantRefused(t, "step-up with a bogus signature", run(b, "login", "pay_1"), passkey.CodeVerificationFailed)
	// And with honest bits, the same key pair steps up.
	b.Run(cdpwebauthn.SetResponseOverrideBits(uv.ID))
	if c := wantDone(t, "step-up with UV", run(b, "login", "pay_1")); c.ID != reg.ID {
		t.Errorf("stepped up with %s, want %s", c.ID, reg.ID)
	}
	snap(b, "login-uv")
}

// TestBrowserWrongOrigin: a page at an origin the service does not list
// gets nothing registered, though the browser is happy with it.
func TestBrowserWrongOrigin(t *testing.T) {
	s := newSite(t, true, "https://pay.example")
	b := browser.New(t)
	s.open(b)
	b.AddAuthenticator(true)
	r := run(b, "register", "")
	snap(b, "wrong-origin")
	wantRefused(t, "registration from an unlisted origin", r, passkey.CodeVerificationFailed)
	if !strings.Contains(r.Message, "origin") {
		t.Errorf("refusal message %q does not name the origin", r.Message)
	}
	if list, err := s.store.Credentials(context.Background(), s.user.CustomerID, 10); err != nil || len(list) != 0 {
		t.Errorf("stored %d passkeys (%v) from an unlisted origin", len(list), err)
	}
}
