package httpapi_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/voucher"
	"github.com/kassa/kassa/webhook"
)

// startRiskEngine starts a risk engine with the built-in model on db,
// closed when the test ends.
func startRiskEngine(tb testing.TB, db *sqlstore.DB, hooks *webhook.Service) *risk.Engine {
	tb.Helper()
	eng, err := risk.NewEngine(risk.Config{Store: sqlstore.NewRisk(db), Node: "test", Notifier: hooks,
		DefaultModel: risk.DefaultModel, IDs: id.Generator{}})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := eng.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cancel(); eng.Close() })
	return eng
}

// newRiskFixture is a server whose payments (vouchers and cards) are
// scored by a started risk engine with the built-in model.
func newRiskFixture(t testing.TB) *fixture {
	t.Helper()
	db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hooks := newWebhookService(db)
	eng := startRiskEngine(t, db, hooks)
	led := newLedger(t, db)
	vouchers := newVoucherService(t, db, led, nil)
	vault := newVaultService(t, db)
	pay := payment.New(payment.Config{Store: sqlstore.NewPayments(db), Ledger: led, Vouchers: vouchers, Vault: vault,
		Acquirer: acquirer.NewTest(), Risk: eng})
	// The test client is the "load balancer": X-Forwarded-For names payers.
	trusted, _ := httpapi.ParseTrustedProxies("127.0.0.1, ::1")
	ident, _ := newIdentityService(t, db)
	return newFixtureDB(t, db, httpapi.Config{Ledger: led, Webhooks: hooks, Vouchers: vouchers, Vault: vault,
		Payments: pay, Risk: eng, Identity: ident, TrustedProxies: trusted}, nil)
}

// luhn completes a card number with its check digit.
func luhn(prefix string) string {
	sum := 0
	for i := len(prefix) - 1; i >= 0; i-- {
		d := int(prefix[i] - '0')
		if (len(prefix)-i)%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return prefix + strconv.Itoa((10-sum%10)%10)
}

// testerSignals look human: a card tester working by hand (or a bot good
// at hiding) is caught by velocity, not by the page's bot signs.
const testerSignals = `{"time_on_page_ms":21000,"time_to_submit_ms":9000,"pointer_moves":85,"key_events":31,"focus_changes":3,"fingerprint":"tester-laptop-1"}`

// A card-testing burst through the real API — one browser, a new card
// each time, tiny amounts — is challenged or blocked within the burst,
// and the payment's reasons name a velocity feature.
func TestCardTestingBurstThroughAPI(t *testing.T) {
	f := newRiskFixture(t)
	sk, pk := f.merchant.SecretKey, f.merchant.PublishableKey
	stopped := -1
	var last map[string]any
	for i := range 25 {
		_, b := f.do(t, "POST", "/v1/payments", sk, "application/json", `{"amount":150,"currency":"EUR"}`)
		p := decode(t, b)
		resp, b := f.do(t, "POST", "/v1/tokens", pk, "application/json",
			cardBody(luhn(fmt.Sprintf("4000001234%05d", i)), 12, 2030, "123"))
		if resp.StatusCode != 201 {
			t.Fatalf("tokenize: %d %s", resp.StatusCode, b)
		}
		tok := decode(t, b)["id"].(string)
		resp, b = f.do(t, "POST", "/v1/payments/"+p["id"].(string)+"/confirm", pk, "application/json",
			fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"card","token":%q},"client_signals":%s}`, p["client_secret"], tok, testerSignals),
			"X-Forwarded-For", "203.0.113.9")
		if resp.StatusCode != 200 {
			t.Fatalf("confirm %d: %d %s", i, resp.StatusCode, b)
		}
		if c := decode(t, b); c["risk"] != nil || c["customer"] != nil {
			t.Fatalf("the payer's answer shows risk details: %s", b)
		}
		_, b = f.do(t, "GET", "/v1/payments/"+p["id"].(string), sk, "", "")
		last = decode(t, b)
		r, _ := last["risk"].(map[string]any)
		if r == nil {
			t.Fatalf("payment %d has no risk decision: %s", i, b)
		}
		if d := r["decision"]; d == "block" || d == "challenge" {
			stopped = i
			break
		}
	}
	if stopped < 0 {
		t.Fatalf("25 cards from one browser were never challenged or blocked; last payment %v", last["risk"])
	}
	r := last["risk"].(map[string]any)
	t.Logf("stopped at attempt %d: %v score %v reasons %v", stopped+1, r["decision"], r["score"], r["reasons"])
	var named []string
	velocity := false
	for _, x := range r["reasons"].([]any) {
		feat, _ := x.(map[string]any)["feature"].(string)
		named = append(named, feat)
		if strings.Contains(feat, "distinct_cards") || strings.Contains(feat, "_attempts_") || strings.Contains(feat, "_failures_") {
			velocity = true
		}
	}
	if !velocity {
		t.Errorf("reasons %v name no velocity feature", named)
	}
	if r["decision"] == "block" && (last["status"] != "failed" || last["failure_code"] != "risk_blocked") {
		t.Errorf("blocked payment: status %v failure %v", last["status"], last["failure_code"])
	}
	if r["decision"] == "challenge" && (last["status"] != "requires_action" || last["next_action"].(map[string]any)["type"] != "risk_challenge") {
		t.Errorf("challenged payment: status %v next_action %v", last["status"], last["next_action"])
	}
}

func TestRiskRulesAPI(t *testing.T) {
	f := newRiskFixture(t)
	sk := f.merchant.SecretKey
	post := func(path, body string) (int, map[string]any) {
		resp, b := f.do(t, "POST", path, sk, "application/json", body)
		return resp.StatusCode, decode(t, b)
	}
	st, prob := post("/v1/risk/rules", `{"name":"typo","expression":"amount > 5 &&\n scroe > 1","action":"block"}`)
	if st != 422 || prob["code"] != "rule_invalid" || prob["line"] != 2.0 || prob["column"] == nil || !strings.Contains(prob["detail"].(string), "scroe") {
		t.Errorf("compile error = %d %v", st, prob)
	}
	for _, body := range []string{
		`{"name":"x","expression":"amount","action":"block"}`,
		`{"name":"x","expression":"amount > 1","action":"explode"}`,
		`{"name":"x","expression":"amount > 1","action":"block","factor":"otp"}`,
		`{"expression":"amount > 1"}`,
	} {
		if st, prob := post("/v1/risk/rules", body); st/100 != 4 {
			t.Errorf("POST rule %s = %d %v", body, st, prob)
		}
	}
	st, rule := post("/v1/risk/rules", `{"name":"big","expression":"amount >= 70000","action":"review"}`)
	if st != 201 || rule["id"] == nil || rule["enabled"] != true {
		t.Fatalf("create rule = %d %v", st, rule)
	}
	id := rule["id"].(string)
	if st, r := post("/v1/risk/rules/"+id, `{"position":5,"expression":"amount >= 60000"}`); st != 200 || r["position"] != 5.0 || r["expression"] != "amount >= 60000" {
		t.Errorf("update = %d %v", st, r)
	}
	if st, r := post("/v1/risk/rules/"+id, `{"expression":"amount >="}`); st != 422 {
		t.Errorf("update to a broken rule = %d %v", st, r)
	}
	resp, b := f.do(t, "GET", "/v1/risk/rules", sk, "", "")
	if list := decode(t, b); resp.StatusCode != 200 || len(list["data"].([]any)) != 1 {
		t.Errorf("list = %d %s", resp.StatusCode, b)
	}
	// Backtest over standalone evaluations.
	for _, amt := range []int{1000, 65000, 90000} {
		if st, ev := post("/v1/risk/evaluate", fmt.Sprintf(`{"amount":%d,"currency":"EUR","method":"card","card_fingerprint":"fp_%d","ip":"81.2.69.7"}`, amt, amt)); st != 200 || ev["decision"] == nil {
			t.Fatalf("evaluate = %d %v", st, ev)
		}
	}
	st, bt := post("/v1/risk/rules/backtest", `{"expression":"amount >= 60000","action":"block"}`)
	if st != 200 || bt["evaluated"] != 3.0 || bt["matched"] != 2.0 {
		t.Errorf("backtest = %d %v", st, bt)
	}
	if st, bt := post("/v1/risk/rules/backtest", fmt.Sprintf(`{"rule":%q}`, id)); st != 200 || bt["matched"] != 2.0 {
		t.Errorf("backtest of the stored rule = %d %v", st, bt)
	}
	if resp, _ := f.do(t, "DELETE", "/v1/risk/rules/"+id, sk, "", ""); resp.StatusCode != 200 {
		t.Errorf("delete = %d", resp.StatusCode)
	}
	if resp, _ := f.do(t, "GET", "/v1/risk/rules/"+id, sk, "", ""); resp.StatusCode != 404 {
		t.Errorf("deleted rule still there: %d", resp.StatusCode)
	}
}

func TestRiskListsAndEvaluationsAPI(t *testing.T) {
	f := newRiskFixture(t)
	sk := f.merchant.SecretKey
	post := func(path, body string) (int, map[string]any) {
		resp, b := f.do(t, "POST", path, sk, "application/json", body)
		return resp.StatusCode, decode(t, b)
	}
	if st, e := post("/v1/risk/lists", `{"list":"block","type":"email","value":"Mallory@Example.com","note":"chargebacks"}`); st != 201 || e["value"] != "mallory@example.com" {
		t.Fatalf("block email = %d %v", st, e)
	}
	if st, e := post("/v1/risk/lists", `{"list":"block","type":"ip","value":"nope"}`); st != 400 {
		t.Errorf("bad ip entry = %d %v", st, e)
	}
	st, ev := post("/v1/risk/evaluate", `{"amount":1000,"currency":"EUR","email":"mallory@example.com","ip":"81.2.69.7"}`)
	if st != 200 || ev["decision"] != "block" || !strings.Contains(fmt.Sprint(ev["reasons"]), "list:email") {
		t.Errorf("evaluate blocked email = %d %v", st, ev)
	}
	if st, e := post("/v1/risk/evaluate", `{"amount":-5,"currency":"EUR"}`); st != 400 || e["code"] != "risk_event_invalid" {
		t.Errorf("bad evaluate = %d %v", st, e)
	}
	if st, e := post("/v1/risk/evaluate", `{"amount":5,"currency":"EUR","client_signals":{"pointer_moves":-1}}`); st != 400 || e["code"] != "client_signals_invalid" {
		t.Errorf("bad signals = %d %v", st, e)
	}
	evID := ev["id"].(string)
	if st, e := post("/v1/risk/evaluations/"+evID+"/outcome", `{"outcome":"blocked"}`); st != 200 || e["outcome"] != "blocked" {
		t.Errorf("outcome = %d %v", st, e)
	}
	if st, e := post("/v1/risk/evaluations/"+evID+"/outcome", `{"outcome":"approved"}`); st != 409 {
		t.Errorf("changed outcome = %d %v", st, e)
	}
	if st, e := post("/v1/risk/labels", fmt.Sprintf(`{"subject":%q,"label":"fraud","source":"analyst"}`, evID)); st != 201 || len(e["evaluations"].([]any)) != 1 {
		t.Errorf("label = %d %v", st, e)
	}
	resp, b := f.do(t, "GET", "/v1/risk/evaluations/"+evID, sk, "", "")
	got := decode(t, b)
	if resp.StatusCode != 200 || got["label"] != "fraud" || got["features"].(map[string]any)["amount_log"] == nil {
		t.Errorf("get evaluation = %d %v", resp.StatusCode, got)
	}
	other, _ := f.svc.Create(context.Background(), "Other")
	if resp, _ := f.do(t, "GET", "/v1/risk/evaluations/"+evID, other.SecretKey, "", ""); resp.StatusCode != 404 {
		t.Errorf("another merchant reads the evaluation: %d", resp.StatusCode)
	}
	resp, b = f.do(t, "GET", "/v1/risk/lists?list=block", sk, "", "")
	if l := decode(t, b); resp.StatusCode != 200 || len(l["data"].([]any)) != 1 {
		t.Errorf("lists = %d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, "DELETE", "/v1/risk/lists/block/email/mallory@example.com", sk, "", ""); resp.StatusCode != 200 {
		t.Errorf("delete entry = %d %s", resp.StatusCode, b)
	}
}

// A review rule holds a voucher payment authorized; approving captures
// it, rejecting cancels it and labels it fraud.
func TestReviewQueueAPI(t *testing.T) {
	f := newRiskFixture(t)
	ctx := context.Background()
	sk, pk := f.merchant.SecretKey, f.merchant.PublishableKey
	if err := f.cfg.Vouchers.AllowIssuing(ctx, f.merchant.ID); err != nil {
		t.Fatal(err)
	}
	vs, err := f.cfg.Vouchers.Issue(ctx, voucher.IssueRequest{Count: 2, Amount: 100_000, Currency: "EUR", IssuedBy: f.merchant.ID})
	if err != nil {
		t.Fatal(err)
	}
	post := func(key, path, body string) (int, map[string]any) {
		resp, b := f.do(t, "POST", path, key, "application/json", body)
		return resp.StatusCode, decode(t, b)
	}
	if st, r := post(sk, "/v1/risk/rules", `{"name":"large","expression":"amount >= 70000","action":"review"}`); st != 201 {
		t.Fatalf("rule = %d %v", st, r)
	}
	pay := func(pin string) string {
		_, p := post(sk, "/v1/payments", `{"amount":80000,"currency":"EUR","customer":{"id":"cus_9","email":"a@example.com","billing_country":"AT"}}`)
		st, c := post(pk, "/v1/payments/"+p["id"].(string)+"/confirm", fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"voucher","pins":[%q]}}`, p["client_secret"], pin))
		if st != 200 || c["status"] != "authorized" {
			t.Fatalf("confirm under review = %d %v", st, c)
		}
		return p["id"].(string)
	}
	first, second := pay(vs[0].PIN), pay(vs[1].PIN)
	_, b := f.do(t, "GET", "/v1/reviews?status=open", sk, "", "")
	list := decode(t, b)["data"].([]any)
	if len(list) != 2 || list[0].(map[string]any)["payment"] != first {
		t.Fatalf("open reviews = %s", b)
	}
	rv1, rv2 := list[0].(map[string]any)["id"].(string), list[1].(map[string]any)["id"].(string)
	if st, prob := post(sk, "/v1/payments/"+first+"/capture", ``); st != 409 || prob["code"] != "payment_in_review" {
		t.Errorf("capture in review = %d %v", st, prob)
	}
	st, res := post(sk, "/v1/reviews/"+rv1+"/approve", `{"note":"called the customer"}`)
	if st != 200 || res["status"] != "approved" || res["payment_object"].(map[string]any)["status"] != "captured" {
		t.Errorf("approve = %d %v", st, res)
	}
	if st, _ := post(sk, "/v1/reviews/"+rv1+"/approve", ``); st != 409 {
		t.Errorf("second approve = %d", st)
	}
	st, res = post(sk, "/v1/reviews/"+rv2+"/reject", ``)
	if st != 200 || res["status"] != "rejected" || res["payment_object"].(map[string]any)["status"] != "canceled" {
		t.Errorf("reject = %d %v", st, res)
	}
	_, b = f.do(t, "GET", "/v1/payments/"+second, sk, "", "")
	if r := decode(t, b)["risk"].(map[string]any); r["review"] != "rejected" || r["decision"] != "review" {
		t.Errorf("rejected payment's risk = %v", r)
	}
	// The rejection labelled it fraud and locked the customer.
	_, p := post(sk, "/v1/payments", `{"amount":100,"currency":"EUR","customer":{"id":"cus_9"}}`)
	vs2, _ := f.cfg.Vouchers.Issue(ctx, voucher.IssueRequest{Count: 1, Amount: 1000, Currency: "EUR", IssuedBy: f.merchant.ID})
	st, c := post(pk, "/v1/payments/"+p["id"].(string)+"/confirm", fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"voucher","pins":[%q]}}`, p["client_secret"], vs2[0].PIN))
	if st != 200 || c["status"] != "failed" || c["failure_code"] != "risk_blocked" {
		t.Errorf("payment of a customer labelled fraud = %d %v", st, c)
	}
}

// A challenged payment waits for its challenge: confirming again is
// refused, and an oversized User-Agent does not get a payment past
// scoring.
func TestChallengedPaymentCannotBeReconfirmed(t *testing.T) {
	f := newRiskFixture(t)
	ctx := context.Background()
	sk, pk := f.merchant.SecretKey, f.merchant.PublishableKey
	if err := f.cfg.Vouchers.AllowIssuing(ctx, f.merchant.ID); err != nil {
		t.Fatal(err)
	}
	vs, err := f.cfg.Vouchers.Issue(ctx, voucher.IssueRequest{Count: 1, Amount: 5000, Currency: "EUR", IssuedBy: f.merchant.ID})
	if err != nil {
		t.Fatal(err)
	}
	post := func(key, path, body string, header ...string) (int, map[string]any) {
		resp, b := f.do(t, "POST", path, key, "application/json", body, header...)
		return resp.StatusCode, decode(t, b)
	}
	if st, r := post(sk, "/v1/risk/rules", `{"name":"step up","expression":"amount >= 1000","action":"challenge","factor":"passkey"}`); st != 201 {
		t.Fatalf("rule = %d %v", st, r)
	}
	_, p := post(sk, "/v1/payments", `{"amount":2000,"currency":"EUR"}`)
	confirm := fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"voucher","pins":[%q]}}`, p["client_secret"], vs[0].PIN)
	longUA := strings.Repeat("Mozilla/5.0 ", 200)
	st, c := post(pk, "/v1/payments/"+p["id"].(string)+"/confirm", confirm, "User-Agent", longUA)
	na, _ := c["next_action"].(map[string]any)
	if st != 200 || c["status"] != "requires_action" || na["type"] != "risk_challenge" || na["factor"] != "passkey" {
		t.Fatalf("confirm = %d %v", st, c)
	}
	if st, prob := post(pk, "/v1/payments/"+p["id"].(string)+"/confirm", confirm); st != 409 || prob["code"] != "payment_challenge_required" {
		t.Errorf("second confirm = %d %v", st, prob)
	}
}

// Passing the challenge (identity verifies it and calls
// CompleteChallenge) lets authorization go on with what the confirmation
// resolved; failing it fails the payment. The outcome is recorded 3-D
// Secure style.
func TestChallengeOutcomes(t *testing.T) {
	f := newRiskFixture(t)
	ctx := context.Background()
	sk, pk := f.merchant.SecretKey, f.merchant.PublishableKey
	if err := f.cfg.Vouchers.AllowIssuing(ctx, f.merchant.ID); err != nil {
		t.Fatal(err)
	}
	vs, err := f.cfg.Vouchers.Issue(ctx, voucher.IssueRequest{Count: 2, Amount: 5000, Currency: "EUR", IssuedBy: f.merchant.ID})
	if err != nil {
		t.Fatal(err)
	}
	post := func(key, path, body string) (int, map[string]any) {
		resp, b := f.do(t, "POST", path, key, "application/json", body)
		return resp.StatusCode, decode(t, b)
	}
	if st, r := post(sk, "/v1/risk/rules", `{"name":"step up","expression":"amount >= 1000","action":"challenge","factor":"otp"}`); st != 201 {
		t.Fatalf("rule = %d %v", st, r)
	}
	challenged := func(body func(secret string) string) string {
		t.Helper()
		_, p := post(sk, "/v1/payments", `{"amount":2000,"currency":"EUR"}`)
		st, c := post(pk, "/v1/payments/"+p["id"].(string)+"/confirm", body(p["client_secret"].(string)))
		if st != 200 || c["status"] != "requires_action" {
			t.Fatalf("confirm = %d %v", st, c)
		}
		return p["id"].(string)
	}
	voucherBody := func(pin string) func(string) string {
		return func(secret string) string {
			return fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"voucher","pins":[%q]}}`, secret, pin)
		}
	}
	get := func(id string) map[string]any {
		_, b := f.do(t, "GET", "/v1/payments/"+id, sk, "", "")
		return decode(t, b)
	}
	passed := challenged(voucherBody(vs[0].PIN))
	if ch := get(passed)["risk"].(map[string]any)["challenge"].(map[string]any); ch["status"] != "pending" || ch["factor"] != "otp" {
		t.Errorf("pending challenge = %v", ch)
	}
	// Made without a Kassa account, the payment has no payer an account
	// could prove: a pass from one is refused.
	if _, err := f.cfg.Payments.CompleteChallenge(ctx, passed, payment.ChallengeResult{Passed: true, PayerID: "cus_payer"}); kassa.AsError(err) == nil || kassa.AsError(err).Code != "challenge_payer_mismatch" {
		t.Fatalf("CompleteChallenge(passed by an account) = %v, want challenge_payer_mismatch", err)
	}
	p, err := f.cfg.Payments.CompleteChallenge(ctx, passed, payment.ChallengeResult{Passed: true})
	if err != nil || p.Status != payment.StatusCaptured {
		t.Fatalf("CompleteChallenge(passed) = %s, %v", p.Status, err)
	}
	got := get(passed)
	ch := got["risk"].(map[string]any)["challenge"].(map[string]any)
	if ch["status"] != "passed" || ch["trans_status"] != "Y" || ch["eci"] != "05" || got["amount_captured"] != 2000.0 || got["payer"] != nil {
		t.Errorf("passed payment = %v %v", got["status"], ch)
	}
	if _, err := f.cfg.Payments.CompleteChallenge(ctx, passed, payment.ChallengeResult{Passed: true}); err == nil {
		t.Error("a second CompleteChallenge succeeded")
	}
	failed := challenged(voucherBody(vs[1].PIN))
	if p, err := f.cfg.Payments.CompleteChallenge(ctx, failed, payment.ChallengeResult{}); err != nil || p.Status != payment.StatusFailed || p.FailureCode != "challenge_failed" {
		t.Fatalf("CompleteChallenge(failed) = %s %s, %v", p.Status, p.FailureCode, err)
	}
	if ch := get(failed)["risk"].(map[string]any)["challenge"].(map[string]any); ch["trans_status"] != "N" {
		t.Errorf("failed challenge = %v", ch)
	}
	// The voucher of the failed challenge was never charged.
	bal, err := f.cfg.Vouchers.Refresh(ctx, vs[1].Serial)
	if err != nil || bal.Balance != 5000 {
		t.Errorf("voucher after a failed challenge: %d, %v", bal.Balance, err)
	}
	// Cards: the token of the confirmation is charged after the challenge.
	_, tokb := f.do(t, "POST", "/v1/tokens", pk, "application/json", cardBody("4242424242424242", 12, 2030, "123"))
	tok := decode(t, tokb)["id"].(string)
	card := challenged(func(secret string) string {
		return fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"card","token":%q}}`, secret, tok)
	})
	if p, err := f.cfg.Payments.CompleteChallenge(ctx, card, payment.ChallengeResult{Passed: true}); err != nil || p.Status != payment.StatusCaptured {
		t.Fatalf("card CompleteChallenge = %s %s, %v", p.Status, p.FailureCode, err)
	}
	evs, _, err := sqlstore.NewWebhooks(f.db).Events(ctx, f.merchant.ID, payment.EventChallengePassed, "", 10)
	if err != nil || len(evs) != 2 {
		t.Errorf("challenge_passed events: %d, %v", len(evs), err)
	}
}
