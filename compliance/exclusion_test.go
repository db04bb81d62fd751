package compliance_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/identitytest"
	"github.com/kassa/kassa/store/sqlstore"
)

// countedRegister is the test register, counting whom it was asked
// about (by family name).
type countedRegister struct {
	compliance.TestRegister
	mu    sync.Mutex
	asked map[string]int
}

func (c *countedRegister) Check(ctx context.Context, p compliance.Person) (compliance.Answer, error) {
	c.mu.Lock()
	c.asked[p.FamilyName]++
	c.mu.Unlock()
	return c.TestRegister.Check(ctx, p)
}

func (c *countedRegister) count(family string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.asked[family]
}

const exclusionPassword = "correct horse battery staple 7"

// payer is a Kassa account made for the exclusion tests.
type payer struct {
	id, email, device string
}

// signUp takes a payer through sign-up steps 1 to 4 on ids.
func signUp(t *testing.T, e *env, ids *identity.Service) payer {
	t.Helper()
	n := accounts.Add(1)
	email, phone := fmt.Sprintf("x%d@example.com", n), fmt.Sprintf("+4915113%06d", n)
	client := identity.Client{IP: "192.0.2.9", UserAgent: "test"}
	su, err := ids.SignUp(e.ctx, identity.SignUpRequest{Email: email, Phone: phone, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{email, phone} {
		if _, err := ids.SignUpConfirm(e.ctx, su.Token, identitytest.LastCode(t, e.outbox, to)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := ids.SignUpPassword(e.ctx, su.Token, exclusionPassword, client)
	if err != nil {
		t.Fatal(err)
	}
	return payer{id: res.Customer.ID, email: email, device: res.DeviceToken}
}

func identityData(given, family, country string) identity.IdentityData {
	n := accounts.Add(1)
	return identity.IdentityData{GivenName: given, FamilyName: family, BirthDate: time.Date(1990, 5, 17, 0, 0, 0, 0, time.UTC),
		Address:      identity.Address{Line1: "Storgatan 1", City: "Stockholm", PostalCode: "11122", Country: country},
		DocumentType: identity.DocumentIDCard, DocumentCountry: country, DocumentNumber: fmt.Sprintf("X%08d", n)}
}

// TestRegistersAtSignUpAndLogin: identity asks the registers the
// payer's residence requires at the identity step of sign-up and at
// every login, through compliance (the Swedish policy: Spelpaus at
// sign-up, login and deposit), and only when the whole login passed.
func TestRegistersAtSignUpAndLogin(t *testing.T) {
	e := newSQLiteEnv(t)
	spelpaus := &countedRegister{TestRegister: compliance.TestRegister{RegisterName: "spelpaus", Clock: e.clk.Now}, asked: map[string]int{}}
	oasis := &countedRegister{TestRegister: compliance.TestRegister{RegisterName: "oasis", Clock: e.clk.Now}, asked: map[string]int{}}
	// ROFUS (Denmark) is required by its policy but not configured here.
	svc := compliance.New(compliance.Config{Store: e.store, Merchants: e.merchants,
		Registers: map[string]compliance.SelfExclusionRegister{"spelpaus": spelpaus, "oasis": oasis}, Clock: e.clk.Now})
	// ids asks the registers; before is the same service without them,
	// for people who verified their identity before a register listed
	// them.
	cfg := identity.Config{Store: sqlstore.NewIdentity(e.db), Sealer: identitytest.Sealer(t), Notifier: e.outbox,
		Key: identity.GenerateKey(), Hasher: &identity.Argon2id{Params: fastArgon}, Clock: e.clk.Now}
	before, err := identity.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Exclusion = compliance.IdentityExclusion{Service: svc}
	ids, err := identity.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client := func(p payer) identity.Client {
		return identity.Client{IP: "192.0.2.9", UserAgent: "test", DeviceToken: p.device}
	}

	t.Run("sign-up of a Swede on Spelpaus is refused and keeps nothing", func(t *testing.T) {
		p := signUp(t, e, ids)
		_, err := ids.SubmitKYC(e.ctx, p.id, identityData("Sven", compliance.TestExcludedName, "SE"))
		ke := wantCode(t, "sign-up", err, identity.CodeSelfExcluded)
		if ke.Kind != kassa.EForbidden || ke.Details["register"] != "spelpaus" {
			t.Errorf("refusal = %+v", ke)
		}
		if got, want := compliance.LiftsAt(ke), start.Add(compliance.TestExcludedFor); !got.Equal(want) {
			t.Errorf("lifts_at = %v, want %v", got, want)
		}
		d, err := ids.Identity(e.ctx, p.id)
		if err != nil || d.FamilyName != "" || d.DocumentNumber != "" {
			t.Errorf("identity data kept: %+v, %v", d, err)
		}
		c, _ := ids.Customer(e.ctx, p.id)
		if c.Level != identity.LevelVerified {
			t.Errorf("level = %s, want verified", c.Level)
		}
	})
	t.Run("sign-up with Spelpaus unreachable fails closed", func(t *testing.T) {
		p := signUp(t, e, ids)
		_, err := ids.SubmitKYC(e.ctx, p.id, identityData("Sara", compliance.TestUnreachableName, "SE"))
		if ke := wantCode(t, "sign-up", err, identity.CodeExclusionCheckUnavailable); ke.Kind != kassa.EUnavailable {
			t.Errorf("kind = %s", ke.Kind)
		}
		if d, _ := ids.Identity(e.ctx, p.id); d.FamilyName != "" {
			t.Errorf("identity data kept: %+v", d)
		}
	})
	t.Run("sign-up of a Swede not on Spelpaus", func(t *testing.T) {
		p := signUp(t, e, ids)
		if _, err := ids.SubmitKYC(e.ctx, p.id, identityData("Sofia", "Lind", "SE")); err != nil {
			t.Fatal(err)
		}
		if _, err := ids.Login(e.ctx, identity.LoginRequest{Email: p.email, Password: exclusionPassword, Client: client(p)}); err != nil {
			t.Fatalf("login: %v", err)
		}
	})

	// People who verified their identity before the register listed
	// them.
	excluded := signUp(t, e, before)
	if _, err := before.SubmitKYC(e.ctx, excluded.id, identityData("Sven", compliance.TestExcludedName, "SE")); err != nil {
		t.Fatal(err)
	}
	t.Run("login of a Swede on Spelpaus from a known device", func(t *testing.T) {
		_, err := ids.Login(e.ctx, identity.LoginRequest{Email: excluded.email, Password: exclusionPassword, Client: client(excluded)})
		if ke := wantCode(t, "login", err, identity.CodeSelfExcluded); ke.Kind != kassa.EForbidden {
			t.Errorf("kind = %s", ke.Kind)
		}
	})
	t.Run("login of a Swede on Spelpaus: refused after the second factor, the session ends", func(t *testing.T) {
		asked := spelpaus.count(compliance.TestExcludedName)
		res, err := ids.Login(e.ctx, identity.LoginRequest{Email: excluded.email, Password: exclusionPassword,
			Client: identity.Client{IP: "192.0.2.10", UserAgent: "new"}})
		if err != nil || len(res.Factors) == 0 {
			t.Fatalf("login from a new device = %+v, %v; want a second factor asked", res.Factors, err)
		}
		if got := spelpaus.count(compliance.TestExcludedName); got != asked {
			t.Errorf("the register was asked before the second factor")
		}
		e.clk.Advance(2 * time.Minute) // past the sign-up code's resend limit
		if err := ids.SendLoginCode(e.ctx, res.Token, identity.ChannelEmail); err != nil {
			t.Fatal(err)
		}
		code := identitytest.LastCode(t, e.outbox, excluded.email)
		_, err = ids.VerifySecondFactor(e.ctx, res.Token, identity.Proof{Factor: identity.FactorOTP, Code: code}, identity.Client{IP: "192.0.2.10"})
		wantCode(t, "second factor", err, identity.CodeSelfExcluded)
		if _, err := ids.Authenticate(e.ctx, res.Token); kassa.ErrorKind(err) != kassa.EUnauthorized {
			t.Errorf("the refused login's session still answers: %v", err)
		}
	})
	t.Run("a stranger learns nothing: a wrong password reads as an unknown address", func(t *testing.T) {
		asked := spelpaus.count(compliance.TestExcludedName)
		_, wrong := ids.Login(e.ctx, identity.LoginRequest{Email: excluded.email, Password: "not the password 123", Client: client(excluded)})
		_, unknown := ids.Login(e.ctx, identity.LoginRequest{Email: "nobody-here@example.com", Password: "not the password 123"})
		we, ue := kassa.AsError(wrong), kassa.AsError(unknown)
		if we == nil || ue == nil || we.Code != identity.CodeLoginFailed || we.Code != ue.Code || we.Message != ue.Message || len(we.Details) != 0 {
			t.Errorf("wrong password: %v; unknown address: %v", wrong, unknown)
		}
		if got := spelpaus.count(compliance.TestExcludedName); got != asked {
			t.Errorf("the register was asked for a wrong password")
		}
	})

	unreachable := signUp(t, e, before)
	if _, err := before.SubmitKYC(e.ctx, unreachable.id, identityData("Sara", compliance.TestUnreachableName, "SE")); err != nil {
		t.Fatal(err)
	}
	t.Run("login with Spelpaus unreachable fails closed", func(t *testing.T) {
		_, err := ids.Login(e.ctx, identity.LoginRequest{Email: unreachable.email, Password: exclusionPassword, Client: client(unreachable)})
		if ke := wantCode(t, "login", err, identity.CodeExclusionCheckUnavailable); ke.Kind != kassa.EUnavailable {
			t.Errorf("kind = %s", ke.Kind)
		}
	})

	german := signUp(t, e, ids)
	if _, err := ids.SubmitKYC(e.ctx, german.id, identityData("Greta", "Bauer", "DE")); err != nil {
		t.Fatal(err)
	}
	t.Run("a German payer at login is asked of OASIS, not of Spelpaus", func(t *testing.T) {
		sp, oa := spelpaus.count("Bauer"), oasis.count("Bauer")
		if _, err := ids.Login(e.ctx, identity.LoginRequest{Email: german.email, Password: exclusionPassword, Client: client(german)}); err != nil {
			t.Fatalf("login: %v", err)
		}
		if spelpaus.count("Bauer") != sp || oasis.count("Bauer") != oa+1 {
			t.Errorf("asked spelpaus %d→%d, oasis %d→%d", sp, spelpaus.count("Bauer"), oa, oasis.count("Bauer"))
		}
	})
	t.Run("a Dane is not refused for ROFUS nobody configured; an account without identity data is asked nothing", func(t *testing.T) {
		dane := signUp(t, e, ids)
		if _, err := ids.SubmitKYC(e.ctx, dane.id, identityData("Freja", compliance.TestExcludedName, "DK")); err != nil {
			t.Fatalf("Danish sign-up: %v", err)
		}
		if _, err := ids.Login(e.ctx, identity.LoginRequest{Email: dane.email, Password: exclusionPassword, Client: client(dane)}); err != nil {
			t.Fatalf("Danish login: %v", err)
		}
		plain := signUp(t, e, ids)
		if _, err := ids.Login(e.ctx, identity.LoginRequest{Email: plain.email, Password: exclusionPassword, Client: client(plain)}); err != nil {
			t.Fatalf("login without identity data: %v", err)
		}
	})
}
