package compliance

import (
	"context"
	"time"

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
