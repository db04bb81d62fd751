package policy

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kassa/kassa/money"
)

// Limits of the policy files.
const (
	FileSizeMax  = 64 << 10
	FilesMax     = 300
	RegistersMax = 16
	SourceMax    = 500
)

// Dir is the data directory's subdirectory of policy files.
const Dir = "policies"

//go:embed defaults/*.yaml
var defaults embed.FS

// Set is the loaded policies, by jurisdiction.
type Set struct {
	byCode map[string]Rules
	files  map[string]string // code → where it came from ("embedded" or a path)
}

// Source says where a jurisdiction's rules were read from.
func (s *Set) Source(code string) string { return s.files[code] }

// Defaults returns the shipped policies.
func Defaults() *Set {
	s, err := Load("")
	if err != nil {
		panic("policy: shipped defaults: " + err.Error())
	}
	return s
}

// Load reads the shipped policies and then every *.yaml file in dir
// (none when dir is "" or absent), a file replacing the shipped policy
// of its jurisdiction. The error names the file and, for a parse error,
// the line.
func Load(dir string) (*Set, error) {
	s := &Set{byCode: map[string]Rules{}, files: map[string]string{}}
	entries, err := fs.ReadDir(defaults, "defaults")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		b, err := fs.ReadFile(defaults, "defaults/"+e.Name())
		if err != nil {
			return nil, err
		}
		if err := s.add(e.Name(), "embedded "+e.Name(), b); err != nil {
			return nil, err
		}
	}
	if dir == "" {
		return s, nil
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(names) > FilesMax {
		return nil, fmt.Errorf("policy: %s holds %d files, at most %d", dir, len(names), FilesMax)
	}
	for _, name := range names {
		b, err := readFile(name)
		if err != nil {
			return nil, err
		}
		if err := s.add(filepath.Base(name), name, b); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, FileSizeMax+1))
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %w", name, err)
	}
	if len(b) > FileSizeMax {
		return nil, fmt.Errorf("policy: %s: larger than %d bytes", name, FileSizeMax)
	}
	return b, nil
}

func (s *Set) add(base, where string, b []byte) error {
	r, err := Parse(b)
	if err != nil {
		return fmt.Errorf("policy: %s: %w", where, err)
	}
	code := strings.ToUpper(strings.TrimSuffix(base, ".yaml"))
	if r.Jurisdiction != code {
		return fmt.Errorf("policy: %s: jurisdiction %q does not match the file name (%s.yaml)", where, r.Jurisdiction, strings.ToLower(code))
	}
	s.byCode[code], s.files[code] = r, where
	return nil
}

// Parse reads and checks one policy file: unknown fields, a missing
// source, a level, country, currency or register name that is not one
// are errors.
func Parse(b []byte) (Rules, error) {
	var r Rules
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		if errors.Is(err, io.EOF) {
			return Rules{}, errors.New("empty file")
		}
		return Rules{}, err
	}
	return r, r.check()
}

var (
	countryCode  = regexp.MustCompile(`^[A-Z]{2}$`)
	registerName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
)

func (r Rules) check() error {
	if !countryCode.MatchString(r.Jurisdiction) {
		return fmt.Errorf("jurisdiction must be an ISO 3166-1 alpha-2 code such as DE, not %q", r.Jurisdiction)
	}
	if strings.TrimSpace(r.Name) == "" {
		return errors.New("name is missing")
	}
	if r.TimeZone != "" {
		if _, err := time.LoadLocation(r.TimeZone); err != nil || !strings.Contains(r.TimeZone, "/") {
			return fmt.Errorf("time_zone must be an IANA zone such as Europe/Berlin, not %q", r.TimeZone)
		}
	}
	var errs []error
	source := func(rule, s string) {
		if strings.TrimSpace(s) == "" {
			errs = append(errs, fmt.Errorf("%s: source is missing (cite the provision the rule comes from)", rule))
		} else if len(s) > SourceMax {
			errs = append(errs, fmt.Errorf("%s: source is longer than %d bytes", rule, SourceMax))
		}
	}
	level := func(rule string, l Level) {
		if !l.valid() {
			errs = append(errs, fmt.Errorf("%s: level must be none, verified or kyc_verified, not %q", rule, l))
		}
	}
	if a := r.MinimumAge; a != nil {
		source("minimum_age", a.Source)
		if a.Years < 16 || a.Years > 25 {
			errs = append(errs, fmt.Errorf("minimum_age: years must be from 16 to 25, not %d", a.Years))
		}
	}
	if l := r.KYCBeforeDeposit; l != nil {
		source("kyc_before_deposit", l.Source)
		level("kyc_before_deposit", l.Level)
	}
	if l := r.KYCBeforeWithdrawal; l != nil {
		source("kyc_before_withdrawal", l.Source)
		level("kyc_before_withdrawal", l.Level)
	}
	if a := r.KYCAboveAmount; a != nil {
		source("kyc_above_amount", a.Source)
		level("kyc_above_amount", a.Level)
		errs = append(errs, checkAmount("kyc_above_amount", int64(a.Amount), string(a.Currency)))
	}
	if v := r.AnonymousVouchers; v != nil {
		source("anonymous_vouchers", v.Source)
		if voucherRank(v.Allowed) == 0 && v.Allowed != VouchersAllowed {
			errs = append(errs, fmt.Errorf("anonymous_vouchers: allowed must be allowed, forbidden or verified_account, not %q", v.Allowed))
		}
	}
	if l := r.MonthlyDepositLimit; l != nil {
		source("monthly_deposit_limit", l.Source)
		errs = append(errs, checkAmount("monthly_deposit_limit", int64(l.Amount), string(l.Currency)))
		if y := l.Young; y != nil && (y.BelowAge < 18 || y.BelowAge > 30 || y.Amount <= 0 || y.Amount > l.Amount) {
			errs = append(errs, fmt.Errorf("monthly_deposit_limit: young needs below_age from 18 to 30 and an amount from 1 to the limit's"))
		}
	}
	if c := r.Credit; c != nil {
		source("credit_for_gambling", c.Source)
	}
	if a := r.AMLRetention; a != nil {
		source("aml_retention", a.Source)
		if a.Years < 1 || a.Years > 30 {
			errs = append(errs, fmt.Errorf("aml_retention: years must be from 1 to 30, not %d", a.Years))
		}
	}
	if len(r.Registers) > RegistersMax {
		errs = append(errs, fmt.Errorf("self_exclusion_registers: at most %d", RegistersMax))
	}
	for i, g := range r.Registers {
		rule := fmt.Sprintf("self_exclusion_registers[%d]", i)
		source(rule, g.Source)
		if !registerName.MatchString(g.Register) {
			errs = append(errs, fmt.Errorf("%s: register must be a lower-case name such as spelpaus, not %q", rule, g.Register))
		}
		if len(g.At) == 0 {
			errs = append(errs, fmt.Errorf("%s: at must name signup, login or deposit", rule))
		}
		for _, at := range g.At {
			if !slices.Contains([]string{AtSignup, AtLogin, AtDeposit}, at) {
				errs = append(errs, fmt.Errorf("%s: at must name signup, login or deposit, not %q", rule, at))
			}
		}
	}
	return errors.Join(errs...)
}

func checkAmount(rule string, amount int64, cur string) error {
	if amount <= 0 {
		return fmt.Errorf("%s: amount must be a positive number of minor units (cents), not %d", rule, amount)
	}
	if c, err := money.ParseCurrency(cur); err != nil || !knownCurrency(c) {
		return fmt.Errorf("%s: currency must be an ISO 4217 code such as EUR, not %q", rule, cur)
	}
	return nil
}

// WriteDefaults writes each shipped policy file into dir that is not
// there yet (an operator's edited file is never overwritten), making
// dir (0700) when needed. It returns the files it wrote. Each is
// written durably and appears whole or not at all: a temporary file,
// fsynced, linked to its name (which fails rather than replace a file
// made meanwhile), then the directory fsynced — a power cut during a
// first start leaves no empty policy file to stop the next one.
func WriteDefaults(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	entries, err := fs.ReadDir(defaults, "defaults")
	if err != nil {
		return nil, err
	}
	var wrote []string
	for _, e := range entries {
		name := filepath.Join(dir, e.Name())
		if _, err := os.Lstat(name); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return wrote, fmt.Errorf("policy: %w", err)
		}
		b, err := fs.ReadFile(defaults, "defaults/"+e.Name())
		if err != nil {
			return wrote, err
		}
		done, err := writeNew(dir, e.Name(), b)
		if err != nil {
			return wrote, fmt.Errorf("policy: %s: %w", name, err)
		}
		if done {
			wrote = append(wrote, name)
		}
	}
	if len(wrote) > 0 {
		if err := syncDir(dir); err != nil {
			return wrote, fmt.Errorf("policy: %w", err)
		}
	}
	return wrote, nil
}

// writeNew writes b to dir/name unless it exists (false then), through a
// temporary file that is fsynced first.
func writeNew(dir, name string, b []byte) (bool, error) {
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err // a leftover of a crash is removed first
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	if err := os.Link(tmp, filepath.Join(dir, name)); errors.Is(err, fs.ErrExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func knownCurrency(c money.Currency) bool {
	_, known := c.Exponent()
	return known
}
