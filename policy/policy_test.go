package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/merchant"
)

func TestDefaultsShipEveryJurisdictionWithSources(t *testing.T) {
	s := Defaults()
	want := []string{"AT", "DE", "DK", "GB", "MT", "NL", "SE"}
	if got := s.Jurisdictions(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("jurisdictions %v, want %v", got, want)
	}
	for _, code := range want {
		r, _ := s.Rules(code)
		if r.MinimumAge == nil || r.MinimumAge.Years < 18 {
			t.Errorf("%s: minimum age %+v", code, r.MinimumAge)
		}
		if r.KYCBeforeWithdrawal == nil {
			t.Errorf("%s: no KYC rule before withdrawal", code)
		}
		if err := r.check(); err != nil {
			t.Errorf("%s: %v", code, err)
		}
	}
}

func gambling(country string) merchant.Merchant {
	return merchant.Merchant{ID: "mer_1", Category: merchant.CategoryGambling, Country: country}
}

// TestCreditAllowed: credit never funds gambling in GB and DE (for
// their licensees and for their residents), it may elsewhere, and it
// is no business of this package for merchants that are not gambling.
func TestCreditAllowed(t *testing.T) {
	s := Defaults()
	tests := []struct {
		name      string
		m         merchant.Merchant
		residence string
		allowed   bool
	}{
		{"GB gambling, GB player", gambling("GB"), "GB", false},
		{"DE gambling, DE player", gambling("DE"), "DE", false},
		{"MT gambling, GB player", gambling("MT"), "GB", false},
		{"MT gambling, unknown residence", gambling("MT"), "", true},
		{"MT gambling, MT player", gambling("MT"), "MT", true},
		{"GB gambling, lower-case residence", gambling("GB"), "gb", false},
		{"GB shop", merchant.Merchant{Category: merchant.CategoryRetail, Country: "GB"}, "GB", true},
		{"gambling without licence country, DE player", gambling(""), "DE", false},
		{"gambling in a country without policy", gambling("US"), "US", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CreditAllowed(tt.m, tt.residence)
			if tt.allowed {
				if err != nil {
					t.Fatalf("CreditAllowed = %v, want nil", err)
				}
				return
			}
			ke := kassa.AsError(err)
			if ke == nil || ke.Code != CodeMethodNotAllowed || ke.Kind != kassa.EUnprocessable {
				t.Fatalf("CreditAllowed = %v, want %s", err, CodeMethodNotAllowed)
			}
			if src, _ := ke.Details["source"].(string); src == "" {
				t.Errorf("refusal names no source: %+v", ke.Details)
			}
		})
	}
}

// TestForTakesTheStricterRule: a Maltese licensee's German player is
// bound by Germany's rules where they are stricter, and a German
// licensee's Swedish player is checked against both OASIS and Spelpaus.
func TestForTakesTheStricterRule(t *testing.T) {
	s := Defaults()
	r := s.For("MT", "DE")
	if r.MonthlyDepositLimit == nil || r.MonthlyDepositLimit.Amount != 100000 || !strings.HasPrefix(r.MonthlyDepositLimit.Source, "DE: ") {
		t.Errorf("MT+DE monthly limit %+v", r.MonthlyDepositLimit)
	}
	if r.KYCBeforeDeposit == nil || r.KYCBeforeDeposit.Level != LevelKYCVerified {
		t.Errorf("MT+DE deposit KYC %+v", r.KYCBeforeDeposit)
	}
	if r.AnonymousVouchers == nil || r.AnonymousVouchers.Allowed != VouchersVerifiedAccount {
		t.Errorf("MT+DE vouchers %+v", r.AnonymousVouchers)
	}
	if lvl, src := r.DepositLevel(300000, "EUR"); lvl != LevelKYCVerified || src == "" {
		t.Errorf("DepositLevel = %s %q", lvl, src)
	}
	r = s.For("DE", "SE")
	var regs []string
	for _, g := range r.Registers {
		regs = append(regs, g.Register)
	}
	if strings.Join(regs, ",") != "oasis,spelpaus" {
		t.Errorf("DE+SE registers %v", regs)
	}
	if r.Jurisdiction != "DE+SE" {
		t.Errorf("jurisdiction %q", r.Jurisdiction)
	}
	if got := s.For("", ""); got.Any() {
		t.Errorf("no countries: %+v", got)
	}
	// Tagging copies: the loaded rules keep their own sources.
	de, _ := s.Rules("DE")
	if strings.HasPrefix(de.MinimumAge.Source, "DE: ") {
		t.Error("For changed the loaded rules")
	}
	// Above-amount KYC: Malta's 2,000 euros are a running total, which
	// no single deposit's level says (compliance counts it).
	mt := s.For("MT", "")
	if a := mt.KYCAboveAmount; a == nil || !a.Cumulative || a.Amount != 200000 {
		t.Errorf("MT threshold %+v", a)
	}
	if lvl, _ := mt.DepositLevel(200001, "EUR"); lvl != LevelNone {
		t.Errorf("MT 2,000.01 EUR needs %s by itself", lvl)
	}
	perDeposit := Rules{KYCAboveAmount: &AmountRule{Amount: 100, Currency: "EUR", Level: LevelKYCVerified}}
	if lvl, _ := perDeposit.DepositLevel(101, "EUR"); lvl != LevelKYCVerified {
		t.Errorf("a per-deposit threshold: %s", lvl)
	}
}

func TestLoadOverridesAndRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	// A temporary file a crash left behind is no obstacle, and no
	// temporary file stays.
	if err := os.WriteFile(filepath.Join(dir, ".at.yaml.tmp"), []byte("jurisdic"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrote, err := WriteDefaults(dir)
	if err != nil || len(wrote) != 7 {
		t.Fatalf("WriteDefaults = %v, %v", wrote, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// An operator's edit survives the next start.
	de := filepath.Join(dir, "de.yaml")
	b, _ := os.ReadFile(de)
	edited := strings.Replace(string(b), "amount: 100000", "amount: 50000", 1)
	if err := os.WriteFile(de, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	if wrote, err := WriteDefaults(dir); err != nil || len(wrote) != 0 {
		t.Fatalf("second WriteDefaults = %v, %v", wrote, err)
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Rules("DE"); r.MonthlyDepositLimit.Amount != 50000 || s.Source("DE") != de {
		t.Errorf("DE from %s: %+v", s.Source("DE"), r.MonthlyDepositLimit)
	}
	// A new jurisdiction from a file of its own.
	fi := "jurisdiction: FI\nname: Finland\nminimum_age:\n  years: 18\n  source: Arpajaislaki 1047/2001 12 §\n"
	if err := os.WriteFile(filepath.Join(dir, "fi.yaml"), []byte(fi), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err = Load(dir); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Rules("FI"); !ok {
		t.Error("fi.yaml not loaded")
	}
	bad := []struct{ name, text, want string }{
		{"se.yaml", "jurisdiction: SE\nname: Sweden\nminimum_age:\n  years: 18\n", "minimum_age: source is missing"},
		{"se.yaml", "jurisdiction: SE\nname: Sweden\nminimum_ag:\n  years: 18\n", "line 3: field minimum_ag not found"},
		{"se.yaml", "jurisdiction: DK\nname: Denmark\n", "does not match the file name"},
		{"se.yaml", "jurisdiction: SE\nname: Sweden\nkyc_before_deposit:\n  level: passport\n  source: x\n", "level must be none, verified or kyc_verified"},
		{"se.yaml", "jurisdiction: SE\nname: Sweden\nmonthly_deposit_limit:\n  amount: 1000\n  currency: EURO\n  source: x\n", "currency must be an ISO 4217 code"},
		{"se.yaml", "jurisdiction: SE\nname: Sweden\nself_exclusion_registers:\n  - register: Spel Paus\n    at: [always]\n    source: x\n", "register must be a lower-case name"},
		{"se.yaml", "jurisdiction: SE\nname: [\n", "yaml"},
		{"se.yaml", "", "empty file"},
	}
	for _, tt := range bad {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, tt.name), []byte(tt.text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(d)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.name) {
			t.Errorf("Load(%q) = %v, want an error naming the file and %q", tt.text, err, tt.want)
		}
	}
	// A file too large is refused before it is parsed.
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "se.yaml"), make([]byte, FileSizeMax+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(d); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load(huge) = %v", err)
	}
}
