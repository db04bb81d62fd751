package payment_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
)

// retryService is e's payment service with kassa serve's attempt limit,
// scored by a started risk engine (nil: unscored).
func retryService(t *testing.T, e *env, eng *risk.Engine) *payment.Service {
	t.Helper()
	cfg := payment.Config{Store: sqlstore.NewPayments(e.db), Ledger: e.led, Vouchers: e.vouchers, Clock: e.clk.Now,
		Vault: e.vault, Acquirer: e.acq, AttemptsMax: payment.AttemptsMaxDefault, Logger: slog.New(slog.NewJSONHandler(e.logs, nil))}
	if eng != nil {
		cfg.Risk = eng
	}
	return payment.New(cfg)
}

func (e *env) token(pan string) string {
	e.t.Helper()
	tok, err := e.vault.Tokenize(context.Background(), e.merchant, vault.CardInput{Number: pan, ExpMonth: 12, ExpYear: 2030, CVC: "123"})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok.ID
}

// TestDeclinesKeepPaymentOpen: a declined card and vouchers that do not
// cover the amount leave the payment requires_action, each try counted;
// the payer switches methods between tries, each card try has its own
// acquirer key, and a card that pays on the third try clears the
// failure.
func TestDeclinesKeepPaymentOpen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		pay := retryService(t, e, nil)
		pins, _ := e.issue(1, 500)
		p, err := pay.Create(ctx, e.merchant, payment.CreateRequest{Amount: 1000, Currency: "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		card := func(pan string) (payment.Payment, error) {
			return pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, Method: "card", Token: e.token(pan)})
		}
		got, err := card(acquirer.CardDeclined)
		if err != nil || got.Status != payment.StatusRequiresAction || got.Attempts != 1 || got.FailureCode != acquirer.GenericDecline {
			t.Fatalf("first decline: %s attempts %d failure %q, %v", got.Status, got.Attempts, got.FailureCode, err)
		}
		if j := payment.Public(got); j.Attempts != 1 || j.FailureCode != acquirer.GenericDecline {
			t.Errorf("public form after a decline: attempts %d failure %q", j.Attempts, j.FailureCode)
		}
		// Vouchers after the card: short, a counted try.
		_, err = pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, PINs: pins})
		if code(err) != "voucher_balance_insufficient" {
			t.Fatalf("short vouchers: %v", err)
		}
		if got, _ = pay.Get(ctx, e.merchant, p.ID); got.Status != payment.StatusRequiresAction || got.Attempts != 2 ||
			got.MethodType != payment.MethodVoucher || got.Card.Ref != "" {
			t.Fatalf("after short vouchers: %s attempts %d method %s card %q", got.Status, got.Attempts, got.MethodType, got.Card.Ref)
		}
		// A card again: the third try pays.
		got, err = card(acquirer.CardApproved)
		if err != nil || got.Status != payment.StatusCaptured || got.Attempts != 3 || got.FailureCode != "" {
			t.Fatalf("third try: %s attempts %d failure %q, %v", got.Status, got.Attempts, got.FailureCode, err)
		}
		first, err := e.acq.Query(ctx, p.ID+":authorize")
		if err != nil || first.Status != acquirer.Declined {
			t.Errorf("the first try's key: %+v %v", first, err)
		}
		third, err := e.acq.Query(ctx, p.ID+":authorize:3")
		if err != nil || third.Status != acquirer.Approved {
			t.Errorf("the third try's key: %+v %v", third, err)
		}
		if n := e.acq.calls(p.ID); n != 2 {
			t.Errorf("%d acquirer authorizations, want 2 (the vouchers' try is Kassa's own)", n)
		}
		e.check()
	})
}

// TestThirdDeclineFails: only the AttemptsMax-th decline fails the
// payment; nothing moved, and it takes no further try.
func TestThirdDeclineFails(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		pay := retryService(t, e, nil)
		pins, _ := e.issue(1, 300)
		p, err := pay.Create(ctx, e.merchant, payment.CreateRequest{Amount: 1000, Currency: "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		req := payment.ConfirmRequest{ClientSecret: p.ClientSecret, Method: "card"}
		req.Token = e.token(acquirer.CardInsufficientFunds)
		if got, err := pay.Confirm(ctx, e.merchant, p.ID, req); err != nil || got.Status != payment.StatusRequiresAction {
			t.Fatalf("first: %s %v", got.Status, err)
		}
		req.Token = e.token(acquirer.CardStolen)
		if got, err := pay.Confirm(ctx, e.merchant, p.ID, req); err != nil || got.Status != payment.StatusRequiresAction {
			t.Fatalf("second: %s %v", got.Status, err)
		}
		got, err := pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, PINs: pins})
		if err != nil || got.Status != payment.StatusFailed || got.FailureCode != "voucher_balance_insufficient" || got.Attempts != 3 {
			t.Fatalf("third (short vouchers): %s %q attempts %d, %v", got.Status, got.FailureCode, got.Attempts, err)
		}
		req.Token = e.token(acquirer.CardApproved)
		if _, err := pay.Confirm(ctx, e.merchant, p.ID, req); code(err) != "payment_unexpected_state" {
			t.Errorf("a try after the last: %v", err)
		}
		if _, _, err := e.led.Transfer(ctx, "", "pay:"+p.ID+":auth:0"); err != ledger.ErrNotFound {
			t.Errorf("a failed payment has a ledger transfer: %v", err)
		}
		e.check()
	})
}

// TestCardTestingThroughRetries attacks the retry loop as a card tester
// would: many stolen card numbers fired at one payment at once, from one
// address. The acquirer sees at most AttemptsMax of them, each try is
// scored, the payment fails, and the risk engine counts the declines
// against the address for what comes next.
func TestCardTestingThroughRetries(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		eng, err := risk.NewEngine(risk.Config{Store: sqlstore.NewRisk(e.db), Node: "test", DefaultModel: risk.DefaultModel,
			IDs: id.Generator{}, Clock: e.clk.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		if err := eng.Start(rctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); eng.Close() })
		pay := retryService(t, e, eng)
		p, err := pay.Create(ctx, e.merchant, payment.CreateRequest{Amount: 4900, Currency: "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		const cards = 12
		toks := make([]string, cards)
		for i := range toks {
			toks[i] = e.token(acquirer.CardDeclined)
		}
		var wg sync.WaitGroup
		for _, tok := range toks {
			wg.Go(func() {
				// Refusals (payment_changed, payment_unexpected_state) are
				// the point; the count below is the assertion.
				pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, Method: "card", Token: tok,
					ClientIP: "203.0.113.7", UserAgent: "tester"})
			})
		}
		wg.Wait()
		// Whatever raced, tries go on one at a time until the payment ends.
		for range toks {
			got, _ := pay.Get(ctx, e.merchant, p.ID)
			if got.Status != payment.StatusRequiresAction {
				break
			}
			tok := e.token(acquirer.CardDeclined)
			pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, Method: "card", Token: tok,
				ClientIP: "203.0.113.7", UserAgent: "tester"})
		}
		got, err := pay.Get(ctx, e.merchant, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != payment.StatusFailed || got.Attempts != payment.AttemptsMaxDefault {
			t.Fatalf("after the attack: %s with %d attempts, want failed with %d", got.Status, got.Attempts, payment.AttemptsMaxDefault)
		}
		if n := e.acq.calls(p.ID); n != payment.AttemptsMaxDefault {
			t.Errorf("the acquirer saw %d authorizations, want %d", n, payment.AttemptsMaxDefault)
		}
		if got.Risk.EvaluationID == "" {
			t.Fatal("the last try was not scored")
		}
		// The next attempt from the address is scored knowing the declines.
		ev, err := eng.Evaluate(ctx, risk.Input{Event: risk.Event{ID: "probe", Time: e.clk.Now(), Kind: risk.KindPayment,
			MerchantID: e.merchant, Amount: 4900, Currency: "EUR", Method: risk.MethodCard, CardFingerprint: "fp_next",
			IP: "203.0.113.7", UserAgent: "tester"}}, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d cards fired at once: %d reached the acquirer; the next try from the address sees ip_failures_1h %v (built-in model score %d)",
			cards, e.acq.calls(p.ID), ev.Features[risk.FIPFailures1h], ev.Score)
		if f := ev.Features[risk.FIPFailures1h]; f < payment.AttemptsMaxDefault {
			t.Errorf("ip_failures_1h = %v after %d declines from the address", f, payment.AttemptsMaxDefault)
		}
		e.check()
	})
}
