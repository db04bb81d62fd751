package rules_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/kassa/kassa/risk/rules"
)

// set sets variables by name, failing the test on a bad one.
func set(t testing.TB, env *rules.Env, vars map[string]any) {
	t.Helper()
	for name, v := range vars {
		if err := env.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEvaluateOrder(t *testing.T) {
	s := testSchema(t)
	compile := func(id string, pos int, enabled bool, expression string, a rules.Action) *rules.Rule {
		return mustCompile(t, s, rules.Rule{ID: id, Position: pos, Enabled: enabled, Expression: expression, Action: a})
	}
	ruleSet := []*rules.Rule{
		compile("late", 3, true, "true", rules.Allow),
		compile("b", 2, true, "score > 50", rules.Review),
		compile("a", 2, true, "score > 80", rules.Block), // same position as b: a goes first
		compile("off", 1, false, "true", rules.Block),    // disabled: never matches
		compile("first", 1, true, `method == "voucher"`, rules.Challenge),
	}
	tests := []struct {
		score  float64
		method string
		want   string
	}{
		{90, "card", "a"},
		{60, "card", "b"},
		{10, "card", "late"},
		{90, "voucher", "first"},
	}
	env := s.NewEnv()
	for _, tt := range tests {
		env.Reset()
		set(t, env, map[string]any{"score": tt.score, "method": tt.method})
		got, err := rules.Evaluate(ruleSet, env)
		if err != nil {
			t.Fatal(err)
		}
		if got == nil || got.ID != tt.want {
			t.Errorf("score %v, method %s: matched %v, want %s", tt.score, tt.method, got, tt.want)
		}
	}
	if ruleSet[0].ID != "late" {
		t.Error("Evaluate reordered the caller's slice")
	}

	rules.Sort(ruleSet)
	var ids []string
	for _, r := range ruleSet {
		ids = append(ids, r.ID)
	}
	if got, want := strings.Join(ids, ","), "first,off,a,b,late"; got != want {
		t.Errorf("Sort order %s, want %s", got, want)
	}

	none := []*rules.Rule{compile("x", 1, true, "score > 99", rules.Block), compile("y", 2, false, "true", rules.Block)}
	if got, err := rules.Evaluate(none, env); got != nil || err != nil {
		t.Errorf("Evaluate with no match = %v, %v; want nil, nil", got, err)
	}
	if got, err := rules.Evaluate(nil, env); got != nil || err != nil {
		t.Errorf("Evaluate(nil) = %v, %v; want nil, nil", got, err)
	}
	tooMany := make([]*rules.Rule, rules.RulesMax+1)
	if _, err := rules.Evaluate(tooMany, env); err == nil {
		t.Error("Evaluate accepted more than RulesMax rules")
	}
}

func TestEvaluateSeesNewValues(t *testing.T) {
	// Values are boxed for the VM once per evaluation; the next evaluation
	// of the same Env must see what was set since.
	s := testSchema(t)
	r := []*rules.Rule{mustCompile(t, s, rules.Rule{ID: "r", Enabled: true, Expression: "score > 50 && ip_country != billing_country", Action: rules.Review})}
	score, _ := s.Var("score")
	ipCountry, _ := s.Var("ip_country")
	env := s.NewEnv()
	env.SetFloat(score, 60)
	env.SetString(ipCountry, "AT")
	for i, want := range []bool{true, false, true, false} {
		got, err := rules.Evaluate(r, env)
		if err != nil {
			t.Fatal(err)
		}
		if (got != nil) != want {
			t.Errorf("evaluation %d matched %v, want %v", i, got != nil, want)
		}
		switch i {
		case 0:
			env.SetFloat(score, 40)
		case 1:
			env.SetFloat(score, 70)
		case 2:
			env.Reset()
		}
	}
}

func TestListed(t *testing.T) {
	s := testSchema(t)
	r := []*rules.Rule{mustCompile(t, s, rules.Rule{ID: "r", Enabled: true, Action: rules.Block,
		Expression: `listed("blocked_countries", ip_country) && !listed("trusted_merchants", merchant_id)`})}
	listed, _ := s.Var("listed")
	lists := map[string]map[string]bool{
		"blocked_countries": {"KP": true},
		"trusted_merchants": {"m_trusted": true},
	}
	var calls []string
	env := s.NewEnv()
	tests := []struct {
		country, merchant string
		match             bool
		calls             string
	}{
		{"KP", "m_1", true, "blocked_countries:KP trusted_merchants:m_1"},
		{"KP", "m_trusted", false, "blocked_countries:KP trusted_merchants:m_trusted"},
		{"AT", "m_1", false, "blocked_countries:AT"}, // && short-circuits
	}
	for _, tt := range tests {
		calls = calls[:0]
		env.Reset()
		env.SetPredicate(listed, func(list, value string) bool {
			calls = append(calls, list+":"+value)
			return lists[list][value]
		})
		set(t, env, map[string]any{"ip_country": tt.country, "merchant_id": tt.merchant})
		got, err := rules.Evaluate(r, env)
		if err != nil {
			t.Fatal(err)
		}
		if (got != nil) != tt.match {
			t.Errorf("%s/%s: matched %v, want %v", tt.country, tt.merchant, got != nil, tt.match)
		}
		if got := strings.Join(calls, " "); got != tt.calls {
			t.Errorf("%s/%s: calls %q, want %q", tt.country, tt.merchant, got, tt.calls)
		}
	}

	// An Env without the predicate fails the rule, not the program.
	env.Reset()
	if _, err := rules.Evaluate(r, env); err == nil {
		t.Error("Evaluate with listed unset succeeded")
	}
}

func TestRuntimeErrorIsolation(t *testing.T) {
	s := testSchema(t)
	other, err := rules.NewSchema(map[string]rules.Type{"score": rules.Float})
	if err != nil {
		t.Fatal(err)
	}
	ruleSet := []*rules.Rule{
		mustCompile(t, s, rules.Rule{ID: "mod", Position: 1, Enabled: true, Expression: "amount % divisor == 0", Action: rules.Block}),
		mustCompile(t, s, rules.Rule{ID: "panics", Position: 2, Enabled: true, Expression: `listed("x", method)`, Action: rules.Block}),
		mustCompile(t, other, rules.Rule{ID: "foreign", Position: 3, Enabled: true, Expression: "score > 1", Action: rules.Block}),
		{ID: "raw", Position: 4, Enabled: true, Expression: "true", Action: rules.Block}, // never compiled
		mustCompile(t, s, rules.Rule{ID: "ok", Position: 5, Enabled: true, Expression: "amount > 100", Action: rules.Review}),
	}
	env := s.NewEnv()
	listed, _ := s.Var("listed")
	env.SetPredicate(listed, func(string, string) bool { panic("list store is down") })
	set(t, env, map[string]any{"amount": 500, "divisor": 0})

	got, err := rules.Evaluate(ruleSet, env)
	if got == nil || got.ID != "ok" {
		t.Errorf("matched %v, want ok: a failing rule must not stop the rest", got)
	}
	var re *rules.RuleError
	if !errors.As(err, &re) || re.RuleID != "mod" {
		t.Fatalf("error %v, want a *RuleError for mod first", err)
	}
	if !strings.HasPrefix(re.Error(), "rule mod: line 1, column ") || !strings.Contains(re.Error(), "divide by zero") {
		t.Errorf("RuleError = %q", re.Error())
	}
	for _, want := range []string{"rule panics:", "list store is down", "rule foreign:", "another Schema", "rule raw:", "not compiled"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	// The same Env goes on working.
	env.SetPredicate(listed, func(string, string) bool { return false })
	set(t, env, map[string]any{"divisor": 7})
	if got, err := rules.Evaluate(ruleSet[:2], env); got != nil || err != nil {
		t.Errorf("after the failures: %v, %v; want nil, nil", got, err)
	}
}

func TestEnvSet(t *testing.T) {
	s := testSchema(t)
	env := s.NewEnv()
	good := map[string]any{
		"score":    int64(3), // integers widen to Float
		"amount":   float64(5000),
		"divisor":  int32(2),
		"method":   "card",
		"listed":   func(string, string) bool { return true },
		"currency": "EUR",
	}
	set(t, env, good)
	for name, v := range map[string]any{
		"nope":       1.0,
		"amount":     1.5, // not integral
		"score":      "high",
		"method":     3,
		"new_device": "yes",
		"listed":     func(string) bool { return true },
	} {
		if err := env.Set(name, v); err == nil {
			t.Errorf("Set(%s, %v) succeeded", name, v)
		}
	}
	r := mustCompile(t, s, rules.Rule{ID: "r", Enabled: true, Expression: `score == 3 && amount == 5000 && amount % divisor == 0 && listed("", method)`, Action: rules.Block})
	if ok, err := rules.Match(r, env); !ok || err != nil {
		t.Errorf("Match = %v, %v; want true", ok, err)
	}

	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	score, _ := s.Var("score")
	otherSchema, _ := rules.NewSchema(map[string]rules.Type{"score": rules.Float})
	foreign, _ := otherSchema.Var("score")
	mustPanic("SetInt on a Float", func() { env.SetInt(score, 1) })
	mustPanic("SetFloat with another Schema's Var", func() { env.SetFloat(foreign, 1) })
	mustPanic("SetString with the zero Var", func() { env.SetString(rules.Var{}, "") })
}

func TestEvaluateConcurrently(t *testing.T) {
	// Compiled rules are shared by every goroutine; each has its own Env.
	s := testSchema(t)
	ruleSet := []*rules.Rule{
		mustCompile(t, s, rules.Rule{ID: "block", Position: 1, Enabled: true, Expression: "score > 80 && amount > 50000", Action: rules.Block}),
		mustCompile(t, s, rules.Rule{ID: "review", Position: 2, Enabled: true, Expression: "ip_country != billing_country", Action: rules.Review}),
	}
	score, _ := s.Var("score")
	amount, _ := s.Var("amount")
	ipCountry, _ := s.Var("ip_country")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			env := s.NewEnv()
			for i := range 1000 {
				env.Reset()
				env.SetFloat(score, float64((g*i)%100))
				env.SetInt(amount, 60000)
				if i%2 == 0 {
					env.SetString(ipCountry, "AT")
				}
				want := ""
				switch {
				case (g*i)%100 > 80:
					want = "block"
				case i%2 == 0:
					want = "review"
				}
				got, err := rules.Evaluate(ruleSet, env)
				if err != nil || (got == nil) != (want == "") || (got != nil && got.ID != want) {
					t.Errorf("goroutine %d, payment %d: %v, %v; want %q", g, i, got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}
