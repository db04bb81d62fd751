package storetest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/privacy/seal"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
	"github.com/kassa/kassa/webhook"
)

func init() {
	Register("Sealed", func(t *testing.T, open Opener) {
		t.Run("RetireCoversIdentity", func(t *testing.T) { testSealedRetireCoversIdentity(t, open) })
		t.Run("OutboxAtRest", func(t *testing.T) { testSealedOutboxAtRest(t, open) })
		t.Run("WebhookSecretsAtRest", func(t *testing.T) { testSealedWebhookSecretsAtRest(t, open) })
	})
}

// sealedEnv is a database with the vault and identity over one key file,
// as kassa serve and kassa keys have them. restart makes the services
// again from the file, as a new process would: nothing cached in memory
// hides a key that is gone.
type sealedEnv struct {
	ctx     context.Context
	db      *sqlstore.DB
	keyFile string
	clock   *testclock.Clock
	keys    *vault.FileKeyProvider
	vault   *vault.Service
	id      *identity.Service
	outbox  *identity.Outbox
	idKey   []byte
	hooks   *webhook.Service
	recv    *Receiver
	shop    string // a merchant, for webhook endpoints
}

func newSealedEnv(t *testing.T, open Opener) *sealedEnv {
	t.Helper()
	e := &sealedEnv{ctx: context.Background(), db: open(t), keyFile: filepath.Join(t.TempDir(), "vault-kek.json"),
		clock: testclock.New(identityT0), idKey: identity.GenerateKey()}
	e.restart(t)
	m, err := merchant.NewService(sqlstore.NewMerchants(e.db), e.clock.Now, id.Generator{}).Create(e.ctx, "Sealed Shop")
	if err != nil {
		t.Fatal(err)
	}
	e.shop, e.recv = m.ID, NewReceiver(t)
	return e
}

func (e *sealedEnv) restart(t *testing.T) {
	t.Helper()
	if e.vault != nil {
		e.vault.Close()
	}
	var err error
	if e.keys, err = vault.OpenKeyFile(e.keyFile); err != nil {
		t.Fatal(err)
	}
	if e.vault, err = vault.New(vault.Config{Store: sqlstore.NewVault(e.db), Keys: e.keys,
		FingerprintKey: bytes.Repeat([]byte("f"), 32), Clock: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.vault.Close)
	e.hooks = webhook.New(webhook.Config{Store: sqlstore.NewWebhooks(e.db), Now: e.clock.Now, AllowPrivateTargets: true,
		Sealer: &vault.Envelope{Wrapper: vault.NewLocalWrapper(e.keys), Domain: webhook.SealDomain}})
	st := sqlstore.NewIdentity(e.db)
	sealer := &identity.VaultSealer{Wrapper: vault.NewLocalWrapper(e.keys)}
	e.outbox = identity.NewOutbox(st, sealer, e.clock.Now, id.Generator{})
	// Payer profiles are sealed under their subjects' keys, which are
	// wrapped under keys of their own (the privacy key file in kassa
	// serve): the vault's rotation and retirement leave them alone.
	pk, err := vault.ParseKeys("1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("p"), vault.KEKLength)))
	if err != nil {
		t.Fatal(err)
	}
	k, err := seal.New(seal.Config{KEK: &identity.VaultSealer{Wrapper: vault.NewLocalWrapper(pk)}, IndexKey: bytes.Repeat([]byte("i"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	e.db.SetSealing(k)
	if e.id, err = identity.New(identity.Config{Store: st, Sealer: sealer, Notifier: e.outbox, Key: e.idKey,
		Clock: e.clock.Now, Hasher: &identity.Argon2id{Params: identity.Argon2Params{Memory: 64, Time: 1, Threads: 1,
			SaltLength: 16, KeyLength: 32}}}); err != nil {
		t.Fatal(err)
	}
}

// signUp makes a verified customer through the service.
func (e *sealedEnv) signUp(t *testing.T, email, phone string) identity.LoginResult {
	t.Helper()
	code := func(to string) string {
		ms, err := e.outbox.Messages(e.ctx, to, 1)
		if err != nil || len(ms) == 0 {
			t.Fatalf("outbox to %s: %v", to, err)
		}
		return regexp.MustCompile(`\b\d{6}\b`).FindString(ms[0].Body)
	}
	su, err := e.id.SignUp(e.ctx, identity.SignUpRequest{Email: email, Phone: phone})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.id.SignUpConfirm(e.ctx, su.Token, code(email)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.id.SignUpConfirm(e.ctx, su.Token, code(phone)); err != nil {
		t.Fatal(err)
	}
	res, err := e.id.SignUpPassword(e.ctx, su.Token, "a long enough passphrase", identity.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// deliver publishes an event to the shop's endpoints and delivers it; it
// returns what the receiver got.
func (e *sealedEnv) deliver(t *testing.T) Received {
	t.Helper()
	ev, err := e.hooks.NewEvent(e.shop, "test.created", map[string]string{"sealed": "yes"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.hooks.Publish(e.ctx, ev); err != nil {
		t.Fatal(err)
	}
	before := len(e.recv.Got())
	if _, err := e.hooks.RunOnce(e.ctx); err != nil {
		t.Fatal(err)
	}
	got := e.recv.Got()
	if len(got) != before+1 {
		t.Fatalf("the receiver got %d webhooks, want %d", len(got), before+1)
	}
	return got[len(got)-1]
}

// totpCode is the authenticator's code one step later than the last one
// (a code of a step used already is refused as a replay).
func (e *sealedEnv) totpCode(t *testing.T, secret string) string {
	t.Helper()
	e.clock.Advance(identity.TOTPPeriod)
	c, err := totp.GenerateCodeCustom(secret, e.clock.Now(), totp.ValidateOpts{Period: uint(identity.TOTPPeriod / time.Second),
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testSealedRetireCoversIdentity seals KYC fields and a TOTP secret under
// key-encryption key version 1, rotates to 2 and retires 1 before the
// rewrap: refused, and everything still opens after a restart. After the
// rewrap, retiring works and everything still opens.
func testSealedRetireCoversIdentity(t *testing.T, open Opener) {
	e := newSealedEnv(t, open)
	res := e.signUp(t, "sealed@example.com", "+4915100000088")
	cus := res.Customer.ID
	const docNumber = "QX1234567"
	bd, _ := identity.ParseBirthDate("1980-02-03")
	if _, err := e.id.SubmitKYC(e.ctx, cus, identity.IdentityData{GivenName: "Sea", FamilyName: "Led", BirthDate: bd,
		Address:      identity.Address{Line1: "x 1", City: "y", PostalCode: "1000", Country: "AT"},
		DocumentType: identity.DocumentPassport, DocumentCountry: "AT", DocumentNumber: docNumber}); err != nil {
		t.Fatal(err)
	}
	enrol, err := e.id.EnrolTOTP(e.ctx, cus)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.id.ConfirmTOTP(e.ctx, cus, e.totpCode(t, enrol.Secret)); err != nil {
		t.Fatal(err)
	}
	hook, err := e.hooks.CreateEndpoint(e.ctx, e.shop, webhook.EndpointParams{URL: e.recv.URL + "/hook", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	stillOpens := func(when string) {
		t.Helper()
		if err := verifyWith(t, hook.Secret, e.deliver(t), false); err != nil {
			t.Errorf("%s: the webhook's signature = %v; want it made with the endpoint's secret", when, err)
		}
		got, err := e.id.Identity(e.ctx, cus)
		if err != nil || got.DocumentNumber != docNumber || !got.BirthDate.Equal(bd) {
			t.Errorf("%s: Identity = %+v, %v; want the document number and birth date back", when, got, err)
		}
		if err := e.id.VerifyTOTP(e.ctx, cus, e.totpCode(t, enrol.Secret)); err != nil {
			t.Errorf("%s: VerifyTOTP = %v; want the authenticator to keep working", when, err)
		}
		ms, err := e.outbox.Messages(e.ctx, "sealed@example.com", 1)
		if err != nil || len(ms) != 1 || !regexp.MustCompile(`\b\d{6}\b`).MatchString(ms[0].Body) {
			t.Errorf("%s: the outbox's message = %+v, %v; want its code", when, ms, err)
		}
	}

	v, err := e.vault.RotateKey(e.ctx)
	if err != nil || v != 2 {
		t.Fatalf("RotateKey = %d, %v", v, err)
	}
	err = e.vault.RetireKey(e.ctx, 1)
	var ke *kassa.Error
	if !errors.As(err, &ke) || ke.Code != "key_version_in_use" {
		t.Errorf("RetireKey(1) before the rewrap = %v, want key_version_in_use", err)
	} else if !strings.Contains(ke.Message, "version 1") || !strings.Contains(ke.Message, "kassa keys rewrap") {
		t.Errorf("RetireKey(1) says %q; want it to name the version and the way out", ke.Message)
	}
	if got := e.keys.Versions(); len(got) != 2 {
		t.Errorf("key versions after the refused retire = %v, want [1 2]", got)
	}
	e.restart(t)
	stillOpens("after the refused retire")
	st, err := e.vault.KeyStatus(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].Version != 1 || st[0].Records < 4 {
		t.Errorf("KeyStatus before the rewrap = %+v; want version 1 to count the KYC fields, the TOTP and the webhook secret", st)
	}

	if n, err := e.vault.RewrapAll(e.ctx, 2); err != nil || n < 4 {
		t.Errorf("RewrapAll = %d, %v; want the 2 KYC fields, the TOTP and the webhook secret (at least 4)", n, err)
	}
	if st, _ := e.vault.KeyStatus(e.ctx); len(st) != 2 || st[0].Records != 0 {
		t.Errorf("KeyStatus after the rewrap = %+v; want nothing left under version 1", st)
	}
	if err := e.vault.RetireKey(e.ctx, 1); err != nil {
		t.Fatalf("RetireKey(1) after the rewrap = %v", err)
	}
	e.restart(t)
	if got := e.keys.Versions(); len(got) != 1 || got[0] != 2 {
		t.Errorf("key versions after the retire = %v, want [2]", got)
	}
	stillOpens("after the rewrap and the retire")
}

// rawStored is what an attacker with a copy of the database reads: on
// SQLite the database file and its WAL, byte for byte; on PostgreSQL the
// rows of the tables as text (bytea as hex: compare with hexOf).
func rawStored(t *testing.T, db *sqlstore.DB, tables ...string) []byte {
	t.Helper()
	ctx := context.Background()
	var out bytes.Buffer
	if db.Dialect() == sqlstore.SQLite {
		var path string
		if err := db.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal"} {
			b, err := os.ReadFile(p)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			out.Write(b)
		}
		return out.Bytes()
	}
	for _, table := range tables {
		rows, err := db.QueryContext(ctx, `SELECT t::text FROM `+table+` t`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out.WriteString(s + "\n")
		}
		rows.Close()
	}
	return out.Bytes()
}

// testSealedOutboxAtRest sends one-time codes through the development
// outbox: they can be read through it, but neither the database file nor
// the rows hold one in clear.
func testSealedOutboxAtRest(t *testing.T, open Opener) {
	e := newSealedEnv(t, open)
	e.signUp(t, "outbox@example.com", "+4915100000099")
	ms, err := e.outbox.Messages(e.ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, m := range ms {
		if c := regexp.MustCompile(`\b\d{6}\b`).FindString(m.Body); c != "" {
			codes = append(codes, c)
		}
	}
	if len(codes) != 2 {
		t.Fatalf("%d codes in the outbox's messages, want 2 (email and phone): %+v", len(codes), ms)
	}
	raw := rawStored(t, e.db, "identity_outbox")
	for _, c := range codes {
		if bytes.Contains(raw, []byte(c)) {
			t.Errorf("the database holds the one-time code %s in clear", c)
		}
	}
	if bytes.Contains(raw, []byte("Never share it")) || bytes.Contains(raw, []byte("will ever ask you for it")) {
		t.Error("the database holds a message body in clear")
	}
}

// secretKey is the key of a whsec_ secret as shown to the merchant.
func secretKey(t *testing.T, secret string) []byte {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil || len(k) == 0 {
		t.Fatalf("secret %q: %v", secret, err)
	}
	return k
}

// testSealedWebhookSecretsAtRest makes and rotates an endpoint's signing
// secret: deliveries are signed with both, but neither the database file
// nor the rows hold one in clear. A secret an older Kassa stored in clear
// signs until the rewrap seals it, and after.
func testSealedWebhookSecretsAtRest(t *testing.T, open Opener) {
	e := newSealedEnv(t, open)
	c, err := e.hooks.CreateEndpoint(e.ctx, e.shop, webhook.EndpointParams{URL: e.recv.URL + "/a", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	r, err := e.hooks.RotateSecret(e.ctx, e.shop, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := e.deliver(t)
	for _, s := range []string{c.Secret, r.Secret} {
		if err := verifyWith(t, s, got, false); err != nil {
			t.Errorf("signature with a secret of the endpoint: %v", err)
		}
	}
	raw := rawStored(t, e.db, "webhook_secrets")
	for _, s := range []string{c.Secret, r.Secret} {
		k := secretKey(t, s)
		if bytes.Contains(raw, k) || bytes.Contains(raw, []byte(hex.EncodeToString(k))) ||
			bytes.Contains(raw, []byte(strings.TrimPrefix(s, "whsec_"))) {
			t.Errorf("the database holds a webhook signing secret in clear")
		}
	}

	// A secret stored in clear before secrets were sealed.
	legacy := bytes.Repeat([]byte{0xa7}, 32)
	e.clock.Advance(time.Minute)
	if err := e.db.Transact(e.ctx, func(tx *sqlstore.Tx) error {
		if _, err := tx.ExecContext(e.ctx, `DELETE FROM webhook_secrets WHERE endpoint_id = ?`, c.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(e.ctx, `INSERT INTO webhook_secrets (id, endpoint_id, secret, created_at)
			VALUES ('whsk_legacy', ?, ?, ?)`, c.ID, legacy, e.clock.Now().UnixMicro())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	legacySecret := "whsec_" + base64.StdEncoding.EncodeToString(legacy)
	if err := verifyWith(t, legacySecret, e.deliver(t), false); err != nil {
		t.Errorf("signature with a secret kept in clear, before the rewrap: %v", err)
	}
	if n, err := e.vault.RewrapAll(e.ctx, 10); err != nil || n != 1 {
		t.Errorf("RewrapAll = %d, %v; want the secret kept in clear sealed", n, err)
	}
	var clear, sealed []byte
	if err := e.db.QueryRowContext(e.ctx, `SELECT secret, secret_sealed FROM webhook_secrets WHERE id = 'whsk_legacy'`).
		Scan(&clear, &sealed); err != nil {
		t.Fatal(err)
	}
	if len(clear) != 0 || len(sealed) == 0 || bytes.Contains(sealed, legacy) {
		t.Errorf("after the rewrap the row holds secret %x, secret_sealed %d bytes; want it sealed only", clear, len(sealed))
	}
	if st, _ := e.vault.KeyStatus(e.ctx); len(st) != 1 || st[0].Sealed < 1 {
		t.Errorf("KeyStatus = %+v; want the sealed secret counted", st)
	}
	e.restart(t)
	if err := verifyWith(t, legacySecret, e.deliver(t), false); err != nil {
		t.Errorf("signature with the secret sealed by the rewrap: %v", err)
	}
}
