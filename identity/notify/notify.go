// Package notify sends identity's messages (one-time codes, notices) to
// customers: by email over SMTP with STARTTLS, or to an HTTP webhook (an
// SMS gateway, a mail API, the operator's own relay) as signed JSON. Both
// implement identity.Notifier. Neither ever logs or returns a message's
// body: it may hold a code.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
)

// Defaults and limits.
const (
	TimeoutDefault  = 10 * time.Second
	AttemptsDefault = 3
	attemptsMax     = 10
	BackoffDefault  = 500 * time.Millisecond
	secretLengthMin = 32
	responseMax     = 4 << 10 // bytes of a webhook's answer read (and dropped)
)

// SMTPConfig configures an SMTP sender.
type SMTPConfig struct {
	Host     string
	Port     int    // 0 means 587 (submission)
	Username string // "" sends without AUTH
	Password string
	From     string // the sender address, e.g. "Kassa <no-reply@example.com>"
	// Timeout bounds one message (connect to QUIT); 0 means TimeoutDefault.
	Timeout time.Duration
	// TLS configures STARTTLS; nil means the system's roots and Host as
	// the server name. TLS 1.2 or newer either way.
	TLS *tls.Config
}

// SMTP sends email over SMTP. It always upgrades with STARTTLS and
// refuses a server that does not offer it, so that neither the password
// nor a code crosses the network in clear.
type SMTP struct {
	cfg  SMTPConfig
	from *mail.Address
	ids  id.Generator
}

var _ identity.Notifier = (*SMTP)(nil)

// NewSMTP returns an SMTP sender.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if cfg.Host == "" || strings.ContainsAny(cfg.Host, " \r\n/") {
		return nil, errors.New("notify: SMTPConfig.Host is required")
	}
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("notify: SMTP port %d out of range", cfg.Port)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("notify: SMTPConfig.From: %w", err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = TimeoutDefault
	}
	if cfg.TLS == nil {
		cfg.TLS = &tls.Config{ServerName: cfg.Host}
	} else {
		cfg.TLS = cfg.TLS.Clone()
	}
	cfg.TLS.MinVersion = max(cfg.TLS.MinVersion, tls.VersionTLS12)
	return &SMTP{cfg: cfg, from: from}, nil
}

// Send delivers an email message.
func (s *SMTP) Send(ctx context.Context, m identity.Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if m.Channel != identity.ChannelEmail {
		return fmt.Errorf("notify: SMTP sends email, not %s", m.Channel)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil || strings.ContainsAny(m.To, "\r\n") || strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("notify: bad recipient or subject")
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("notify: connect to %s: %w", addr, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	// Closing the connection ends a conversation the context gave up on.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := s.converse(conn, to.Address, s.message(to, m)); err != nil {
		return fmt.Errorf("notify: smtp %s: %w", addr, err)
	}
	return nil
}

func (s *SMTP) converse(conn net.Conn, to string, msg []byte) error {
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return errors.New("the server does not offer STARTTLS; refusing to send in clear")
	}
	if err := c.StartTLS(s.cfg.TLS); err != nil {
		return fmt.Errorf("starttls: %w", err)
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("rcpt to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return c.Quit()
}

// message writes an RFC 5322 message: UTF-8 text, quoted-printable.
func (s *SMTP) message(to *mail.Address, m identity.Message) []byte {
	var b bytes.Buffer
	domain := s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\n",
		s.from.String(), to.String(), mime.QEncoding.Encode("utf-8", m.Subject), time.Now().UTC().Format(time.RFC1123Z),
		s.ids.Random(16), domain)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n")))
	qp.Close()
	return b.Bytes()
}

// WebhookConfig configures an HTTP webhook sender.
type WebhookConfig struct {
	URL string // http or https
	// Secret signs every request (Standard Webhooks: HMAC-SHA256), at
	// least 32 bytes.
	Secret   []byte
	Timeout  time.Duration // per attempt; 0 means TimeoutDefault
	Attempts int           // 0 means AttemptsDefault; at most 10
	Backoff  time.Duration // wait before the second attempt, doubling; 0 means BackoffDefault
	Client   *http.Client  // nil: a client of its own
	Clock    func() time.Time
}

// Webhook POSTs each message as JSON to a URL, signed per the Standard
// Webhooks specification (headers webhook-id, webhook-timestamp,
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>"). It
// retries network errors, 5xx and 429 answers with backoff, at most
// Attempts times in all, each within Timeout; other answers end it.
type Webhook struct {
	cfg WebhookConfig
	ids id.Generator
}

var _ identity.Notifier = (*Webhook)(nil)

// NewWebhook returns an HTTP webhook sender.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("notify: WebhookConfig.URL must be an http or https URL")
	}
	if len(cfg.Secret) < secretLengthMin {
		return nil, fmt.Errorf("notify: WebhookConfig.Secret must be at least %d bytes", secretLengthMin)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = TimeoutDefault
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = AttemptsDefault
	}
	cfg.Attempts = min(cfg.Attempts, attemptsMax)
	if cfg.Backoff <= 0 {
		cfg.Backoff = BackoffDefault
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	cfg.Secret = append([]byte(nil), cfg.Secret...)
	return &Webhook{cfg: cfg}, nil
}

// payload is the JSON a webhook receives.
type payload struct {
	ID      string `json:"id"`
	Channel string `json:"channel"`
	To      string `json:"to"`
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body"`
	Created string `json:"created"`
}

// Send posts the message, retrying as the type says.
func (w *Webhook) Send(ctx context.Context, m identity.Message) error {
	if err := m.Validate(); err != nil {
		return err
	}
	now := w.cfg.Clock().UTC()
	msgID := w.ids.New("msg")
	body, err := json.Marshal(payload{ID: msgID, Channel: string(m.Channel), To: m.To, Subject: m.Subject, Body: m.Body,
		Created: now.Format(time.RFC3339)})
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, w.cfg.Secret)
	mac.Write([]byte(msgID + "." + ts + "."))
	mac.Write(body)
	sig := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	wait := w.cfg.Backoff
	var last error
	for attempt := 1; attempt <= w.cfg.Attempts; attempt++ {
		retry, err := w.post(ctx, body, msgID, ts, sig)
		if err == nil {
			return nil
		}
		last = fmt.Errorf("notify: webhook attempt %d of %d: %w", attempt, w.cfg.Attempts, err)
		if !retry || attempt == w.cfg.Attempts {
			break
		}
		select {
		case <-ctx.Done():
			return errors.Join(last, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
	return last
}

// post makes one attempt and says whether a failure is worth retrying.
func (w *Webhook) post(ctx context.Context, body []byte, msgID, ts, sig string) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Kassa-Identity/1")
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", ts)
	req.Header.Set("webhook-signature", sig)
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		// The URL's error text holds no body; keep it, without the query.
		return true, errors.New(strings.ReplaceAll(err.Error(), w.cfg.URL, redact(w.cfg.URL)))
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, responseMax))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("status %d", resp.StatusCode)
	}
	return false, fmt.Errorf("status %d", resp.StatusCode)
}

// redact drops a URL's query and user info, which may hold a token.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(url)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}
