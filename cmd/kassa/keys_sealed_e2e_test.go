package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
)

// sealedPayer is a payer with KYC data and a TOTP authenticator, sealed
// with the vault's key file in a data directory, as kassa serve seals
// them; open makes the identity service again from the files.
type sealedPayer struct {
	data     string
	idKey    []byte
	clock    *testclock.Clock
	customer string
	secret   string // the authenticator's TOTP secret
}

const sealedDocNumber = "PX7654321"

func (p *sealedPayer) open(t *testing.T) (*identity.Service, *identity.Outbox) {
	t.Helper()
	db, err := sqlstore.OpenSQLite(context.Background(), p.data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := vault.OpenKeyFile(filepath.Join(p.data, vaultKEKFile))
	if err != nil {
		t.Fatal(err)
	}
	st := sqlstore.NewIdentity(db)
	sealer := &identity.VaultSealer{Wrapper: vault.NewLocalWrapper(keys)}
	outbox := identity.NewOutbox(st, sealer, p.clock.Now, id.Generator{})
	svc, err := identity.New(identity.Config{Store: st, Sealer: sealer, Notifier: outbox, Key: p.idKey, Clock: p.clock.Now,
		Hasher: &identity.Argon2id{Params: identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLength: 16, KeyLength: 32}}})
	if err != nil {
		t.Fatal(err)
	}
	return svc, outbox
}

func (p *sealedPayer) totpCode(t *testing.T) string {
	t.Helper()
	p.clock.Advance(identity.TOTPPeriod) // a step used already is a replay
	c, err := totp.GenerateCodeCustom(p.secret, p.clock.Now(), totp.ValidateOpts{Period: uint(identity.TOTPPeriod / time.Second),
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newSealedPayer(t *testing.T, data string) *sealedPayer {
	t.Helper()
	ctx := context.Background()
	p := &sealedPayer{data: data, idKey: identity.GenerateKey(), clock: testclock.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))}
	svc, outbox := p.open(t)
	su, err := svc.SignUp(ctx, identity.SignUpRequest{Email: "kyc@example.com", Phone: "+4915100000077"})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"kyc@example.com", "+4915100000077"} {
		ms, err := outbox.Messages(ctx, to, 1)
		if err != nil || len(ms) == 0 {
			t.Fatalf("outbox to %s: %v", to, err)
		}
		if _, err := svc.SignUpConfirm(ctx, su.Token, regexp.MustCompile(`\b\d{6}\b`).FindString(ms[0].Body)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := svc.SignUpPassword(ctx, su.Token, "a long enough passphrase", identity.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	p.customer = res.Customer.ID
	bd, _ := identity.ParseBirthDate("1975-06-07")
	if _, err := svc.SubmitKYC(ctx, p.customer, identity.IdentityData{GivenName: "Kay", FamilyName: "Why", BirthDate: bd,
		Address:      identity.Address{Line1: "x 1", City: "y", PostalCode: "1000", Country: "AT"},
		DocumentType: identity.DocumentPassport, DocumentCountry: "AT", DocumentNumber: sealedDocNumber}); err != nil {
		t.Fatal(err)
	}
	enrol, err := svc.EnrolTOTP(ctx, p.customer)
	if err != nil {
		t.Fatal(err)
	}
	p.secret = enrol.Secret
	if _, err := svc.ConfirmTOTP(ctx, p.customer, p.totpCode(t)); err != nil {
		t.Fatal(err)
	}
	return p
}

// stillOpens checks, with services made afresh from the files, that the
// payer's KYC data and TOTP are intact.
func (p *sealedPayer) stillOpens(t *testing.T, when string) {
	t.Helper()
	svc, _ := p.open(t)
	if got, err := svc.Identity(context.Background(), p.customer); err != nil || got.DocumentNumber != sealedDocNumber {
		t.Errorf("%s: Identity = %+v, %v; want the document number back", when, got, err)
	}
	if err := svc.VerifyTOTP(context.Background(), p.customer, p.totpCode(t)); err != nil {
		t.Errorf("%s: VerifyTOTP = %v; want the authenticator to keep working", when, err)
	}
}

// kassa keys retire refuses a key version that still seals KYC data and
// TOTP secrets, with a plain message and without touching the key file;
// after kassa keys rewrap it retires the version and everything opens.
func TestE2EKeysRetireCoversSealedValues(t *testing.T) {
	b := backends(t)[0](t)
	p := newSealedPayer(t, b.data)
	if out, err := runKassa(t, b, "keys", "rotate"); err != nil {
		t.Fatalf("keys rotate: %v %s", err, out)
	}
	out, err := runKassa(t, b, "keys", "retire", "1")
	if err == nil {
		t.Fatalf("keys retire 1 before the rewrap succeeded:\n%s", out)
	}
	// 5: the 2 KYC fields, the TOTP secret and the outbox's 2 sign-up codes.
	for _, want := range []string{"version 1 still protects", "5 other sealed values", "nothing was removed", "kassa keys rewrap"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("keys retire 1 before the rewrap says %q; want it to say %q", err, want)
		}
	}
	out, err = runKassa(t, b, "keys", "status", "--json")
	if err != nil {
		t.Fatalf("keys status: %v %s", err, out)
	}
	var st struct {
		Keys []keyStatusJSON `json:"keys"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Keys) != 2 || st.Keys[0].Version != 1 ||
		!st.Keys[0].Available || st.Keys[0].Sealed != 5 {
		t.Errorf("keys status after the refused retire = %s (%v); want version 1 kept, with the 5 sealed values", out, err)
	}
	p.stillOpens(t, "after the refused retire")

	if out, err := runKassa(t, b, "keys", "rewrap"); err != nil {
		t.Fatalf("keys rewrap: %v %s", err, out)
	}
	if out, err := runKassa(t, b, "keys", "retire", "1"); err != nil {
		t.Fatalf("keys retire 1 after the rewrap: %v %s", err, out)
	}
	keys, err := vault.OpenKeyFile(filepath.Join(b.data, vaultKEKFile))
	if err != nil {
		t.Fatal(err)
	}
	if v := keys.Versions(); len(v) != 1 || v[0] != 2 {
		t.Errorf("key versions after the retire = %v, want [2]", v)
	}
	p.stillOpens(t, "after the rewrap and the retire")
}
