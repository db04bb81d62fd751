package sim

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/kassa/kassa/risk"
)

// TestHumanFocus: a person moves into every field they fill (less the
// one the page focused for them), and now and then goes back into one
// or leaves the window; a voucher payer leaves it more often than one
// who types a saved card's CVC.
func TestHumanFocus(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	desk := &device{kind: windowsPC}
	phone := &device{kind: iPhone}
	for _, tc := range []struct {
		name string
		t    typing
		min  int
	}{
		{"new card", typing{chars: charsCardNew, longest: 16, paste: 0.1, fields: fieldsCardNew, away: awayUsual}, 4},
		{"new card and e-mail", typing{chars: charsCardNew + charsEmail, longest: 16, fields: fieldsCardNew + fieldsEmail, away: awayUsual}, 5},
		{"PIN", typing{chars: charsPIN, longest: charsPIN, paste: 0.3, fields: fieldsPIN, away: awayPIN}, 1},
		{"PIN again after a typo", typing{chars: charsPIN, longest: charsPIN, fields: fieldsPIN, prefocused: true, away: awayPIN}, 0},
		{"filled by a password manager from the number field", typing{fields: 1, away: awayShort}, 1},
	} {
		for _, d := range []*device{desk, phone} {
			var sum, exact int
			const n = 4000
			for range n {
				s := humanSignals(r, d, tc.t)
				if s.FocusChanges < tc.min {
					t.Fatalf("%s on %s: focus_changes %d, want ≥ %d", tc.name, d.kind.name, s.FocusChanges, tc.min)
				}
				sum += s.FocusChanges
				if s.FocusChanges == tc.min {
					exact++
				}
			}
			mean := float64(sum) / n
			t.Logf("%s on %s: focus_changes mean %.2f, %.2f exactly %d", tc.name, d.kind.name, mean, float64(exact)/n, tc.min)
			if share := float64(exact) / n; share < 0.2 || share > 0.8 {
				t.Errorf("%s on %s: %.2f with exactly %d focus changes, want many but not all", tc.name, d.kind.name, share, tc.min)
			}
			if mean > float64(tc.min)+3 {
				t.Errorf("%s on %s: focus_changes mean %.2f, want a few above %d", tc.name, d.kind.name, mean, tc.min)
			}
		}
	}
	pin, cvc := 0, 0
	for range 4000 {
		pin += humanSignals(r, phone, typing{chars: charsPIN, fields: fieldsPIN, away: awayPIN}).FocusChanges
		cvc += humanSignals(r, phone, typing{chars: charsCardSaved, fields: fieldsCardSaved, away: awayShort}).FocusChanges
	}
	if pin <= cvc {
		t.Errorf("focus changes typing a PIN %d ≤ a CVC %d: looking up a PIN leaves the window", pin, cvc)
	}
}

// TestPointerMoves: people move the pointer on a desktop and touch the
// screen (scrolling, a tap that slides) on a phone, less on the phone,
// and rarely not at all on either.
func TestPointerMoves(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	medians := map[string]int{}
	for _, d := range []*device{{kind: windowsPC}, {kind: android}} {
		const n = 5000
		var moves []int
		none := 0
		for range n {
			s := humanSignals(r, d, typing{chars: charsCardNew, longest: 16, fields: fieldsCardNew, away: awayUsual})
			if s.PointerMoves == 0 {
				none++
			}
			moves = append(moves, s.PointerMoves)
		}
		slices.Sort(moves)
		medians[d.kind.name] = moves[n/2]
		share := float64(none) / n
		t.Logf("%s: pointer_moves median %d, p10 %d, p90 %d; %.3f none", d.kind.name, moves[n/2], moves[n/10], moves[n*9/10], share)
		if share == 0 || share > 0.05 {
			t.Errorf("%s: %.3f of people without pointer moves, want a few", d.kind.name, share)
		}
	}
	if medians["android"] >= medians["windows"] || medians["android"] < 10 {
		t.Errorf("median pointer moves: touch %d, desktop %d; want dozens on touch, fewer than on a desktop", medians["android"], medians["windows"])
	}
}

// TestScriptSignals: a script moves no pointer, on any device, unless it
// mimics a person; it focuses no field when it sets the values, and
// exactly each field when it clicks and types.
func TestScriptSignals(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, d := range []*device{{kind: headless}, {kind: windowsPC}, {kind: android}} {
		var none, exact int
		for range 2000 {
			s := scriptSignals(r, d, charsCardNew, fieldsCardNew, 0.5, false)
			if s.PointerMoves != 0 {
				t.Fatalf("%s: a script moved the pointer %d times", d.kind.name, s.PointerMoves)
			}
			switch {
			case s.FocusChanges == 0 && s.KeyEvents == 0:
				none++
			case s.FocusChanges == fieldsCardNew && (s.KeyEvents == 0 || s.KeyEvents == charsCardNew):
				exact++
			default:
				t.Fatalf("%s: a script with %d key events and %d focus changes", d.kind.name, s.KeyEvents, s.FocusChanges)
			}
			m := scriptSignals(r, d, charsCardNew, fieldsCardNew, 0.5, true)
			if m.PointerMoves == 0 || m.KeyEvents != charsCardNew || (m.FocusChanges != fieldsCardNew && m.FocusChanges != fieldsCardNew+2) {
				t.Fatalf("%s: a mimic with %d pointer moves, %d key events, %d focus changes", d.kind.name, m.PointerMoves, m.KeyEvents, m.FocusChanges)
			}
		}
		if none == 0 || exact == 0 {
			t.Errorf("%s: scripts without focus %d, with one per field %d; want both", d.kind.name, none, exact)
		}
	}
}

// TestSignalsInTheStream: in the simulated stream legit payers on the
// page rarely report no pointer or no focus, card-testing scripts often
// do, and touch devices move.
func TestSignalsInTheStream(t *testing.T) {
	type counts struct{ n, noPointer, noFocus int }
	c := map[string]*counts{}
	for _, e := range events(t) {
		s := e.Signals
		if !s.Present {
			continue
		}
		k := e.FraudType
		if e.Label == risk.LabelLegit {
			k = "legit"
			if s.Touch {
				k = "legit touch"
			}
		}
		if c[k] == nil {
			c[k] = &counts{}
		}
		c[k].n++
		if s.PointerMoves == 0 {
			c[k].noPointer++
		}
		if s.FocusChanges == 0 {
			c[k].noFocus++
		}
	}
	share := func(k string, x func(*counts) int) float64 {
		if c[k] == nil || c[k].n == 0 {
			t.Fatalf("no %s events with signals", k)
		}
		return float64(x(c[k])) / float64(c[k].n)
	}
	noPointer := func(c *counts) int { return c.noPointer }
	noFocus := func(c *counts) int { return c.noFocus }
	for _, k := range []string{"legit", "legit touch"} {
		p, f := share(k, noPointer), share(k, noFocus)
		t.Logf("%s: %.3f without pointer moves, %.3f without focus changes", k, p, f)
		if p == 0 || p > 0.05 || f == 0 || f > 0.05 {
			t.Errorf("%s: %.3f without pointer moves, %.3f without focus changes; want a few", k, p, f)
		}
	}
	for _, k := range []string{CardTesting, CheckoutBot} {
		p, f := share(k, noPointer), share(k, noFocus)
		t.Logf("%s: %.3f without pointer moves, %.3f without focus changes", k, p, f)
		if p < 0.5 || f == 0 || f > 0.7 {
			t.Errorf("%s: %.3f without pointer moves, %.3f without focus changes; want most without a pointer, some without focus", k, p, f)
		}
	}
}
