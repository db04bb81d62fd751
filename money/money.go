// Package money holds Kassa's representation of money: an Amount of integer
// minor units (cents, pence, ...) and an ISO 4217 Currency. No floats touch
// money; arithmetic is checked and reports overflow instead of wrapping.
package money

import (
	"fmt"
	"math"
	"math/bits"
)

// Amount is a quantity of money in the minor unit of its currency, e.g.
// 1234 is 12.34 EUR. Amounts in the ledger are never negative, but Amount is
// signed so that differences can be expressed.
type Amount int64

// Add returns a+b and whether the sum did not overflow.
func (a Amount) Add(b Amount) (Amount, bool) {
	s := a + b
	// Overflow iff both operands have the same sign and the sum's differs.
	if (a >= 0) == (b >= 0) && (s >= 0) != (a >= 0) {
		return 0, false
	}
	return s, true
}

// Sub returns a-b and whether the difference did not overflow.
func (a Amount) Sub(b Amount) (Amount, bool) {
	d := a - b
	// Overflow iff the operands have different signs and the result's sign
	// differs from a's.
	if (a >= 0) != (b >= 0) && (d >= 0) != (a >= 0) {
		return 0, false
	}
	return d, true
}

// Mul returns a*n and whether the product did not overflow.
func (a Amount) Mul(n int64) (Amount, bool) {
	if a == 0 || n == 0 {
		return 0, true
	}
	if (a == math.MinInt64 && n == -1) || (n == math.MinInt64 && a == -1) {
		return 0, false
	}
	x, y := int64(a), n
	neg := (x < 0) != (y < 0)
	ux, uy := abs64(x), abs64(y)
	hi, lo := bits.Mul64(ux, uy)
	if hi != 0 {
		return 0, false
	}
	if neg {
		if lo > 1<<63 {
			return 0, false
		}
		return Amount(-int64(lo-1) - 1), true
	}
	if lo > math.MaxInt64 {
		return 0, false
	}
	return Amount(lo), true
}

func abs64(x int64) uint64 {
	if x < 0 {
		return uint64(-(x + 1)) + 1
	}
	return uint64(x)
}

// Currency is an ISO 4217 alphabetic code: three upper-case ASCII letters.
// The zero value is not a valid currency.
type Currency string

// ParseCurrency validates s as a currency code. It accepts exactly three
// upper-case letters A–Z; it does not insist the code is in the exponent
// table, so new or private codes (e.g. "XTS") work.
func ParseCurrency(s string) (Currency, error) {
	c := Currency(s)
	if !c.Valid() {
		return "", fmt.Errorf("money: invalid currency %q: want three upper-case letters (ISO 4217)", s)
	}
	return c, nil
}

// Valid reports whether c is three upper-case ASCII letters.
func (c Currency) Valid() bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

// String returns the code.
func (c Currency) String() string { return string(c) }

// Exponent returns the number of decimal places of c's minor unit (2 for
// EUR, 0 for JPY, 3 for KWD) and whether c is in Kassa's table.
func (c Currency) Exponent() (int, bool) {
	e, ok := exponents[c]
	return e, ok
}

// exponents holds the minor-unit exponents of common currencies (ISO 4217).
var exponents = map[Currency]int{
	"AED": 2, "ARS": 2, "AUD": 2, "BGN": 2, "BHD": 3, "BRL": 2, "CAD": 2,
	"CHF": 2, "CLP": 0, "CNY": 2, "COP": 2, "CZK": 2, "DKK": 2, "EGP": 2,
	"EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2,
	"ISK": 0, "JOD": 3, "JPY": 0, "KES": 2, "KRW": 0, "KWD": 3, "MAD": 2,
	"MXN": 2, "MYR": 2, "NGN": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PEN": 2,
	"PHP": 2, "PKR": 2, "PLN": 2, "QAR": 2, "RON": 2, "RSD": 2, "SAR": 2,
	"SEK": 2, "SGD": 2, "THB": 2, "TND": 3, "TRY": 2, "TWD": 2, "UAH": 2,
	"UGX": 0, "USD": 2, "VND": 0, "XAF": 0, "XOF": 0, "XTS": 2, "ZAR": 2,
}
