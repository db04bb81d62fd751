package payout_test

import (
	"context"
	"testing"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/store/sqlstore"
)

// TestSuspendedMerchantPayouts: a merchant the operator suspended can
// neither pay out nor be settled (merchant_suspended); its balance stays;
// lifted, the same payout goes through.
func TestSuspendedMerchantPayouts(t *testing.T) {
	e := newSQLiteEnv(t, options{})
	ctx := context.Background()
	e.fund(50000)
	ms := merchant.NewService(sqlstore.NewMerchants(e.db), e.clk.Now, id.Generator{})
	svc := payout.New(payout.Config{Store: e.store, Ledger: e.led, Clock: e.clk.Now, KYC: testKYC,
		Rails: map[string]payout.Rail{payout.DestBankAccount: e.bank}, Active: ms.CheckActive})
	if _, err := ms.Suspend(ctx, e.merchant, "chargebacks under investigation"); err != nil {
		t.Fatal(err)
	}
	before := e.merchantAccount()
	if _, err := svc.Create(ctx, e.merchant, bankReq(1000, ibanPaid)); kassa.AsError(err) == nil || kassa.AsError(err).Code != "merchant_suspended" {
		t.Errorf("payout of a suspended merchant: %v", err)
	}
	if _, err := svc.CreateSettlement(ctx, payout.SettlementRequest{ID: payout.SettlementPrefix + "1", MerchantID: e.merchant,
		MerchantName: "Casino", Amount: 1000, Currency: "EUR", IBAN: ibanPaid, AccountHolder: "Casino"}); kassa.AsError(err) == nil ||
		kassa.AsError(err).Code != "merchant_suspended" {
		t.Errorf("settlement of a suspended merchant: %v", err)
	}
	if after := e.merchantAccount(); after.CreditsPosted != before.CreditsPosted || after.DebitsPending != before.DebitsPending || after.DebitsPosted != before.DebitsPosted {
		t.Errorf("the balance moved: %+v → %+v", before, after)
	}
	if _, err := ms.Unsuspend(ctx, e.merchant); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(ctx, e.merchant, bankReq(1000, ibanPaid)); err != nil {
		t.Errorf("payout after the suspension: %v", err)
	}
}
