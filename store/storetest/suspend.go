package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/store/sqlstore"
)

// testMerchantSuspension: a suspension reads back three ways (by id, in
// the list, through a key, which it refuses with merchant_suspended) and
// lifts; another merchant is untouched.
func testMerchantSuspension(t *testing.T, open Opener) {
	db := open(t)
	ctx := context.Background()
	svc := merchant.NewService(sqlstore.NewMerchants(db), nil, id.Generator{})
	a, err := svc.Create(ctx, "Suspended Bets")
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.Create(ctx, "Other Bets")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Suspend(ctx, a.ID, ""); kassa.ErrorKind(err) != kassa.EInvalid {
		t.Errorf("suspend without a reason: %v", err)
	}
	if _, err := svc.Suspend(ctx, "mer_nope", "x"); kassa.ErrorKind(err) != kassa.ENotFound {
		t.Errorf("suspend unknown: %v", err)
	}
	if _, err := svc.Suspend(ctx, a.ID, "chargebacks"); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Get(ctx, a.ID)
	if err != nil || got.SuspendedAt == nil || got.SuspendedReason != "chargebacks" {
		t.Errorf("Get = %+v, %v", got, err)
	}
	list, _ := svc.List(ctx, "", 10)
	i := slices.IndexFunc(list, func(m merchant.Merchant) bool { return m.ID == a.ID })
	if i < 0 || list[i].SuspendedAt == nil {
		t.Errorf("List = %+v", list)
	}
	for _, key := range []string{a.SecretKey, a.PublishableKey} {
		if _, err := svc.Authenticate(ctx, key); kassa.AsError(err) != merchant.ErrSuspended {
			t.Errorf("Authenticate a suspended merchant's key = %v", err)
		}
	}
	if err := svc.CheckActive(ctx, a.ID); kassa.AsError(err) != merchant.ErrSuspended {
		t.Errorf("CheckActive = %v", err)
	}
	if _, err := svc.Authenticate(ctx, b.SecretKey); err != nil || svc.CheckActive(ctx, b.ID) != nil {
		t.Errorf("the other merchant: %v", err)
	}
	if _, err := svc.Suspend(ctx, a.ID, "again"); kassa.ErrorKind(err) != kassa.EConflict {
		t.Errorf("suspend twice: %v", err)
	}
	if _, err := svc.Unsuspend(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, a.SecretKey); err != nil {
		t.Errorf("after unsuspend: %v", err)
	}
	if got, _ := svc.Get(ctx, a.ID); got.SuspendedAt != nil || got.SuspendedReason != "" {
		t.Errorf("after unsuspend: %+v", got)
	}
}
