package money

import (
	"math"
	"math/big"
	"testing"
)

func TestAddSub(t *testing.T) {
	tests := []struct {
		a, b         Amount
		sum, diff    Amount
		sumOK, difOK bool
	}{
		{1, 2, 3, -1, true, true},
		{math.MaxInt64, 1, 0, math.MaxInt64 - 1, false, true},
		{math.MinInt64, -1, 0, math.MinInt64 + 1, false, true},
		{math.MinInt64, 1, math.MinInt64 + 1, 0, true, false},
		{0, math.MinInt64, math.MinInt64, 0, true, false},
		{-1, math.MinInt64, 0, math.MaxInt64, false, true},
	}
	for _, tt := range tests {
		if got, ok := tt.a.Add(tt.b); ok != tt.sumOK || (ok && got != tt.sum) {
			t.Errorf("%d.Add(%d) = %d, %v; want %d, %v", tt.a, tt.b, got, ok, tt.sum, tt.sumOK)
		}
		if got, ok := tt.a.Sub(tt.b); ok != tt.difOK || (ok && got != tt.diff) {
			t.Errorf("%d.Sub(%d) = %d, %v; want %d, %v", tt.a, tt.b, got, ok, tt.diff, tt.difOK)
		}
	}
}

func TestCurrency(t *testing.T) {
	for _, s := range []string{"EUR", "USD", "XTS", "ZZZ"} {
		if _, err := ParseCurrency(s); err != nil {
			t.Errorf("ParseCurrency(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "eur", "EU", "EURO", "E1R", "ÉUR"} {
		if _, err := ParseCurrency(s); err == nil {
			t.Errorf("ParseCurrency(%q) succeeded, want error", s)
		}
	}
	if e, ok := Currency("JPY").Exponent(); !ok || e != 0 {
		t.Errorf("JPY exponent = %d, %v", e, ok)
	}
	if e, ok := Currency("KWD").Exponent(); !ok || e != 3 {
		t.Errorf("KWD exponent = %d, %v", e, ok)
	}
	if _, ok := Currency("QQQ").Exponent(); ok {
		t.Error("QQQ has an exponent")
	}
}

// check compares the checked operations with arbitrary-precision arithmetic.
func check(t *testing.T, a, b int64) {
	t.Helper()
	inRange := func(x *big.Int) bool { return x.IsInt64() }
	ba, bb := big.NewInt(a), big.NewInt(b)
	ops := []struct {
		name string
		got  func() (Amount, bool)
		want *big.Int
	}{
		{"Add", func() (Amount, bool) { return Amount(a).Add(Amount(b)) }, new(big.Int).Add(ba, bb)},
		{"Sub", func() (Amount, bool) { return Amount(a).Sub(Amount(b)) }, new(big.Int).Sub(ba, bb)},
		{"Mul", func() (Amount, bool) { return Amount(a).Mul(b) }, new(big.Int).Mul(ba, bb)},
	}
	for _, op := range ops {
		got, ok := op.got()
		if ok != inRange(op.want) || (ok && int64(got) != op.want.Int64()) {
			t.Fatalf("%d.%s(%d) = %d, %v; want %v", a, op.name, b, got, ok, op.want)
		}
	}
}

func TestCheckedEdges(t *testing.T) {
	edges := []int64{0, 1, -1, 2, -2, math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1, 1 << 32, -(1 << 32), 3037000499, 3037000500, -3037000500}
	for _, a := range edges {
		for _, b := range edges {
			check(t, a, b)
		}
	}
}

func FuzzChecked(f *testing.F) {
	f.Add(int64(1), int64(2))
	f.Add(int64(math.MaxInt64), int64(1))
	f.Add(int64(math.MinInt64), int64(-1))
	f.Fuzz(func(t *testing.T, a, b int64) { check(t, a, b) })
}
