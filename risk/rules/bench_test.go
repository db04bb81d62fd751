package rules_test

import (
	"fmt"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/kassa/kassa/risk/rules"
)

const benchFeatures = 60

// benchExpressions are 10 rules of the kind analysts write, none of which
// match the benchmark's payment, so Evaluate runs all of them.
var benchExpressions = []string{
	"score > 80 && amount > 50000",
	`f00 >= 5 && method == "card"`,
	"ip_country != billing_country && amount > 20000",
	"f01 > 3 && f02 > 0.5 && score > 60",
	`listed("blocked_ip", ip_country) || listed("blocked_merchant", merchant_id)`,
	`currency in ["USD", "GBP"] && f03 > 2`,
	"f04 / (f05 + 1) > 10",
	`kind == "withdrawal" && amount > 100000`,
	"f06 > 100 || f07 > 100 || f08 > 100",
	"score > 95",
}

func benchSchema(b *testing.B) *rules.Schema {
	vars := map[string]rules.Type{
		"score": rules.Float, "amount": rules.Int,
		"currency": rules.String, "method": rules.String, "kind": rules.String,
		"ip_country": rules.String, "billing_country": rules.String, "merchant_id": rules.String,
		"listed": rules.Predicate,
	}
	for i := range benchFeatures {
		vars[fmt.Sprintf("f%02d", i)] = rules.Float
	}
	s, err := rules.NewSchema(vars)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkEvaluate(b *testing.B) {
	s := benchSchema(b)
	var set []*rules.Rule
	for i, e := range benchExpressions {
		set = append(set, mustCompile(b, s, rules.Rule{ID: fmt.Sprintf("r%02d", i), Position: i, Enabled: true, Expression: e, Action: rules.Review}))
	}
	features := make([]rules.Var, benchFeatures)
	for i := range features {
		features[i], _ = s.Var(fmt.Sprintf("f%02d", i))
	}
	v := func(name string) rules.Var { x, _ := s.Var(name); return x }
	score, amount, listed := v("score"), v("amount"), v("listed")
	strs := map[rules.Var]string{v("currency"): "EUR", v("method"): "card", v("kind"): "payment",
		v("ip_country"): "AT", v("billing_country"): "AT", v("merchant_id"): "m_1"}
	notListed := func(string, string) bool { return false }

	// fill binds one payment's variables, as the engine does; i varies the
	// values so nothing can be reused from the previous payment.
	fill := func(env *rules.Env, i int) {
		env.Reset()
		for j, f := range features {
			env.SetFloat(f, float64((i+j)%3)+0.25)
		}
		env.SetFloat(score, 40+float64(i%7))
		env.SetInt(amount, 1000+i%5000)
		for k, x := range strs {
			env.SetString(k, x)
		}
		env.SetPredicate(listed, notListed)
	}
	evaluate := func(b *testing.B, env *rules.Env) {
		m, err := rules.Evaluate(set, env)
		if m != nil || err != nil {
			b.Fatalf("Evaluate = %v, %v", m, err)
		}
	}

	b.Run("evaluate", func(b *testing.B) {
		env := s.NewEnv()
		fill(env, 1)
		b.ReportAllocs()
		for b.Loop() {
			evaluate(b, env)
		}
	})
	b.Run("fill+evaluate", func(b *testing.B) {
		env := s.NewEnv()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			fill(env, i)
			evaluate(b, env)
			i++
		}
	})
	// The alternative this package's Env replaces: a map[string]any with
	// every variable boxed for every payment.
	b.Run("baseline-map-env", func(b *testing.B) {
		shape := map[string]any{"score": 0.0, "amount": 0, "currency": "", "method": "", "kind": "",
			"ip_country": "", "billing_country": "", "merchant_id": "", "listed": notListed}
		names := make([]string, benchFeatures)
		for i := range names {
			names[i] = fmt.Sprintf("f%02d", i)
			shape[names[i]] = 0.0
		}
		var programs []*vm.Program
		for _, e := range benchExpressions {
			p, err := expr.Compile(e, expr.Env(shape), expr.AsBool())
			if err != nil {
				b.Fatal(err)
			}
			programs = append(programs, p)
		}
		env := make(map[string]any, len(shape))
		var machine vm.VM
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			for j, name := range names {
				env[name] = float64((i+j)%3) + 0.25
			}
			env["score"], env["amount"] = 40+float64(i%7), 1000+i%5000
			env["currency"], env["method"], env["kind"] = "EUR", "card", "payment"
			env["ip_country"], env["billing_country"], env["merchant_id"] = "AT", "AT", "m_1"
			env["listed"] = notListed
			for _, p := range programs {
				if out, err := machine.Run(p, env); err != nil || out != false {
					b.Fatalf("Run = %v, %v", out, err)
				}
			}
			i++
		}
	})
}
