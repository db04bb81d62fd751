package rules

import (
	"fmt"
	"math"

	"github.com/expr-lang/expr/vm"
)

// Env binds a Schema's variables for one decision. Setting a variable
// stores it in a typed slice (no allocation, no map); only the variables
// the evaluated rules use are handed to the expression VM, once per
// evaluation.
//
// Envs are reusable: the engine keeps them in a sync.Pool (or one per
// worker), and for every payment calls Reset, then the setters. An Env is
// not safe for concurrent use. Variables not set hold their zero value
// (0, "", false; an unset Predicate makes a rule calling it fail).
type Env struct {
	schema *Schema
	floats []float64
	ints   []int
	strs   []string
	bools  []bool
	preds  []func(string, string) bool

	// vars is what the VM reads: a variable's current value is boxed into
	// it the first time a rule of the running evaluation needs it, which
	// stamp[slot] == gen records.
	vars  map[string]any
	stamp []uint32
	gen   uint32

	machine vm.VM
}

// NewEnv returns an Env for s with every variable at its zero value.
func (s *Schema) NewEnv() *Env {
	return &Env{
		schema:  s,
		floats:  make([]float64, s.counts[Float]),
		ints:    make([]int, s.counts[Int]),
		strs:    make([]string, s.counts[String]),
		bools:   make([]bool, s.counts[Bool]),
		preds:   make([]func(string, string) bool, s.counts[Predicate]),
		vars:    make(map[string]any, len(s.vars)),
		stamp:   make([]uint32, len(s.vars)),
		machine: vm.VM{MemoryBudget: MemoryBudget},
	}
}

// Schema returns the Schema e binds.
func (e *Env) Schema() *Schema { return e.schema }

// Reset sets every variable back to its zero value.
func (e *Env) Reset() {
	clear(e.floats)
	clear(e.ints)
	clear(e.strs)
	clear(e.bools)
	clear(e.preds)
}

// check panics when v does not belong to e's Schema or is not of type t:
// both are bugs in the caller, not conditions to handle.
func (e *Env) check(v Var, t Type) {
	if v.schema != e.schema {
		panic("rules: Var of another Schema (or the zero Var)")
	}
	if v.typ != t {
		panic(fmt.Sprintf("rules: variable %s is %v, not %v", v.Name(), v.typ, t))
	}
}

// SetFloat sets a Float variable. It panics if v is not a Float of e's Schema.
func (e *Env) SetFloat(v Var, x float64) { e.check(v, Float); e.floats[v.index] = x }

// SetInt sets an Int variable. It panics if v is not an Int of e's Schema.
func (e *Env) SetInt(v Var, x int) { e.check(v, Int); e.ints[v.index] = x }

// SetString sets a String variable. It panics if v is not a String of e's Schema.
func (e *Env) SetString(v Var, x string) { e.check(v, String); e.strs[v.index] = x }

// SetBool sets a Bool variable. It panics if v is not a Bool of e's Schema.
func (e *Env) SetBool(v Var, x bool) { e.check(v, Bool); e.bools[v.index] = x }

// SetPredicate sets a Predicate variable. It panics if v is not a
// Predicate of e's Schema. f is called on the evaluating goroutine; a
// panic in it fails only the rule that called it.
func (e *Env) SetPredicate(v Var, f func(string, string) bool) {
	e.check(v, Predicate)
	e.preds[v.index] = f
}

// Set sets the variable called name, converting value to the variable's
// type: any Go integer or float for Float; an integer, or a float with
// an integral value (as JSON decodes numbers), for Int. It is slower than
// the typed setters and meant for tests, tools and stored samples.
func (e *Env) Set(name string, value any) error {
	v, ok := e.schema.Var(name)
	if !ok {
		return fmt.Errorf("unknown variable %s", name)
	}
	switch v.typ {
	case Float:
		if x, ok := toFloat(value); ok {
			e.floats[v.index] = x
			return nil
		}
	case Int:
		if x, ok := toInt(value); ok {
			e.ints[v.index] = x
			return nil
		}
	case String:
		if x, ok := value.(string); ok {
			e.strs[v.index] = x
			return nil
		}
	case Bool:
		if x, ok := value.(bool); ok {
			e.bools[v.index] = x
			return nil
		}
	case Predicate:
		if x, ok := value.(func(string, string) bool); ok {
			e.preds[v.index] = x
			return nil
		}
	}
	return fmt.Errorf("variable %s is %v, cannot set it to %T", name, v.typ, value)
}

func toFloat(value any) (float64, bool) {
	switch x := value.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	}
	if i, ok := toInt(value); ok {
		return float64(i), true
	}
	return 0, false
}

func toInt(value any) (int, bool) {
	switch x := value.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case int32:
		return int(x), true
	case uint32:
		return int(x), true
	case float64:
		// 2^63 itself does not fit an int64, hence < rather than <=.
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int(x), true
		}
	}
	return 0, false
}

// begin starts an evaluation: every variable must be boxed anew.
func (e *Env) begin() {
	e.gen++
	if e.gen == 0 {
		clear(e.stamp)
		e.gen = 1
	}
}

// load boxes the variables in slots into e.vars unless this evaluation
// already did.
func (e *Env) load(slots []int32) {
	for _, slot := range slots {
		if e.stamp[slot] == e.gen {
			continue
		}
		e.stamp[slot] = e.gen
		v := &e.schema.vars[slot]
		var x any
		switch v.typ {
		case Float:
			x = e.floats[v.index]
		case Int:
			x = e.ints[v.index]
		case String:
			x = e.strs[v.index]
		case Bool:
			x = e.bools[v.index]
		case Predicate:
			x = e.preds[v.index]
		}
		e.vars[v.name] = x
	}
}
