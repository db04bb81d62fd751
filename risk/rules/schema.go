package rules

import (
	"fmt"
	"slices"
	"strings"
)

// Type is the type of a Schema variable as rules see it.
type Type uint8

// The variable types a Schema can declare. Each names the Go type the
// engine binds with the matching Env setter.
const (
	Float     Type = iota + 1 // float64 (features, score)
	Int                       // int (amount in minor units)
	String                    // string (currency, method, countries, ids)
	Bool                      // bool
	Predicate                 // func(string, string) bool, e.g. listed(list, value)
)

func (t Type) String() string {
	switch t {
	case Float:
		return "float64"
	case Int:
		return "int"
	case String:
		return "string"
	case Bool:
		return "bool"
	case Predicate:
		return "func(string, string) bool"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Limits on a Schema.
const (
	VarsMax    = 1024 // variables in one Schema
	VarNameMax = 64   // bytes in a variable name
)

// reserved are words a variable may not be called: the expression
// language's keywords and the builtins rules may call.
var reserved = map[string]bool{
	"true": true, "false": true, "nil": true, "not": true, "and": true, "or": true,
	"in": true, "matches": true, "contains": true, "startsWith": true, "endsWith": true,
	"let": true, "if": true, "else": true,
}

func init() {
	for _, name := range builtinsAllowed {
		reserved[name] = true
	}
}

// Schema declares the variables rules may use and their types. Rules are
// compiled against one Schema and evaluated with Envs made from the same
// Schema. A Schema is immutable and safe for concurrent use.
type Schema struct {
	vars   []variable // sorted by name; a variable's slot is its index
	byName map[string]int32
	counts [Predicate + 1]int32 // variables per Type
	// shape is what expr type-checks expressions against: every variable
	// name bound to a zero value of its Go type.
	shape map[string]any
}

type variable struct {
	name  string
	typ   Type
	index int32 // into the Env slice of its type
}

// Var is a handle on one variable of a Schema. The engine looks its
// variables up once (Schema.Var) and fills every Env through the handles,
// which costs no map lookup. The zero Var is invalid.
type Var struct {
	schema *Schema
	slot   int32 // into schema.vars
	index  int32 // into the Env slice of typ
	typ    Type
}

// Name returns the variable's name.
func (v Var) Name() string {
	if v.schema == nil {
		return ""
	}
	return v.schema.vars[v.slot].name
}

// Type returns the variable's type (0 for the zero Var).
func (v Var) Type() Type { return v.typ }

// NewSchema returns a Schema declaring vars, a map from variable name to
// type. Names are identifiers ([A-Za-z_][A-Za-z0-9_]*, at most VarNameMax
// bytes) other than the language's keywords and builtin function names.
//
// For Kassa's engine that is every feature name → Float, "score" → Float,
// "amount" → Int, "currency", "method", "kind", "ip_country",
// "billing_country", "merchant_id" → String, and "listed" → Predicate.
func NewSchema(vars map[string]Type) (*Schema, error) {
	if len(vars) > VarsMax {
		return nil, fmt.Errorf("schema has %d variables, more than %d", len(vars), VarsMax)
	}
	s := &Schema{
		vars:   make([]variable, 0, len(vars)),
		byName: make(map[string]int32, len(vars)),
		shape:  make(map[string]any, len(vars)),
	}
	for name, typ := range vars {
		if err := checkVarName(name); err != nil {
			return nil, err
		}
		zero, ok := zeroValue(typ)
		if !ok {
			return nil, fmt.Errorf("variable %s has unknown type %v", name, typ)
		}
		s.vars = append(s.vars, variable{name: name, typ: typ})
		s.shape[name] = zero
	}
	// Sorting makes slots, and so every Env's layout, deterministic.
	slices.SortFunc(s.vars, func(a, b variable) int { return strings.Compare(a.name, b.name) })
	for i := range s.vars {
		v := &s.vars[i]
		v.index = s.counts[v.typ]
		s.counts[v.typ]++
		s.byName[v.name] = int32(i)
	}
	return s, nil
}

func checkVarName(name string) error {
	if name == "" || len(name) > VarNameMax {
		return fmt.Errorf("variable name %q must be 1 to %d bytes", name, VarNameMax)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
		digit := '0' <= c && c <= '9'
		if !letter && !(digit && i > 0) {
			return fmt.Errorf("variable name %q is not an identifier ([A-Za-z_][A-Za-z0-9_]*)", name)
		}
	}
	if reserved[name] {
		return fmt.Errorf("variable name %q is reserved by the rule language", name)
	}
	return nil
}

// zeroValue returns the zero value of typ's Go type, which is also what
// an Env variable holds until it is set.
func zeroValue(typ Type) (any, bool) {
	switch typ {
	case Float:
		return float64(0), true
	case Int:
		return int(0), true
	case String:
		return "", true
	case Bool:
		return false, true
	case Predicate:
		return (func(string, string) bool)(nil), true
	}
	return nil, false
}

// Var returns the handle on the variable called name.
func (s *Schema) Var(name string) (Var, bool) {
	slot, ok := s.byName[name]
	if !ok {
		return Var{}, false
	}
	v := s.vars[slot]
	return Var{schema: s, slot: slot, index: v.index, typ: v.typ}, true
}

// Names returns the variable names in sorted order (for documentation
// and an editor's completion list).
func (s *Schema) Names() []string {
	names := make([]string, len(s.vars))
	for i, v := range s.vars {
		names[i] = v.name
	}
	return names
}
