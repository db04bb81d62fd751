package payment_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/vault"
)

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}

// countingAcquirer is the test acquirer that counts Authorize calls per
// payment and can be told to refuse follow-up calls.
type countingAcquirer struct {
	*acquirer.Test
	mu         sync.Mutex
	authorizes map[string]int // payment id → Authorize calls
	refuse     atomic.Bool
}

func (c *countingAcquirer) Authorize(ctx context.Context, req acquirer.AuthorizeRequest) (acquirer.Result, error) {
	c.mu.Lock()
	c.authorizes[req.Reference]++
	c.mu.Unlock()
	return c.Test.Authorize(ctx, req)
}

func (c *countingAcquirer) calls(paymentID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authorizes[paymentID]
}

func (c *countingAcquirer) Capture(ctx context.Context, req acquirer.CaptureRequest) (acquirer.Result, error) {
	if c.refuse.Load() {
		return acquirer.Result{}, acquirer.ErrInvalid
	}
	return c.Test.Capture(ctx, req)
}

func (c *countingAcquirer) Refund(ctx context.Context, req acquirer.RefundRequest) (acquirer.Result, error) {
	if c.refuse.Load() {
		return acquirer.Result{}, acquirer.ErrInvalid
	}
	return c.Test.Refund(ctx, req)
}

// cardRun records what a card test saw, to scan it for PANs.
type cardRun struct {
	e    *env
	pans []string
	seen [][]byte // API forms of every payment and refund
}

func (r *cardRun) tokenize(pan string) string {
	r.e.t.Helper()
	r.pans = append(r.pans, pan)
	tok, err := r.e.vault.Tokenize(context.Background(), r.e.merchant, vault.CardInput{Number: pan, ExpMonth: 12, ExpYear: 2030, CVC: "123", Name: "Ada Lovelace"})
	if err != nil {
		r.e.t.Fatal(err)
	}
	return tok.ID
}

func (r *cardRun) record(p payment.Payment) payment.Payment {
	b, err := json.Marshal(payment.Public(p))
	if err != nil {
		r.e.t.Fatal(err)
	}
	r.seen = append(r.seen, b)
	return p
}

// pay creates a payment and confirms it with a new token of the card.
func (r *cardRun) pay(amount money.Amount, method, pan string) (payment.Payment, error) {
	p := r.e.create(amount, method)
	q, err := r.e.pay.Confirm(context.Background(), r.e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret,
		Method: payment.MethodCard, Token: r.tokenize(pan)})
	if err != nil {
		return p, err
	}
	return r.record(q), nil
}

func (r *cardRun) mustPay(amount money.Amount, method, pan string, want payment.Status) payment.Payment {
	r.e.t.Helper()
	p, err := r.pay(amount, method, pan)
	if err != nil {
		r.e.t.Fatalf("card %s…: %v", pan[:6], err)
	}
	if p.Status != want {
		r.e.t.Fatalf("card %s…: status %s (%s), want %s", pan[:6], p.Status, p.FailureCode, want)
	}
	return p
}

func TestCardPayments(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := &cardRun{e: e}

		// Approved, automatic capture.
		p := r.mustPay(2500, payment.CaptureAutomatic, acquirer.CardApproved, payment.StatusCaptured)
		pub := payment.Public(p)
		if pub.PaymentMethod == nil || pub.PaymentMethod.Type != "card" || pub.PaymentMethod.Card == nil ||
			pub.PaymentMethod.Card.Last4 != "4242" || pub.PaymentMethod.Card.Brand != "visa" || pub.PaymentMethod.Card.Fingerprint == "" {
			t.Errorf("payment_method %+v", pub.PaymentMethod)
		}
		if mb := e.merchantBalance(); mb.Available != 2500 || mb.Pending != 0 {
			t.Errorf("merchant balance %+v after automatic capture", mb)
		}
		if res, err := e.acq.Query(ctx, p.ID+":capture"); err != nil || res.Status != acquirer.Approved || res.Amount != 2500 {
			t.Errorf("acquirer capture: %+v %v", res, err)
		}

		// Approved, manual: partial capture, partial refund.
		p = r.mustPay(3000, payment.CaptureManual, acquirer.CardApproved, payment.StatusAuthorized)
		if mb := e.merchantBalance(); mb.Pending != 3000 {
			t.Errorf("merchant pending %d, want 3000", mb.Pending)
		}
		amt := money.Amount(2000)
		// The acquirer refuses: nothing changes in Kassa.
		e.acq.refuse.Store(true)
		if _, err := e.pay.Capture(ctx, e.merchant, p.ID, &amt); code(err) != "acquirer_refused" {
			t.Fatalf("capture refused by the acquirer: %v", err)
		}
		e.acq.refuse.Store(false)
		if q, _ := e.pay.Get(ctx, e.merchant, p.ID); q.Status != payment.StatusAuthorized || q.Version != p.Version {
			t.Fatalf("after a refused capture: %s v%d, was v%d", q.Status, q.Version, p.Version)
		}
		p, err := e.pay.Capture(ctx, e.merchant, p.ID, &amt)
		if err != nil || p.Status != payment.StatusCaptured || p.AmountCaptured != 2000 {
			t.Fatalf("partial capture: %+v %v", p, err)
		}
		r.record(p)
		if mb := e.merchantBalance(); mb.Available != 4500 || mb.Pending != 0 {
			t.Errorf("merchant balance %+v after partial capture", mb)
		}
		ra := money.Amount(500)
		e.acq.refuse.Store(true)
		refused, _, err := e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID, Amount: &ra})
		if code(err) != "acquirer_refused" || refused.Status != payment.RefundFailed {
			t.Fatalf("refund refused by the acquirer: %+v %v", refused, err)
		}
		e.acq.refuse.Store(false)
		ref, p, err := e.pay.CreateRefund(ctx, e.merchant, payment.RefundRequest{Payment: p.ID, Amount: &ra})
		if err != nil || p.AmountRefunded != 500 {
			t.Fatalf("partial refund: %+v %v", p, err)
		}
		r.record(p)
		if ref.Status != payment.RefundSucceeded || ref.AcquirerKey != p.ID+":refund:2" {
			t.Errorf("refund after a refused one: %+v", ref)
		}
		if res, err := e.acq.Query(ctx, ref.AcquirerKey); err != nil || res.Amount != 500 {
			t.Errorf("acquirer refund: %+v %v", res, err)
		}
		if mb := e.merchantBalance(); mb.Available != 4000 {
			t.Errorf("merchant balance %+v after refund", mb)
		}

		// Manual, canceled: voided at the acquirer and in the ledger.
		p = r.mustPay(700, payment.CaptureManual, acquirer.CardApproved, payment.StatusAuthorized)
		if p, err = e.pay.Cancel(ctx, e.merchant, p.ID); err != nil || p.Status != payment.StatusCanceled {
			t.Fatalf("cancel: %+v %v", p, err)
		}
		if res, err := e.acq.Query(ctx, p.ID+":void"); err != nil || res.Status != acquirer.Approved {
			t.Errorf("acquirer void: %+v %v", res, err)
		}

		// Declines.
		for pan, want := range map[string]string{acquirer.CardDeclined: acquirer.GenericDecline,
			acquirer.CardInsufficientFunds: acquirer.InsufficientFunds, acquirer.CardStolen: acquirer.StolenCard} {
			p := r.mustPay(1000, payment.CaptureAutomatic, pan, payment.StatusFailed)
			if p.FailureCode != want {
				t.Errorf("card %s: failure_code %q, want %q", pan[:6], p.FailureCode, want)
			}
			if _, _, err := e.led.Transfer(ctx, "", "pay:"+p.ID+":auth:0"); err != ledger.ErrNotFound {
				t.Errorf("declined payment has a ledger transfer: %v", err)
			}
		}
		// A used token cannot pay again.
		tok := r.tokenize(acquirer.CardApproved)
		p1, p2 := e.create(100, payment.CaptureAutomatic), e.create(100, payment.CaptureAutomatic)
		if _, err := e.pay.Confirm(ctx, e.merchant, p1.ID, payment.ConfirmRequest{ClientSecret: p1.ClientSecret, Method: "card", Token: tok}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.pay.Confirm(ctx, e.merchant, p2.ID, payment.ConfirmRequest{ClientSecret: p2.ClientSecret, Method: "card", Token: tok}); code(err) != "token_already_used" {
			t.Errorf("second use of a token: %v", err)
		}

		// A stored card, charged by the merchant's server (secret key).
		card, err := e.vault.Attach(ctx, e.merchant, r.tokenize(acquirer.CardApproved), "")
		if err != nil {
			t.Fatal(err)
		}
		p = e.create(1200, payment.CaptureAutomatic)
		if p, err = e.pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, Method: "card", CardID: card.ID, SecretKey: true}); err != nil || p.Status != payment.StatusCaptured {
			t.Fatalf("stored card: %+v %v", p, err)
		}
		r.record(p)

		// 3-D Secure: challenge, then completion through a second confirm.
		p = r.mustPay(4000, payment.CaptureAutomatic, acquirer.CardThreeDS, payment.StatusRequiresAction)
		na := payment.Public(p).NextAction
		if na == nil || na.Type != "three_d_secure" || na.ChallengeID == "" {
			t.Fatalf("next_action %+v", na)
		}
		if _, err := e.pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, ChallengeID: "3ds_wrong"}); code(err) != "challenge_id_invalid" {
			t.Errorf("wrong challenge id: %v", err)
		}
		if !e.acq.CompleteChallenge(na.ChallengeID, true) {
			t.Fatal("unknown challenge")
		}
		if p, err = e.pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, ChallengeID: na.ChallengeID}); err != nil || p.Status != payment.StatusCaptured {
			t.Fatalf("after the challenge: %+v %v", p, err)
		}
		r.record(p)
		// Recorded as for the risk step-up, and a second confirm naming the
		// challenge (the merchant's, after the payer's return went on with
		// it) answers with the payment as it stands.
		if tds := payment.Public(p).PaymentMethod.Card.ThreeDSecure; tds == nil || tds.TransStatus != "Y" || tds.ECI != "05" {
			t.Errorf("three_d_secure after a passed challenge: %+v", tds)
		}
		if again, err := e.pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, ChallengeID: na.ChallengeID}); err != nil ||
			again.Status != payment.StatusCaptured || again.Version != p.Version {
			t.Errorf("the merchant's confirm after the payer's return: %+v %v", again, err)
		}
		if _, err := e.pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, ChallengeID: "3ds_other"}); code(err) != "payment_unexpected_state" {
			t.Errorf("confirm of a captured payment with another challenge: %v", err)
		}
		// A failed challenge fails the payment.
		p = r.mustPay(4100, payment.CaptureAutomatic, acquirer.CardThreeDS, payment.StatusRequiresAction)
		e.acq.CompleteChallenge(p.Card.ChallengeID, false)
		if p, err = e.pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, ChallengeID: p.Card.ChallengeID}); err != nil ||
			p.Status != payment.StatusFailed || p.FailureCode != acquirer.AuthenticationFailed {
			t.Fatalf("failed challenge: %+v %v", p, err)
		}
		if p.Card.TransStatus != "N" || p.Card.ECI != "07" {
			t.Errorf("failed challenge recorded %q %q, want N 07", p.Card.TransStatus, p.Card.ECI)
		}

		// Timeout: the outcome is unknown; the worker completes it exactly once.
		p = r.mustPay(5000, payment.CaptureManual, acquirer.CardTimeout, payment.StatusRequiresAction)
		if p.Card.AcquirerState != payment.AcquirerUnknown {
			t.Fatalf("acquirer state %q after a timeout", p.Card.AcquirerState)
		}
		if err := func() error { _, err := e.pay.Cancel(ctx, e.merchant, p.ID); return err }(); code(err) != "card_authorization_unknown" {
			t.Errorf("cancel while unknown: %v", err)
		}
		n1, err := e.pay.ResolveUnknown(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n2, err := e.pay.ResolveUnknown(ctx)
		if err != nil || n1 != 1 || n2 != 0 {
			t.Fatalf("ResolveUnknown settled %d then %d (%v), want 1 then 0", n1, n2, err)
		}
		if p, err = e.pay.Get(ctx, e.merchant, p.ID); err != nil || p.Status != payment.StatusAuthorized || p.Card.AuthorizationID == "" {
			t.Fatalf("after ResolveUnknown: %+v %v", p, err)
		}
		r.record(p)
		// A confirm retried now authorizes nothing.
		if _, err := e.pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, Method: "card", Token: r.tokenize(acquirer.CardApproved)}); code(err) != "payment_unexpected_state" {
			t.Errorf("confirm after resolution: %v", err)
		}
		if n := e.acq.calls(p.ID); n != 1 {
			t.Errorf("the acquirer got %d authorizations, want 1", n)
		}
		if st, err := e.led.PendingStatus(ctx, "", "pay:"+p.ID+":auth:0"); err != nil || st.State != ledger.StatePending {
			t.Errorf("ledger authorization %+v %v", st, err)
		}
		if _, _, err := e.led.Transfer(ctx, "", "pay:"+p.ID+":auth:1"); err != ledger.ErrNotFound {
			t.Errorf("a second authorization in the ledger: %v", err)
		}
		if p, err = e.pay.Capture(ctx, e.merchant, p.ID, nil); err != nil || p.AmountCaptured != 5000 {
			t.Fatalf("capture after resolution: %+v %v", p, err)
		}
		// A confirm retried while unknown queries instead of authorizing.
		p = r.mustPay(5100, payment.CaptureAutomatic, acquirer.CardTimeout, payment.StatusRequiresAction)
		if p, err = e.pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret, Method: "card", Token: r.tokenize(acquirer.CardApproved)}); err != nil || p.Status != payment.StatusCaptured {
			t.Fatalf("confirm retried while unknown: %+v %v", p, err)
		}
		if n := e.acq.calls(p.ID); n != 1 {
			t.Errorf("the acquirer got %d authorizations, want 1", n)
		}
		if n, err := e.pay.ResolveUnknown(ctx); n != 0 || err != nil {
			t.Errorf("ResolveUnknown after the retry: %d %v", n, err)
		}

		// Slow card: approved all the same.
		r.mustPay(600, payment.CaptureAutomatic, acquirer.CardSlow, payment.StatusCaptured)

		e.check()

		// No PAN anywhere: API forms, logs, the SQLite files.
		blobs := map[string][]byte{"logs": e.logs.Bytes()}
		for i, b := range r.seen {
			blobs["payment json "+strconv.Itoa(i)] = b
		}
		if e.dir != "" {
			ents, err := os.ReadDir(e.dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, ent := range ents {
				if b, err := os.ReadFile(filepath.Join(e.dir, ent.Name())); err == nil {
					blobs[ent.Name()] = b
				}
			}
			if len(blobs) < 2 {
				t.Errorf("no database files in %s: %v", e.dir, ents)
			}
		}
		for name, b := range blobs {
			for _, pan := range r.pans {
				if bytes.Contains(b, []byte(pan)) {
					t.Errorf("%s holds the PAN %s…", name, pan[:6])
				}
			}
		}
	})
}

// TestStoredCardNeedsOwner: a payer's browser (publishable key and a
// payment's client secret) that learned a stored card's id cannot charge
// it; only the secret key, or a payment the merchant bound to the card's
// customer, or the card's customer paying, can.
func TestStoredCardNeedsOwner(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := &cardRun{e: e}
		victim, err := e.vault.Attach(ctx, e.merchant, r.tokenize(acquirer.CardApproved), "cus_victim")
		if err != nil {
			t.Fatal(err)
		}
		loose, err := e.vault.Attach(ctx, e.merchant, r.tokenize(acquirer.CardApproved), "")
		if err != nil {
			t.Fatal(err)
		}
		payAs := func(customer string) payment.Payment {
			p, err := e.pay.Create(ctx, e.merchant, payment.CreateRequest{Amount: 900, Currency: "EUR",
				CaptureMethod: payment.CaptureAutomatic, Customer: payment.Customer{ID: customer}})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		attacks := []struct {
			name     string
			customer string // the payment's customer, as the merchant named it
			card     string
			payer    string // the Kassa account paying
		}{
			{"no customer", "", victim.ID, ""},
			{"another customer", "cus_attacker", victim.ID, ""},
			{"another payer", "", victim.ID, "cus_attacker"},
			{"card without customer", "cus_attacker", loose.ID, ""},
		}
		for _, tt := range attacks {
			p := payAs(tt.customer)
			got, err := e.pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret,
				Method: "card", CardID: tt.card, PayerID: tt.payer})
			if code(err) != "card_not_found" {
				t.Errorf("%s: a learned card id with the publishable key: %s %v", tt.name, got.Status, err)
			}
			if q, _ := e.pay.Get(ctx, e.merchant, p.ID); q.Status != payment.StatusRequiresAction || q.Version != p.Version {
				t.Errorf("%s: after the refused card: %s v%d, was v%d", tt.name, q.Status, q.Version, p.Version)
			}
		}
		allowed := []struct {
			name     string
			customer string
			payer    string
			secret   bool
		}{
			{"the card's customer's payment", "cus_victim", "", false},
			{"the card's customer paying", "", "cus_victim", false},
			{"secret key", "", "", true},
		}
		for _, tt := range allowed {
			p := payAs(tt.customer)
			p, err := e.pay.Confirm(ctx, e.merchant, p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret,
				Method: "card", CardID: victim.ID, PayerID: tt.payer, SecretKey: tt.secret})
			if err != nil || p.Status != payment.StatusCaptured {
				t.Errorf("%s: %s %v", tt.name, p.Status, err)
			}
		}
		e.check()
	})
}

// TestThreeDSAbandoned: a payment whose payer never answered the issuer
// expires with trans_status U, as an abandoned risk step-up does.
func TestThreeDSAbandoned(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		r := &cardRun{e: e}
		p := r.mustPay(900, payment.CaptureAutomatic, acquirer.CardThreeDS, payment.StatusRequiresAction)
		e.clk.Advance(payment.UnpaidTTL + time.Second)
		if _, err := e.pay.ExpireDue(ctx); err != nil {
			t.Fatal(err)
		}
		p, err := e.pay.Get(ctx, e.merchant, p.ID)
		if err != nil || p.Status != payment.StatusExpired {
			t.Fatalf("after expiry: %+v %v", p, err)
		}
		if tds := payment.Public(p).PaymentMethod.Card.ThreeDSecure; tds == nil || tds.TransStatus != "U" || tds.ECI != "" {
			t.Errorf("three_d_secure of an abandoned challenge: %+v", tds)
		}
	})
}
