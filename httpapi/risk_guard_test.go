package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
)

// doublingRule doubles a string with let and + until it would be 2^n
// times the payer's email: expr's memory budget does not count strings.
func doublingRule(n int) string {
	var b strings.Builder
	b.WriteString("let s0 = email; ")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "let s%d = s%d + s%d; ", i, i-1, i-1)
	}
	fmt.Fprintf(&b, "len(s%d) > 0", n)
	return b.String()
}

// One merchant's rule must not exhaust the process's memory: the doubling
// rule is refused at create and at backtest with 422 rule_invalid. (The
// stored evaluation has no email, so the rule, were it run, would cost
// nothing: the test cannot take the process down on a build without the
// guard.)
func TestDoublingRuleRefused(t *testing.T) {
	f := newRiskFixture(t)
	sk := f.merchant.SecretKey
	post := func(path, body string) (int, map[string]any) {
		resp, b := f.do(t, "POST", path, sk, "application/json", body)
		return resp.StatusCode, decode(t, b)
	}
	if st, ev := post("/v1/risk/evaluate", `{"amount":1000,"currency":"EUR","method":"card","card_fingerprint":"fp_1"}`); st != 200 {
		t.Fatalf("evaluate = %d %v", st, ev)
	}
	src := doublingRule(40)
	st, prob := post("/v1/risk/rules", fmt.Sprintf(`{"name":"bomb","expression":%q,"action":"block"}`, src))
	if st != 422 || prob["code"] != "rule_invalid" {
		t.Errorf("create the doubling rule = %d %v, want 422 rule_invalid", st, prob)
	}
	st, prob = post("/v1/risk/rules/backtest", fmt.Sprintf(`{"expression":%q,"action":"block"}`, src))
	if st != 422 || prob["code"] != "rule_invalid" {
		t.Errorf("backtest the doubling rule = %d %v, want 422 rule_invalid", st, prob)
	}
}
