package rules

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/expr-lang/expr/file"
)

// RuleError is a rule that failed while it was evaluated (a list look-up
// that panicked, an index out of range, a modulo by zero, a rule not
// compiled or compiled against another Schema).
type RuleError struct {
	RuleID string
	Err    error
}

func (e *RuleError) Error() string {
	var fe *file.Error
	if errors.As(e.Err, &fe) {
		// The VM bound the error to the source: Line is 1-based, Column 0-based.
		return fmt.Sprintf("rule %s: line %d, column %d: %s", e.RuleID, fe.Line, fe.Column+1, fe.Message)
	}
	return fmt.Sprintf("rule %s: %v", e.RuleID, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// compareRules orders rules by Position, then ID.
func compareRules(a, b *Rule) int {
	if c := cmp.Compare(a.Position, b.Position); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// Sort puts rules in evaluation order: by Position, then ID. Sort a set
// once when it is loaded; Evaluate then walks it without copying.
func Sort(rules []*Rule) { slices.SortStableFunc(rules, compareRules) }

// Evaluate returns the first enabled rule, in order of Position then ID,
// whose expression is true for env, or nil when none is. rules must have
// come from Compile with env's Schema. Evaluate copies and sorts rules
// when they are not in order already (see Sort), and refuses more than
// RulesMax.
//
// A rule that fails at run time counts as not matching: Evaluate goes on
// with the next rule and returns, with whatever matched, an error joining
// one *RuleError per failed rule (errors.As finds the first; the engine
// logs them). So err != nil does not mean matched is meaningless: a
// caller that wants to fail closed can check both.
func Evaluate(rules []*Rule, env *Env) (matched *Rule, err error) {
	if len(rules) > RulesMax {
		return nil, fmt.Errorf("%d rules in one set, more than %d", len(rules), RulesMax)
	}
	if !slices.IsSortedFunc(rules, compareRules) {
		rules = slices.Clone(rules)
		Sort(rules)
	}
	env.begin()
	var errs []error
	for _, r := range rules {
		if !r.Enabled {
			continue
		}
		ok, err := env.run(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			return r, errors.Join(errs...)
		}
	}
	return nil, errors.Join(errs...)
}

// Match reports whether r's expression is true for env, whether or not r
// is enabled. A failure is a *RuleError.
func Match(r *Rule, env *Env) (bool, error) {
	env.begin()
	return env.run(r)
}

var (
	errNotCompiled  = errors.New("rule is not compiled")
	errOtherSchema  = errors.New("rule was compiled against another Schema than the Env's")
	errNotBoolValue = errors.New("expression did not return a bool")
)

// run evaluates one rule within the evaluation env.begin started.
func (e *Env) run(r *Rule) (bool, error) {
	if r.program == nil {
		return false, &RuleError{RuleID: r.ID, Err: errNotCompiled}
	}
	if r.schema != e.schema {
		return false, &RuleError{RuleID: r.ID, Err: errOtherSchema}
	}
	e.load(r.slots)
	out, err := e.machine.Run(r.program, e.vars)
	if err != nil {
		return false, &RuleError{RuleID: r.ID, Err: err}
	}
	b, ok := out.(bool)
	if !ok {
		return false, &RuleError{RuleID: r.ID, Err: errNotBoolValue}
	}
	return b, nil
}
