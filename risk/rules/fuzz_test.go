package rules_test

import (
	"errors"
	"testing"

	"github.com/kassa/kassa/risk/rules"
)

// FuzzCompile checks that no input makes Compile panic or fail without a
// *CompileError, and that whatever compiles evaluates without panicking.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		"score > 80 && amount > 50000",
		"1 % 0 == 0",
		"amount / 0 > 1",
		"9223372036854775807 + 1 > 0",
		`method matches "("`,
		`method matches "((a{1000}){1000}){1000}"`,
		`"a" + "b" == method`,
		`let x = 1; let x = 2; x == 2`,
		`amount > 1 ? score : method`,
		`listed("a", "b") ?? false`,
		`[1, 2][5] == 1`,
		`{"a": 1}.a == 1`,
		`method[1:2] == "a"`,
		`-amount < 0 and not (score >= 1)`,
		`amount | string() == "1"`,
		"((((((((((score))))))))))> 1",
		`#index > 0`,
		`$env`,
		`toJSON(score) == ""`,
	} {
		f.Add(seed)
	}
	s := testSchema(f)
	f.Fuzz(func(t *testing.T, src string) {
		r, err := rules.Compile(s, rules.Rule{ID: "f", Enabled: true, Expression: src, Action: rules.Block})
		if err != nil {
			var ce *rules.CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile(%q) error %v is not a *CompileError", src, err)
			}
			if ce.Line < 1 || ce.Column < 1 || ce.Offset < 0 || ce.Offset > len(src) {
				t.Fatalf("Compile(%q) error %#v has no place in the source", src, ce)
			}
			return
		}
		env := s.NewEnv()
		listed, _ := s.Var("listed")
		env.SetPredicate(listed, func(string, string) bool { return true })
		rules.Match(r, env)
	})
}
