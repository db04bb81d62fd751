package risk

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFeatureNames(t *testing.T) {
	if len(FeatureNames) != FeatureCount {
		t.Fatalf("%d names for %d features", len(FeatureNames), FeatureCount)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	for i, name := range FeatureNames {
		if !snake.MatchString(name) {
			t.Errorf("feature %d: name %q is not snake_case", i, name)
		}
		if got, ok := FeatureIndex(name); !ok || got != i {
			t.Errorf("FeatureIndex(%q) = %d, %v; want %d, true", name, got, ok, i)
		}
	}
	if _, ok := FeatureIndex("no_such_feature"); ok {
		t.Error("FeatureIndex found an unknown name")
	}
	required := []string{
		"amount_log", "hour_of_day", "kind_deposit", "kind_withdrawal", "method_card", "method_voucher", "method_account",
		"card_attempts_1m", "card_attempts_1h", "card_attempts_24h", "card_failures_1h", "card_failures_24h", "card_declines_24h",
		"voucher_attempts_1m", "voucher_attempts_1h", "voucher_failures_1h", "voucher_failures_24h",
		"customer_attempts_1h", "customer_attempts_24h", "customer_failures_24h", "customer_amount_24h", "customer_amount_7d",
		"customer_history_count", "customer_age_days", "customer_deposits_24h", "withdrawal_to_deposits_ratio",
		"amount_to_customer_mean", "amount_zscore", "amount_to_customer_max",
		"device_attempts_1m", "device_attempts_1h", "device_failures_1h", "device_distinct_cards_24h",
		"device_distinct_customers_7d", "device_distinct_vouchers_24h", "device_new_for_customer", "device_missing",
		"ip_attempts_1m", "ip_attempts_1h", "ip_failures_1h", "ip_distinct_cards_1h", "ip_distinct_cards_24h", "ip_distinct_customers_24h",
		"email_attempts_24h", "email_failures_24h",
		"geo_known", "ip_country_mismatch", "country_new_for_customer", "km_since_last", "kmh_since_last",
		"hour_unusual_for_customer",
		"signals_missing", "time_on_page_log", "time_to_submit_log", "pointer_moves", "key_events", "paste_events",
		"focus_changes", "webdriver", "bot_score",
	}
	for _, name := range required {
		if _, ok := FeatureIndex(name); !ok {
			t.Errorf("required feature %q is missing", name)
		}
	}
}

// The docs define every feature; a feature added without its row fails.
func TestFeaturesDocumented(t *testing.T) {
	doc, err := readDoc()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range FeatureNames {
		if !strings.Contains(doc, "| `"+name+"` |") {
			t.Errorf("docs/risk-features.md has no row for %s", name)
		}
	}
}

func readDoc() (string, error) {
	b, err := os.ReadFile("../docs/risk-features.md")
	return string(b), err
}

func TestDescribe(t *testing.T) {
	if got, want := Describe("ip_distinct_cards_1h", 7), "7 different cards from this IP address in the last hour"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	if got, want := Describe("card_attempts_1m", 1), "1 attempt with this card in the last minute"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	if got, want := Describe("amount_log", log10p1(123_456)), "amount of 123456 (minor units)"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	if got, want := Describe("no_such_feature", 1.5), "no_such_feature = 1.50"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	for _, name := range FeatureNames {
		seen := map[string]bool{}
		for _, v := range []float32{0, 1, 7, 0.5, -2.5, 1e6} {
			got := Describe(name, v)
			if got == "" || strings.Contains(got, "%!") || strings.Contains(got, " = ") || strings.Contains(got, "NaN") {
				t.Errorf("Describe(%q, %v) = %q", name, v, got)
			}
			seen[got] = true
		}
		if len(seen) < 2 {
			t.Errorf("Describe(%q, ...) says the same for every value: %v", name, seen)
		}
	}
}

// warmState replays a week of attempts by 20,000 payers (about 125,000
// entities) and returns the state, later attempts by the same payers to
// measure with, and the state's heap bytes per entity.
func warmState(b *testing.B) (*State, []Event, float64) { return warmStateOf(b, 20_000) }

func warmStateOf(b *testing.B, payers int) (*State, []Event, float64) {
	b.Helper()
	const warm, probe = 200_000, 10_000
	events := genEvents(1, warm+probe, payers)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := NewState(StateConfig{})
	dst := make([]float32, FeatureCount)
	for i := range events[:warm] {
		s.Replay(&events[i], dst)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntity := float64(after.HeapAlloc-before.HeapAlloc) / float64(s.Len())
	runtime.KeepAlive(s)
	return s, events[warm:], perEntity
}

func BenchmarkExtract(b *testing.B) {
	s, probe, _ := warmState(b)
	dst := make([]float32, FeatureCount)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.Extract(&probe[i%len(probe)], dst)
	}
	b.ReportMetric(float64(s.Len()), "entities")
}

// BenchmarkExtractHot extracts from a state of 200 payers that fits in
// cache: the computing, without the memory latency of a large state.
func BenchmarkExtractHot(b *testing.B) {
	s, probe, _ := warmStateOf(b, 200)
	dst := make([]float32, FeatureCount)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.Extract(&probe[i%len(probe)], dst)
	}
}

func BenchmarkObserve(b *testing.B) {
	s, probe, _ := warmState(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.Observe(&probe[i%len(probe)])
	}
}

func BenchmarkReplay(b *testing.B) {
	s, probe, perEntity := warmState(b)
	dst := make([]float32, FeatureCount)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.Replay(&probe[i%len(probe)], dst)
	}
	b.ReportMetric(perEntity, "heap-B/entity")
}

// BenchmarkExtractObserveLatency times each Extract+Observe pair on its
// own, as the request path makes them, and reports the percentiles.
func BenchmarkExtractObserveLatency(b *testing.B) {
	s, probe, _ := warmState(b)
	dst := make([]float32, FeatureCount)
	var took []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ev := &probe[i%len(probe)]
		start := time.Now()
		s.Extract(ev, dst)
		s.Observe(ev)
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2]), "p50-ns")
	b.ReportMetric(float64(took[len(took)*99/100]), "p99-ns")
	b.ReportMetric(float64(took[len(took)-1]), "max-ns")
}

// BenchmarkExtractObserveParallel scores from every core at once.
func BenchmarkExtractObserveParallel(b *testing.B) {
	s, probe, _ := warmState(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		dst := make([]float32, FeatureCount)
		i := rand.IntN(len(probe))
		for pb.Next() {
			ev := &probe[i%len(probe)]
			s.Extract(ev, dst)
			s.Observe(ev)
			i++
		}
	})
}

// Timing regularity is missing (NaN) when the page did not measure it,
// measured otherwise; a missing value never reaches JSON (a merchant's
// view of the features leaves it out).
func TestTimingFeaturesMissingOrMeasured(t *testing.T) {
	s := NewState(StateConfig{})
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	bare := &Event{Time: at, Kind: KindPayment, MerchantID: "mer_1", Amount: 100, Currency: "EUR", Standalone: true}
	f := s.Extract(bare, nil)
	for _, i := range []int{FKeyIntervalCV, FPointerIntervalCV, FKeyIntervalLog} {
		if !math.IsNaN(float64(f[i])) {
			t.Errorf("%s = %v without signals, want NaN (missing)", FeatureNames[i], f[i])
		}
	}
	out := MerchantFeatures(Evaluation{FeatureSet: FeatureSetID(), Features: f, Event: *bare})
	if _, err := json.Marshal(out); err != nil {
		t.Fatalf("merchant features do not encode: %v", err)
	}
	if _, ok := out["key_interval_cv"]; ok {
		t.Error("a missing key_interval_cv is shown to the merchant")
	}
	typed := *bare
	typed.Signals = Signals{Present: true, KeyEvents: 20, KeyIntervalCV: 0.42, KeyIntervalMS: 180, PointerMoves: 50, PointerIntervalCV: 0.9}
	f = s.Extract(&typed, nil)
	if f[FKeyIntervalCV] != float32(0.42) || f[FPointerIntervalCV] != float32(0.9) || math.Abs(float64(f[FKeyIntervalLog])-math.Log10(181)) > 1e-6 {
		t.Errorf("measured timing: cv %v, pointer cv %v, log interval %v", f[FKeyIntervalCV], f[FPointerIntervalCV], f[FKeyIntervalLog])
	}
	for _, bad := range []float64{-0.1, 101, math.NaN()} {
		sg := Signals{KeyIntervalCV: bad}
		if sg.Validate() == nil {
			t.Errorf("key_interval_cv %v accepted", bad)
		}
	}
}

// Novelty outlives the first approval (a takeover's second payment from
// the attacker's device is still hours-old to the payer), and rotation
// of addresses behind one device or card shows even when every address
// is fresh.
func TestNoveltyLastsAndRotationShows(t *testing.T) {
	s := NewState(StateConfig{})
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ev := func(at time.Duration, device, card, ip string) *Event {
		return &Event{Time: t0.Add(at), Kind: KindPayment, MerchantID: "mer_1", Amount: 2500, Currency: "EUR",
			Method: MethodCard, CardFingerprint: card, CustomerID: "cus_1", DeviceID: device, IP: ip, Outcome: OutcomeApproved}
	}
	x := make([]float32, FeatureCount)
	s.Replay(ev(0, "dev_home", "fp_own", "79.192.1.10"), x)
	s.Replay(ev(48*time.Hour, "dev_home", "fp_own", "79.192.1.77"), x)
	if x[FDeviceKnownDays] != 2 || x[FCardKnownDays] != 2 || x[FIPRangeNewForCustomer] != 0 {
		t.Errorf("the payer's own device two days on: device_known_days %v, card_known_days %v, ip_range_new %v",
			x[FDeviceKnownDays], x[FCardKnownDays], x[FIPRangeNewForCustomer])
	}
	s.Replay(ev(49*time.Hour, "dev_attacker", "fp_own", "91.64.9.9"), x) // approved: now "known"
	s.Replay(ev(50*time.Hour, "dev_attacker", "fp_stolen", "91.64.9.9"), x)
	if x[FDeviceNewForCustomer] != 0 || x[FDeviceKnownDays] > 0.05 || x[FCardNewForCustomer] != 1 || x[FIPRangeNewForCustomer] != 0 {
		t.Errorf("the attacker's device an hour after its first approval: new %v, known %v days, card new %v, range new %v",
			x[FDeviceNewForCustomer], x[FDeviceKnownDays], x[FCardNewForCustomer], x[FIPRangeNewForCustomer])
	}
	s.Replay(ev(51*time.Hour, "dev_attacker", "fp_stolen", "93.44.1.1"), x)
	if x[FIPRangeNewForCustomer] != 1 {
		t.Errorf("a range never approved: ip_range_new_for_customer %v", x[FIPRangeNewForCustomer])
	}
	for i := range 5 {
		s.Replay(ev(52*time.Hour+time.Duration(i)*time.Minute, "dev_tester", "fp_batch", "203.0.113."+string(rune('1'+i))), x)
	}
	if x[FDeviceDistinctIPs24h] != 4 || x[FCardDistinctIPs24h] != 4 || x[FCardDistinctDevices24h] != 1 {
		t.Errorf("fifth attempt through rotating proxies: device_distinct_ips %v, card_distinct_ips %v, card_distinct_devices %v",
			x[FDeviceDistinctIPs24h], x[FCardDistinctIPs24h], x[FCardDistinctDevices24h])
	}
}

// The card's issuing country against the IP's and the billing country,
// and how long ago the payer's credentials changed (missing when never,
// "just now" when timed after the attempt).
func TestCardCountryAndCredentialChanges(t *testing.T) {
	s := NewState(StateConfig{})
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	x := make([]float32, FeatureCount)
	ev := func(card, billing, ip string, changed time.Time) *Event {
		return &Event{Time: t0, Kind: KindPayment, MerchantID: "mer_1", Amount: 2500, Currency: "EUR", Method: MethodCard,
			CardFingerprint: "fp_1", CardCountry: card, BillingCountry: billing, Geo: Geo{Country: ip}, CredentialsChangedAt: changed}
	}
	tests := []struct {
		name                string
		e                   *Event
		ipMismatch, billing float32
		changedDays         float64 // NaN: missing
	}{
		{"at home", ev("AT", "AT", "AT", time.Time{}), 0, 0, math.NaN()},
		{"traveller", ev("AT", "AT", "ES", t0.Add(-30*24*time.Hour)), 1, 0, 30},
		{"number without its address", ev("DE", "NG", "NG", t0.Add(-6*time.Hour)), 1, 1, 0.25},
		{"unknown BIN", ev("", "AT", "NG", t0.Add(time.Hour)), 0, 0, 0},
		{"long ago", ev("AT", "", "", t0.Add(-3*365*24*time.Hour)), 0, 0, knownDaysMax},
	}
	for _, tt := range tests {
		if err := tt.e.Validate(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		x = s.Extract(tt.e, x)
		got := x[FCredentialsChangedDays]
		if x[FCardCountryIPMismatch] != tt.ipMismatch || x[FCardCountryBillingMismatch] != tt.billing ||
			(math.IsNaN(tt.changedDays) != math.IsNaN(float64(got))) || (!math.IsNaN(tt.changedDays) && math.Abs(float64(got)-tt.changedDays) > 1e-4) {
			t.Errorf("%s: card_country_ip_mismatch %v, card_country_billing_mismatch %v, credentials_changed_days %v; want %v, %v, %v",
				tt.name, x[FCardCountryIPMismatch], x[FCardCountryBillingMismatch], got, tt.ipMismatch, tt.billing, tt.changedDays)
		}
	}
	// The account's age reads the same way.
	old := ev("AT", "AT", "AT", time.Time{})
	old.CustomerCreatedAt = t0.Add(-36 * time.Hour)
	if x = s.Extract(old, x); x[FAccountAgeDays] != 1.5 {
		t.Errorf("an account made 36 hours before: account_age_days %v, want 1.5", x[FAccountAgeDays])
	}
	if x = s.Extract(ev("AT", "AT", "AT", time.Time{}), x); !math.IsNaN(float64(x[FAccountAgeDays])) {
		t.Errorf("no account age: account_age_days %v, want NaN", x[FAccountAgeDays])
	}
	bad := ev("DEU", "DE", "DE", time.Time{})
	if err := bad.Validate(); err == nil {
		t.Error("card_country DEU accepted")
	}
	if FeatureShared(FCardCountryIPMismatch) || !FeatureShared(FCredentialsChangedDays) {
		t.Error("the card's country is the attempt's own; the account's history is not the merchant's to see")
	}
}
