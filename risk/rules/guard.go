package rules

import (
	"errors"
	"fmt"
	"reflect"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
)

// builtinsAllowed are the expr builtins rules may call: pure functions of
// their arguments whose cost and result size their arguments bound. The
// rest are disabled: closures over collections (all, filter, map, ...)
// that could loop for long, now() and date(), which would make a rule's
// result depend on when it ran (and so its backtest meaningless), and
// string builders like repeat.
var builtinsAllowed = []string{
	"len", "abs", "ceil", "floor", "round", "int", "float", "string", "min", "max",
	"lower", "upper", "trim", "trimPrefix", "trimSuffix", "hasPrefix", "hasSuffix",
	"indexOf", "lastIndexOf",
}

// guard walks an expression's syntax tree after parsing and before the
// final type check (as an expr patch that changes nothing; expr types the
// tree once before running patches, so the nodes carry their types when
// the check succeeds). It refuses what the rule language leaves out and
// records which Schema variables the expression uses.
//
// Nothing in a rule may grow with itself: expr's memory budget counts
// arrays and maps but not strings, and let binds a value once to use it
// twice, so "let b = a + a" repeated doubles a string per line. The guard
// refuses + on anything but numbers, collections inside collections and
// string() of a collection, and caps string literals at
// StringLiteralMax, so every value a rule makes is bounded by its inputs
// and its length.
type guard struct {
	schema *Schema
	used   []int32
	err    *placedError
	// late is a refusal that depends on a type the first check left
	// unknown: it stands only when the expression otherwise compiles
	// (else expr's own error says more).
	late *placedError
}

// placedError is a refusal at a place in the source; from counts
// characters (runes), as expr's locations do.
type placedError struct {
	from int
	msg  string
}

func (g *guard) Visit(node *ast.Node) {
	if g.err != nil {
		return
	}
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if n.Value == "$env" {
			g.refuse(n, "$env is not available in rules")
			return
		}
		if slot, ok := g.schema.byName[n.Value]; ok {
			g.used = append(g.used, slot)
		}
	case *ast.BuiltinNode:
		if !builtinAllowed(n.Name) {
			g.refuse(n, fmt.Sprintf("%s() is not available in rules", n.Name))
		} else if n.Name == "string" {
			for _, a := range n.Arguments {
				g.need(a, scalar, "string() takes a number, string or boolean")
			}
		}
	case *ast.PredicateNode, *ast.PointerNode:
		g.refuse(n, "closures are not available in rules")
	case *ast.StringNode:
		if len(n.Value) > StringLiteralMax {
			g.refuse(n, fmt.Sprintf("a string literal is longer than %d bytes", StringLiteralMax))
		}
	case *ast.ArrayNode:
		for _, el := range n.Nodes {
			g.need(el, scalar, "arrays may hold numbers, strings and booleans only")
		}
	case *ast.MapNode:
		for _, p := range n.Pairs {
			if pair, ok := p.(*ast.PairNode); ok {
				g.need(pair.Value, scalar, "maps may hold numbers, strings and booleans only")
			}
		}
	case *ast.BinaryNode:
		switch n.Operator {
		case "+":
			g.need(n.Left, numeric, "+ adds numbers only (strings and arrays cannot be joined in rules)")
			g.need(n.Right, numeric, "+ adds numbers only (strings and arrays cannot be joined in rules)")
		case "..":
			g.refuse(n, "ranges (..) are not available in rules")
		case "matches":
			// A constant pattern is compiled once with the rule; a computed
			// one would be compiled on every evaluation.
			if _, ok := n.Right.(*ast.StringNode); !ok {
				g.refuse(n, "the pattern after matches must be a string literal")
			}
		}
	}
}

func (g *guard) refuse(n ast.Node, msg string) {
	g.err = &placedError{from: n.Location().From, msg: msg}
}

// need refuses n unless its type is of the wanted kind; an unknown type
// (an any from ?: or ??, or a tree the first check could not type) is
// refused only if the expression compiles otherwise.
func (g *guard) need(n ast.Node, ok func(reflect.Kind) bool, msg string) {
	t := n.Type()
	switch {
	case t != nil && t.Kind() != reflect.Interface:
		if !ok(t.Kind()) {
			g.refuse(n, msg)
		}
	case g.late == nil:
		g.late = &placedError{from: n.Location().From, msg: msg}
	}
}

func numeric(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func scalar(k reflect.Kind) bool { return numeric(k) || k == reflect.String || k == reflect.Bool }

// slots returns the used variables, each once, in order of first use.
func (g *guard) slots() []int32 {
	seen := make([]bool, len(g.schema.vars))
	var out []int32
	for _, slot := range g.used {
		if !seen[slot] {
			seen[slot] = true
			out = append(out, slot)
		}
	}
	return out
}

func builtinAllowed(name string) bool {
	for _, b := range builtinsAllowed {
		if b == name {
			return true
		}
	}
	return false
}

func (p *placedError) bind(src string) *CompileError {
	line, col, offset := position(src, p.from)
	return &CompileError{Field: "expression", Line: line, Column: col, Offset: offset, Message: p.msg}
}

// exprError turns an error from expr.Compile into a *CompileError with
// the place expr reported. Errors about the whole expression (a result
// that is not a bool) have no place in expr; they point at its start.
func exprError(src string, err error) *CompileError {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return (&placedError{from: 0, msg: err.Error()}).bind(src)
	}
	return (&placedError{from: fe.From, msg: fe.Message}).bind(src)
}

// byteError is a refusal at byte offset off of src.
func byteError(src string, off int, msg string) *CompileError {
	return (&placedError{from: utf8.RuneCountInString(src[:off]), msg: msg}).bind(src)
}

// position converts a character offset in src into a 1-based line and
// column and a 0-based byte offset. An offset past the end is the end.
func position(src string, from int) (line, column, offset int) {
	line, column = 1, 1
	n := 0
	for i, r := range src {
		if n == from {
			return line, column, i
		}
		if r == '\n' {
			line++
			column = 1
		} else {
			column++
		}
		n++
	}
	return line, column, len(src)
}
