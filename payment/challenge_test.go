package payment_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
	"github.com/kassa/kassa/voucher"
)

// challengeEnv is env with a started risk engine whose merchant rule
// challenges every payment from 10.00 EUR with a one-time code, and a
// payment service that scores with it.
type challengeEnv struct {
	*env
	risk *risk.Engine
	pay  *payment.Service
}

func newChallengeEnv(t *testing.T, e *env) *challengeEnv {
	t.Helper()
	eng, err := risk.NewEngine(risk.Config{Store: sqlstore.NewRisk(e.db), Node: "test", DefaultModel: risk.DefaultModel,
		IDs: id.Generator{}, Clock: e.clk.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); eng.Close() })
	name, expr, action, factor := "step up", "amount >= 1000", risk.Challenge, risk.FactorOTP
	if _, err := eng.CreateRule(ctx, e.merchant, risk.RuleParams{Name: &name, Expression: &expr, Action: &action, Factor: &factor}); err != nil {
		t.Fatal(err)
	}
	pay := payment.New(payment.Config{Store: sqlstore.NewPayments(e.db), Ledger: e.led, Vouchers: e.vouchers, Clock: e.clk.Now,
		Vault: e.vault, Acquirer: e.acq, Risk: eng, Logger: slog.New(slog.NewJSONHandler(e.logs, nil))})
	return &challengeEnv{env: e, risk: eng, pay: pay}
}

// challenged creates a payment of amount and confirms it as payer (""
// anonymous) with the PIN or, when pin is "", the card token tok; the
// rule holds it for the challenge.
func (c *challengeEnv) challenged(amount money.Amount, payer, pin, tok string) payment.Payment {
	c.t.Helper()
	ctx := context.Background()
	p, err := c.pay.Create(ctx, c.merchant, payment.CreateRequest{Amount: amount, Currency: "EUR"})
	if err != nil {
		c.t.Fatal(err)
	}
	req := payment.ConfirmRequest{ClientSecret: p.ClientSecret, ClientIP: "192.0.2.1", PayerID: payer}
	if pin != "" {
		req.PINs = []string{pin}
	} else {
		req.Method, req.Token = payment.MethodCard, tok
	}
	p, err = c.pay.Confirm(ctx, c.merchant, p.ID, req)
	if err != nil || p.Risk.Challenge != payment.ChallengePending {
		c.t.Fatalf("confirm: %s challenge %q, %v", p.Status, p.Risk.Challenge, err)
	}
	return p
}

// TestChallengeAnsweredByPayerOfRecord: a challenge is passed only by the
// account that was the payment's payer when it began. An account that
// was not (a fraudster who signs up inside the challenge of a payment
// made without an account, or another account than the payer's) is
// refused and the payment keeps waiting, uncharged.
func TestChallengeAnsweredByPayerOfRecord(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c := newChallengeEnv(t, e)
		ctx := context.Background()
		pins, serials := e.issue(3, 5000)
		for _, tt := range []struct {
			name, payer, answeredBy string
		}{
			{"no payer, a fresh account", "", "cus_fresh"},
			{"another account", "cus_owner", "cus_other"},
		} {
			pin, serial := pins[0], serials[0]
			pins, serials = pins[1:], serials[1:]
			p := c.challenged(2000, tt.payer, pin, "")
			got, err := c.pay.CompleteChallenge(ctx, p.ID, payment.ChallengeResult{Passed: true, PayerID: tt.answeredBy})
			if code(err) != "challenge_payer_mismatch" {
				t.Errorf("%s: CompleteChallenge = %s %s/%s, %v; want challenge_payer_mismatch", tt.name,
					got.Status, got.Risk.TransStatus, got.Risk.ECI, err)
			}
			if q, _ := c.pay.Get(ctx, "", p.ID); q.Status != payment.StatusRequiresAction || q.Risk.Challenge != payment.ChallengePending || q.PayerID != tt.payer {
				t.Errorf("%s: payment %s challenge %s payer %q after a refused answer", tt.name, q.Status, q.Risk.Challenge, q.PayerID)
			}
			if b := e.balance(serial); b != 5000 {
				t.Errorf("%s: voucher balance %d, want 5000", tt.name, b)
			}
		}
		// The payer of record passes.
		p := c.challenged(2000, "cus_owner", pins[0], "")
		if got, err := c.pay.CompleteChallenge(ctx, p.ID, payment.ChallengeResult{Passed: true, PayerID: "cus_owner"}); err != nil || got.Status != payment.StatusCaptured {
			t.Fatalf("the payer's CompleteChallenge = %s, %v", got.Status, err)
		}
		e.check()
	})
}

// TestChallengeRechecksHeld: what a payment held while its payer was
// challenged is looked at again when the challenge passes. A voucher
// locked, expired or put on a block list meanwhile, a card that expired
// or was blocked meanwhile fail the payment instead of paying it.
func TestChallengeRechecksHeld(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		// The end of a month: a card of this month expires in 10 minutes.
		e.clk.Set(time.Date(2026, 3, 31, 23, 50, 0, 0, time.UTC))
		c := newChallengeEnv(t, e)
		pass := func(p payment.Payment) payment.Payment {
			t.Helper()
			got, err := c.pay.CompleteChallenge(ctx, p.ID, payment.ChallengeResult{Passed: true, PayerID: p.PayerID})
			if err != nil {
				t.Fatalf("CompleteChallenge: %v", err)
			}
			return got
		}
		pins, serials := e.issue(2, 5000)
		soon, err := e.vouchers.Issue(ctx, voucher.IssueRequest{Count: 1, Amount: 5000, Currency: "EUR", IssuedBy: e.merchant,
			ExpiresAt: e.clk.Now().Add(5 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		locked := c.challenged(2000, "cus_a", pins[0], "")
		listed := c.challenged(2000, "cus_a", pins[1], "")
		expired := c.challenged(2000, "cus_a", soon[0].PIN, "")
		tok := func(month, year int) string {
			tk, err := e.vault.Tokenize(ctx, e.merchant, vault.CardInput{Number: "4242424242424242", ExpMonth: month, ExpYear: year, CVC: "123"})
			if err != nil {
				t.Fatal(err)
			}
			return tk.ID
		}
		cardExpired := c.challenged(2000, "cus_a", "", tok(3, 2026))
		cardListed := c.challenged(2000, "cus_a", "", tok(12, 2030))

		if _, err := e.vouchers.Lock(ctx, e.merchant, serials[0]); err != nil {
			t.Fatal(err)
		}
		for _, en := range []risk.ListEntry{
			{MerchantID: e.merchant, List: risk.ListBlock, Type: risk.EntryVoucherSerial, Value: serials[1]},
			{MerchantID: e.merchant, List: risk.ListBlock, Type: risk.EntryCardFingerprint, Value: cardListed.Card.Fingerprint},
		} {
			if _, err := c.risk.PutListEntry(ctx, en); err != nil {
				t.Fatal(err)
			}
		}
		e.clk.Advance(15 * time.Minute) // the voucher and the March card expired; the payments did not
		for _, tt := range []struct {
			name    string
			p       payment.Payment
			failure string
		}{
			{"locked voucher", locked, voucher.CodeLocked},
			{"listed voucher", listed, payment.FailureRiskBlocked},
			{"expired voucher", expired, voucher.CodeExpired},
			{"expired card", cardExpired, acquirer.ExpiredCard},
			{"listed card", cardListed, payment.FailureRiskBlocked},
		} {
			got := pass(tt.p)
			if got.Status != payment.StatusFailed || got.FailureCode != tt.failure || got.AmountCaptured != 0 {
				t.Errorf("%s: %s %s captured %d, want failed %s", tt.name, got.Status, got.FailureCode, got.AmountCaptured, tt.failure)
			}
		}
		if n := e.acq.calls(cardExpired.ID) + e.acq.calls(cardListed.ID); n != 0 {
			t.Errorf("the acquirer was asked to authorize %d times", n)
		}
		for _, s := range []string{serials[0], serials[1], soon[0].Serial} {
			if b := e.balance(s); b != 5000 {
				t.Errorf("voucher %s: balance %d, want 5000", s, b)
			}
		}
		e.check()
	})
}
