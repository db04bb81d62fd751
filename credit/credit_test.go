package credit

import (
	"testing"
	"time"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/money"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestPayLaterSchedule(t *testing.T) {
	tests := []struct {
		plan   string
		amount money.Amount
		want   []money.Amount
		days   []int
	}{
		{PlanPayIn30, 1000, []money.Amount{1000}, []int{30}},
		{PlanPayIn3, 9000, []money.Amount{3000, 3000, 3000}, []int{0, 30, 60}},
		{PlanPayIn3, 1001, []money.Amount{335, 333, 333}, []int{0, 30, 60}},
		{PlanPayIn3, 2, []money.Amount{2, 0, 0}, []int{0, 30, 60}},
	}
	for _, tt := range tests {
		terms := Schedule(tt.plan, tt.amount, "EUR", t0, 0)
		if len(terms.Schedule) != len(tt.want) || terms.Interest != 0 {
			t.Fatalf("%s %d: %+v", tt.plan, tt.amount, terms)
		}
		var sum money.Amount
		for i, tp := range terms.Schedule {
			sum += tp.Amount
			if tp.Amount != tt.want[i] || tp.Due != t0.AddDate(0, 0, tt.days[i]) || tp.AtPurchase != (tt.days[i] == 0) {
				t.Errorf("%s %d part %d: %+v, want %d on day %d", tt.plan, tt.amount, i+1, tp, tt.want[i], tt.days[i])
			}
		}
		if sum != tt.amount {
			t.Errorf("%s %d: parts add up to %d", tt.plan, tt.amount, sum)
		}
	}
	// A part of nothing is paid as it is made: the job never collects 0.
	p := testPlan(PlanPayIn3, 2)
	if p.Owed() != 0 || p.Status != StatusSettled || !p.NextWork().IsZero() {
		t.Fatalf("pay_in_3 of 2: %+v", p)
	}
}

func testPlan(plan string, amount money.Amount) Plan {
	o := OpenRequest{PaymentID: "pay_1", MerchantID: "mer_1", CustomerID: "cus_1", Plan: plan, Amount: amount, Currency: "EUR"}
	return newPlan("cpl_1", o, Schedule(plan, amount, "EUR", t0, 0), t0)
}

// TestPayLaterStates walks one instalment through its failures, retries,
// collection and write-off dates.
func TestPayLaterStates(t *testing.T) {
	p := testPlan(PlanPayIn30, 5000)
	due := t0.AddDate(0, 0, 30)
	if got := p.NextWork(); !got.Equal(due.Add(-ReminderLead)) {
		t.Fatalf("first work at %s, want the reminder 2 days before %s", got, due)
	}
	if changed := p.failed(1, due, 0); !changed || p.Status != StatusOverdue || p.Instalments[0].NextAttempt != due.AddDate(0, 0, 7) {
		t.Fatalf("first failure: %s next %s", p.Status, p.Instalments[0].NextAttempt)
	}
	p.failed(1, due.AddDate(0, 0, 7), 0)
	if p.Status != StatusOverdue || p.Instalments[0].NextAttempt != due.AddDate(0, 0, 14) {
		t.Fatalf("second failure: %s next %s", p.Status, p.Instalments[0].NextAttempt)
	}
	p.failed(1, due.AddDate(0, 0, 14), 500)
	if p.Status != StatusInCollection || p.Instalments[0].Status != InstalmentOverdue || p.Owed() != 5500 {
		t.Fatalf("third failure: %s %s owed %d", p.Status, p.Instalments[0].Status, p.Owed())
	}
	p.check()
	if p.writeOffDue(due.AddDate(0, 0, 59)) || !p.writeOffDue(due.AddDate(0, 0, 60)) {
		t.Fatal("write-off date is not 60 days after the due date")
	}
	if owed := p.writeOff(due.AddDate(0, 0, 60)); owed != 5500 || p.Owed() != 0 || p.Status != StatusWrittenOff || !p.NextWork().IsZero() {
		t.Fatalf("write-off: %d %s", owed, p.Status)
	}
	p.check()

	// Paid late after a failure: the plan is active again, then settled.
	q := testPlan(PlanPayIn3, 9000)
	q.failed(2, q.Instalments[1].Due, 0)
	q.paid(2, q.Instalments[1].Due.AddDate(0, 0, 7))
	if q.Status != StatusActive || q.Owed() != 3000 {
		t.Fatalf("after the late payment: %s owed %d", q.Status, q.Owed())
	}
	q.paid(3, q.Instalments[2].Due)
	if q.Status != StatusSettled || !q.NextWork().IsZero() {
		t.Fatalf("after the last: %s", q.Status)
	}
}

func TestPayLaterPushBackOnce(t *testing.T) {
	p := testPlan(PlanPayIn3, 9000)
	due := p.Instalments[1].Due
	if err := p.pushBack(1, t0); err != errNotPushable {
		t.Fatalf("push back of the paid first third: %v", err)
	}
	if err := p.pushBack(2, t0.AddDate(0, 0, 1)); err != nil {
		t.Fatal(err)
	}
	if p.Instalments[1].Due != due.Add(PushBack) || p.Instalments[1].NextAttempt != due.Add(PushBack) {
		t.Fatalf("pushed back to %s", p.Instalments[1].Due)
	}
	if err := p.pushBack(3, t0.AddDate(0, 0, 1)); err != errPushedBack {
		t.Fatalf("a second push back: %v", err)
	}
	// The retries count from the due date as pushed back.
	p.failed(2, p.Instalments[1].Due, 0)
	if want := due.Add(PushBack).AddDate(0, 0, 7); !p.Instalments[1].NextAttempt.Equal(want) {
		t.Fatalf("retry at %s, want %s", p.Instalments[1].NextAttempt, want)
	}
}

func TestPayLaterRefundFirst(t *testing.T) {
	p := testPlan(PlanPayIn3, 9000)
	if took := p.refund(4000, t0.AddDate(0, 0, 1)); took != 4000 || p.Owed() != 2000 || p.Instalments[2].Status != InstalmentCanceled {
		t.Fatalf("refund 4000: took %d, %+v", took, p.Instalments)
	}
	p.check()
	if took := p.refund(5000, t0.AddDate(0, 0, 2)); took != 2000 || p.Status != StatusCanceled {
		t.Fatalf("refund of the rest: took %d, %s", took, p.Status)
	}
	p.check()
}

func TestPayLaterLimit(t *testing.T) {
	cfg := Config{LimitStart: 20000, LimitStep: 5000, LimitMax: 30000}
	old := identity.Customer{Level: identity.LevelKYCVerified, Created: t0.AddDate(-1, 0, 0)}
	settled := func() Plan {
		p := testPlan(PlanPayIn30, 1000)
		p.paid(1, p.Instalments[0].Due)
		return p
	}
	d := assess(cfg, old, nil, 0, t0)
	if d.Limit != 20000 || !d.Allowed(20000) || d.Allowed(20001) {
		t.Fatalf("new payer: %+v", d)
	}
	d = assess(cfg, old, []Plan{settled(), settled(), settled(), settled()}, 1000, t0)
	if d.Limit != 30000 || d.Available != 29000 {
		t.Fatalf("four plans on time: %+v, want the maximum 30000", d)
	}
	young := old
	young.Created = t0.AddDate(0, 0, -3)
	if d := assess(cfg, young, []Plan{settled()}, 0, t0); d.Limit != 20000 {
		t.Fatalf("a young account grows: %+v", d)
	}
	noKYC := old
	noKYC.Level = identity.LevelVerified
	if d := assess(cfg, noKYC, nil, 0, t0); d.Allowed(1) {
		t.Fatalf("no KYC allowed: %+v", d)
	}
	late := testPlan(PlanPayIn30, 1000)
	late.failed(1, late.Instalments[0].Due, 0)
	if d := assess(cfg, old, []Plan{late}, 1000, t0.AddDate(0, 0, 31)); d.Allowed(1) {
		t.Fatalf("overdue allowed: %+v", d)
	}
	late.paid(1, late.Instalments[0].Due.AddDate(0, 0, 7))
	if d := assess(cfg, old, []Plan{late, settled()}, 0, t0.AddDate(0, 0, 40)); !d.Allowed(1) || d.Limit != 20000 {
		t.Fatalf("repaid late: %+v, want allowed at the start limit", d)
	}
}
