package notify_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/notify"
	"github.com/kassa/kassa/internal/tlsutil"
)

// smtpServer is a minimal SMTP server on 127.0.0.1 that records what it
// was told, and whether TLS was on at the time.
type smtpServer struct {
	addr     string
	starttls bool
	cert     tls.Certificate

	mu       sync.Mutex
	authTLS  bool // AUTH came over TLS
	auth     string
	mailTLS  bool
	rcpt     string
	data     string
	sawAUTH  bool
	finished chan struct{}
}

func newSMTPServer(t *testing.T, starttls bool) *smtpServer {
	t.Helper()
	cert, _, _, err := tlsutil.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &smtpServer{addr: ln.Addr().String(), starttls: starttls, cert: cert, finished: make(chan struct{})}
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer close(s.finished)
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		s.serve(conn)
	}()
	return s
}

func (s *smtpServer) serve(conn net.Conn) {
	var c net.Conn = conn
	r := bufio.NewReader(c)
	say := func(line string) { io.WriteString(c, line+"\r\n") }
	isTLS := false
	say("220 test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimSpace(line)
		verb := strings.ToUpper(strings.Fields(cmd + " x")[0])
		s.mu.Lock()
		switch verb {
		case "EHLO", "HELO":
			if s.starttls && !isTLS {
				say("250-test\r\n250-STARTTLS\r\n250 AUTH PLAIN")
			} else {
				say("250-test\r\n250 AUTH PLAIN")
			}
		case "STARTTLS":
			say("220 go ahead")
			tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{s.cert}})
			if err := tc.Handshake(); err != nil {
				s.mu.Unlock()
				return
			}
			c, r, isTLS = tc, bufio.NewReader(tc), true
		case "AUTH":
			s.sawAUTH, s.authTLS, s.auth = true, isTLS, cmd
			say("235 ok")
		case "MAIL":
			s.mailTLS = isTLS
			say("250 ok")
		case "RCPT":
			s.rcpt = cmd
			say("250 ok")
		case "DATA":
			say("354 go")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil || l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.data = b.String()
			say("250 queued")
		case "QUIT":
			say("221 bye")
			s.mu.Unlock()
			return
		default:
			say("502 what")
		}
		s.mu.Unlock()
	}
}

func (s *smtpServer) sender(t *testing.T) *notify.SMTP {
	t.Helper()
	host, port, _ := net.SplitHostPort(s.addr)
	pool := x509.NewCertPool()
	leaf, err := x509.ParseCertificate(s.cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool.AddCert(leaf)
	p := 0
	for _, c := range port {
		p = p*10 + int(c-'0')
	}
	snd, err := notify.NewSMTP(notify.SMTPConfig{Host: host, Port: p, Username: "kassa", Password: "s3cret-pass",
		From: "Kassa <no-reply@kassa.test>", Timeout: 5 * time.Second, TLS: &tls.Config{RootCAs: pool, ServerName: host}})
	if err != nil {
		t.Fatal(err)
	}
	return snd
}

var msg = identity.Message{Channel: identity.ChannelEmail, To: "ana@example.com", Subject: "Your Kassa code — 1",
	Body: "Your code is\n\n    123456\n\nBye.\n"}

func TestSMTPWithSTARTTLS(t *testing.T) {
	srv := newSMTPServer(t, true)
	if err := srv.sender(t).Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	<-srv.finished
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if !srv.authTLS || !srv.mailTLS {
		t.Errorf("AUTH over TLS %v, MAIL over TLS %v; want both", srv.authTLS, srv.mailTLS)
	}
	cred, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(srv.auth, "AUTH PLAIN "))
	if string(cred) != "\x00kassa\x00s3cret-pass" {
		t.Errorf("AUTH = %q", cred)
	}
	if srv.rcpt != "RCPT TO:<ana@example.com>" {
		t.Errorf("RCPT = %q", srv.rcpt)
	}
	head, body, _ := strings.Cut(srv.data, "\r\n\r\n")
	for _, h := range []string{"From: \"Kassa\" <no-reply@kassa.test>", "To: <ana@example.com>", "Subject: =?utf-8?q?",
		"Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable", "Message-ID: <"} {
		if !strings.Contains(head, h) {
			t.Errorf("header %q missing in\n%s", h, head)
		}
	}
	dec, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	if err != nil || !strings.Contains(string(dec), "    123456\r\n") {
		t.Errorf("body = %q, %v", dec, err)
	}
}

func TestSMTPRefusesPlaintext(t *testing.T) {
	srv := newSMTPServer(t, false)
	err := srv.sender(t).Send(context.Background(), msg)
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Send to a server without STARTTLS = %v, want a refusal", err)
	}
	<-srv.finished
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.sawAUTH || srv.data != "" {
		t.Error("credentials or the message went out in clear")
	}
	if strings.Contains(err.Error(), "123456") {
		t.Error("the error holds the body")
	}
}

func TestSMTPRefusesHeaderInjection(t *testing.T) {
	s, err := notify.NewSMTP(notify.SMTPConfig{Host: "127.0.0.1", Port: 1, From: "a@kassa.test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []identity.Message{
		{Channel: identity.ChannelEmail, To: "a@example.com\r\nBcc: b@example.com", Body: "x"},
		{Channel: identity.ChannelEmail, To: "a@example.com", Subject: "hi\r\nBcc: b@example.com", Body: "x"},
		{Channel: identity.ChannelSMS, To: "+4915112345678", Body: "x"},
	} {
		if err := s.Send(context.Background(), m); err == nil {
			t.Errorf("Send(%+v) accepted", m)
		}
	}
}

var secret = []byte("0123456789abcdef0123456789abcdef")

func TestWebhookSignsAndRetries(t *testing.T) {
	var calls atomic.Int32
	var got []byte
	var hdr http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		got, _ = io.ReadAll(r.Body)
		hdr = r.Header.Clone()
	}))
	defer srv.Close()
	wh, err := notify.NewWebhook(notify.WebhookConfig{URL: srv.URL, Secret: secret, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sms := identity.Message{Channel: identity.ChannelSMS, To: "+4915112345678", Body: "Kassa code: 123456"}
	if err := wh.Send(context.Background(), sms); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 {
		t.Errorf("%d requests, want 3", calls.Load())
	}
	// An independent implementation of Standard Webhooks verifies it.
	v, err := standardwebhooks.NewWebhookRaw(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(got, hdr); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
	if !strings.Contains(string(got), `"to":"+4915112345678"`) || !strings.Contains(string(got), `"channel":"sms"`) {
		t.Errorf("body = %s", got)
	}
	got[len(got)-2] ^= 1
	if v.Verify(got, hdr) == nil {
		t.Error("a changed body verifies")
	}
}

func TestWebhookGivesUp(t *testing.T) {
	var calls atomic.Int32
	status := http.StatusBadRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if status == 0 {
			time.Sleep(200 * time.Millisecond)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	wh, _ := notify.NewWebhook(notify.WebhookConfig{URL: srv.URL + "?token=hidden", Secret: secret, Attempts: 4,
		Backoff: time.Millisecond, Timeout: 50 * time.Millisecond})
	m := identity.Message{Channel: identity.ChannelSMS, To: "+4915112345678", Body: "Kassa code: 654321"}
	// A 4xx is final: one attempt.
	if err := wh.Send(context.Background(), m); err == nil || calls.Load() != 1 {
		t.Errorf("400: err %v after %d attempts, want an error after 1", err, calls.Load())
	}
	// Timeouts are retried, Attempts times in all.
	calls.Store(0)
	status = 0
	err := wh.Send(context.Background(), m)
	if err == nil || calls.Load() != 4 {
		t.Errorf("timeouts: err %v after %d attempts, want an error after 4", err, calls.Load())
	}
	if strings.Contains(err.Error(), "654321") || strings.Contains(err.Error(), "hidden") {
		t.Errorf("the error %q holds the body or the URL's query", err)
	}
	if _, err := notify.NewWebhook(notify.WebhookConfig{URL: srv.URL, Secret: []byte("short")}); err == nil {
		t.Error("a short secret was accepted")
	}
	if _, err := notify.NewWebhook(notify.WebhookConfig{URL: "ftp://x", Secret: secret}); err == nil {
		t.Error("an ftp URL was accepted")
	}
}
