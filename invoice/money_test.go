package invoice_test

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/kassa/kassa/invoice"
	"github.com/kassa/kassa/money"
)

// halfUp is net × rate / 10000 rounded half up, computed with exact
// rationals: an implementation independent of LineTax's integers.
func halfUp(net money.Amount, rate invoice.TaxRate) money.Amount {
	r := new(big.Rat).SetFrac(big.NewInt(int64(net)*int64(rate)), big.NewInt(10000))
	r.Add(r, big.NewRat(1, 2))
	q := new(big.Int).Quo(r.Num(), r.Denom()) // floor for non-negative values
	return money.Amount(q.Int64())
}

// TestTotalsProperty: for random invoices, every line's tax is its net
// amount's tax rounded half up, and the totals are the sums of the lines
// (and of the tax breakdown), whatever the lines.
func TestTotalsProperty(t *testing.T) {
	e := newSQLiteEnv(t)
	rng := rand.New(rand.NewPCG(1, 2))
	rates := []invoice.TaxRate{0, 500, 700, 750, 1000, 1900, 2000, 2100, 2500, 2700, 1, 9999, 10000}
	for i := range 200 {
		n := 1 + rng.IntN(12)
		lines := make([]invoice.Line, n)
		for j := range lines {
			lines[j] = invoice.Line{Description: "item", Quantity: 1 + rng.Int64N(50),
				UnitAmount: money.Amount(rng.Int64N(200_000)), TaxRate: rates[rng.IntN(len(rates))]}
		}
		lines[0].UnitAmount++ // a total of at least 1
		p := params()
		p.Lines = &lines
		inv := e.create(p)
		var sub, tax money.Amount
		for j, l := range inv.Lines {
			if l.Amount != l.UnitAmount*money.Amount(l.Quantity) || l.Tax != halfUp(l.Amount, l.TaxRate) {
				t.Fatalf("invoice %d line %d: %+v (want tax %d)", i, j, l, halfUp(l.Amount, l.TaxRate))
			}
			sub, tax = sub+l.Amount, tax+l.Tax
		}
		var bsub, btax money.Amount
		for _, b := range invoice.TaxBreakdown(inv.Lines) {
			bsub, btax = bsub+b.Net, btax+b.Amount
		}
		if inv.Subtotal != sub || inv.Tax != tax || inv.Total != sub+tax || bsub != sub || btax != tax {
			t.Fatalf("invoice %d: %d + %d = %d; lines %d + %d; breakdown %d + %d", i, inv.Subtotal, inv.Tax, inv.Total, sub, tax, bsub, btax)
		}
	}
}

func FuzzParseTaxRate(f *testing.F) {
	for _, s := range []string{"19", "7.5", "7.25", "0", "100", "100.00", "-1", "1e2", "07", " 19", "19.", ".5", "0x1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := invoice.ParseTaxRate(s)
		if !ok {
			return
		}
		if r < 0 || r > invoice.TaxRateMaxBP {
			t.Fatalf("%q → %d, out of range", s, r)
		}
		back, ok := invoice.ParseTaxRate(r.String())
		if !ok || back != r {
			t.Fatalf("%q → %d → %q → %d, %v", s, r, r.String(), back, ok)
		}
	})
}
