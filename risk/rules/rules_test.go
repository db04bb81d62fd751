package rules_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kassa/kassa/risk/rules"
)

// testSchema declares the variables Kassa's engine gives rules, plus
// divisor (an Int to divide by zero with).
func testSchema(t testing.TB) *rules.Schema {
	t.Helper()
	s, err := rules.NewSchema(map[string]rules.Type{
		"score":                rules.Float,
		"ip_distinct_cards_1h": rules.Float,
		"amount":               rules.Int,
		"divisor":              rules.Int,
		"currency":             rules.String,
		"method":               rules.String,
		"kind":                 rules.String,
		"ip_country":           rules.String,
		"billing_country":      rules.String,
		"merchant_id":          rules.String,
		"new_device":           rules.Bool,
		"listed":               rules.Predicate,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustCompile(t testing.TB, s *rules.Schema, r rules.Rule) *rules.Rule {
	t.Helper()
	c, err := rules.Compile(s, r)
	if err != nil {
		t.Fatalf("Compile(%q): %v", r.Expression, err)
	}
	return c
}

func TestCompile(t *testing.T) {
	s := testSchema(t)
	tests := []rules.Rule{
		{ID: "r1", Name: "big and risky", Expression: "score > 80 && amount > 50000", Action: rules.Block},
		{ID: "r2", Expression: `ip_distinct_cards_1h >= 5 && method == "card"`, Action: rules.Challenge, Factor: rules.FactorPasskey},
		{ID: "r3", Expression: "ip_country != billing_country && amount > 20000", Action: rules.Review},
		{ID: "r4", Expression: `listed("block_email_domain", merchant_id) or not new_device`, Action: rules.Allow},
		{ID: "r5", Expression: `currency in ["EUR", "USD"] && lower(kind) startsWith "pay"`, Action: rules.Challenge},
		{ID: "r6", Expression: `let big = amount / 100 > 500;` + "\n" + `big ? score > 50 : score > 90`, Action: rules.Review},
		{ID: "r7", Expression: `method matches "^(card|voucher)$" && len(currency) == 3`, Action: rules.Review},
	}
	for _, r := range tests {
		c, err := rules.Compile(s, r)
		if err != nil {
			t.Errorf("Compile(%q): %v", r.Expression, err)
			continue
		}
		if !c.Compiled() || c.ID != r.ID || c.Expression != r.Expression {
			t.Errorf("Compile(%q) = %+v, want a compiled copy", r.Expression, c)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	s := testSchema(t)
	multi := "method == \"ä\" &&\n  scroe > 1" // a non-ASCII character before the fault
	tests := []struct {
		name   string
		rule   rules.Rule
		field  string
		line   int
		column int
		offset int
		msg    string
	}{
		{"unknown variable", rules.Rule{Expression: "score > 80 && scroe > 1", Action: rules.Block},
			"expression", 1, 15, 14, "unknown name scroe"},
		{"unknown variable on line 2", rules.Rule{Expression: multi, Action: rules.Block},
			"expression", 2, 3, strings.Index(multi, "scroe"), "unknown name scroe"},
		{"syntax error", rules.Rule{Expression: "score > > 1", Action: rules.Block},
			"expression", 1, 9, 8, "unexpected token"},
		{"unterminated string", rules.Rule{Expression: `method == "card`, Action: rules.Block},
			"expression", 1, 16, 15, "literal not terminated"},
		{"mismatched types", rules.Rule{Expression: `method == "x" and amount > "y"`, Action: rules.Block},
			"expression", 1, 26, 25, "mismatched types int and string"},
		{"not boolean", rules.Rule{Expression: "score + 1", Action: rules.Block},
			"expression", 1, 1, 0, "expected bool, but got float64"},
		{"predicate arity", rules.Rule{Expression: `listed("a")`, Action: rules.Block},
			"expression", 1, 1, 0, "not enough arguments"},
		{"disabled builtin", rules.Rule{Expression: "now() != nil", Action: rules.Block},
			"expression", 1, 1, 0, "unknown name now"},
		{"closure", rules.Rule{Expression: "all([1, 2], {# > 1})", Action: rules.Block},
			"expression", 1, 14, 13, "closures are not available"},
		{"range", rules.Rule{Expression: "amount in 1..3", Action: rules.Block},
			"expression", 1, 12, 11, "ranges (..) are not available"},
		{"$env", rules.Rule{Expression: `$env["score"] > 1`, Action: rules.Block},
			"expression", 1, 1, 0, "$env is not available"},
		{"computed pattern", rules.Rule{Expression: "method matches currency", Action: rules.Block},
			"expression", 1, 8, 7, "must be a string literal"},
		{"empty", rules.Rule{Action: rules.Block},
			"expression", 1, 1, 0, "expression is empty"},
		{"too long", rules.Rule{Expression: "score > 1" + strings.Repeat(" ", rules.ExpressionMax), Action: rules.Block},
			"expression", 1, rules.ExpressionMax + 1, rules.ExpressionMax, "longer than 4096 bytes"},
		{"too many nodes", rules.Rule{Expression: "amount in [0" + strings.Repeat(",1", rules.ExpressionNodesMax) + "]", Action: rules.Block},
			"expression", 1, 0, 0, "exceeds maximum allowed nodes"},
		{"invalid UTF-8", rules.Rule{Expression: "method == \"\xff\"", Action: rules.Block},
			"expression", 1, 12, 11, "not valid UTF-8"},
		{"bad action", rules.Rule{Expression: "score > 1", Action: "deny"},
			"action", 0, 0, 0, `action "deny" is not one of`},
		{"factor on block", rules.Rule{Expression: "score > 1", Action: rules.Block, Factor: rules.FactorOTP},
			"factor", 0, 0, 0, "only for the challenge action"},
		{"unknown factor", rules.Rule{Expression: "score > 1", Action: rules.Challenge, Factor: "sms"},
			"factor", 0, 0, 0, "not one of otp, passkey"},
		{"long name", rules.Rule{Name: strings.Repeat("n", rules.NameMax+1), Expression: "score > 1", Action: rules.Block},
			"name", 0, 0, 0, "at most 200 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rules.Compile(s, tt.rule)
			var ce *rules.CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile error = %v, want a *CompileError", err)
			}
			if ce.Field != tt.field || ce.Line != tt.line || !strings.Contains(ce.Message, tt.msg) {
				t.Errorf("got %#v, want field %s, line %d, message with %q", ce, tt.field, tt.line, tt.msg)
			}
			// Where expr places a node-count refusal is its business.
			if tt.column != 0 && (ce.Column != tt.column || ce.Offset != tt.offset) {
				t.Errorf("got column %d offset %d, want column %d offset %d", ce.Column, ce.Offset, tt.column, tt.offset)
			}
		})
	}
}

func TestCompileErrorMessage(t *testing.T) {
	_, err := rules.Compile(testSchema(t), rules.Rule{Expression: "score > scroe", Action: rules.Block})
	if got, want := err.Error(), "line 1, column 9: unknown name scroe"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestNewSchemaErrors(t *testing.T) {
	for _, name := range []string{"", "1a", "a-b", "a.b", "in", "len", "true", "$env", strings.Repeat("a", rules.VarNameMax+1)} {
		if _, err := rules.NewSchema(map[string]rules.Type{name: rules.Float}); err == nil {
			t.Errorf("NewSchema(%q) succeeded", name)
		}
	}
	if _, err := rules.NewSchema(map[string]rules.Type{"x": 0}); err == nil {
		t.Error("NewSchema with type 0 succeeded")
	}
	s, err := rules.NewSchema(map[string]rules.Type{"b": rules.Int, "a_1": rules.Float, "_c": rules.String})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(s.Names(), ","), "_c,a_1,b"; got != want {
		t.Errorf("Names() = %s, want %s", got, want)
	}
	if v, ok := s.Var("b"); !ok || v.Name() != "b" || v.Type() != rules.Int {
		t.Errorf("Var(b) = %v, %v", v, ok)
	}
	if _, ok := s.Var("nope"); ok {
		t.Error("Var(nope) found")
	}
}
