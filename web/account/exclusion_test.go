package account_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/identity"
)

// registersLater is compliance's sign-up and login check, switched on
// after the test's payers verified their identity (a register that
// listed them later).
type registersLater struct {
	mu sync.Mutex
	on identity.ExclusionCheck
}

func (r *registersLater) get() identity.ExclusionCheck {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.on
}

func (r *registersLater) Consulted(m identity.ExclusionMoment, country string) bool {
	x := r.get()
	return x != nil && x.Consulted(m, country)
}

func (r *registersLater) CheckExclusion(ctx context.Context, m identity.ExclusionMoment, p identity.ExclusionPerson) error {
	return r.get().CheckExclusion(ctx, m, p)
}

// TestExclusionOnPages: a Swede on Spelpaus (the test register) is told
// so in their language at the identity step of sign-up and at login,
// with the date it ends; a wrong password reads as always.
func TestExclusionOnPages(t *testing.T) {
	regs := &registersLater{}
	f := newFixture(t, func(o *fixtureOptions) { o.exclusion = regs })
	listed := f.signUp(t, "sven@example.com", "+46701234567")
	_, err := f.identity.SubmitKYC(context.Background(), listed.Customer.ID, identity.IdentityData{GivenName: "Sven",
		FamilyName: compliance.TestExcludedName, BirthDate: time.Date(1990, 5, 1, 0, 0, 0, 0, time.UTC),
		Address:      identity.Address{Line1: "Storgatan 1", City: "Stockholm", PostalCode: "11122", Country: "SE"},
		DocumentType: identity.DocumentIDCard, DocumentCountry: "SE", DocumentNumber: "SE1234567"})
	if err != nil {
		t.Fatal(err)
	}
	regs.mu.Lock()
	regs.on = compliance.IdentityExclusion{Service: compliance.New(compliance.Config{
		Registers: map[string]compliance.SelfExclusionRegister{"spelpaus": compliance.TestRegister{RegisterName: "spelpaus"}}})}
	regs.mu.Unlock()

	for _, tt := range []struct{ lang, says string }{
		{"en", "Spelpaus lists you as excluded from gambling until"},
		{"de", "Spelpaus führt Sie bis"},
	} {
		t.Run("login "+tt.lang, func(t *testing.T) {
			v := f.visitor(t)
			v.acceptLanguage = tt.lang
			v.setCookie("kassa_device", listed.DeviceToken) // a known device: no second factor
			v.get("/login")
			resp := v.post("/login", url.Values{"email": {"sven@example.com"}, "password": {goodPassword}})
			v.wantPage("login of an excluded Swede", resp, 403, tt.says)
			if v.cookie("kassa_session") != "" {
				t.Error("a session cookie was set")
			}
			v.get("/login")
			resp = v.post("/login", url.Values{"email": {"sven@example.com"}, "password": {"wrong password 12345"}})
			if resp.StatusCode == 403 || strings.Contains(v.body, "Spelpaus") {
				t.Errorf("a wrong password tells of the register: %d", resp.StatusCode)
			}
		})
	}

	t.Run("identity step of sign-up, de", func(t *testing.T) {
		res := f.signUp(t, "sara@example.com", "+46701234568")
		v := f.visitor(t)
		v.acceptLanguage = "de"
		v.setSession(res)
		v.get("/account/kyc?signup=1")
		resp := v.post("/account/kyc", url.Values{"signup": {"1"}, "given_name": {"Sara"}, "family_name": {compliance.TestUnreachableName},
			"birth_date": {"1991-02-03"}, "address_line1": {"Storgatan 2"}, "address_city": {"Stockholm"},
			"address_postal_code": {"11122"}, "address_country": {"SE"}, "document_type": {"id_card"},
			"document_country": {"SE"}, "document_number": {"SE7654321"}})
		v.wantPage("identity step with Spelpaus unreachable", resp, 503, "Wir erreichen Spelpaus gerade nicht")
		if d, _ := f.identity.Identity(context.Background(), res.Customer.ID); d.FamilyName != "" {
			t.Errorf("identity data kept: %+v", d)
		}
	})
}
