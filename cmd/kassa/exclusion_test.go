package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/identitytest"
)

// TestExclusionWiring: with --self-exclusion-registers spelpaus=test,
// the app's identity asks compliance's registers at the identity step of
// sign-up (compliance is made after identity and handed to it late).
func TestExclusionWiring(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var cfg appConfig
	fs := newFlagSet("test", "", io.Discard)
	cfg.register(fs)
	if err := parseFlags(fs, []string{"--data", dir, "--self-exclusion-registers", "spelpaus=test"}, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	a, err := newApp(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	client := identity.Client{IP: "192.0.2.7", UserAgent: "test"}
	su, err := a.identity.SignUp(ctx, identity.SignUpRequest{Email: "sven@example.com", Phone: "+46701234567", Client: client})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"sven@example.com", "+46701234567"} {
		if _, err := a.identity.SignUpConfirm(ctx, su.Token, identitytest.LastCode(t, a.outbox, to)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := a.identity.SignUpPassword(ctx, su.Token, "correct horse battery staple 42", client)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.identity.SubmitKYC(ctx, res.Customer.ID, identity.IdentityData{GivenName: "Sven", FamilyName: compliance.TestExcludedName,
		BirthDate:    time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC),
		Address:      identity.Address{Line1: "Storgatan 1", City: "Stockholm", PostalCode: "11122", Country: "SE"},
		DocumentType: identity.DocumentIDCard, DocumentCountry: "SE", DocumentNumber: "SE1234567"})
	if e := kassa.AsError(err); e == nil || e.Code != identity.CodeSelfExcluded {
		t.Fatalf("identity step of an excluded Swede: %v, want %s", err, identity.CodeSelfExcluded)
	}
}
