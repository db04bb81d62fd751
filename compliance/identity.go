package compliance

import (
	"context"
	"fmt"
	"time"

	"github.com/kassa/kassa"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/policy"
)

// IdentityAccounts finds Kassa accounts in package identity: the level,
// the KYC address's country and, for a KYC-verified account, the date of
// birth and what registers are asked about.
type IdentityAccounts struct{ Identity *identity.Service }

var _ Accounts = IdentityAccounts{}

func (a IdentityAccounts) Account(ctx context.Context, customerID string) (Account, error) {
	c, err := a.Identity.Customer(ctx, customerID)
	if err != nil {
		return Account{}, err
	}
	acc := Account{ID: c.ID, Level: policy.LevelNone, Country: c.Country}
	switch c.Level {
	case identity.LevelVerified:
		acc.Level = policy.LevelVerified
	case identity.LevelKYCVerified:
		acc.Level = policy.LevelKYCVerified
		d, err := a.Identity.Identity(ctx, customerID)
		if err != nil {
			return Account{}, err
		}
		acc.BirthDate = d.BirthDate
		acc.Person = Person{GivenName: d.GivenName, FamilyName: d.FamilyName, BirthDate: d.BirthDate.Format(time.DateOnly),
			Email: c.Email, PostalCode: d.Address.PostalCode, Country: d.Address.Country, DocumentNumber: d.DocumentNumber}
	}
	return acc, nil
}

// IdentityExclusion is the Service as identity's ExclusionCheck: the
// registers a payer's residence requires at sign-up (the identity data
// step) and at login. There is no merchant at these moments, so only the
// residence's policy applies. A register nobody configured is not asked
// here (a deposit that needs it is still refused): refusing every login
// of a country's residents because the operator has no contract with
// its gambling register would shut them out of payments that are not
// gambling at all. A configured register that does not answer fails
// closed when the policy requires it.
type IdentityExclusion struct{ *Service }

var _ identity.ExclusionCheck = IdentityExclusion{}

// Consulted reports whether a configured register is consulted at
// moment for a resident of country.
func (x IdentityExclusion) Consulted(moment identity.ExclusionMoment, country string) bool {
	for _, g := range x.cfg.Policies.For("", country).Registers {
		if g.ConsultedAt(string(moment)) && x.cfg.Registers[g.Register] != nil {
			return true
		}
	}
	return false
}

// CheckExclusion asks each configured register the residence's policy
// consults at moment: EForbidden self_excluded (Details register,
// lifts_at) when one lists the person, EUnavailable
// self_exclusion_check_unavailable when a required one does not answer.
func (x IdentityExclusion) CheckExclusion(ctx context.Context, moment identity.ExclusionMoment, p identity.ExclusionPerson) error {
	d := p.Identity
	person := Person{GivenName: d.GivenName, FamilyName: d.FamilyName, BirthDate: d.BirthDate.Format(time.DateOnly),
		Email: p.Email, PostalCode: d.Address.PostalCode, Country: d.Address.Country, DocumentNumber: d.DocumentNumber}
	for _, g := range x.cfg.Policies.For("", d.Address.Country).Registers {
		reg := x.cfg.Registers[g.Register]
		if !g.ConsultedAt(string(moment)) || reg == nil {
			continue
		}
		ans, err := reg.Check(ctx, person)
		if err != nil {
			x.log.WarnContext(ctx, "self-exclusion register did not answer", "register", g.Register, "moment", string(moment),
				"required", g.Required, "err", err)
			if !g.Required {
				continue
			}
			return &kassa.Error{Kind: kassa.EUnavailable, Code: identity.CodeExclusionCheckUnavailable,
				Message: fmt.Sprintf("%s cannot be reached right now, and the rules allow no gambling account without that check; try again in a few minutes", registerTitle(g.Register)),
				Details: map[string]any{"register": g.Register, "source": g.Source}}
		}
		if ans.Excluded {
			e := &kassa.Error{Kind: kassa.EForbidden, Code: identity.CodeSelfExcluded,
				Message: fmt.Sprintf("you are registered in %s as excluded from gambling", registerTitle(g.Register)),
				Details: map[string]any{"register": g.Register}}
			if !ans.Until.IsZero() {
				e.Details["lifts_at"] = ans.Until.UTC().Format(time.RFC3339)
			}
			return e
		}
	}
	return nil
}

// registerTitle is a register's name for people ("Spelpaus (Sweden)").
func registerTitle(name string) string {
	if t := RegisterTitles[name]; t != "" {
		return t
	}
	return name
}
