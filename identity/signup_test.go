package identity_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
)

func TestSignUpStepsAndLevels(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	su, err := e.svc.SignUp(ctx, identity.SignUpRequest{Email: "  Ana@Example.COM ", Phone: "+49 151 2345-6789", Client: client})
	if err != nil {
		t.Fatal(err)
	}
	if su.Step != identity.StepEmail || su.Email != "ana@example.com" || su.Token == "" {
		t.Fatalf("sign-up = %+v, want step confirm_email for ana@example.com", su)
	}
	// Only the address gets a code at first; the phone waits for it.
	if ms := e.messages(t, "+4915123456789"); len(ms) != 0 {
		t.Errorf("phone got %d messages before the address was confirmed", len(ms))
	}
	if _, err := e.svc.SignUpPassword(ctx, su.Token, goodPassword, client); kassa.AsError(err) == nil || kassa.AsError(err).Code != identity.CodeSignUpStep {
		t.Errorf("password before confirmation = %v, want signup_step", err)
	}
	emailCode := e.lastCode(t, "ana@example.com")
	_, err = e.svc.SignUpConfirm(ctx, su.Token, wrong(emailCode))
	wantErr(t, "wrong email code", err, kassa.EInvalid, identity.CodeCodeInvalid)
	st, err := e.svc.SignUpConfirm(ctx, su.Token, emailCode)
	if err != nil || st.Step != identity.StepPhone {
		t.Fatalf("confirm email = %+v, %v; want step confirm_phone", st, err)
	}
	r, err := e.store.CustomerByEmail(ctx, "ana@example.com")
	if err != nil {
		t.Fatalf("no customer after the email was confirmed: %v", err)
	}
	if r.Level != identity.LevelUnverified || r.EmailVerifiedAt.IsZero() || !r.PhoneVerifiedAt.IsZero() || !strings.HasPrefix(r.ID, "cus_") {
		t.Errorf("customer after email = %+v, want unverified with the email confirmed", r)
	}
	st, err = e.svc.SignUpConfirm(ctx, su.Token, e.lastCode(t, "+4915123456789"))
	if err != nil || st.Step != identity.StepPassword {
		t.Fatalf("confirm phone = %+v, %v; want step password", st, err)
	}
	c, _ := e.svc.Customer(ctx, r.ID)
	if c.Level != identity.LevelUnverified {
		t.Errorf("level before the password = %s, want unverified", c.Level)
	}
	_, err = e.svc.SignUpPassword(ctx, su.Token, "password1234", client)
	wantErr(t, "common password", err, kassa.EInvalid, "password_common")
	res, err := e.svc.SignUpPassword(ctx, su.Token, goodPassword, client)
	if err != nil {
		t.Fatal(err)
	}
	if res.Customer.Level != identity.LevelVerified || res.Token == "" || res.DeviceToken == "" || res.Session.Pending {
		t.Errorf("after the password: %+v, want a verified customer with a session and a device", res)
	}
	if _, err := e.svc.Authenticate(ctx, res.Token); err != nil {
		t.Errorf("the sign-up's session does not authenticate: %v", err)
	}
	// The sign-up is done: its token confirms nothing more.
	if _, err := e.svc.SignUpPassword(ctx, su.Token, goodPassword+"x", client); kassa.AsError(err).Code != identity.CodeSignUpStep {
		t.Errorf("second password = %v, want signup_step", err)
	}

	// KYC: 18+ against the injected clock.
	kyc := identity.IdentityData{GivenName: "Ana", FamilyName: "Lima", BirthDate: start.AddDate(-18, 0, 1),
		Address:      identity.Address{Line1: "Rua A 1", City: "Lisboa", PostalCode: "1000-001", Country: "pt"},
		DocumentType: identity.DocumentIDCard, DocumentCountry: "PT", DocumentNumber: "ab 123 456"}
	_, err = e.svc.SubmitKYC(ctx, r.ID, kyc)
	wantErr(t, "17-year-old", err, kassa.EInvalid, identity.CodeUnderage)
	kyc.BirthDate = time.Date(2008, 3, 1, 0, 0, 0, 0, time.UTC) // 18 today
	c, err = e.svc.SubmitKYC(ctx, r.ID, kyc)
	if err != nil || c.Level != identity.LevelKYCVerified || c.Country != "PT" {
		t.Fatalf("SubmitKYC = %+v, %v; want kyc_verified", c, err)
	}
	got, err := e.svc.Identity(ctx, r.ID)
	if err != nil || got.DocumentNumber != "AB123456" || !got.BirthDate.Equal(kyc.BirthDate) {
		t.Errorf("Identity = %+v, %v; want the document number and birth date back", got, err)
	}
	// The store holds them sealed (store/storetest reads the raw row).
	r, _ = e.store.Customer(ctx, r.ID)
	if strings.Contains(string(r.KYC.DocumentNumber), "AB123456") || strings.Contains(string(r.KYC.BirthDate), kyc.BirthDate.Format(time.DateOnly)) {
		t.Error("the store got a sealed field in clear")
	}
	for _, typ := range []string{identity.EventCustomerCreated, identity.EventCustomerVerified, identity.EventKYCVerified} {
		if evs := e.events.of(typ); len(evs) != 1 || evs[0].CustomerID != r.ID {
			t.Errorf("%s events = %+v, want one for %s", typ, evs, r.ID)
		}
	}
}

// wrong returns another code than c.
func wrong(c string) string {
	b := []byte(c)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func TestSignUpExistingEmailDoesNotLeak(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	e.signUp(t, "taken@example.com", "+4915100000001")
	before := len(e.messages(t, "taken@example.com"))

	taken, err := e.svc.SignUp(ctx, identity.SignUpRequest{Email: "taken@example.com", Phone: "+4915100000002", Client: client})
	if err != nil {
		t.Fatalf("sign-up of a taken address failed: %v", err)
	}
	fresh, err := e.svc.SignUp(ctx, identity.SignUpRequest{Email: "fresh@example.com", Phone: "+4915100000003", Client: client})
	if err != nil {
		t.Fatal(err)
	}
	// Both answers look alike.
	if taken.Step != fresh.Step || len(taken.Token) != len(fresh.Token) || taken.ExpiresAt != fresh.ExpiresAt {
		t.Errorf("answers differ: taken %+v, fresh %+v", taken, fresh)
	}
	st1, err1 := e.svc.SignUpStatus(ctx, taken.Token)
	st2, err2 := e.svc.SignUpStatus(ctx, fresh.Token)
	if err1 != nil || err2 != nil || st1.Step != st2.Step {
		t.Errorf("status differs: %+v %v / %+v %v", st1, err1, st2, err2)
	}
	// The owner of the address is told, with no code.
	ms := e.messages(t, "taken@example.com")
	if len(ms) != before+1 || !strings.Contains(ms[0].Subject, "already have") || codeRE.MatchString(ms[0].Body) {
		t.Fatalf("message to the taken address: %+v", ms[0])
	}
	// Confirming fails as a wrong code does, whatever the code.
	_, errTaken := e.svc.SignUpConfirm(ctx, taken.Token, "123456")
	_, errFresh := e.svc.SignUpConfirm(ctx, fresh.Token, wrong(e.lastCode(t, "fresh@example.com")))
	if errTaken == nil || errTaken.Error() != errFresh.Error() {
		t.Errorf("confirm: taken %v, fresh %v; want the same error", errTaken, errFresh)
	}
	// Resending is limited alike.
	errTaken = e.svc.SignUpResend(ctx, taken.Token)
	errFresh = e.svc.SignUpResend(ctx, fresh.Token)
	if kassa.AsError(errTaken) == nil || errTaken.Error() != errFresh.Error() || lockedFor(t, errTaken) != lockedFor(t, errFresh) {
		t.Errorf("immediate resend: taken %v, fresh %v; want the same limit", errTaken, errFresh)
	}
	e.clock.Advance(time.Minute)
	if err := e.svc.SignUpResend(ctx, taken.Token); err != nil {
		t.Errorf("resend after a minute (taken): %v", err)
	}
	if err := e.svc.SignUpResend(ctx, fresh.Token); err != nil {
		t.Errorf("resend after a minute (fresh): %v", err)
	}
	// The account is untouched: its phone is the first one.
	r, _ := e.store.CustomerByEmail(ctx, "taken@example.com")
	if r.Phone != "+4915100000001" {
		t.Errorf("phone of the existing account changed to %s", r.Phone)
	}
	if evs := e.events.of(identity.EventSignUpExisting); len(evs) != 1 || evs[0].CustomerID != r.ID {
		t.Errorf("signup_existing events = %+v", evs)
	}
}

func TestSignUpResumesAbandonedAccount(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	su, err := e.svc.SignUp(ctx, identity.SignUpRequest{Email: "half@example.com", Phone: "+4915100000010", Client: client})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SignUpConfirm(ctx, su.Token, e.lastCode(t, "half@example.com")); err != nil {
		t.Fatal(err)
	}
	first, _ := e.store.CustomerByEmail(ctx, "half@example.com")
	// The sign-up is abandoned; the address owner starts again later.
	e.clock.Advance(time.Hour)
	res := e.signUp(t, "half@example.com", "+4915100000011")
	if res.Customer.ID != first.ID || res.Customer.Phone != "+4915100000011" || res.Customer.Level != identity.LevelVerified {
		t.Errorf("resumed sign-up = %+v, want customer %s with the new phone", res.Customer, first.ID)
	}
}

func TestSignUpValidation(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct{ email, phone, param string }{
		{"no-at-sign", "+4915112345678", "email"},
		{"a@b", "+4915112345678", "email"},
		{"a b@example.com", "+4915112345678", "email"},
		{strings.Repeat("a", 65) + "@example.com", "+4915112345678", "email"},
		{"a@example.com", "015112345678", "phone"},
		{"a@example.com", "+0151123456", "phone"},
		{"a@example.com", "+1234567", "phone"},
		{"a@example.com", "+1234567890123456", "phone"},
		{"a@example.com", "+49151abc", "phone"},
	} {
		_, err := e.svc.SignUp(context.Background(), identity.SignUpRequest{Email: tt.email, Phone: tt.phone})
		if ke := kassa.AsError(err); ke == nil || ke.Kind != kassa.EInvalid || ke.Param != tt.param {
			t.Errorf("SignUp(%q, %q) = %v, want invalid %s", tt.email, tt.phone, err, tt.param)
		}
	}
	if n := len(e.messages(t, "")); n != 0 {
		t.Errorf("invalid sign-ups sent %d messages", n)
	}
}

func TestNormalize(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"A.B+tag@Sub.Example.org", "a.b+tag@sub.example.org"},
		{" x@xn--bcher-kva.example ", "x@xn--bcher-kva.example"},
	} {
		if got, err := identity.NormalizeEmail(tt.in); err != nil || got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "@example.com", "a@", "a@-x.com", "a..b@example.com", ".a@example.com", "a@exa_mple.com", "ä@example.com"} {
		if _, err := identity.NormalizeEmail(bad); err == nil {
			t.Errorf("NormalizeEmail(%q) accepted", bad)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"+1 (415) 555-0100", "+14155550100"},
		{"+44.20.7946.0958", "+442079460958"},
	} {
		if got, err := identity.NormalizePhone(tt.in); err != nil || got != tt.want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestAdult(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	for _, tt := range []struct {
		birth, now time.Time
		want       bool
	}{
		{day(2008, 3, 1), day(2026, 3, 1), true},
		{day(2008, 3, 2), day(2026, 3, 1), false},
		{day(2008, 3, 1), day(2026, 2, 28).Add(23 * time.Hour), false},
		{day(2008, 2, 29), day(2026, 2, 28), false}, // comes of age on 1 March
		{day(2008, 2, 29), day(2026, 3, 1), true},
		{day(1950, 1, 1), day(2026, 3, 1), true},
	} {
		if got := identity.Adult(tt.birth, tt.now); got != tt.want {
			t.Errorf("Adult(%s, %s) = %v, want %v", tt.birth.Format(time.DateOnly), tt.now, got, tt.want)
		}
	}
}

func TestKYCValidation(t *testing.T) {
	e := newEnv(t)
	res := e.signUp(t, "kyc@example.com", "+4915100000020")
	ok := identity.IdentityData{GivenName: "Jo", FamilyName: "Doe", BirthDate: time.Date(1990, 5, 6, 0, 0, 0, 0, time.UTC),
		Address:      identity.Address{Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"},
		DocumentType: identity.DocumentPassport, DocumentCountry: "US", DocumentNumber: "X1234567"}
	for _, tt := range []struct {
		param  string
		change func(*identity.IdentityData)
	}{
		{"given_name", func(d *identity.IdentityData) { d.GivenName = " " }},
		{"family_name", func(d *identity.IdentityData) { d.FamilyName = strings.Repeat("x", 101) }},
		{"family_name", func(d *identity.IdentityData) { d.FamilyName = "Doe\x00" }},
		{"address.line1", func(d *identity.IdentityData) { d.Address.Line1 = "" }},
		{"address.postal_code", func(d *identity.IdentityData) { d.Address.PostalCode = "12#45" }},
		{"address.country", func(d *identity.IdentityData) { d.Address.Country = "USA" }},
		{"document_type", func(d *identity.IdentityData) { d.DocumentType = "library_card" }},
		{"document_country", func(d *identity.IdentityData) { d.DocumentCountry = "1" }},
		{"document_number", func(d *identity.IdentityData) { d.DocumentNumber = "X1" }},
		{"birth_date", func(d *identity.IdentityData) { d.BirthDate = start.AddDate(0, 0, 1) }},
		{"birth_date", func(d *identity.IdentityData) { d.BirthDate = time.Time{} }},
	} {
		d := ok
		tt.change(&d)
		_, err := e.svc.SubmitKYC(e.ctx, res.Customer.ID, d)
		if ke := kassa.AsError(err); ke == nil || ke.Kind != kassa.EInvalid || ke.Param != tt.param {
			t.Errorf("SubmitKYC with bad %s = %v", tt.param, err)
		}
	}
	c, _ := e.svc.Customer(e.ctx, res.Customer.ID)
	if c.Level != identity.LevelVerified {
		t.Errorf("level after refused KYC = %s, want verified", c.Level)
	}
	// Not yet verified customers cannot submit.
	su, _ := e.svc.SignUp(e.ctx, identity.SignUpRequest{Email: "early@example.com", Phone: "+4915100000021"})
	e.svc.SignUpConfirm(e.ctx, su.Token, e.lastCode(t, "early@example.com"))
	r, _ := e.store.CustomerByEmail(e.ctx, "early@example.com")
	_, err := e.svc.SubmitKYC(e.ctx, r.ID, ok)
	wantErr(t, "KYC before verified", err, kassa.EForbidden, identity.CodeLevelTooLow)
}

// rejectKYC refuses every document of one country.
type rejectKYC struct{}

func (rejectKYC) CheckKYC(_ context.Context, _ string, d identity.IdentityData) error {
	if d.DocumentCountry == "XX" {
		return kassa.Errorf(kassa.EUnprocessable, identity.CodeKYCRejected, "not accepted")
	}
	return nil
}

func TestKYCChecker(t *testing.T) {
	e := newEnv(t, func(c *identity.Config) { c.KYC = rejectKYC{} })
	res := e.signUp(t, "chk@example.com", "+4915100000030")
	d := identity.IdentityData{GivenName: "Jo", FamilyName: "Doe", BirthDate: time.Date(1990, 5, 6, 0, 0, 0, 0, time.UTC),
		Address:      identity.Address{Line1: "1 Main St", City: "X", PostalCode: "12345", Country: "US"},
		DocumentType: identity.DocumentPassport, DocumentCountry: "XX", DocumentNumber: "X1234567"}
	_, err := e.svc.SubmitKYC(e.ctx, res.Customer.ID, d)
	wantErr(t, "checker refusal", err, kassa.EUnprocessable, identity.CodeKYCRejected)
	if r, _ := e.store.Customer(e.ctx, res.Customer.ID); len(r.KYC.DocumentNumber) != 0 || r.Level != identity.LevelVerified {
		t.Errorf("refused KYC was stored: %+v", r.KYC)
	}
	if len(e.events.of(identity.EventKYCRejected)) != 1 {
		t.Error("no kyc_rejected event")
	}
}

type screenFunc func(identity.SignUpAttempt) error

func (f screenFunc) ScreenSignUp(_ context.Context, a identity.SignUpAttempt) error { return f(a) }

// A screened-out sign-up is refused before any code goes out, with the
// same answer for an address with an account and one without.
func TestSignUpScreening(t *testing.T) {
	var seen []identity.SignUpAttempt
	e := newEnv(t, func(c *identity.Config) {
		c.Screen = screenFunc(func(a identity.SignUpAttempt) error {
			seen = append(seen, a)
			if strings.HasSuffix(a.Email, "@fraud.example") {
				return errors.New("risk: block")
			}
			return nil
		})
	})
	_, err := e.svc.SignUp(e.ctx, identity.SignUpRequest{Email: "Mallory@Fraud.Example", Phone: "+436641234567",
		Client: identity.Client{IP: "203.0.113.9"}})
	if ke := kassa.AsError(err); ke == nil || ke.Code != "signup_refused" || strings.Contains(ke.Message, "risk") {
		t.Fatalf("screened sign-up: %v", err)
	}
	if ms, _ := e.outbox.Messages(e.ctx, "mallory@fraud.example", 10); len(ms) != 0 {
		t.Errorf("a refused sign-up sent %d messages", len(ms))
	}
	if _, err := e.svc.SignUp(e.ctx, identity.SignUpRequest{Email: "ada@example.com", Phone: "+436641234567"}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0].Email != "mallory@fraud.example" || seen[0].Client.IP != "203.0.113.9" {
		t.Errorf("screened %+v", seen)
	}
}
