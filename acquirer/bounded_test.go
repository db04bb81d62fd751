package acquirer_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/internal/testclock"
)

// TestTestAcquirerBounded: the test acquirer remembers at most
// RecordsMax calls and authorizations. At the bound it forgets call
// outcomes older than TestCallKeep and settled authorizations (oldest
// first) and never one that may still be refunded or paid out to; with
// nothing to forget it refuses instead of growing.
func TestTestAcquirerBounded(t *testing.T) {
	ctx := context.Background()
	clk := testclock.New(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	a := acquirer.NewTest()
	a.Clock, a.RecordsMax = clk.Now, 3
	var auths []string
	for i := range 3 {
		res, err := a.Authorize(ctx, authReq(fmt.Sprint("k", i), acquirer.CardApproved))
		if err != nil || res.Status != acquirer.Approved {
			t.Fatalf("authorize %d: %+v %v", i, res, err)
		}
		auths = append(auths, res.AuthorizationID)
	}
	// Three call outcomes younger than TestCallKeep: a fourth call is refused.
	if _, err := a.Authorize(ctx, authReq("k3", acquirer.CardApproved)); !errors.Is(err, acquirer.ErrInvalid) {
		t.Fatalf("a fourth call within a day: %v; want ErrInvalid", err)
	}
	clk.Advance(acquirer.TestCallKeep + time.Hour)
	// The calls' outcomes may go, but the three authorizations are live:
	// a new one is declined, nothing is forgotten of them.
	res, err := a.Authorize(ctx, authReq("k4", acquirer.CardApproved))
	if err != nil || res.Status != acquirer.Declined {
		t.Fatalf("an authorization beyond the bound: %+v %v", res, err)
	}
	if _, err := a.Query(ctx, "k0"); !errors.Is(err, acquirer.ErrNotFound) {
		t.Fatalf("an old call outcome was kept at the bound: %v", err)
	}
	// Settle the first: voided, it may be forgotten for a new one.
	if _, err := a.Void(ctx, acquirer.VoidRequest{IdempotencyKey: "v0", AuthorizationID: auths[0]}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(acquirer.TestCallKeep + time.Hour)
	res, err = a.Authorize(ctx, authReq("k5", acquirer.CardApproved))
	if err != nil || res.Status != acquirer.Approved {
		t.Fatalf("an authorization after one settled: %+v %v", res, err)
	}
	// The live ones still take payouts; the forgotten one does not.
	for i, id := range []string{auths[1], auths[2], res.AuthorizationID} {
		if _, err := a.Capture(ctx, acquirer.CaptureRequest{IdempotencyKey: fmt.Sprint("c", i), AuthorizationID: id, Amount: 2500}); err != nil {
			t.Fatalf("capture %s: %v", id, err)
		}
		clk.Advance(acquirer.TestCallKeep + time.Hour)
	}
	if _, err := a.Payout(ctx, acquirer.PayoutRequest{IdempotencyKey: "p1", AuthorizationID: auths[1], Amount: 100, Currency: "EUR"}); err != nil {
		t.Fatalf("payout to a live authorization: %v", err)
	}
	clk.Advance(acquirer.TestCallKeep + time.Hour)
	if _, err := a.Payout(ctx, acquirer.PayoutRequest{IdempotencyKey: "p0", AuthorizationID: auths[0], Amount: 100, Currency: "EUR"}); !errors.Is(err, acquirer.ErrNotFound) {
		t.Fatalf("payout to a forgotten authorization: %v", err)
	}
}
