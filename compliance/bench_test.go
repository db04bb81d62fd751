package compliance_test

import (
	"fmt"
	"testing"

	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/merchant"
)

// BenchmarkAdmit is what the gate adds to a confirmation on SQLite: for
// a merchant that is not gambling (a cached profile), and for a gambling
// merchant's customer with a daily limit (limits read, the check and
// count in one transaction).
func BenchmarkAdmit(b *testing.B) {
	for _, gambling := range []bool{false, true} {
		b.Run(fmt.Sprintf("gambling=%v", gambling), func(b *testing.B) {
			e := newBenchEnv(b)
			cat := merchant.CategoryRetail
			if gambling {
				cat = merchant.CategoryGambling
			}
			m := e.merchant(cat, "MT")
			sub := compliance.Subject{MerchantID: m, CustomerID: "bench"}
			if _, err := e.svc.SetLimits(e.ctx, sub, compliance.SetRequest{Deposit: map[compliance.Period]*compliance.Limit{
				compliance.Day: {Amount: compliance.LimitAmountMax, Currency: "EUR"}}}); err != nil {
				b.Fatal(err)
			}
			ps := make([]string, b.N)
			for i := range ps {
				ps[i] = e.create(m, 100, "bench", "MT").ID
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := e.svc.Admit(e.ctx, compliance.Deposit{PaymentID: ps[i], MerchantID: m, Amount: 100, Currency: "EUR",
					CustomerID: "bench", CustomerCountry: "MT"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
