package sim

import (
	"bytes"
	"context"
	"io"
	"math"
	"testing"
	"time"

	"github.com/kassa/kassa/risk"
)

// Worlds are independent: each draws its own parameters from its number
// alone (the same world whatever the seed, another world another draw),
// within the documented ranges; world 0 is the classic simulator.
func TestWorldsDrawTheirOwnParameters(t *testing.T) {
	if newWorld(0) != classic {
		t.Fatal("world 0 is not the classic simulator")
	}
	seen := map[float64]int{}
	for n := 1; n <= 50; n++ {
		w, again := newWorld(n), newWorld(n)
		if *w != *again {
			t.Fatalf("world %d drew different parameters twice", n)
		}
		if w.fraudRate < 0.001 || w.fraudRate > 0.01 {
			t.Errorf("world %d: fraud rate %g outside 0.1–1%%", n, w.fraudRate)
		}
		if w.humanFloorMS >= classic.humanFloorMS || w.mimic <= classic.mimicShare(0.25) {
			t.Errorf("world %d: humans' floor %g ms, mimics %g: no harder than the classic world", n, w.humanFloorMS, w.mimic)
		}
		if o, dup := seen[w.fraudRate]; dup {
			t.Errorf("worlds %d and %d drew the same fraud rate", o, n)
		}
		seen[w.fraudRate] = n
	}
}

// stats simulates cfg and counts, besides Stats, friendly fraud and the
// timing signals' overlap.
func worldStats(t *testing.T, cfg Config) (st Stats, humansFast, botsSlow, humans, bots int) {
	t.Helper()
	err := Generate(context.Background(), cfg, func(e *risk.Event) error {
		st.Events++
		if e.Label == risk.LabelFraud {
			st.Fraud++
		}
		if !e.Signals.Present {
			return nil
		}
		bot := e.FraudType == CardTesting || e.FraudType == CheckoutBot
		switch {
		case bot:
			bots++
			if e.Signals.TimeToSubmitMS >= 1500 {
				botsSlow++
			}
		case e.Label == risk.LabelLegit:
			humans++
			if e.Signals.TimeToSubmitMS < 900 {
				humansFast++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, humansFast, botsSlow, humans, bots
}

// A world is realistic where the classic one was too easy: fraud at
// 0.1–1%, some people faster than 900 ms (the classic floor) and many
// bots slower than 1.5 s, label noise; and it is reproducible.
func TestWorldOverlapsAndNoise(t *testing.T) {
	cfg := Config{World: 3, Seed: 7, Payers: 800, Days: 10}
	st, _, _, _, _ := worldStats(t, cfg)
	rate := float64(st.Fraud) / float64(st.Events)
	if rate < 0.0005 || rate > 0.015 {
		t.Errorf("fraud rate %.4f outside roughly 0.1–1%%", rate)
	}
	// More fraud than the world's own, to see enough bots.
	_, fast, slow, humans, bots := worldStats(t, Config{World: 3, Seed: 7, Payers: 800, Days: 10, FraudRate: 0.05})
	t.Logf("world 3: %d events, fraud %.3f%%; at 5%% fraud %d of %d humans submit in < 900 ms, %d of %d bots take ≥ 1.5 s",
		st.Events, 100*rate, fast, humans, slow, bots)
	if fast == 0 || bots == 0 || float64(slow)/float64(bots) < 0.2 {
		t.Errorf("timing does not overlap: %d fast humans, %d of %d slow bots", fast, slow, bots)
	}
	if _, fastClassic, _, _, _ := worldStats(t, Config{Seed: 7, Payers: 800, Days: 10}); fastClassic != 0 {
		t.Errorf("the classic world has %d humans under its 900 ms floor", fastClassic)
	}

	var a, b bytes.Buffer
	if _, err := WriteJSONL(context.Background(), cfg, &a); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteJSONL(context.Background(), cfg, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same world and seed gave different streams")
	}
	other, err := WriteJSONL(context.Background(), Config{World: 4, Seed: 7, Payers: 800, Days: 10}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if other.Events == st.Events && other.Fraud == st.Fraud {
		t.Error("worlds 3 and 4 gave the same counts with the same seed")
	}
}

// Label noise: over a few worlds, some legit payments are disputed
// (friendly fraud) and some fraud goes unlabelled.
func TestWorldLabelNoise(t *testing.T) {
	friendly := 0
	for _, n := range []int{1, 2, 6} {
		st, err := WriteJSONL(context.Background(), Config{World: n, Seed: 3, Payers: 1500, Days: 14}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		friendly += st.ByType[FriendlyFraud]
	}
	if friendly == 0 {
		t.Error("no friendly fraud in three worlds")
	}
	if w := newWorld(6); w.friendly <= 0 || math.IsNaN(w.missedFraud) {
		t.Errorf("world 6: friendly %g, missed %g", w.friendly, w.missedFraud)
	}
}

// Cards carry the country they were issued in, and accounts the time
// their credentials changed: many takeovers change them minutes before
// spending, honest payers now and then (some just before paying); some
// card fraud comes with a billing country that is not the card's, and
// so do some expats. World 0, the classic simulator, changes nothing.
func TestWorldCardCountriesAndCredentialChanges(t *testing.T) {
	type tally struct{ n, recentChange, cardNotBilling, cardless, freshAccount int }
	count := func(cfg Config) map[string]*tally {
		byType := map[string]*tally{}
		err := Generate(context.Background(), cfg, func(e *risk.Event) error {
			k := e.FraudType
			if e.Label == risk.LabelLegit {
				k = "legit"
			}
			if byType[k] == nil {
				byType[k] = &tally{}
			}
			c := byType[k]
			c.n++
			if e.Method == risk.MethodCard && e.CardCountry == "" {
				c.cardless++
			}
			switch ch := e.CredentialsChangedAt; {
			case ch.IsZero():
			case ch.After(e.Time):
				t.Fatalf("%s: credentials changed after the attempt", e.ID)
			case e.Time.Sub(ch) <= 24*time.Hour:
				c.recentChange++
			}
			if e.CardCountry != "" && e.BillingCountry != e.CardCountry {
				c.cardNotBilling++
			}
			switch at := e.CustomerCreatedAt; {
			case at.IsZero():
			case at.After(e.Time):
				t.Fatalf("%s: account created after the attempt", e.ID)
			case e.Time.Sub(at) <= 24*time.Hour:
				c.freshAccount++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return byType
	}
	w := count(Config{World: 3, Seed: 3, Payers: 3000, Days: 14, FraudRate: 0.02})
	for k, c := range w {
		if c.cardless > 0 {
			t.Errorf("%s: %d card attempts without a card country", k, c.cardless)
		}
	}
	legit, ato, stolen := w["legit"], w[AccountTakeover], w[StolenCard]
	share := func(a, n int) float64 { return float64(a) / float64(max(n, 1)) }
	t.Logf("changed within a day: legit %d of %d, takeover %d of %d; card ≠ billing: legit %d, stolen cards %d of %d",
		legit.recentChange, legit.n, ato.recentChange, ato.n, legit.cardNotBilling, stolen.cardNotBilling, stolen.n)
	if legit.recentChange == 0 || share(ato.recentChange, ato.n) < 10*share(legit.recentChange, legit.n) {
		t.Error("takeovers should change credentials far more often than honest payers, who should now and then")
	}
	if legit.cardNotBilling == 0 || stolen.cardNotBilling == 0 || share(stolen.cardNotBilling, stolen.n) < 10*share(legit.cardNotBilling, legit.n) {
		t.Error("card ≠ billing country: stolen cards sometimes, expats rarely")
	}
	if ma := w[MultiAccounting]; share(ma.freshAccount, ma.n) < 0.5 || share(ma.freshAccount, ma.n) < 5*share(legit.freshAccount, legit.n) {
		t.Errorf("accounts made within a day: multi-accounting %d of %d, legit %d of %d", ma.freshAccount, ma.n, legit.freshAccount, legit.n)
	}
	classicW := count(Config{World: 0, Seed: 3, Payers: 500, Days: 7})
	for k, c := range classicW {
		if c.recentChange > 0 || c.cardNotBilling > 0 {
			t.Errorf("classic world, %s: %d credential changes, %d card ≠ billing", k, c.recentChange, c.cardNotBilling)
		}
	}
}
