package acquirer_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa/acquirer"
)

func authReq(key, pan string) acquirer.AuthorizeRequest {
	return acquirer.AuthorizeRequest{IdempotencyKey: key, PAN: pan, ExpMonth: 12, ExpYear: 2030, CVC: "737",
		Amount: 2500, Currency: "EUR", Reference: "pay_x"}
}

func TestTestCards(t *testing.T) {
	a := acquirer.NewTest()
	a.SlowDelay = 50 * time.Millisecond
	ctx := context.Background()
	tests := []struct {
		pan     string
		status  acquirer.Status
		decline string
	}{
		{acquirer.CardApproved, acquirer.Approved, ""},
		{acquirer.CardDeclined, acquirer.Declined, acquirer.GenericDecline},
		{acquirer.CardInsufficientFunds, acquirer.Declined, acquirer.InsufficientFunds},
		{acquirer.CardStolen, acquirer.Declined, acquirer.StolenCard},
		{acquirer.CardThreeDS, acquirer.RequiresAction, ""},
		{acquirer.CardSlow, acquirer.Approved, ""},
		{"5555555555554444", acquirer.Approved, ""},
	}
	for _, tt := range tests {
		res, err := a.Authorize(ctx, authReq("k-"+tt.pan, tt.pan))
		if err != nil {
			t.Fatalf("Authorize(%s): %v", tt.pan, err)
		}
		if res.Status != tt.status || res.DeclineCode != tt.decline || res.Amount != 2500 || res.Currency != "EUR" {
			t.Errorf("Authorize(%s) = %+v, want %s %s", tt.pan, res, tt.status, tt.decline)
		}
		if (res.Status == acquirer.Approved) != (res.AuthorizationID != "") {
			t.Errorf("Authorize(%s): authorization id %q with status %s", tt.pan, res.AuthorizationID, res.Status)
		}
	}
	req := authReq("k-cvc", acquirer.CardApproved)
	req.CVC = "000"
	if res, _ := a.Authorize(ctx, req); res.DeclineCode != acquirer.IncorrectCVC {
		t.Errorf("CVC 000 = %+v", res)
	}
	req = authReq("k-exp", acquirer.CardApproved)
	req.ExpYear = 2020
	if res, _ := a.Authorize(ctx, req); res.DeclineCode != acquirer.ExpiredCard {
		t.Errorf("expired = %+v", res)
	}
}

func TestThreeDS(t *testing.T) {
	a := acquirer.NewTest()
	ctx := context.Background()
	res, err := a.Authorize(ctx, authReq("3ds-1", acquirer.CardThreeDS))
	if err != nil || res.Status != acquirer.RequiresAction || res.ChallengeID == "" {
		t.Fatalf("Authorize = %+v, %v", res, err)
	}
	again := authReq("3ds-2", acquirer.CardThreeDS)
	again.ChallengeID = res.ChallengeID
	if r, _ := a.Authorize(ctx, again); r.Status != acquirer.RequiresAction {
		t.Errorf("before the challenge is completed = %+v, want requires_action", r)
	}
	if !a.CompleteChallenge(res.ChallengeID, true) {
		t.Fatal("challenge unknown")
	}
	again.IdempotencyKey = "3ds-3"
	if r, _ := a.Authorize(ctx, again); r.Status != acquirer.Approved || r.AuthorizationID == "" {
		t.Errorf("after the challenge = %+v, want approved", r)
	}
	// A challenge authenticates once; another amount cannot borrow it.
	again.IdempotencyKey = "3ds-4"
	if r, _ := a.Authorize(ctx, again); r.DeclineCode != acquirer.AuthenticationFailed {
		t.Errorf("challenge reused = %+v, want authentication_failed", r)
	}
	res, _ = a.Authorize(ctx, authReq("3ds-5", acquirer.CardThreeDS))
	a.CompleteChallenge(res.ChallengeID, false)
	failed := authReq("3ds-6", acquirer.CardThreeDS)
	failed.ChallengeID = res.ChallengeID
	if r, _ := a.Authorize(ctx, failed); r.DeclineCode != acquirer.AuthenticationFailed {
		t.Errorf("failed challenge = %+v, want authentication_failed", r)
	}
}

func TestIdempotency(t *testing.T) {
	a := acquirer.NewTest()
	ctx := context.Background()
	// Concurrent replays of one authorization make one authorization.
	var wg sync.WaitGroup
	ids := make([]string, 16)
	for i := range ids {
		wg.Go(func() {
			res, err := a.Authorize(ctx, authReq("same", acquirer.CardApproved))
			if err != nil {
				t.Error(err)
			}
			ids[i] = res.AuthorizationID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || id == "" {
			t.Fatalf("replays gave authorizations %v", ids)
		}
	}
	other := authReq("same", acquirer.CardApproved)
	other.Amount = 2600
	if _, err := a.Authorize(ctx, other); !errors.Is(err, acquirer.ErrIdempotencyMismatch) {
		t.Errorf("same key, other amount = %v, want ErrIdempotencyMismatch", err)
	}
	if _, err := a.Authorize(ctx, authReq("", acquirer.CardApproved)); !errors.Is(err, acquirer.ErrInvalid) {
		t.Errorf("no idempotency key = %v", err)
	}
	auth := ids[0]
	// A capture replayed does not capture twice: 1500 + replay + 1000 fits 2500.
	for range 3 {
		if _, err := a.Capture(ctx, acquirer.CaptureRequest{IdempotencyKey: "cap-1", AuthorizationID: auth, Amount: 1500}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Capture(ctx, acquirer.CaptureRequest{IdempotencyKey: "cap-2", AuthorizationID: auth, Amount: 1001}); !errors.Is(err, acquirer.ErrInvalid) {
		t.Errorf("over-capture = %v, want ErrInvalid", err)
	}
	if _, err := a.Capture(ctx, acquirer.CaptureRequest{IdempotencyKey: "cap-3", AuthorizationID: auth, Amount: 1000}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Void(ctx, acquirer.VoidRequest{IdempotencyKey: "void-1", AuthorizationID: auth}); !errors.Is(err, acquirer.ErrInvalid) {
		t.Errorf("void after capture = %v", err)
	}
	for range 2 {
		if _, err := a.Refund(ctx, acquirer.RefundRequest{IdempotencyKey: "ref-1", AuthorizationID: auth, Amount: 2500}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Refund(ctx, acquirer.RefundRequest{IdempotencyKey: "ref-2", AuthorizationID: auth, Amount: 1}); !errors.Is(err, acquirer.ErrInvalid) {
		t.Errorf("refund beyond captured = %v", err)
	}
	if _, err := a.Capture(ctx, acquirer.CaptureRequest{IdempotencyKey: "ref-1", AuthorizationID: auth, Amount: 2500}); !errors.Is(err, acquirer.ErrIdempotencyMismatch) {
		t.Errorf("refund's key reused for a capture = %v", err)
	}
	res, _ := a.Authorize(ctx, authReq("v", acquirer.CardApproved))
	if r, err := a.Void(ctx, acquirer.VoidRequest{IdempotencyKey: "void-2", AuthorizationID: res.AuthorizationID}); err != nil || r.Status != acquirer.Approved {
		t.Errorf("void = %+v, %v", r, err)
	}
	if _, err := a.Capture(ctx, acquirer.CaptureRequest{IdempotencyKey: "cap-4", AuthorizationID: res.AuthorizationID, Amount: 1}); !errors.Is(err, acquirer.ErrInvalid) {
		t.Errorf("capture after void = %v", err)
	}
	if _, err := a.Capture(ctx, acquirer.CaptureRequest{IdempotencyKey: "cap-5", AuthorizationID: "auth_nope", Amount: 1}); !errors.Is(err, acquirer.ErrNotFound) {
		t.Errorf("capture of unknown = %v", err)
	}
}

func TestTimeoutThenQuery(t *testing.T) {
	a := acquirer.NewTest()
	ctx := context.Background()
	if _, err := a.Query(ctx, "t-1"); !errors.Is(err, acquirer.ErrNotFound) {
		t.Errorf("Query before = %v, want ErrNotFound", err)
	}
	_, err := a.Authorize(ctx, authReq("t-1", acquirer.CardTimeout))
	if !errors.Is(err, acquirer.ErrTimeout) {
		t.Fatalf("Authorize(timeout card) = %v, want ErrTimeout", err)
	}
	res, err := a.Query(ctx, "t-1")
	if err != nil || res.Status != acquirer.Approved || res.AuthorizationID == "" {
		t.Fatalf("Query after the timeout = %+v, %v; want the authorization", res, err)
	}
	// A replay learns the same authorization rather than making another.
	again, err := a.Authorize(ctx, authReq("t-1", acquirer.CardTimeout))
	if err != nil || again.AuthorizationID != res.AuthorizationID {
		t.Errorf("replay = %+v, %v; want %s", again, err, res.AuthorizationID)
	}

	// The slow card behind a connector timeout shorter than its answer.
	a.SlowDelay = 2 * time.Second
	short := acquirer.WithTimeout(a, 50*time.Millisecond)
	start := time.Now()
	_, err = short.Authorize(ctx, authReq("s-1", acquirer.CardSlow))
	if !errors.Is(err, acquirer.ErrTimeout) || time.Since(start) > time.Second {
		t.Fatalf("slow card with a 50ms timeout = %v after %v, want ErrTimeout at once", err, time.Since(start))
	}
	res, err = short.Query(ctx, "s-1")
	if err != nil || res.Status != acquirer.Approved {
		t.Errorf("Query of the slow authorization = %+v, %v", res, err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.Authorize(canceled, authReq("c-1", acquirer.CardApproved)); !errors.Is(err, acquirer.ErrTimeout) {
		t.Errorf("canceled context = %v", err)
	}
	if _, err := a.Query(ctx, "c-1"); !errors.Is(err, acquirer.ErrNotFound) {
		t.Errorf("a call that never arrived is found: %v", err)
	}
}

// TestPayout: an original credit to the card of an authorization, once
// per idempotency key, in the card's currency, found by Query.
func TestPayout(t *testing.T) {
	a := acquirer.NewTest()
	ctx := context.Background()
	auth, err := a.Authorize(ctx, authReq("k-auth", acquirer.CardApproved))
	if err != nil || auth.Status != acquirer.Approved {
		t.Fatalf("authorize: %v %v", auth, err)
	}
	req := acquirer.PayoutRequest{IdempotencyKey: "po_1", AuthorizationID: auth.AuthorizationID, Amount: 9000, Currency: "EUR"}
	res, err := a.Payout(ctx, req)
	if err != nil || res.Status != acquirer.Approved || res.Operation != acquirer.OpPayout || res.Amount != 9000 {
		t.Fatalf("payout (more than captured: winnings): %v %v", res, err)
	}
	if again, err := a.Payout(ctx, req); err != nil || again != res {
		t.Errorf("replay: %v %v", again, err)
	}
	if q, err := a.Query(ctx, "po_1"); err != nil || q != res {
		t.Errorf("query: %v %v", q, err)
	}
	other := req
	other.Amount = 1
	if _, err := a.Payout(ctx, other); !errors.Is(err, acquirer.ErrIdempotencyMismatch) {
		t.Errorf("another amount under the key: %v", err)
	}
	for _, bad := range []acquirer.PayoutRequest{
		{IdempotencyKey: "po_2", AuthorizationID: auth.AuthorizationID, Amount: 100, Currency: "GBP"},
		{IdempotencyKey: "po_3", AuthorizationID: auth.AuthorizationID, Amount: 0, Currency: "EUR"},
	} {
		if _, err := a.Payout(ctx, bad); !errors.Is(err, acquirer.ErrInvalid) {
			t.Errorf("payout %+v: %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := a.Payout(ctx, acquirer.PayoutRequest{IdempotencyKey: "po_4", AuthorizationID: "auth_x", Amount: 1, Currency: "EUR"}); !errors.Is(err, acquirer.ErrNotFound) {
		t.Errorf("unknown authorization: %v", err)
	}
}
