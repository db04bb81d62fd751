package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/notify"
	"github.com/kassa/kassa/identity/passkey"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
	"github.com/kassa/kassa/web/account"
)

// identityKeyFile keys identity's code hashes and device tokens.
const identityKeyFile = "identity.key"

// identityFlags configure payer accounts.
type identityFlags struct {
	now        func() time.Time // identity's clock; nil: time.Now (tests set it)
	key        string
	publicURL  string
	notifier   string
	devOutbox  bool
	smtpHost   string
	smtpPort   int
	smtpUser   string
	smtpPass   string
	smtpFrom   string
	webhookURL string
	webhookKey string
	privacyURL string
}

func (f *identityFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.key, "identity-key", "", "`file` with the HMAC key of payers' one-time codes and device tokens (base64, ≥ 32 bytes); default "+identityKeyFile+" in --data. Every node needs the same one")
	fs.StringVar(&f.publicURL, "public-url", "", "the `URL` payers reach the hosted pages at (passkeys are bound to its host); default https://localhost:<port of --listen>")
	fs.StringVar(&f.notifier, "notifier", "outbox", "how payers get one-time codes: outbox (development: stored, read with kassa outbox), smtp or webhook")
	fs.BoolVar(&f.devOutbox, "dev-outbox", false, "serve the development outbox page /dev/outbox (never in production: it shows codes)")
	fs.StringVar(&f.smtpHost, "smtp-host", "", "SMTP server `host` (--notifier smtp; STARTTLS required)")
	fs.IntVar(&f.smtpPort, "smtp-port", 587, "SMTP `port`")
	fs.StringVar(&f.smtpUser, "smtp-user", "", "SMTP user `name`")
	fs.StringVar(&f.smtpPass, "smtp-password", "", "SMTP `password` (set it as KASSA_SMTP_PASSWORD, not on a command line)")
	fs.StringVar(&f.smtpFrom, "smtp-from", "", "sender `address`, e.g. \"Kassa <no-reply@example.com>\"")
	fs.StringVar(&f.webhookURL, "notify-webhook-url", "", "`URL` that receives signed JSON messages (--notifier webhook): an SMS gateway, a mail API")
	fs.StringVar(&f.webhookKey, "notify-webhook-secret", "", "`file` with the signing secret of --notify-webhook-url (base64, ≥ 32 bytes)")
	fs.StringVar(&f.privacyURL, "privacy-url", "", "https `URL` of your privacy notice, linked from sign-up and identity verification; default Kassa's built-in /privacy")
}

// sender builds the chosen sender of one-time codes.
func (f *identityFlags) sender(outbox *identity.Outbox) (identity.Notifier, error) {
	switch f.notifier {
	case "", "outbox":
		return outbox, nil
	case "smtp":
		if f.smtpHost == "" || f.smtpFrom == "" {
			return nil, usagef("--notifier smtp needs --smtp-host and --smtp-from")
		}
		return notify.NewSMTP(notify.SMTPConfig{Host: f.smtpHost, Port: f.smtpPort, Username: f.smtpUser,
			Password: f.smtpPass, From: f.smtpFrom})
	case "webhook":
		if f.webhookURL == "" || f.webhookKey == "" {
			return nil, usagef("--notifier webhook needs --notify-webhook-url and --notify-webhook-secret")
		}
		secret, err := binaryKey("", f.webhookKey, "")
		if err != nil {
			return nil, fmt.Errorf("--notify-webhook-secret: %w", err)
		}
		return notify.NewWebhook(notify.WebhookConfig{URL: f.webhookURL, Secret: secret})
	}
	return nil, usagef("--notifier must be outbox, smtp or webhook")
}

// publicOrigin is the origin of the hosted pages and the passkeys' RP id.
func publicOrigin(publicURL, listen string, plainHTTP bool) (origin, rpID string, err error) {
	if publicURL == "" {
		_, port, err := net.SplitHostPort(listen)
		if err != nil || port == "0" {
			port = "8443"
		}
		scheme := "https"
		if plainHTTP {
			scheme = "http"
		}
		publicURL = scheme + "://localhost:" + port
	}
	u, err := url.Parse(publicURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", "", usagef("--public-url must be an absolute https URL such as https://pay.example")
	}
	if net.ParseIP(u.Hostname()) != nil {
		// A passkey's relying party is a domain; go-webauthn refuses an IP.
		return "", "", usagef("--public-url %s: passkeys need a domain name (such as https://pay.example, or https://localhost:8443 on this machine), not an IP address", publicURL)
	}
	return u.Scheme + "://" + u.Host, u.Hostname(), nil
}

// openIdentity makes the payer account services.
func (a *app) openIdentity(cfg appConfig) error {
	key, err := binaryKey(cfg.store.data, cfg.identity.key, identityKeyFile)
	if err != nil {
		return err
	}
	store := sqlstore.NewIdentity(a.db)
	sealer := &identity.VaultSealer{Wrapper: vault.NewLocalWrapper(a.keks)}
	a.outbox = identity.NewOutbox(store, sealer, nil, id.Generator{})
	n, err := cfg.identity.sender(a.outbox)
	if err != nil {
		return err
	}
	a.notifier = n
	var policy identity.Policy
	var screen identity.SignUpScreen
	if a.risk != nil {
		policy, screen = loginPolicy{a.risk}, loginPolicy{a.risk}
	}
	origin, rpID, err := publicOrigin(cfg.identity.publicURL, cfg.listen, cfg.plainHTTP)
	if err != nil {
		return err
	}
	a.pagesOrigin = origin
	if a.passkeys, err = passkey.New(passkey.Config{RPID: rpID, RPDisplayName: "Kassa", Origins: []string{origin},
		Store: sqlstore.NewPasskeys(a.db), Logger: a.log}); err != nil {
		return err
	}
	a.exclusion = &lateExclusion{}
	a.identity, err = identity.New(identity.Config{Store: store, Sealer: sealer,
		Notifier: n, Key: key, Policy: policy, Screen: screen, Exclusion: a.exclusion, Logger: a.log, Clock: cfg.identity.now,
		Factors: map[identity.Factor]identity.FactorVerifier{identity.FactorPasskey: account.PasskeyFactor(a.passkeys)}})
	return err
}

// loginPolicy asks the risk engine about logins and sign-ups. A login
// with the right password from a new device always needs a second factor
// (identity's own rule), and so does any login the engine does not simply
// allow.
type loginPolicy struct{ eng *risk.Engine }

func (p loginPolicy) SecondFactor(ctx context.Context, at identity.LoginAttempt) (bool, error) {
	ev, err := p.eng.Evaluate(ctx, risk.Input{Event: risk.Event{Time: at.Time, Kind: risk.KindLogin, CustomerID: at.Customer.ID,
		Email: at.Customer.Email, IP: at.Client.IP, UserAgent: at.Client.UserAgent, DeviceID: at.Device.DeviceID}}, false)
	if err != nil {
		return true, err
	}
	return !at.Device.Known || ev.Decision != risk.Allow, nil
}

// ScreenSignUp scores a sign-up; only a block refuses it (the codes to
// the address and the phone are its own proof).
func (p loginPolicy) ScreenSignUp(ctx context.Context, at identity.SignUpAttempt) error {
	ev, err := p.eng.Evaluate(ctx, risk.Input{Event: risk.Event{Time: at.Time, Kind: risk.KindSignup, Email: at.Email,
		IP: at.Client.IP, UserAgent: at.Client.UserAgent}}, false)
	if err != nil {
		return nil // fail open, like payments: scoring must not stop sign-ups
	}
	if ev.Decision == risk.Block {
		return fmt.Errorf("risk decision %s (score %d)", ev.Decision, ev.Score)
	}
	return nil
}

// runOutbox lists the development outbox: the one-time codes a
// development server "sent".
func runOutbox(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("outbox", "outbox [--data DIR | --database URL] [--vault-kek-file FILE] [--to ADDRESS] [--limit N] [--json]", stderr)
	var sf storeFlags
	var vf vaultFlags
	sf.register(fs)
	vf.register(fs)
	to := fs.String("to", "", "only messages to this email `address` or phone number")
	limit := fs.Int("limit", 20, "at most `N` messages, newest first")
	asJSON := fs.Bool("json", false, "print JSON lines")
	if err := parseFlags(fs, interleaved(args), getenv); err != nil {
		return err
	}
	if *limit <= 0 || *limit > 1000 {
		return usagef("--limit must be 1..1000")
	}
	// The bodies are sealed with the vault's keys: reading them needs the
	// same key file (or KASSA_VAULT_KEKS) as the server.
	keys, err := vf.keyProvider(sf.data)
	if err != nil {
		return err
	}
	db, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	ms, err := identity.NewOutbox(sqlstore.NewIdentity(db), &identity.VaultSealer{Wrapper: vault.NewLocalWrapper(keys)}, nil,
		id.Generator{}).Messages(ctx, *to, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, m := range ms {
			if err := enc.Encode(map[string]any{"id": m.ID, "channel": m.Channel, "to": m.To, "subject": m.Subject,
				"body": m.Body, "created": m.Created.UTC().Format(time.RFC3339)}); err != nil {
				return err
			}
		}
		return nil
	}
	if len(ms) == 0 {
		fmt.Fprintln(stderr, "the outbox is empty (it is used with --notifier outbox, the default)")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CREATED\tCHANNEL\tTO\tSUBJECT\tBODY")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Created.UTC().Format(time.RFC3339), m.Channel, m.To, m.Subject, m.Body)
	}
	return tw.Flush()
}
