package payout

import (
	"context"
	"strings"

	"github.com/kassa/kassa"
)

// Identity is the verified identity of a payer's Kassa account.
type Identity struct {
	Email       string // the account's address (normalized)
	GivenName   string
	FamilyName  string
	DateOfBirth string // YYYY-MM-DD
	Verified    bool   // KYC data submitted and checked
}

// KYC finds the identity of a Kassa account (cus_...): an error of kind
// ENotFound when there is no such account.
type KYC interface {
	Identity(ctx context.Context, customerID string) (Identity, error)
}

// CheckKYC is the check that the merchant's customer data matches the
// Kassa account a wallet payout credits.
const CheckKYC = "kyc"

// checkKYC requires a KYC-verified Kassa account whose name and date of
// birth are the customer's the merchant sent (and its email, when sent):
// winnings go only to the wallet of the person the merchant knows.
func (s *Service) checkKYC(ctx context.Context, c *checker, cu Customer) error {
	if s.cfg.KYC == nil {
		c.fail(CheckKYC, "destination.type", "destination_unsupported", "wallet payouts are not enabled on this server")
		return nil
	}
	idn, err := s.cfg.KYC.Identity(ctx, cu.ID)
	switch {
	case kassa.ErrorKind(err) == kassa.ENotFound:
		c.fail(CheckKYC, "customer.id", "customer_not_found", "customer.id names no Kassa account")
		return nil
	case err != nil:
		return err
	case !idn.Verified:
		c.fail(CheckKYC, "customer.id", "kyc_required", "the Kassa account has not completed identity verification (KYC)")
	case !NamesMatch(idn.GivenName+" "+idn.FamilyName, cu.FirstName, cu.LastName):
		c.fail(CheckKYC, "customer.first_name", "kyc_mismatch", "customer.first_name and last_name are not the Kassa account's verified name")
	case idn.DateOfBirth != cu.DateOfBirth:
		c.fail(CheckKYC, "customer.date_of_birth", "kyc_mismatch", "customer.date_of_birth is not the Kassa account's verified date of birth")
	case cu.Email != "" && !strings.EqualFold(strings.TrimSpace(cu.Email), idn.Email):
		c.fail(CheckKYC, "customer.email", "kyc_mismatch", "customer.email is not the Kassa account's address")
	default:
		c.pass(CheckKYC)
	}
	return nil
}
