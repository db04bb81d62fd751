package web_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
)

// addRule gives the merchant a risk rule; factor may be "".
func addRule(t *testing.T, f *fixture, name, expr, action, factor string) {
	t.Helper()
	p := risk.RuleParams{Name: &name, Expression: &expr, Action: &action}
	if factor != "" {
		p.Factor = &factor
	}
	if _, err := f.risk.CreateRule(context.Background(), f.merchant.ID, p); err != nil {
		t.Fatal(err)
	}
}

var styleRE = regexp.MustCompile(`(?s)<style.*?</style>`)

// noRiskDetails fails t when a page tells anything of the decision behind
// it: the score, the rule or list, the reasons, the evaluation.
func noRiskDetails(t *testing.T, f *fixture, paymentID, body string, secrets ...string) {
	t.Helper()
	p, _ := f.evaluation(t, paymentID)
	body = styleRE.ReplaceAllString(body, "") // the page's CSS says display: block
	text := strings.ToLower(body)
	for _, word := range []string{"risk", "score", "rule", "reason", "fraud", "list", "bot", "automat", "suspicious"} {
		if strings.Contains(text, word) {
			t.Errorf("the page says %q", word)
		}
	}
	secrets = append(secrets, p.Risk.EvaluationID)
	for _, r := range p.Risk.Reasons {
		secrets = append(secrets, r.Code, r.Message)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(body, s) {
			t.Errorf("the page holds %q", s)
		}
	}
}

// checkStatusPage checks a status page: its heading, its text, a way back
// to the shop, and neither the form nor its script.
func checkStatusPage(t *testing.T, what string, status int, body string, wantStatus int, heading string, texts ...string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("%s = %d, want %d", what, status, wantStatus)
	}
	if !strings.Contains(body, "<h1>"+heading+"</h1>") || !strings.Contains(body, `<p class="status" role="status">`) {
		t.Errorf("%s: no status page headed %q:\n%s", what, heading, body)
	}
	for _, s := range texts {
		if !strings.Contains(body, s) {
			t.Errorf("%s lacks %q:\n%s", what, s, body)
		}
	}
	if strings.Contains(body, `name="pin"`) || strings.Contains(body, `name="card_number"`) || strings.Contains(body, "<script") {
		t.Errorf("%s shows the form again", what)
	}
}

// TestRiskBlockedPage: a voucher on the block list is declined with a
// plain message that gives no reason, and the page stays declined.
func TestRiskBlockedPage(t *testing.T) {
	f := newFixture(t)
	v := f.issue(t, 1, 1000, "EUR")[0]
	blockSerial(t, f, v.Serial)
	p := f.createPayment(t, map[string]any{"amount": 700, "currency": "EUR", "return_url": "https://shop.example/done?order=5"})
	id := p["id"].(string)
	const declined = "This payment was declined. Nothing was charged."
	back := `href="https://shop.example/done?order=5&amp;payment_id=` + id + `&amp;status=failed"`

	resp, body := post(t, f, "/pay/"+id, payForm(p["client_secret"].(string), v.PIN), nil)
	checkStatusPage(t, "POST of a blocked voucher", resp.StatusCode, body, 402, "Declined", declined, back, "contact Acme Bets &amp; Games")
	noRiskDetails(t, f, id, body, v.Serial, "reported stolen", "block")

	got, _ := f.evaluation(t, id)
	if got.Status != payment.StatusFailed || got.FailureCode != payment.FailureRiskBlocked || got.AmountCaptured != 0 || len(got.Vouchers) != 0 {
		t.Errorf("payment %s %q, captured %d, vouchers %v; want failed risk_blocked, nothing taken",
			got.Status, got.FailureCode, got.AmountCaptured, got.Vouchers)
	}
	// A reload, and the form sent again, show the same.
	resp, body = get(t, f, redirectURLOf(f, p))
	checkStatusPage(t, "GET after the decline", resp.StatusCode, body, 200, "Declined", declined, back)
	noRiskDetails(t, f, id, body, v.Serial, "reported stolen", "block")
	resp, body = post(t, f, "/pay/"+id, payForm(p["client_secret"].(string), v.PIN), nil)
	checkStatusPage(t, "POST again", resp.StatusCode, body, 409, "Declined", declined)

	// The card form's decline by risk reads the same, not as the bank's.
	addRule(t, f, "no cards for 13.13", "method == 'card' && amount == 1313", risk.Block, "")
	p = f.createPayment(t, map[string]any{"amount": 1313, "currency": "EUR"})
	resp, body = post(t, f, "/pay/"+p["id"].(string), cardForm(p["client_secret"].(string), acquirer.CardApproved), nil)
	checkStatusPage(t, "POST of a blocked card", resp.StatusCode, body, 402, "Declined", declined)
	noRiskDetails(t, f, p["id"].(string), body, "no cards for 13.13", "1313")
	if strings.Contains(body, "bank") {
		t.Errorf("a decline by Kassa's checks names the bank:\n%s", body)
	}
}

// TestRiskChallengePage: a payment that needs a second factor says so,
// names the factor, points the payer to the challenge page, and takes no
// new attempt that could get around it.
func TestRiskChallengePage(t *testing.T) {
	f := newFixture(t)
	addRule(t, f, "odd amounts need a code", "amount == 4242", risk.Challenge, risk.FactorOTP)
	addRule(t, f, "other odd amounts need a passkey", "amount == 4343", risk.Challenge, risk.FactorPasskey)
	tests := []struct {
		name, factorText string
		amount           int
		card             bool
	}{
		{"otp", "a one-time code", 4242, false},
		{"passkey", "your passkey", 4343, false},
		{"card otp", "a one-time code", 4242, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := f.issue(t, 5, 1000, "EUR")
			p := f.createPayment(t, map[string]any{"amount": tt.amount, "currency": "EUR", "return_url": "https://shop.example/r"})
			id, secret := p["id"].(string), p["client_secret"].(string)
			form := payForm(secret, vs[0].PIN, vs[1].PIN, vs[2].PIN, vs[3].PIN, vs[4].PIN)
			if tt.card {
				form = cardForm(secret, acquirer.CardApproved)
			}
			texts := []string{"This payment needs an extra verification step, " + tt.factorText + ".",
				"Nothing was charged yet: continue to confirm it is you, or go back to Acme Bets &amp; Games.",
				// The way on is the challenge page, with the payment's secret.
				`<a class="button" id="next" href="/challenge/` + id + `?client_secret=` + url.QueryEscape(secret) + `">Continue to verification</a>`,
				`href="https://shop.example/r?payment_id=` + id + `&amp;status=requires_action"`}

			resp, body := post(t, f, "/pay/"+id, form, nil)
			checkStatusPage(t, "POST", resp.StatusCode, body, 202, "One more step needed", texts...)
			noRiskDetails(t, f, id, body, "odd amounts")
			first, _ := f.evaluation(t, id)
			if first.Status != payment.StatusRequiresAction || first.Risk.Decision != risk.Challenge || first.AmountCaptured != 0 {
				t.Fatalf("payment %s, decision %s, captured %d", first.Status, first.Risk.Decision, first.AmountCaptured)
			}
			if strings.Contains(body, "bank") {
				t.Errorf("the challenge page speaks of the bank:\n%s", body)
			}

			resp, body = get(t, f, redirectURLOf(f, p))
			checkStatusPage(t, "GET after the challenge", resp.StatusCode, body, 200, "One more step needed", texts...)
			noRiskDetails(t, f, id, body, "odd amounts")

			// The form sent again is not a new attempt.
			resp, body = post(t, f, "/pay/"+id, form, nil)
			checkStatusPage(t, "POST again", resp.StatusCode, body, 409, "One more step needed", texts...)
			if again, _ := f.evaluation(t, id); again.Risk.EvaluationID != first.Risk.EvaluationID || again.Version != first.Version {
				t.Errorf("the second POST was scored again (%s, then %s)", first.Risk.EvaluationID, again.Risk.EvaluationID)
			}
		})
	}
}

// cardForm is the card form the page posts.
func cardForm(secret, number string) url.Values {
	return url.Values{"client_secret": {secret}, "method": {"card"}, "card_number": {number},
		"card_expiry": {"12/30"}, "card_cvc": {"123"}, "card_name": {"Ada Lovelace"}}
}
