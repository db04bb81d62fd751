package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity/passkey"
	"github.com/kassa/kassa/identity/passkey/passkeytest"
	"github.com/kassa/kassa/internal/testclock"
	"github.com/kassa/kassa/store/sqlstore"
)

func init() {
	Register("Passkeys", func(t *testing.T, open Opener) {
		t.Run("Ceremonies", func(t *testing.T) { testPasskeyCeremonies(t, open) })
		t.Run("ConcurrentTake", func(t *testing.T) { testPasskeyConcurrentTake(t, open) })
		t.Run("Credentials", func(t *testing.T) { testPasskeyCredentials(t, open) })
		t.Run("ConcurrentLimit", func(t *testing.T) { testPasskeyConcurrentLimit(t, open) })
		t.Run("RecordUse", func(t *testing.T) { testPasskeyRecordUse(t, open) })
		t.Run("Service", func(t *testing.T) { testPasskeyService(t, open) })
	})
}

var passkeyTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testPasskeyCeremonies(t *testing.T, open Opener) {
	s := sqlstore.NewPasskeys(open(t))
	ctx := context.Background()
	c := passkey.Ceremony{
		ID: "pkc_1", Kind: passkey.KindLogin, CustomerID: "cus_1", Purpose: passkey.PurposeStepUp, Subject: "pay_1",
		Session: []byte(`{"challenge":"abc"}`), Created: passkeyTime, Expires: passkeyTime.Add(passkey.CeremonyTTL),
	}
	if err := s.CreateCeremony(ctx, c); err != nil {
		t.Fatal(err)
	}
	disc := passkey.Ceremony{ID: "pkc_2", Kind: passkey.KindLogin, Purpose: passkey.PurposeLogin, Session: []byte(`{}`),
		Created: passkeyTime, Expires: passkeyTime.Add(time.Second)}
	reg := passkey.Ceremony{ID: "pkc_3", Kind: passkey.KindRegistration, CustomerID: "cus_1", Session: []byte(`{}`),
		Created: passkeyTime, Expires: passkeyTime.Add(time.Hour)}
	for _, x := range []passkey.Ceremony{disc, reg} {
		if err := s.CreateCeremony(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateCeremony(ctx, c); err == nil {
		t.Error("CreateCeremony accepted a duplicate id")
	}
	got, err := s.TakeCeremony(ctx, "pkc_1")
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Errorf("TakeCeremony = %+v, %v; want %+v", got, err, c)
	}
	if _, err := s.TakeCeremony(ctx, "pkc_1"); !errors.Is(err, passkey.ErrNotFound) {
		t.Errorf("second TakeCeremony = %v, want ErrNotFound", err)
	}
	if _, err := s.TakeCeremony(ctx, "pkc_nope"); !errors.Is(err, passkey.ErrNotFound) {
		t.Errorf("TakeCeremony(unknown) = %v, want ErrNotFound", err)
	}
	// Pruning deletes what expired before the time given, nothing else.
	if n, err := s.DeleteExpiredCeremonies(ctx, passkeyTime.Add(time.Second)); err != nil || n != 0 {
		t.Errorf("DeleteExpiredCeremonies at the expiry = %d, %v; want 0", n, err)
	}
	if n, err := s.DeleteExpiredCeremonies(ctx, passkeyTime.Add(time.Minute)); err != nil || n != 1 {
		t.Errorf("DeleteExpiredCeremonies = %d, %v; want 1", n, err)
	}
	if _, err := s.TakeCeremony(ctx, "pkc_2"); !errors.Is(err, passkey.ErrNotFound) {
		t.Errorf("pruned ceremony: %v", err)
	}
	if got, err := s.TakeCeremony(ctx, "pkc_3"); err != nil || !reflect.DeepEqual(got, reg) {
		t.Errorf("TakeCeremony(registration) = %+v, %v", got, err)
	}
}

// testPasskeyConcurrentTake: of callers taking one ceremony at once (the
// same response posted to several nodes), exactly one gets it.
func testPasskeyConcurrentTake(t *testing.T, open Opener) {
	s := sqlstore.NewPasskeys(open(t))
	ctx := context.Background()
	const ceremonies, takers = 5, 8
	for i := range ceremonies {
		c := passkey.Ceremony{ID: fmt.Sprintf("pkc_%d", i), Kind: passkey.KindLogin, CustomerID: "cus_1",
			Purpose: passkey.PurposeLogin, Session: []byte(`{}`), Created: passkeyTime, Expires: passkeyTime.Add(time.Minute)}
		if err := s.CreateCeremony(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for i := range ceremonies {
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for range takers {
			wg.Go(func() {
				_, err := s.TakeCeremony(ctx, fmt.Sprintf("pkc_%d", i))
				if err != nil && !errors.Is(err, passkey.ErrNotFound) {
					t.Errorf("TakeCeremony: %v", err)
				}
				if err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if won != 1 {
			t.Errorf("ceremony %d taken %d times by %d concurrent callers, want once", i, won, takers)
		}
	}
}

func newTestPasskey(customerID, id string, credID byte) passkey.Credential {
	yes := true
	return passkey.Credential{
		ID: id, CustomerID: customerID, RPID: "pay.example", CredentialID: []byte{credID, 1, 2, 3}, Name: "Passkey",
		PublicKey: []byte{0xa5, 1, 2}, PublicKeyAlgorithm: -7, AAGUID: bytes.Repeat([]byte{7}, 16), SignCount: 5,
		Transports: []string{"internal", "hybrid"}, Attachment: "platform", UserVerified: true, BackupEligible: true,
		Discoverable: &yes, AttestationFormat: "none", AttestationType: "none", AttestationObject: []byte{0xa3},
		ClientDataJSON: []byte(`{"type":"webauthn.create"}`), Created: passkeyTime,
	}
}

func testPasskeyCredentials(t *testing.T, open Opener) {
	s := sqlstore.NewPasskeys(open(t))
	ctx := context.Background()
	a := newTestPasskey("cus_a", "pkey_1", 1)
	if err := s.CreateCredential(ctx, a, 3); err != nil {
		t.Fatal(err)
	}
	// A minimal one: no transports, no AAGUID, discoverability unknown.
	b := passkey.Credential{ID: "pkey_2", CustomerID: "cus_a", RPID: "pay.example", CredentialID: []byte{2},
		Name: "Key", PublicKey: []byte{1}, UserVerified: true, Created: passkeyTime.Add(time.Second)}
	if err := s.CreateCredential(ctx, b, 3); err != nil {
		t.Fatal(err)
	}
	for _, want := range []passkey.Credential{a, b} {
		got, err := s.Credential(ctx, "cus_a", want.ID)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Credential(%s) = %+v, %v\nwant %+v", want.ID, got, err, want)
		}
	}
	if got, err := s.CredentialByCredentialID(ctx, "pay.example", a.CredentialID); err != nil || got.ID != a.ID {
		t.Errorf("CredentialByCredentialID = %+v, %v", got, err)
	}
	if _, err := s.CredentialByCredentialID(ctx, "other.example", a.CredentialID); !errors.Is(err, passkey.ErrNotFound) {
		t.Errorf("CredentialByCredentialID for another RP = %v, want ErrNotFound", err)
	}
	if _, err := s.Credential(ctx, "cus_b", a.ID); !errors.Is(err, passkey.ErrNotFound) {
		t.Errorf("Credential of another customer = %v, want ErrNotFound", err)
	}
	// A credential id is unique per RP ID.
	dup := newTestPasskey("cus_b", "pkey_3", 1)
	if err := s.CreateCredential(ctx, dup, 3); !errors.Is(err, passkey.ErrDuplicate) {
		t.Errorf("CreateCredential(same credential id) = %v, want ErrDuplicate", err)
	}
	dup.RPID = "other.example"
	if err := s.CreateCredential(ctx, dup, 3); err != nil {
		t.Errorf("the same credential id for another RP: %v", err)
	}
	// The limit counts the customer's credentials.
	c := newTestPasskey("cus_a", "pkey_4", 4)
	c.Created = passkeyTime.Add(-time.Second)
	if err := s.CreateCredential(ctx, c, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateCredential(ctx, newTestPasskey("cus_a", "pkey_5", 5), 3); !errors.Is(err, passkey.ErrLimit) {
		t.Errorf("a fourth credential with max 3 = %v, want ErrLimit", err)
	}
	list, err := s.Credentials(ctx, "cus_a", 10)
	if err != nil || len(list) != 3 || list[0].ID != "pkey_4" || list[1].ID != "pkey_1" || list[2].ID != "pkey_2" {
		t.Errorf("Credentials = %v, %v; want pkey_4, pkey_1, pkey_2 (oldest first)", passkeyIDs(list), err)
	}
	if list, _ := s.Credentials(ctx, "cus_a", 2); len(list) != 2 {
		t.Errorf("Credentials with limit 2 gave %d", len(list))
	}
	// Rename and delete only the customer's own.
	if err := s.RenameCredential(ctx, "cus_b", "pkey_1", "x"); !errors.Is(err, passkey.ErrNotFound) {
		t.Errorf("RenameCredential by another customer = %v", err)
	}
	if err := s.RenameCredential(ctx, "cus_a", "pkey_1", "Phone"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Credential(ctx, "cus_a", "pkey_1"); got.Name != "Phone" {
		t.Errorf("name %q after rename", got.Name)
	}
	if err := s.DeleteCredential(ctx, "cus_b", "pkey_1"); !errors.Is(err, passkey.ErrNotFound) {
		t.Errorf("DeleteCredential by another customer = %v", err)
	}
	if err := s.DeleteCredential(ctx, "cus_a", "pkey_1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCredential(ctx, "cus_a", "pkey_1"); !errors.Is(err, passkey.ErrNotFound) {
		t.Errorf("second DeleteCredential = %v", err)
	}
	// Deleting frees a place.
	if err := s.CreateCredential(ctx, newTestPasskey("cus_a", "pkey_5", 5), 3); err != nil {
		t.Errorf("a credential after a delete: %v", err)
	}
}

func passkeyIDs(cs []passkey.Credential) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

// testPasskeyConcurrentLimit: concurrent registrations of one customer do
// not exceed the limit together.
func testPasskeyConcurrentLimit(t *testing.T, open Opener) {
	s := sqlstore.NewPasskeys(open(t))
	ctx := context.Background()
	const limit, tries = 3, 12
	var wg sync.WaitGroup
	errs := make([]error, tries)
	for i := range tries {
		wg.Go(func() {
			errs[i] = s.CreateCredential(ctx, newTestPasskey("cus_race", fmt.Sprintf("pkey_%d", i), byte(i)), limit)
		})
	}
	wg.Wait()
	created := 0
	for _, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, passkey.ErrLimit):
			t.Errorf("CreateCredential: %v", err)
		}
	}
	list, err := s.Credentials(ctx, "cus_race", 100)
	if err != nil || created != limit || len(list) != limit {
		t.Errorf("%d concurrent registrations with limit %d: %d succeeded, %d stored (%v)", tries, limit, created, len(list), err)
	}
}

func testPasskeyRecordUse(t *testing.T, open Opener) {
	s := sqlstore.NewPasskeys(open(t))
	ctx := context.Background()
	c := newTestPasskey("cus_a", "pkey_1", 1)
	if err := s.CreateCredential(ctx, c, 3); err != nil {
		t.Fatal(err)
	}
	used := passkeyTime.Add(time.Hour)
	// The count must still be the one read.
	if ok, err := s.RecordUse(ctx, c.ID, 4, 9, false, used); err != nil || ok {
		t.Errorf("RecordUse with a stale count = %v, %v; want false", ok, err)
	}
	if ok, err := s.RecordUse(ctx, c.ID, 5, 9, true, used); err != nil || !ok {
		t.Errorf("RecordUse = %v, %v; want true", ok, err)
	}
	got, _ := s.Credential(ctx, "cus_a", c.ID)
	if got.SignCount != 9 || !got.BackupState || !got.LastUsed.Equal(used) {
		t.Errorf("after RecordUse: count %d, backup state %v, last used %v", got.SignCount, got.BackupState, got.LastUsed)
	}
	// Flagged: stays flagged at its first time, and takes no more uses.
	if err := s.FlagCloned(ctx, c.ID, used); err != nil {
		t.Fatal(err)
	}
	if err := s.FlagCloned(ctx, c.ID, used.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.RecordUse(ctx, c.ID, 9, 10, true, used); err != nil || ok {
		t.Errorf("RecordUse of a flagged credential = %v, %v; want false", ok, err)
	}
	got, _ = s.Credential(ctx, "cus_a", c.ID)
	if !got.CloneSuspected.Equal(used) || got.SignCount != 9 {
		t.Errorf("after FlagCloned: suspected %v, count %d", got.CloneSuspected, got.SignCount)
	}
	// The largest counter fits.
	if ok, err := s.RecordUse(ctx, "pkey_nope", 0, 1, false, used); err != nil || ok {
		t.Errorf("RecordUse(unknown) = %v, %v", ok, err)
	}
	d := newTestPasskey("cus_a", "pkey_2", 2)
	d.SignCount = 1<<32 - 2
	if err := s.CreateCredential(ctx, d, 3); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.RecordUse(ctx, d.ID, d.SignCount, 1<<32-1, false, used); err != nil || !ok {
		t.Errorf("RecordUse to the largest count = %v, %v", ok, err)
	}
	if got, _ := s.Credential(ctx, "cus_a", d.ID); got.SignCount != 1<<32-1 {
		t.Errorf("count %d, want %d", got.SignCount, uint32(1<<32-1))
	}
}

// testPasskeyService runs the service's ceremonies on the backend: what
// one node begins another finishes, once.
func testPasskeyService(t *testing.T, open Opener) {
	db := open(t)
	ctx := context.Background()
	clock := testclock.New(passkeyTime)
	newNode := func() *passkey.Service {
		svc, err := passkey.New(passkey.Config{RPID: "pay.example", RPDisplayName: "Kassa",
			Origins: []string{"https://pay.example"}, Store: sqlstore.NewPasskeys(db), Clock: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	node1, node2 := newNode(), newNode()
	auth := passkeytest.New("https://pay.example")
	user := passkey.User{CustomerID: "cus_payer", Email: "payer@example.com"}

	opts, cid, err := node1.BeginRegistration(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := auth.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := node2.FinishRegistration(ctx, cid, user, resp)
	if err != nil {
		t.Fatalf("FinishRegistration on another node: %v", err)
	}
	opts, cid, err = node2.BeginLogin(ctx, user, passkey.PurposeStepUp, "pay_1")
	if err != nil {
		t.Fatal(err)
	}
	if resp, err = auth.Get(opts); err != nil {
		t.Fatal(err)
	}
	// The same response at both nodes at once: one accepts it.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, n := range []*passkey.Service{node1, node2} {
		wg.Go(func() { _, errs[i] = n.FinishLogin(ctx, cid, passkey.PurposeStepUp, "pay_1", resp) })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("one response finished at two nodes: %v, %v; want one refused", errs[0], errs[1])
	}
	for _, err := range errs {
		if e := kassa.AsError(err); err != nil && (e == nil || e.Code != passkey.CodeCeremonyUnknown) {
			t.Errorf("the second finish = %v, want %s", err, passkey.CodeCeremonyUnknown)
		}
	}
	got, err := node1.Credentials(ctx, user.CustomerID)
	if err != nil || len(got) != 1 || got[0].ID != cred.ID || got[0].SignCount != cred.SignCount+1 {
		t.Errorf("Credentials = %+v, %v; want the passkey used once", got, err)
	}
}
