package httpapi_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kassa/kassa/business"
	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/voucher"
)

// workCount is the database work of one API call.
type workCount struct{ commits, statements, reads uint64 }

func (w workCount) String() string {
	return fmt.Sprintf("%d commits, %d statements, %d reads", w.commits, w.statements, w.reads)
}

// TestPaymentWorkCounts counts the database work of a complete payment
// (create, confirm with a voucher, capture; under Idempotency-Keys, with
// the compliance gate and the business fees wired as kassa serve wires
// them): durable commits, statements in write transactions and reads
// outside them. Counts are work, not time, so they are asserted: a change
// that adds a statement or a read to the hot path fails here until the
// bounds (and docs/benchmarks.md) say why.
func TestPaymentWorkCounts(t *testing.T) {
	// Upper bounds per call on SQLite: create, confirm, capture. Before
	// issue 15's items 2 and 3 (b328e16) they were 1/4/3, 3/28/8 and
	// 1/17/6 (commits/statements/reads; a ledger effect's savepoint is
	// two statements).
	bounds := [3]workCount{
		{commits: 1, statements: 4, reads: 1},
		{commits: 2, statements: 25, reads: 5},
		{commits: 1, statements: 14, reads: 4},
	}
	forBothBackends(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		f := newFixtureDB(t, db, httpapi.Config{}, nil)
		// Rebuild the payment service as serve wires it.
		comp := compliance.New(compliance.Config{Store: sqlstore.NewCompliance(db), Merchants: f.svc})
		biz := business.New(business.Config{Store: sqlstore.NewBusiness(db), Ledger: f.cfg.Ledger, Payouts: f.cfg.Payouts})
		cfg := f.cfg
		cfg.Payments = payment.New(payment.Config{Store: sqlstore.NewPayments(db), Ledger: cfg.Ledger, Vouchers: cfg.Vouchers,
			AttemptsMax: payment.AttemptsMaxDefault, Pricing: biz, Gate: compliance.PaymentGate{Service: comp}})
		cfg.Compliance, cfg.Business = comp, biz
		f.cfg, f.srv = cfg, httpapi.New(cfg)
		f.ts.Config.Handler = f.srv
		if err := cfg.Vouchers.AllowIssuing(ctx, f.merchant.ID); err != nil {
			t.Fatal(err)
		}
		vs, err := cfg.Vouchers.Issue(ctx, voucher.IssueRequest{Count: 4, Amount: 1000, Currency: "EUR", IssuedBy: f.merchant.ID})
		if err != nil {
			t.Fatal(err)
		}
		sk, pk := f.merchant.SecretKey, f.merchant.PublishableKey
		pay := func(n int, v voucher.Issued) (got [3]workCount) {
			t.Helper()
			call := func(i int, path, key, body string) map[string]any {
				c0, s0, r0 := db.Commits(), db.Statements(), db.Reads()
				resp, b := f.do(t, "POST", path, key, "application/json", body, "Idempotency-Key", fmt.Sprintf("count-%d-%d", n, i))
				got[i] = workCount{db.Commits() - c0, db.Statements() - s0, db.Reads() - r0}
				if resp.StatusCode/100 != 2 {
					t.Fatalf("POST %s = %d %s", path, resp.StatusCode, b)
				}
				return decode(t, b)
			}
			p := call(0, "/v1/payments", sk, `{"amount":700,"currency":"EUR","capture_method":"manual","customer":{"id":"c1","email":"c1@example.com"}}`)
			id := p["id"].(string)
			call(1, "/v1/payments/"+id+"/confirm", pk, fmt.Sprintf(`{"client_secret":%q,"payment_method":{"type":"voucher","pins":[%q]}}`,
				p["client_secret"], v.PIN))
			if c := call(2, "/v1/payments/"+id+"/capture", sk, `{}`); c["status"] != "captured" {
				t.Fatalf("capture: %v", c)
			}
			return got
		}
		pay(0, vs[0]) // the first payment makes the merchant's ledger accounts
		for n := 1; n < len(vs); n++ {
			got := pay(n, vs[n])
			for i, name := range []string{"create", "confirm", "capture"} {
				t.Logf("%s %s: %v", db.Dialect(), name, got[i])
				if db.Dialect() != sqlstore.SQLite {
					continue // PostgreSQL's ledger batch writes through its own protocol
				}
				if b := bounds[i]; got[i].commits > b.commits || got[i].statements > b.statements || got[i].reads > b.reads {
					t.Errorf("%s: %v; want at most %v", name, got[i], b)
				}
			}
		}
	})
}
