package sim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa/risk"
)

// moderate is the scale the behaviour tests run at: every pattern
// happens several times, and it takes half a second without the race
// detector (five with it).
var moderate = Config{Seed: 7, Payers: 2000, Days: 12}

var (
	moderateOnce   sync.Once
	moderateEvents []*risk.Event
)

// events returns the moderate simulation's events (made once).
func events(t *testing.T) []*risk.Event {
	t.Helper()
	moderateOnce.Do(func() {
		moderateEvents = generate(t, moderate)
	})
	if len(moderateEvents) == 0 {
		t.Fatal("the moderate simulation made no events")
	}
	return moderateEvents
}

func generate(t testing.TB, cfg Config) []*risk.Event {
	t.Helper()
	var evs []*risk.Event
	err := Generate(context.Background(), cfg, func(e *risk.Event) error {
		evs = append(evs, e)
		return nil
	})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return evs
}

func jsonl(t *testing.T, cfg Config) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := WriteJSONL(context.Background(), cfg, &buf); err != nil {
		t.Fatalf("WriteJSONL: %v", err)
	}
	return buf.Bytes()
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Seed: 42, Payers: 300, Days: 4}
	a, b := jsonl(t, cfg), jsonl(t, cfg)
	if !bytes.Equal(a, b) {
		t.Fatalf("same config, different output (%d and %d bytes)", len(a), len(b))
	}
	if len(a) == 0 {
		t.Fatal("no output")
	}
	cfg.Seed = 43
	if c := jsonl(t, cfg); bytes.Equal(a, c) {
		t.Error("seeds 42 and 43 gave the same output")
	}
	// Fraud comes from its own stream: a different rate leaves the
	// legit events as they were.
	cfg.Seed, cfg.FraudRate = 42, 0.05
	legit := func(b []byte) (ls []string) {
		for l := range strings.Lines(string(b)) {
			if strings.Contains(l, `"label":"legit"`) {
				_, rest, _ := strings.Cut(l, `"time"`) // ids shift with the fraud
				ls = append(ls, rest)
			}
		}
		return ls
	}
	if !slices.Equal(legit(a), legit(jsonl(t, cfg))) {
		t.Error("changing FraudRate changed the legit events")
	}
}

func TestConfigLimits(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no payers", Config{Days: 1}},
		{"no days", Config{Payers: 1}},
		{"too many days", Config{Payers: 1, Days: daysMax + 1}},
		{"negative merchants", Config{Payers: 1, Days: 1, Merchants: -1}},
		{"fraud rate above half", Config{Payers: 1, Days: 1, FraudRate: 0.6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Generate(context.Background(), tt.cfg, func(*risk.Event) error { return nil })
			if err == nil {
				t.Error("Generate accepted the config")
			}
		})
	}
}

func TestStopsOnError(t *testing.T) {
	stop := errors.New("enough")
	n := 0
	err := Generate(context.Background(), Config{Seed: 1, Payers: 200, Days: 3}, func(*risk.Event) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 10 {
		t.Errorf("Generate = %v after %d events, want the emit error after 10", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Generate(ctx, Config{Seed: 1, Payers: 200, Days: 3}, func(*risk.Event) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Generate with a cancelled context = %v", err)
	}
}

func TestEventsValidAndOrdered(t *testing.T) {
	evs := events(t)
	start := DefaultStart
	ids := map[string]bool{}
	for i, e := range evs {
		if err := e.Validate(); err != nil {
			t.Fatalf("event %s: %v", e.ID, err)
		}
		if i > 0 && e.Time.Before(evs[i-1].Time) {
			t.Fatalf("event %s at %s before %s at %s", e.ID, e.Time, evs[i-1].ID, evs[i-1].Time)
		}
		if e.Time.Before(start) {
			t.Fatalf("event %s at %s before the start", e.ID, e.Time)
		}
		if ids[e.ID] {
			t.Fatalf("id %s twice", e.ID)
		}
		ids[e.ID] = true
		if e.Outcome == "" || e.Label == "" || (e.Label == risk.LabelFraud) != (e.FraudType != "") {
			t.Fatalf("event %s: outcome %q, label %q, fraud_type %q", e.ID, e.Outcome, e.Label, e.FraudType)
		}
		if e.MerchantID == "" || e.Currency == "" {
			t.Fatalf("event %s lacks merchant or currency", e.ID)
		}
		// No address: nothing of the payer's connection (a server-to-
		// server attempt). An address: a user agent, and a location
		// unless GeoIP does not know it.
		if e.IP == "" && (e.Geo != (risk.Geo{}) || e.DeviceID != "" || e.Signals.Present || e.UserAgent != "") {
			t.Fatalf("event %s without an address has geo %+v, device %q, signals %v, user agent %q",
				e.ID, e.Geo, e.DeviceID, e.Signals.Present, e.UserAgent)
		}
		if e.IP != "" && (e.UserAgent == "" || e.Geo.Known != (e.Geo.Country != "")) {
			t.Fatalf("event %s: user agent %q, geo %+v", e.ID, e.UserAgent, e.Geo)
		}
		if e.Signals.Present != (e.DeviceID != "") {
			t.Fatalf("event %s: device %q, signals %v", e.ID, e.DeviceID, e.Signals.Present)
		}
		if (e.CardFingerprint != "") != (e.Method == risk.MethodCard) || (e.VoucherSerial != "") != (e.Method == risk.MethodVoucher) {
			t.Fatalf("event %s: method %s with card %q voucher %q", e.ID, e.Method, e.CardFingerprint, e.VoucherSerial)
		}
	}
	last := evs[len(evs)-1].Time
	if end := start.AddDate(0, 0, moderate.Days); last.After(end.Add(24 * time.Hour)) {
		t.Errorf("last event at %s, long after the end %s", last, end)
	}
}

func TestFraudShareAndTypes(t *testing.T) {
	for _, rate := range []float64{0, 0.05} {
		cfg := moderate
		cfg.FraudRate = rate
		want := rate
		if want == 0 {
			want = 0.02
		}
		var st Stats
		if rate == 0 {
			st = newStats()
			for _, e := range events(t) {
				st.add(e)
			}
		} else {
			cfg.Days = 5
			st = newStats()
			for _, e := range generate(t, cfg) {
				st.add(e)
			}
		}
		if got := st.FraudShare(); got < want*0.85 || got > want*1.15 {
			t.Errorf("FraudRate %g: fraud share %.4f, want within 15%% of %g", rate, got, want)
		}
		for _, ft := range FraudTypes() {
			if st.ByType[ft] == 0 {
				t.Errorf("FraudRate %g: no %s events", rate, ft)
			}
		}
		for _, k := range []string{risk.KindPayment, risk.KindDeposit, risk.KindWithdrawal} {
			if st.ByKind[k] == 0 {
				t.Errorf("no %s events", k)
			}
		}
	}
}

// TestLegitMostlyAtHome: legit payers act from their home country and
// their own devices, but not always (travel, VPNs, new phones).
func TestLegitMostlyAtHome(t *testing.T) {
	var n, home, known, withDevice int
	devices := map[string]map[string]bool{} // customer → devices seen
	for _, e := range events(t) {
		if e.Label != risk.LabelLegit {
			continue
		}
		if e.Geo.Country != "" {
			n++
		}
		if e.Geo.Country != "" && e.Geo.Country == e.BillingCountry {
			home++
		}
		if e.CustomerID == "" || e.DeviceID == "" {
			continue
		}
		ds := devices[e.CustomerID]
		if ds == nil {
			ds = map[string]bool{}
			devices[e.CustomerID] = ds
		} else {
			withDevice++
			if ds[e.DeviceID] {
				known++
			}
		}
		ds[e.DeviceID] = true
	}
	if share := float64(home) / float64(n); share < 0.9 || share > 0.995 {
		t.Errorf("located legit events from the billing country: %.3f, want most but not all", share)
	}
	if share := float64(known) / float64(withDevice); share < 0.8 || share > 0.995 {
		t.Errorf("legit repeat events from a device the customer used before: %.3f, want most but not all", share)
	}
}

// TestNotTriviallySeparable: each fraud "tell" also occurs in legit
// traffic, and some fraud lacks it.
func TestNotTriviallySeparable(t *testing.T) {
	tells := []struct {
		name string
		is   func(*risk.Event) bool
	}{
		{"paste", func(e *risk.Event) bool { return e.Signals.PasteEvents > 0 }},
		{"no signals", func(e *risk.Event) bool { return !e.Signals.Present }},
		{"abroad", func(e *risk.Event) bool { return e.Geo.Country != e.BillingCountry }},
		{"data centre", func(e *risk.Event) bool { return hostingIP(e.IP) }},
		{"no pointer on a desktop", func(e *risk.Event) bool {
			return e.Signals.Present && !e.Signals.Touch && e.Signals.PointerMoves == 0
		}},
		{"no pointer", func(e *risk.Event) bool { return e.Signals.Present && e.Signals.PointerMoves == 0 }},
		{"no focus", func(e *risk.Event) bool { return e.Signals.Present && e.Signals.FocusChanges == 0 }},
		{"many focus changes", func(e *risk.Event) bool { return e.Signals.FocusChanges >= 8 }},
		{"typed exactly, one focus per field", func(e *risk.Event) bool {
			return e.Signals.KeyEvents == charsCardNew && e.Signals.FocusChanges == fieldsCardNew
		}},
		{"webdriver", func(e *risk.Event) bool { return e.Signals.Webdriver }},
		{"small amount", func(e *risk.Event) bool { return e.Amount <= 500 && e.Currency == "EUR" }},
	}
	for _, tell := range tells {
		var legit, fraud, fraudN int
		for _, e := range events(t) {
			if e.Label == risk.LabelFraud {
				fraudN++
				if tell.is(e) {
					fraud++
				}
			} else if tell.is(e) {
				legit++
			}
		}
		if legit == 0 {
			t.Errorf("%s: never in legit traffic", tell.name)
		}
		if fraud == fraudN {
			t.Errorf("%s: in every fraud event", tell.name)
		}
	}
}

func hostingIP(ip string) bool {
	for _, n := range Networks() {
		if n.Kind == "hosting" && strings.HasPrefix(ip, strings.TrimSuffix(n.Prefix.Masked().Addr().String(), "0.0")) {
			return true
		}
	}
	return false
}

func TestNetworks(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range Networks() {
		a := n.Prefix.Addr()
		if a.IsPrivate() || a.IsLoopback() || !n.Prefix.IsValid() {
			t.Errorf("%s: not a public range", n.Prefix)
		}
		if a.Is6() && !strings.HasPrefix(n.Prefix.String(), "2001:db8:") {
			t.Errorf("%s: IPv6 outside the documentation prefix", n.Prefix)
		}
		if seen[n.Prefix.String()] {
			t.Errorf("%s twice", n.Prefix)
		}
		seen[n.Prefix.String()] = true
	}
	// Every event's address is in a listed range; of its geo country
	// when GeoIP locates it.
	for _, e := range events(t)[:5000] {
		if e.IP == "" {
			continue
		}
		if c := networkCountry(t, e.IP); c == "" || (e.Geo.Country != "" && c != e.Geo.Country) {
			t.Fatalf("event %s: ip %s is in %q's ranges, geo says %q", e.ID, e.IP, c, e.Geo.Country)
		}
	}
}

// BenchmarkWriteJSONL measures the whole pipeline, encoding included,
// in events per second.
func BenchmarkWriteJSONL(b *testing.B) {
	cfg := Config{Seed: 1, Payers: 2000, Days: 7}
	events := 0
	for b.Loop() {
		st, err := WriteJSONL(context.Background(), cfg, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		events += st.Events
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}
