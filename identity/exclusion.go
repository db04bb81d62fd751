package identity

import (
	"context"
	"fmt"

	"github.com/kassa/kassa"
)

// Self-exclusion registers at sign-up and login. Some jurisdictions ask
// that a gambling account be checked against the national register
// (Spelpaus, ROFUS, GAMSTOP, OASIS, CRUKS) when it is opened and at every
// login, not only at each deposit. identity knows no jurisdictions: an
// ExclusionCheck (package compliance, wired by cmd/kassa) says which
// registers a residence needs at a moment and asks them.
//
// Every register matches a person on identity data (name, date of
// birth, national identity number), which Kassa learns at the last step
// of sign-up, the identity data (SubmitKYC). So:
//   - "sign-up" is that step: identity data of a person a register
//     excludes is refused and stored nowhere;
//   - "login" is every login of an account with verified identity data,
//     checked when the login would authenticate (after the password, and
//     after the second factor when one is asked for), so only someone who
//     passed the whole login learns the answer;
//   - the residence is the country of the identity data's address; an
//     account without identity data has none and is not checked (no
//     register could find it; deposits that need a register ask for the
//     identity data first).

// ExclusionMoment is when a register is consulted.
type ExclusionMoment string

const (
	ExclusionAtSignUp ExclusionMoment = "signup"
	ExclusionAtLogin  ExclusionMoment = "login"
)

// Codes of refusals by a register.
const (
	// CodeSelfExcluded: a register the residence requires lists the
	// person as excluded (EForbidden; Details "register", and "lifts_at"
	// when the register gives an end).
	CodeSelfExcluded = "self_excluded"
	// CodeExclusionCheckUnavailable: a register the residence requires
	// did not answer, and the rules allow no account without the check
	// (EUnavailable; Details "register").
	CodeExclusionCheckUnavailable = "self_exclusion_check_unavailable"
)

// ExclusionPerson is who a register is asked about.
type ExclusionPerson struct {
	CustomerID string
	Email      string
	Identity   IdentityData // the address's Country is the residence
}

// ExclusionCheck consults self-exclusion registers.
type ExclusionCheck interface {
	// Consulted reports whether a payer residing in country (ISO 3166-1
	// alpha-2) is checked at moment: identity opens the sealed identity
	// data only then.
	Consulted(moment ExclusionMoment, country string) bool
	// CheckExclusion asks the registers the residence requires at moment
	// about p: nil lets the payer on; a kassa error CodeSelfExcluded or
	// CodeExclusionCheckUnavailable refuses. Any other error refuses too
	// (the check failed closed).
	CheckExclusion(ctx context.Context, moment ExclusionMoment, p ExclusionPerson) error
}

// checkExclusion runs Config.Exclusion for a person at a moment; it
// returns nil when nothing is configured or consulted. A refusal is
// returned as the check worded it (the pages write their own text by
// code); a failure of another kind is wrapped and refuses all the same.
func (s *Service) checkExclusion(ctx context.Context, moment ExclusionMoment, p ExclusionPerson) error {
	if s.exclusion == nil || !s.exclusion.Consulted(moment, p.Identity.Address.Country) {
		return nil
	}
	err := s.exclusion.CheckExclusion(ctx, moment, p)
	if err == nil {
		return nil
	}
	if e := kassa.AsError(err); e != nil && (e.Code == CodeSelfExcluded || e.Code == CodeExclusionCheckUnavailable) {
		return e
	}
	return fmt.Errorf("identity: self-exclusion check at %s: %w", moment, err)
}

// loginExclusion checks an account with verified identity data at login.
func (s *Service) loginExclusion(ctx context.Context, r Record) error {
	if s.exclusion == nil || r.KYC.VerifiedAt.IsZero() || !s.exclusion.Consulted(ExclusionAtLogin, r.KYC.Address.Country) {
		return nil
	}
	d, err := s.Identity(ctx, r.ID)
	if err != nil {
		return err
	}
	return s.checkExclusion(ctx, ExclusionAtLogin, ExclusionPerson{CustomerID: r.ID, Email: r.Email, Identity: d})
}

// refusedLogin records a login the registers refused: the event names
// the code only.
func (s *Service) refusedLogin(ctx context.Context, r Record, c Client, err error) {
	code := "exclusion_check_failed"
	if e := kassa.AsError(err); e != nil && e.Code != "" {
		code = e.Code
	}
	s.emit(ctx, EventLoginFailed, r.ID, EventData{"reason": code, "ip": c.IP})
}
