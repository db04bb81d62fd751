package web

import (
	"strconv"
	"strings"

	"github.com/kassa/kassa/money"
)

// FormatAmount writes an amount of minor units in major units with the
// currency's exponent (12345 EUR → "123.45", 500 JPY → "500", 1234567 KWD
// → "1,234.567"), grouping thousands with commas. A currency Kassa does
// not know is shown in minor units.
func FormatAmount(a money.Amount, c money.Currency) string {
	exp, _ := c.Exponent()
	neg := a < 0
	u := uint64(a)
	if neg {
		u = -u // also right for the smallest int64
	}
	digits := strconv.FormatUint(u, 10)
	if len(digits) <= exp {
		digits = strings.Repeat("0", exp-len(digits)+1) + digits
	}
	whole, frac := digits[:len(digits)-exp], digits[len(digits)-exp:]
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i := range len(whole) {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(whole[i])
	}
	if exp > 0 {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}
