package risk_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kassa/kassa/risk"
)

func payoutEvent(merchant, customer, device, ip string, at time.Time) risk.Event {
	return risk.Event{Time: at, Kind: risk.KindPayout, MerchantID: merchant, Amount: 5000, Currency: "EUR",
		Method: risk.MethodAccount, CustomerID: customer, DeviceID: device, IP: ip}
}

// TestPayoutKind: payouts are their own kind. The model scores them as
// withdrawals (kind_withdrawal), and the policy holds for review payouts
// to many payers from one device or one IP and a known payer's payout
// from a new device; an ordinary payout from the payer's own device goes.
func TestPayoutKind(t *testing.T) {
	e := newEngine(t, t.TempDir(), "a", nil)
	m := e.merchants[0]
	at := e.now
	// A payer with a history on their own device.
	for i := range 3 {
		ev := legit(m, 1, at.Add(time.Duration(i)*time.Minute))
		ev.CustomerID, ev.DeviceID, ev.IP = "cus_own", "dev_own", "81.2.1.1"
		if err := e.eng.Outcome(context.Background(), m, e.evaluate(ev).ID, risk.OutcomeApproved); err != nil {
			t.Fatal(err)
		}
	}
	own := e.evaluate(payoutEvent(m, "cus_own", "dev_own", "81.2.1.1", at.Add(10*time.Minute)))
	if own.Decision != risk.Allow || own.Features[risk.FKindWithdrawal] != 1 {
		t.Fatalf("a payout from the payer's own device: %s %v (kind_withdrawal %v)", own.Decision, codes(own), own.Features[risk.FKindWithdrawal])
	}
	// The same payer from a device never seen with them.
	nd := e.evaluate(payoutEvent(m, "cus_own", "dev_strange", "81.2.1.1", at.Add(11*time.Minute)))
	if nd.Decision != risk.Review || !hasReason(nd, "feature:device_new_for_customer") {
		t.Fatalf("a payout from a new device: %s %v", nd.Decision, codes(nd))
	}
	// One device collecting payouts for many payers: the third waits.
	var last risk.Evaluation
	for i := range 3 {
		last = e.evaluate(payoutEvent(m, fmt.Sprint("cus_mule_", i), "dev_mule", fmt.Sprintf("81.3.%d.1", i), at.Add(time.Duration(20+i)*time.Minute)))
	}
	if last.Decision != risk.Review || !hasReason(last, "feature:device_distinct_customers_7d") {
		t.Fatalf("the third payee of one device: %s %v", last.Decision, codes(last))
	}
	// One IP, many payees, each on a device of their own.
	for i := range 5 {
		last = e.evaluate(payoutEvent(m, fmt.Sprint("cus_ip_", i), fmt.Sprint("dev_ip_", i), "81.4.4.4", at.Add(time.Duration(30+i)*time.Minute)))
	}
	if last.Decision != risk.Review || !hasReason(last, "feature:ip_distinct_customers_24h") {
		t.Fatalf("the fifth payee of one IP: %s %v", last.Decision, codes(last))
	}
	// A withdrawal (the old kind) is not held by the payout limits.
	w := payoutEvent(m, "cus_w", "dev_mule", "81.4.4.4", at.Add(40*time.Minute))
	w.Kind = risk.KindWithdrawal
	if got := e.evaluate(w); got.Decision == risk.Review && hasReason(got, "feature:device_distinct_customers_7d") {
		t.Fatalf("a withdrawal held by the payout policy: %v", codes(got))
	}
}
