package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/privacy/seal"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
)

func init() {
	Register("Identity", func(t *testing.T, open Opener) {
		t.Run("Customers", func(t *testing.T) { testIdentityCustomers(t, open) })
		t.Run("SealedAtRest", func(t *testing.T) { testIdentitySealedAtRest(t, open) })
		t.Run("Codes", func(t *testing.T) { testIdentityCodes(t, open) })
		t.Run("Rates", func(t *testing.T) { testIdentityRates(t, open) })
		t.Run("Throttles", func(t *testing.T) { testIdentityThrottles(t, open) })
		t.Run("Sessions", func(t *testing.T) { testIdentitySessions(t, open) })
		t.Run("Devices", func(t *testing.T) { testIdentityDevices(t, open) })
		t.Run("RecoveryCodes", func(t *testing.T) { testIdentityRecoveryCodes(t, open) })
		t.Run("OutboxAndPrune", func(t *testing.T) { testIdentityOutboxAndPrune(t, open) })
	})
}

var identityT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newCustomer(t *testing.T, s *sqlstore.Identity, email string) identity.Record {
	t.Helper()
	r := identity.Record{ID: id.New("cus"), Email: email, EmailVerifiedAt: identityT0, Phone: "+4915100000001",
		Level: identity.LevelUnverified, Created: identityT0, Updated: identityT0}
	if err := s.CreateCustomer(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func testIdentityCustomers(t *testing.T, open Opener) {
	ctx := context.Background()
	s := sqlstore.NewIdentity(open(t))
	r := newCustomer(t, s, "a@example.com")
	dup := r
	dup.ID = id.New("cus")
	if err := s.CreateCustomer(ctx, dup); !errors.Is(err, identity.ErrDuplicate) {
		t.Errorf("second customer with the email: %v, want ErrDuplicate", err)
	}
	if _, err := s.Customer(ctx, "cus_nope"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("unknown customer: %v", err)
	}
	got, err := s.CustomerByEmail(ctx, "a@example.com")
	if err != nil || got.ID != r.ID || !got.EmailVerifiedAt.Equal(identityT0) || !got.PhoneVerifiedAt.IsZero() {
		t.Fatalf("by email = %+v, %v", got, err)
	}
	// Every field survives an update.
	want := identity.Record{}
	_, err = s.UpdateCustomer(ctx, r.ID, func(x *identity.Record) error {
		x.Phone, x.PhoneVerifiedAt = "+4915100000002", identityT0.Add(time.Second)
		x.PasswordHash, x.PasswordChangedAt, x.Level = "$argon2id$x", identityT0.Add(2*time.Second), identity.LevelKYCVerified
		x.KYC = identity.KYCRecord{GivenName: "Ana", FamilyName: "Lima", DocumentType: identity.DocumentPassport,
			DocumentCountry: "PT", BirthDate: []byte{1, 2}, DocumentNumber: []byte{3, 4}, SubmittedAt: identityT0, VerifiedAt: identityT0,
			Address: identity.Address{Line1: "l1", Line2: "l2", City: "c", PostalCode: "p", Region: "r", Country: "PT"}}
		x.TOTP = identity.TOTPRecord{Secret: []byte{5}, Pending: []byte{6}, EnabledAt: identityT0, LastStep: 12345}
		x.Updated = identityT0.Add(time.Hour)
		want = *x
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = s.Customer(ctx, r.ID)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after update\n got %+v\nwant %+v", got, want)
	}
	// An error from fn writes nothing.
	boom := errors.New("boom")
	if _, err := s.UpdateCustomer(ctx, r.ID, func(x *identity.Record) error { x.Phone = "+1"; return boom }); !errors.Is(err, boom) {
		t.Errorf("UpdateCustomer = %v, want boom", err)
	}
	if got, _ := s.Customer(ctx, r.ID); got.Phone != "+4915100000002" {
		t.Error("a failed update changed the row")
	}
}

// identitySealer seals with a fresh vault key.
func identitySealer(t *testing.T) identity.Sealer {
	t.Helper()
	k := make([]byte, vault.KEKLength)
	rand.Read(k)
	keys, err := vault.ParseKeys("1:" + base64.StdEncoding.EncodeToString(k))
	if err != nil {
		t.Fatal(err)
	}
	return &identity.VaultSealer{Wrapper: vault.NewLocalWrapper(keys)}
}

// testIdentitySealedAtRest runs a sign-up, KYC and login through the
// service and reads the raw rows: no password, code, token or sealed
// field in clear.
func testIdentitySealedAtRest(t *testing.T, open Opener) {
	ctx := context.Background()
	db := open(t)
	s := sqlstore.NewIdentity(db)
	clock := testclock.New(identityT0)
	outbox := identity.NewOutbox(s, identitySealer(t), clock.Now, id.Generator{})
	svc, err := identity.New(identity.Config{Store: s, Sealer: identitySealer(t), Notifier: outbox, Key: identity.GenerateKey(),
		Clock: clock.Now, Hasher: &identity.Argon2id{Params: identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLength: 16, KeyLength: 32}}})
	if err != nil {
		t.Fatal(err)
	}
	code := func(to string) string {
		ms, err := outbox.Messages(ctx, to, 1)
		if err != nil || len(ms) == 0 {
			t.Fatalf("outbox to %s: %v", to, err)
		}
		return regexp.MustCompile(`\b\d{6}\b`).FindString(ms[0].Body)
	}
	const pw = "a long enough passphrase"
	su, err := svc.SignUp(ctx, identity.SignUpRequest{Email: "raw@example.com", Phone: "+4915100000077"})
	if err != nil {
		t.Fatal(err)
	}
	codes := []string{code("raw@example.com")}
	if _, err := svc.SignUpConfirm(ctx, su.Token, codes[0]); err != nil {
		t.Fatal(err)
	}
	codes = append(codes, code("+4915100000077"))
	if _, err := svc.SignUpConfirm(ctx, su.Token, codes[1]); err != nil {
		t.Fatal(err)
	}
	res, err := svc.SignUpPassword(ctx, su.Token, pw, identity.Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	const docNumber, birth = "ZX9081726", "1987-06-05"
	bd, _ := identity.ParseBirthDate(birth)
	if _, err := svc.SubmitKYC(ctx, res.Customer.ID, identity.IdentityData{GivenName: "Raw", FamilyName: "Row", BirthDate: bd,
		Address:      identity.Address{Line1: "x 1", City: "y", PostalCode: "1000", Country: "AT"},
		DocumentType: identity.DocumentPassport, DocumentCountry: "AT", DocumentNumber: docNumber}); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Identity(ctx, res.Customer.ID)
	if err != nil || got.DocumentNumber != docNumber || got.BirthDate.Format(time.DateOnly) != birth {
		t.Fatalf("Identity = %+v, %v", got, err)
	}

	var bsealed, dsealed []byte
	var hash, given string
	err = db.QueryRowContext(ctx, `SELECT birth_date_sealed, document_number_sealed, password_hash, given_name FROM customers WHERE id = ?`,
		res.Customer.ID).Scan(&bsealed, &dsealed, &hash, &given)
	if err != nil {
		t.Fatal(err)
	}
	if (given != "Raw" && !seal.Sealed(given)) || len(bsealed) < 40 || len(dsealed) < 40 { // (sealed per subject with sealing on)
		t.Fatalf("raw row: given %q, sealed %d and %d bytes", given, len(bsealed), len(dsealed))
	}
	for _, clear := range [][]byte{[]byte(docNumber), []byte(birth), []byte("19870605"), []byte("ZX90")} {
		if bytes.Contains(bsealed, clear) || bytes.Contains(dsealed, clear) {
			t.Errorf("a sealed column holds %q in clear", clear)
		}
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$") || strings.Contains(hash, pw) {
		t.Errorf("password_hash = %q", hash)
	}
	// Sessions are found by the SHA-256 of their token only.
	sum := sha256.Sum256([]byte(res.Token))
	var n int
	db.QueryRowContext(ctx, `SELECT COUNT(*) FROM identity_sessions WHERE token_hash = ?`, sum[:]).Scan(&n)
	if n != 1 {
		t.Errorf("%d sessions with the token's SHA-256, want 1", n)
	}
	db.QueryRowContext(ctx, `SELECT COUNT(*) FROM identity_sessions WHERE token_hash = ?`, []byte(res.Token)).Scan(&n)
	if n != 0 {
		t.Error("a session row holds the token")
	}
	// Code rows hold 32-byte keyed hashes, never the code.
	rows, err := db.QueryContext(ctx, `SELECT code_hash FROM identity_codes`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var h []byte
		rows.Scan(&h)
		for _, c := range codes {
			if len(h) != 32 || bytes.Contains(h, []byte(c)) {
				t.Errorf("code hash %x holds a code or is no HMAC-SHA256", h)
			}
		}
	}
	// The login works on this backend, from the sign-up's device.
	if _, err := svc.Login(ctx, identity.LoginRequest{Email: "raw@example.com", Password: pw,
		Client: identity.Client{DeviceToken: res.DeviceToken}}); err != nil {
		t.Errorf("login: %v", err)
	}
}

func testIdentityCodes(t *testing.T, open Opener) {
	ctx := context.Background()
	s := sqlstore.NewIdentity(open(t))
	mk := func(subject string, at time.Time) identity.Code {
		c := identity.Code{ID: id.New("otp"), Owner: "cus_x", Purpose: identity.PurposeStepUp, Subject: subject,
			Channel: identity.ChannelEmail, To: "x@example.com", Hash: []byte(subject), Created: at, ExpiresAt: at.Add(10 * time.Minute)}
		if err := s.CreateCode(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	accept := func(subject string) func(identity.Code) identity.CodeCheck {
		return func(c identity.Code) identity.CodeCheck {
			if c.Subject == subject {
				return identity.CodeAccepted
			}
			return identity.CodeRejected
		}
	}
	mk("a", identityT0)
	mk("b", identityT0.Add(time.Second)) // ends "a"
	if v, err := s.CheckCode(ctx, "cus_x", identity.PurposeStepUp, identityT0, 5, accept("a")); err != nil || v != identity.CodeRejected {
		t.Errorf("check against the replaced code: %v, %v; want rejected (the live code is b)", v, err)
	}
	for i := 1; i < 5; i++ {
		s.CheckCode(ctx, "cus_x", identity.PurposeStepUp, identityT0, 5, accept("zzz"))
	}
	if _, err := s.CheckCode(ctx, "cus_x", identity.PurposeStepUp, identityT0, 5, accept("b")); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("after 5 rejections: %v, want ErrNotFound (dead)", err)
	}
	// Expired: nothing changes.
	mk("c", identityT0)
	if v, _ := s.CheckCode(ctx, "cus_x", identity.PurposeStepUp, identityT0, 5, func(identity.Code) identity.CodeCheck { return identity.CodeExpired }); v != identity.CodeExpired {
		t.Errorf("verdict %v", v)
	}
	// Concurrent right answers: exactly one is accepted.
	var wg sync.WaitGroup
	var accepted atomic.Int32
	for range 8 {
		wg.Go(func() {
			v, err := s.CheckCode(ctx, "cus_x", identity.PurposeStepUp, identityT0, 5, accept("c"))
			if err == nil && v == identity.CodeAccepted {
				accepted.Add(1)
			} else if err != nil && !errors.Is(err, identity.ErrNotFound) {
				t.Errorf("concurrent check: %v", err)
			}
		})
	}
	wg.Wait()
	if accepted.Load() != 1 {
		t.Errorf("%d concurrent acceptances of one code, want 1", accepted.Load())
	}
	// Another owner or purpose has its own codes.
	if _, err := s.CheckCode(ctx, "cus_y", identity.PurposeStepUp, identityT0, 5, accept("c")); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("another owner: %v", err)
	}
}

func testIdentityRates(t *testing.T, open Opener) {
	ctx := context.Background()
	s := sqlstore.NewIdentity(open(t))
	limits := []identity.Rate{{Count: 5, Per: time.Hour}}
	var wg sync.WaitGroup
	var ok atomic.Int32
	for range 12 {
		wg.Go(func() {
			allowed, _, err := s.TakeRate(ctx, "send:x@example.com", identityT0, limits)
			if err != nil {
				t.Errorf("TakeRate: %v", err)
			}
			if allowed {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 5 {
		t.Errorf("%d of 12 concurrent events allowed, want 5", ok.Load())
	}
	allowed, retry, err := s.TakeRate(ctx, "send:x@example.com", identityT0.Add(time.Minute), limits)
	if err != nil || allowed || !retry.Equal(identityT0.Add(time.Hour)) {
		t.Errorf("TakeRate = %v, %s, %v; want refused until %s", allowed, retry, err, identityT0.Add(time.Hour))
	}
	if allowed, _, _ := s.TakeRate(ctx, "send:x@example.com", identityT0.Add(time.Hour), limits); !allowed {
		t.Error("refused an hour later")
	}
	if allowed, _, _ := s.TakeRate(ctx, "send:other", identityT0, limits); !allowed {
		t.Error("another key shares the limit")
	}
}

func testIdentityThrottles(t *testing.T, open Opener) {
	ctx := context.Background()
	s := sqlstore.NewIdentity(open(t))
	k := identity.ThrottleKey{Scope: identity.ScopeAccount, Subject: "a@example.com"}
	ip := identity.ThrottleKey{Scope: identity.ScopeIP, Subject: "192.0.2.1"}
	ts, err := s.Throttles(ctx, []identity.ThrottleKey{k, ip})
	if err != nil || len(ts) != 2 || ts[0].Key != k || ts[0].Failures != 0 || !ts[1].BlockedUntil.IsZero() {
		t.Fatalf("unseen throttles = %+v, %v", ts, err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := s.UpdateThrottles(ctx, []identity.ThrottleKey{k, ip}, func(x identity.Throttle) identity.Throttle {
				x.Failures++
				x.BlockedUntil, x.Updated = identityT0.Add(time.Minute), identityT0
				return x
			})
			if err != nil {
				t.Errorf("UpdateThrottles: %v", err)
			}
		})
	}
	wg.Wait()
	ts, _ = s.Throttles(ctx, []identity.ThrottleKey{ip, k})
	if ts[0].Failures != 20 || ts[1].Failures != 20 || !ts[1].BlockedUntil.Equal(identityT0.Add(time.Minute)) || ts[0].Key != ip {
		t.Errorf("after 20 concurrent failures: %+v", ts)
	}

	// Reservations are all or none and serialized: 50 concurrent takes
	// that each want a place on both keys while fewer than 5 are taken
	// get exactly 5; a key already full refuses the other's place too.
	other := identity.ThrottleKey{Scope: identity.ScopeAccount, Subject: "b@example.com"}
	var took atomic.Int64
	for range 50 {
		wg.Go(func() {
			got, ok, err := s.ReserveThrottles(ctx, []identity.ThrottleKey{other, ip}, func(xs []identity.Throttle) ([]identity.Throttle, bool) {
				if xs[0].Reserved >= 5 {
					return xs, false
				}
				for i := range xs {
					xs[i].Reserved++
					xs[i].ReservedUntil = identityT0.Add(time.Minute)
				}
				return xs, true
			})
			if err != nil {
				t.Errorf("ReserveThrottles: %v", err)
			}
			if ok {
				took.Add(1)
				if got[1].Key != ip || got[1].Reserved < 1 {
					t.Errorf("ReserveThrottles returned %+v", got)
				}
			}
		})
	}
	wg.Wait()
	ts, _ = s.Throttles(ctx, []identity.ThrottleKey{other, ip})
	if took.Load() != 5 || ts[0].Reserved != 5 || ts[1].Reserved != 5 || !ts[0].ReservedUntil.Equal(identityT0.Add(time.Minute)) ||
		ts[1].Failures != 20 {
		t.Errorf("50 concurrent reservations took %d: %+v", took.Load(), ts)
	}
}

func testIdentitySessions(t *testing.T, open Opener) {
	ctx := context.Background()
	s := sqlstore.NewIdentity(open(t))
	r := newCustomer(t, s, "s@example.com")
	var ids []string
	for i := range 4 {
		at := identityT0.Add(time.Duration(i) * time.Second)
		h := sha256.Sum256([]byte{byte(i)})
		x := identity.Session{ID: id.New("ses"), CustomerID: r.ID, TokenHash: h[:], AAL: identity.AAL1, Created: at,
			LastSeen: at, IdleExpiresAt: at.Add(30 * time.Minute), ExpiresAt: at.Add(12 * time.Hour), IP: "192.0.2.1"}
		if err := s.CreateSession(ctx, x, 3); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, x.ID)
	}
	live, err := s.Sessions(ctx, r.ID, identityT0.Add(time.Minute), 100)
	if err != nil || len(live) != 3 || live[0].ID != ids[3] || live[2].ID != ids[1] {
		t.Fatalf("live sessions = %d (%v), want the newest 3, newest first", len(live), err)
	}
	first, err := s.SessionByTokenHash(ctx, live[2].TokenHash)
	if err != nil || first.ID != ids[1] || first.AAL != identity.AAL1 || first.Pending || first.IP != "192.0.2.1" {
		t.Errorf("by hash = %+v, %v", first, err)
	}
	// A token hash is unique.
	_, err = s.UpdateSession(ctx, ids[1], func(x *identity.Session) error { x.TokenHash = live[0].TokenHash; return nil })
	if !errors.Is(err, identity.ErrDuplicate) {
		t.Errorf("taking another session's hash: %v, want ErrDuplicate", err)
	}
	got, err := s.UpdateSession(ctx, ids[1], func(x *identity.Session) error {
		x.AAL, x.SecondFactorAt, x.DeviceID = identity.AAL2, identityT0, "dev_x"
		return nil
	})
	if err != nil || got.AAL != identity.AAL2 || got.DeviceID != "dev_x" {
		t.Errorf("update = %+v, %v", got, err)
	}
	if n, err := s.RevokeSessions(ctx, r.ID, ids[3], identityT0.Add(time.Minute)); err != nil || n != 2 {
		t.Errorf("RevokeSessions = %d, %v; want 2", n, err)
	}
	if live, _ := s.Sessions(ctx, r.ID, identityT0.Add(time.Minute), 100); len(live) != 1 || live[0].ID != ids[3] {
		t.Errorf("after revoking the others: %d live", len(live))
	}
	if live, _ := s.Sessions(ctx, r.ID, identityT0.Add(31*time.Minute), 100); len(live) != 0 {
		t.Errorf("%d sessions live past their idle expiry", len(live))
	}
	if err := s.CreateSession(ctx, identity.Session{ID: id.New("ses"), CustomerID: "cus_none", TokenHash: []byte{1}}, 3); err == nil {
		t.Error("a session of an unknown customer was stored")
	}
}

func testIdentityDevices(t *testing.T, open Opener) {
	ctx := context.Background()
	s := sqlstore.NewIdentity(open(t))
	r := newCustomer(t, s, "d@example.com")
	var ids []string
	for i := range 3 {
		at := identityT0.Add(time.Duration(i) * time.Second)
		d := identity.Device{ID: id.New("dev"), CustomerID: r.ID, UserAgent: "ua", Created: at, LastSeen: at}
		if i == 0 {
			d.FingerprintHash = []byte{9}
		}
		if err := s.CreateDevice(ctx, d, 2); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	ds, err := s.Devices(ctx, r.ID, 100)
	if err != nil || len(ds) != 2 || ds[0].ID != ids[2] {
		t.Fatalf("devices = %+v, %v; want the 2 most recently seen", ds, err)
	}
	old, err := s.Device(ctx, ids[0])
	if err != nil || old.RevokedAt.IsZero() || !bytes.Equal(old.FingerprintHash, []byte{9}) {
		t.Errorf("the least recently seen device = %+v, %v; want revoked", old, err)
	}
	d, err := s.UpdateDevice(ctx, ids[1], func(d *identity.Device) error { d.LastSeen, d.IP = identityT0.Add(time.Hour), "192.0.2.9"; return nil })
	if err != nil || d.IP != "192.0.2.9" {
		t.Fatal(err)
	}
	if ds, _ := s.Devices(ctx, r.ID, 100); ds[0].ID != ids[1] {
		t.Error("devices are not ordered by last use")
	}
	// A device's name is kept and listed.
	if _, err := s.UpdateDevice(ctx, ids[1], func(d *identity.Device) error { d.Name = "Küchen-Laptop"; return nil }); err != nil {
		t.Fatal(err)
	}
	if ds, _ := s.Devices(ctx, r.ID, 100); ds[0].Name != "Küchen-Laptop" || ds[1].Name != "" {
		t.Errorf("device names %q, %q after renaming the first", ds[0].Name, ds[1].Name)
	}
	if _, err := s.Device(ctx, "dev_none"); !errors.Is(err, identity.ErrNotFound) {
		t.Errorf("unknown device: %v", err)
	}
}

func testIdentityRecoveryCodes(t *testing.T, open Opener) {
	ctx := context.Background()
	s := sqlstore.NewIdentity(open(t))
	r := newCustomer(t, s, "rc@example.com")
	if err := s.ReplaceRecoveryCodes(ctx, r.ID, [][]byte{{1}, {2}, {3}}, identityT0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var used atomic.Int32
	for range 6 {
		wg.Go(func() {
			ok, err := s.UseRecoveryCode(ctx, r.ID, []byte{2}, identityT0)
			if err != nil {
				t.Errorf("UseRecoveryCode: %v", err)
			}
			if ok {
				used.Add(1)
			}
		})
	}
	wg.Wait()
	if used.Load() != 1 {
		t.Errorf("one code used %d times", used.Load())
	}
	if n, _ := s.RecoveryCodesLeft(ctx, r.ID); n != 2 {
		t.Errorf("%d left, want 2", n)
	}
	s.ReplaceRecoveryCodes(ctx, r.ID, [][]byte{{7}}, identityT0)
	if ok, _ := s.UseRecoveryCode(ctx, r.ID, []byte{1}, identityT0); ok {
		t.Error("a replaced code still works")
	}
	if n, _ := s.RecoveryCodesLeft(ctx, r.ID); n != 1 {
		t.Errorf("%d left after replacing, want 1", n)
	}
}

func testIdentityOutboxAndPrune(t *testing.T, open Opener) {
	ctx := context.Background()
	s := sqlstore.NewIdentity(open(t))
	for i, to := range []string{"a@example.com", "b@example.com", "a@example.com"} {
		m := identity.OutboxMessage{ID: id.New("msg"), Message: identity.Message{Channel: identity.ChannelEmail, To: to,
			Subject: "s"}, BodySealed: fmt.Append(nil, "body ", i), Created: identityT0.Add(time.Duration(i) * time.Hour)}
		if err := s.AppendOutbox(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := s.OutboxMessages(ctx, "a@example.com", 10)
	if err != nil || len(ms) != 2 || string(ms[0].BodySealed) != "body 2" || ms[0].Channel != identity.ChannelEmail {
		t.Fatalf("outbox to a = %+v, %v", ms, err)
	}
	if ms, _ := s.OutboxMessages(ctx, "", 2); len(ms) != 2 || string(ms[1].BodySealed) != "body 1" {
		t.Errorf("outbox, limit 2 = %+v", ms)
	}
	s.TakeRate(ctx, "k", identityT0, []identity.Rate{{Count: 1, Per: time.Minute}})
	s.CreateCode(ctx, identity.Code{ID: id.New("otp"), Owner: "o", Purpose: identity.PurposeLogin, Channel: identity.ChannelSMS,
		Hash: []byte{1}, Created: identityT0, ExpiresAt: identityT0.Add(10 * time.Minute)})
	n, err := s.Prune(ctx, identityT0.Add(90*time.Minute))
	if err != nil || n != 4 { // two messages, the rate, the code
		t.Errorf("Prune = %d, %v; want 4", n, err)
	}
	if ms, _ := s.OutboxMessages(ctx, "", 10); len(ms) != 1 {
		t.Errorf("%d messages after pruning, want 1", len(ms))
	}
	clear := identity.OutboxMessage{ID: id.New("msg"), Message: identity.Message{Channel: identity.ChannelEmail, To: "c@example.com",
		Body: "123456"}, Created: identityT0}
	if err := s.AppendOutbox(ctx, clear); err == nil {
		t.Error("AppendOutbox stored a message body in clear")
	}
}
