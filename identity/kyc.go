package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kassa/kassa"
)

// DocumentType is the kind of ID document given for KYC.
type DocumentType string

const (
	DocumentPassport       DocumentType = "passport"
	DocumentIDCard         DocumentType = "id_card"
	DocumentDrivingLicence DocumentType = "driving_licence"
)

// Address is a postal address.
type Address struct {
	Line1      string
	Line2      string // optional
	City       string
	PostalCode string
	Region     string // optional: state, province
	Country    string // ISO 3166-1 alpha-2
}

// IdentityData is what a customer gives for KYC, in clear. The birth date
// and document number are sealed before they are stored.
type IdentityData struct {
	GivenName       string
	FamilyName      string
	BirthDate       time.Time // a date (UTC midnight)
	Address         Address
	DocumentType    DocumentType
	DocumentCountry string // issuing country, ISO 3166-1 alpha-2
	DocumentNumber  string // upper case, without spaces
}

// KYCChecker checks identity data beyond what SubmitKYC validates (an
// identity verification provider, sanctions lists). It returns nil to
// accept, a kassa error to refuse (shown to the customer), or another
// error when it could not check.
type KYCChecker interface {
	CheckKYC(ctx context.Context, customerID string, d IdentityData) error
}

// ParseBirthDate reads a date of birth as the pages send it, YYYY-MM-DD.
// Error: kassa EInvalid birth_date_invalid.
func ParseBirthDate(s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, kassa.Invalid("birth_date", "birth_date_invalid", "birth_date must be a date YYYY-MM-DD")
	}
	return t, nil
}

// validateIdentity cleans and checks identity data; errors are kassa
// EInvalid with the field as param (given_name, family_name, birth_date,
// address.line1, ..., document_type, document_country, document_number),
// and underage for someone younger than 18 at now.
func validateIdentity(d IdentityData, now time.Time) (IdentityData, error) {
	var err error
	text := []struct {
		p   *string
		arg string
		max int
		opt bool
	}{
		{&d.GivenName, "given_name", nameLengthMax, false},
		{&d.FamilyName, "family_name", nameLengthMax, false},
		{&d.Address.Line1, "address.line1", addressLineMax, false},
		{&d.Address.Line2, "address.line2", addressLineMax, true},
		{&d.Address.City, "address.city", cityLengthMax, false},
		{&d.Address.Region, "address.region", regionLengthMax, true},
	}
	for _, f := range text {
		if *f.p, err = cleanText(f.arg, *f.p, f.max, f.opt); err != nil {
			return d, err
		}
	}
	if d.Address.PostalCode, err = cleanCode("address.postal_code", d.Address.PostalCode, 2, postalCodeMax, true); err != nil {
		return d, err
	}
	d.Address.Country = strings.ToUpper(strings.TrimSpace(d.Address.Country))
	if !validCountry(d.Address.Country) {
		return d, kassa.Invalid("address.country", "address.country_invalid", "address.country must be an ISO 3166-1 alpha-2 code")
	}
	switch d.DocumentType {
	case DocumentPassport, DocumentIDCard, DocumentDrivingLicence:
	default:
		return d, kassa.Invalid("document_type", "document_type_invalid", "document_type must be passport, id_card or driving_licence")
	}
	d.DocumentCountry = strings.ToUpper(strings.TrimSpace(d.DocumentCountry))
	if !validCountry(d.DocumentCountry) {
		return d, kassa.Invalid("document_country", "document_country_invalid", "document_country must be an ISO 3166-1 alpha-2 code")
	}
	if d.DocumentNumber, err = cleanCode("document_number", d.DocumentNumber, documentNumberMin, documentNumberMax, false); err != nil {
		return d, err
	}
	return validateBirthDate(d, now)
}

func validateBirthDate(d IdentityData, now time.Time) (IdentityData, error) {
	if d.BirthDate.IsZero() {
		return d, kassa.Invalid("birth_date", "birth_date_invalid", "birth_date is required")
	}
	d.BirthDate = dateOf(d.BirthDate)
	if d.BirthDate.After(dateOf(now)) || d.BirthDate.Before(dateOf(now).AddDate(-ageMax, 0, 0)) {
		return d, kassa.Invalid("birth_date", "birth_date_invalid", "birth_date must be a past date within %d years", ageMax)
	}
	if !Adult(d.BirthDate, now) {
		return d, kassa.Invalid("birth_date", CodeUnderage, "you must be at least %d years old", ageMin)
	}
	return d, nil
}

// cleanCode upper-cases a code (postal code, document number), strips
// spaces (keeping them in postal codes) and checks it is min..max letters,
// digits and dashes.
func cleanCode(param, s string, minLen, maxLen int, keepSpaces bool) (string, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if !keepSpaces {
		s = strings.ReplaceAll(s, " ", "")
	}
	ok := len(s) >= minLen && len(s) <= maxLen
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || (keepSpaces && c == ' ')
	}
	if !ok {
		return "", kassa.Invalid(param, param+"_invalid", "%s must be %d to %d letters, digits or dashes", param, minLen, maxLen)
	}
	return s, nil
}

// SubmitKYC validates a verified customer's identity data, checks the age
// (18 or older at the service's clock) and Config.KYC, seals the birth
// date and document number, and stores it all. Data that passes makes the
// customer kyc_verified (identity.kyc_verified); a refusal of the checker
// is stored nowhere and emits identity.kyc_rejected. Errors: kassa
// ENotFound customer_not_found, EForbidden level_too_low, EInvalid (see
// validateIdentity; underage), the checker's refusal (EUnprocessable
// kyc_rejected by convention), a self-exclusion register's
// (EForbidden self_excluded, EUnavailable
// self_exclusion_check_unavailable: exclusion.go).
func (s *Service) SubmitKYC(ctx context.Context, customerID string, d IdentityData) (Customer, error) {
	now := s.now().UTC()
	r, err := s.record(ctx, customerID)
	if err != nil {
		return Customer{}, err
	}
	if !r.Level.AtLeast(LevelVerified) {
		return Customer{}, kassa.Errorf(kassa.EForbidden, CodeLevelTooLow, "confirm your email and phone and set a password first")
	}
	if d, err = validateIdentity(d, now); err != nil {
		return Customer{}, err
	}
	if s.kyc != nil {
		if err := s.kyc.CheckKYC(ctx, r.ID, d); err != nil {
			if ke := kassa.AsError(err); ke != nil {
				s.emit(ctx, EventKYCRejected, r.ID, EventData{"code": ke.Code})
				return Customer{}, err
			}
			return Customer{}, fmt.Errorf("identity: kyc check: %w", err)
		}
	}
	// The last step of a sign-up (or a change of identity data): the
	// registers the new residence requires are asked before anything is
	// stored.
	if err := s.checkExclusion(ctx, ExclusionAtSignUp, ExclusionPerson{CustomerID: r.ID, Email: r.Email, Identity: d}); err != nil {
		code := "exclusion_check_failed"
		if ke := kassa.AsError(err); ke != nil && ke.Code != "" {
			code = ke.Code
		}
		s.emit(ctx, EventKYCRejected, r.ID, EventData{"code": code})
		return Customer{}, err
	}
	birth, err := s.seal(r.ID, "birth_date", []byte(d.BirthDate.Format(time.DateOnly)))
	if err != nil {
		return Customer{}, err
	}
	doc, err := s.seal(r.ID, "document_number", []byte(d.DocumentNumber))
	if err != nil {
		return Customer{}, err
	}
	r, err = s.update(ctx, r.ID, func(x *Record) error {
		x.KYC = KYCRecord{GivenName: d.GivenName, FamilyName: d.FamilyName, Address: d.Address,
			DocumentType: d.DocumentType, DocumentCountry: d.DocumentCountry, BirthDate: birth, DocumentNumber: doc,
			SubmittedAt: now, VerifiedAt: now}
		x.Level, x.Updated = x.level(), now
		return nil
	})
	if err != nil {
		return Customer{}, err
	}
	s.emit(ctx, EventKYCVerified, r.ID, EventData{"level": string(r.Level), "country": d.Address.Country})
	return r.customer(), nil
}

// Identity returns a customer's identity data with the sealed fields
// opened, for KYC review; zero when none was submitted. Errors: kassa
// ENotFound customer_not_found.
func (s *Service) Identity(ctx context.Context, customerID string) (IdentityData, error) {
	r, err := s.record(ctx, customerID)
	if err != nil || r.KYC.SubmittedAt.IsZero() {
		return IdentityData{}, err
	}
	k := r.KYC
	d := IdentityData{GivenName: k.GivenName, FamilyName: k.FamilyName, Address: k.Address,
		DocumentType: k.DocumentType, DocumentCountry: k.DocumentCountry}
	b, err := s.open(r.ID, "birth_date", k.BirthDate)
	if err != nil {
		return IdentityData{}, err
	}
	if d.BirthDate, err = time.Parse(time.DateOnly, string(b)); err != nil {
		return IdentityData{}, fmt.Errorf("identity: stored birth date of %s: %w", r.ID, err)
	}
	n, err := s.open(r.ID, "document_number", k.DocumentNumber)
	if err != nil {
		return IdentityData{}, err
	}
	d.DocumentNumber = string(n)
	return d, nil
}
