// Package rules compiles and evaluates a merchant's analyst rules: boolean
// expressions over the fraud engine's variables (features, score, amount,
// countries, list look-ups), each with the action it decides, like
//
//	score > 80 && amount > 50000                       → block
//	ip_distinct_cards_1h >= 5 && method == "card"      → challenge (passkey)
//	ip_country != billing_country && amount > 20000    → review
//
// Expressions are written in expr (github.com/expr-lang/expr), restricted
// to what is safe for untrusted input: only the Schema's variables, a few
// pure builtins (see Compile), no loops, no access to the environment as a
// whole. A Schema declares the variables; Compile checks a Rule against it;
// an Env binds the variables for one decision; Evaluate picks the first
// enabled rule that matches; Backtest replays a rule over past attempts.
package rules

import (
	"fmt"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// Action is what a matching rule decides.
type Action string

// Actions, from the mildest.
const (
	Allow     Action = "allow"
	Challenge Action = "challenge"
	Review    Action = "review"
	Block     Action = "block"
)

// Valid reports whether a is one of the four actions.
func (a Action) Valid() bool {
	switch a {
	case Allow, Challenge, Review, Block:
		return true
	}
	return false
}

// Factors a challenge may ask for; "" lets the engine choose.
const (
	FactorOTP     = "otp"
	FactorPasskey = "passkey"
)

// Limits on rules.
const (
	ExpressionMax      = 4096 // bytes in an expression
	ExpressionNodesMax = 1024 // syntax tree nodes in an expression
	NameMax            = 200  // bytes in a rule's name
	RulesMax           = 200  // rules in one merchant's set (Evaluate refuses more)
	StringLiteralMax   = 512  // bytes in one string literal
	// MemoryBudget bounds what one evaluation of one rule may allocate in
	// expr's accounting (array and map elements, let scopes); a rule past
	// it fails at run time (a *RuleError), counted as not matching. The
	// guard keeps every other value a rule makes bounded by its inputs.
	MemoryBudget = 64 << 10
)

// Rule is one analyst rule. The exported fields are what is stored and
// edited; Compile returns a copy that also carries the compiled program,
// and only such a copy can be evaluated.
type Rule struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Expression string `json:"expression"`
	Action     Action `json:"action"`
	// Factor is the second factor a Challenge asks for: FactorOTP,
	// FactorPasskey, or "" to let the engine pick. Other actions have none.
	Factor   string `json:"factor,omitempty"`
	Enabled  bool   `json:"enabled"`
	Position int    `json:"position"` // order in the set, ascending; ties by ID

	schema  *Schema
	program *vm.Program
	slots   []int32 // the Schema variables the expression uses
}

// CompileError is a rule Compile refused. Field names the Rule field at
// fault ("expression", "name", "action", "factor"). Expression errors are
// placed: Line and Column (1-based; columns count characters) and Offset
// (0-based, in bytes) locate the fault, or the start of the expression
// when the fault is the whole of it (a result that is not a bool). Line
// is 0 for the other fields.
type CompileError struct {
	Field   string `json:"field"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Offset  int    `json:"offset"`
	Message string `json:"message"`
}

func (e *CompileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Message)
	}
	return e.Message
}

// Compile checks r against s and returns a copy ready for Evaluate. The
// expression must be a boolean over s's variables, at most ExpressionMax
// bytes and ExpressionNodesMax nodes; the name at most NameMax bytes; the
// action valid; a factor only on a challenge. Every refusal is a
// *CompileError.
//
// Beyond operators (arithmetic, comparison, and/or/not, in, contains,
// startsWith, endsWith, matches with a constant pattern, ?:, let, array
// and map literals of numbers, strings and booleans), expressions may call the Predicate variables and the
// builtins len, abs, ceil, floor, round, int, float, string, min, max,
// lower, upper, trim, trimPrefix, trimSuffix, hasPrefix, hasSuffix,
// indexOf, lastIndexOf.
func Compile(s *Schema, r Rule) (*Rule, error) {
	if err := checkFields(&r); err != nil {
		return nil, err
	}
	src := r.Expression
	if len(src) > ExpressionMax {
		return nil, byteError(src, ExpressionMax, fmt.Sprintf("expression is longer than %d bytes", ExpressionMax))
	}
	if !utf8.ValidString(src) {
		return nil, byteError(src, invalidUTF8(src), "expression is not valid UTF-8")
	}
	g := &guard{schema: s}
	opts := []expr.Option{
		expr.Env(s.shape),
		expr.AsBool(),
		expr.MaxNodes(ExpressionNodesMax),
		expr.DisableAllBuiltins(),
		expr.Patch(g),
	}
	for _, name := range builtinsAllowed {
		opts = append(opts, expr.EnableBuiltin(name))
	}
	program, err := expr.Compile(src, opts...)
	switch {
	case g.err != nil:
		// The guard ran before the final type check; its refusal is the reason.
		return nil, g.err.bind(src)
	case err != nil:
		return nil, exprError(src, err)
	case g.late != nil:
		return nil, g.late.bind(src)
	}
	r.schema = s
	r.program = program
	r.slots = g.slots()
	return &r, nil
}

func checkFields(r *Rule) error {
	if len(r.Name) > NameMax || !utf8.ValidString(r.Name) {
		return &CompileError{Field: "name", Message: fmt.Sprintf("name must be at most %d bytes of UTF-8", NameMax)}
	}
	if r.Expression == "" {
		return &CompileError{Field: "expression", Line: 1, Column: 1, Message: "expression is empty"}
	}
	if !r.Action.Valid() {
		return &CompileError{Field: "action", Message: fmt.Sprintf("action %q is not one of allow, challenge, review, block", r.Action)}
	}
	switch {
	case r.Factor == "":
	case r.Action != Challenge:
		return &CompileError{Field: "factor", Message: fmt.Sprintf("factor %q is only for the challenge action", r.Factor)}
	case r.Factor != FactorOTP && r.Factor != FactorPasskey:
		return &CompileError{Field: "factor", Message: fmt.Sprintf("factor %q is not one of otp, passkey", r.Factor)}
	}
	return nil
}

// invalidUTF8 returns the byte offset of src's first invalid UTF-8 sequence.
func invalidUTF8(src string) int {
	for i, r := range src {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(src[i:]); size == 1 {
				return i
			}
		}
	}
	return len(src)
}

// Compiled reports whether r came from Compile and so can be evaluated.
func (r *Rule) Compiled() bool { return r.program != nil }
