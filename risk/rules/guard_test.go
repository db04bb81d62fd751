package rules_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kassa/kassa/risk/rules"
)

// Nothing in a rule may grow with itself: expr's memory budget does not
// count strings, so + on strings, collections in collections and string()
// of a collection are refused, and string literals are capped.
func TestGuardRefusesGrowth(t *testing.T) {
	s := testSchema(t)
	var doubling strings.Builder
	doubling.WriteString("let s0 = method; ")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&doubling, "let s%d = s%d + s%d; ", i, i-1, i-1)
	}
	doubling.WriteString("len(s40) > 0")
	for _, src := range []string{
		doubling.String(),
		`method + method == "x"`,
		`let a = amount > 1 ? method : 1; a + a == 2`,
		`let a = [method, method]; let b = [a, a]; len(b) > 0`,
		`let a = [method, method]; len({"x": a}) > 0`,
		`let a = [method, method]; string(a) == ""`,
		`[1] + [2] == [1, 2]`,
		`method == "` + strings.Repeat("a", rules.StringLiteralMax+1) + `"`,
	} {
		_, err := rules.Compile(s, rules.Rule{ID: "r", Expression: src, Action: rules.Block})
		var ce *rules.CompileError
		if !errors.As(err, &ce) || ce.Line < 1 {
			t.Errorf("Compile(%.60q) = %v, want a placed *CompileError", src, err)
		}
	}
	for _, src := range []string{
		`amount + 1 > 2 && score + 0.5 < 100`,
		`ip_country in ["RU", "NG"] && {"a": 1}.a == 1`,
		`let big = amount > 50000; big && string(amount) != ""`,
		`method == "` + strings.Repeat("a", rules.StringLiteralMax) + `"`,
	} {
		if _, err := rules.Compile(s, rules.Rule{ID: "r", Expression: src, Action: rules.Block}); err != nil {
			t.Errorf("Compile(%.60q) = %v, want it compiled", src, err)
		}
	}
}
