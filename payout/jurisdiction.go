package payout

import (
	"context"

	"github.com/kassa/kassa"
)

// CheckJurisdiction is the check of a payout against the rules of the
// merchant's licence country and the payer's residence (docs/compliance.md).
const CheckJurisdiction = "jurisdiction"

// Jurisdiction decides whether a merchant's payout to its customer may
// leave: nil, or a kassa error (kyc_required) saying why not.
// customerID is the payout's customer (a Kassa account cus_... or the
// merchant's own id).
type Jurisdiction interface {
	CheckWithdrawal(ctx context.Context, merchantID, customerID, customerCountry string) error
}

// checkJurisdiction runs Config.Jurisdiction: a refusal fails the check
// with its code; an error that is no refusal is returned.
func (s *Service) checkJurisdiction(ctx context.Context, c *checker, p Payout) error {
	if s.cfg.Jurisdiction == nil {
		return nil
	}
	err := s.cfg.Jurisdiction.CheckWithdrawal(ctx, p.MerchantID, p.Customer.ID, "")
	if err == nil {
		c.pass(CheckJurisdiction)
		return nil
	}
	ke := kassa.AsError(err)
	if ke == nil || ke.Kind != kassa.EUnprocessable {
		return err
	}
	param := ke.Param
	if param == "" {
		param = "customer.id"
	}
	c.fail(CheckJurisdiction, param, ke.Code, "%s", ke.Message)
	return nil
}
