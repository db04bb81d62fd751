package risk

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// base is t0 as a time: midnight UTC, on every bucket start.
var base = time.Unix(t0, 0).UTC()

// pay is a card payment by customer cus_1 from device dev_1 and
// 198.51.100.7, at base+at; change changes it further.
func pay(at time.Duration, change ...func(*Event)) *Event {
	ev := &Event{
		ID: "pay_test", Time: base.Add(at), Kind: KindPayment, MerchantID: "mer_1",
		Amount: 1000, Currency: "EUR", Method: MethodCard,
		CardFingerprint: "card_1", CustomerID: "cus_1", Email: "ada@example.com",
		IP: "198.51.100.7", DeviceID: "dev_1", BillingCountry: "AT",
		Geo:     Geo{Country: "AT", Lat: 48.2082, Lon: 16.3738, Known: true},
		Signals: Signals{Present: true, TimeOnPageMS: 30_000, TimeToSubmitMS: 12_000, PointerMoves: 200, KeyEvents: 40, FocusChanges: 5},
	}
	for _, c := range change {
		c(ev)
	}
	return ev
}

func withCard(fp string) func(*Event)   { return func(ev *Event) { ev.CardFingerprint = fp } }
func customerID(id string) func(*Event) { return func(ev *Event) { ev.CustomerID = id } }
func deviceID(id string) func(*Event)   { return func(ev *Event) { ev.DeviceID = id } }
func amount(a int64) func(*Event)       { return func(ev *Event) { ev.Amount = a } }
func outcome(o string) func(*Event)     { return func(ev *Event) { ev.Outcome = o } }
func kind(k string) func(*Event)        { return func(ev *Event) { ev.Kind = k } }
func geo(country string, lat, lon float64) func(*Event) {
	return func(ev *Event) { ev.Geo = Geo{Country: country, Lat: lat, Lon: lon, Known: true} }
}

// features extracts ev's features and returns them by name.
func features(s *State, ev *Event) map[string]float32 {
	f := s.Extract(ev, nil)
	m := make(map[string]float32, len(f))
	for i, v := range f {
		m[FeatureNames[i]] = v
	}
	return m
}

// want checks named feature values.
func want(t *testing.T, what string, got map[string]float32, wants map[string]float32) {
	t.Helper()
	for name, w := range wants {
		if _, ok := FeatureIndex(name); !ok {
			t.Fatalf("%s: no feature %q", what, name)
		}
		if g := got[name]; math.Abs(float64(g-w)) > 1e-4*max(1, math.Abs(float64(w))) {
			t.Errorf("%s: %s = %v, want %v", what, name, g, w)
		}
	}
}

func TestDistinctCardsFromOneDeviceAndIP(t *testing.T) {
	s := NewState(StateConfig{})
	for i := range 10 {
		s.Replay(pay(time.Duration(i)*5*time.Second, withCard(fmt.Sprintf("card_%d", i)), outcome(OutcomeDeclined)), nil)
	}
	// The 11th attempt, still within the minute: Extract sees the 10
	// before it, not itself.
	got := features(s, pay(55*time.Second, withCard("card_10")))
	want(t, "11th attempt", got, map[string]float32{
		"device_distinct_cards_24h":    10,
		"ip_distinct_cards_1h":         10,
		"ip_distinct_cards_24h":        10,
		"device_attempts_1m":           10,
		"ip_attempts_1m":               10,
		"device_failures_1h":           10,
		"ip_failures_1h":               10,
		"customer_attempts_1h":         10,
		"customer_failures_24h":        10,
		"email_attempts_24h":           10,
		"card_attempts_1m":             0, // a new card
		"device_distinct_customers_7d": 1,
		"ip_distinct_customers_24h":    1,
	})
	// One card again and again is one distinct card.
	got = features(s, pay(56*time.Second, withCard("card_3")))
	want(t, "known card", got, map[string]float32{"card_attempts_1m": 1, "card_declines_24h": 1, "device_distinct_cards_24h": 10})
	// Two hours later the 1 h set has emptied, the 24 h one not.
	got = features(s, pay(2*time.Hour, withCard("card_10")))
	want(t, "two hours later", got, map[string]float32{"ip_distinct_cards_1h": 0, "ip_distinct_cards_24h": 10, "device_attempts_1h": 0})
}

func TestDistinctMaxBound(t *testing.T) {
	s := NewState(StateConfig{DistinctMax: 5})
	for i := range 20 {
		s.Observe(pay(time.Duration(i)*time.Second, withCard(fmt.Sprintf("card_%d", i)), customerID(fmt.Sprintf("cus_%d", i))))
	}
	got := features(s, pay(time.Minute))
	want(t, "after 20 cards and customers", got, map[string]float32{
		"device_distinct_cards_24h": 5, "ip_distinct_cards_1h": 5, "device_distinct_customers_7d": 5, "ip_distinct_customers_24h": 5,
	})
	sh, d := s.devices.get(s.keysOf(pay(0)).device)
	defer sh.mu.RUnlock()
	if len(d.cards.e) > 5 || cap(d.cards.e) > 5 {
		t.Errorf("device's card set: len %d cap %d, DistinctMax 5", len(d.cards.e), cap(d.cards.e))
	}
}

func TestWindowsThroughState(t *testing.T) {
	s := NewState(StateConfig{})
	s.Observe(pay(0))
	tests := []struct {
		at    time.Duration
		wants map[string]float32
	}{
		{50 * time.Second, map[string]float32{"card_attempts_1m": 1, "card_attempts_1h": 1, "card_attempts_24h": 1}},
		{time.Minute, map[string]float32{"card_attempts_1m": 0, "card_attempts_1h": 1}},
		{55 * time.Minute, map[string]float32{"card_attempts_1h": 1, "customer_attempts_1h": 1}},
		{time.Hour, map[string]float32{"card_attempts_1h": 0, "customer_attempts_1h": 0, "card_attempts_24h": 1, "email_attempts_24h": 1}},
		{24 * time.Hour, map[string]float32{"card_attempts_24h": 0, "customer_attempts_24h": 0, "email_attempts_24h": 0}},
	}
	for _, tt := range tests {
		want(t, fmt.Sprintf("at +%v", tt.at), features(s, pay(tt.at)), tt.wants)
	}
}

func TestFailures(t *testing.T) {
	s := NewState(StateConfig{})
	for i, o := range []string{OutcomeDeclined, OutcomeFailed, OutcomeBlocked, OutcomeApproved} {
		ev := pay(time.Duration(i)*time.Minute, outcome(o), func(ev *Event) { ev.VoucherSerial = "V1" })
		s.Observe(ev)
		s.ObserveOutcome(ev)
	}
	got := features(s, pay(10*time.Minute, func(ev *Event) { ev.VoucherSerial = "V1" }))
	want(t, "after declined, failed, blocked, approved", got, map[string]float32{
		"card_attempts_1h": 4, "card_failures_1h": 3, "card_failures_24h": 3, "card_declines_24h": 1,
		"voucher_attempts_1h": 4, "voucher_failures_1h": 3, "voucher_failures_24h": 3,
		"customer_failures_24h": 3, "device_failures_1h": 3, "ip_failures_1h": 3, "email_failures_24h": 3,
		"customer_history_count": 1,
	})
	// An empty outcome records nothing.
	s.ObserveOutcome(pay(11 * time.Minute))
	want(t, "after an empty outcome", features(s, pay(12*time.Minute)), map[string]float32{"card_failures_1h": 3})
}

// history gives cus_1 approved payments of the amounts, one a day at
// 09:15 UTC from dev_1 in Austria.
func history(s *State, amounts ...int64) {
	for i, a := range amounts {
		s.Replay(pay(time.Duration(i)*24*time.Hour+9*time.Hour+15*time.Minute, amount(a), outcome(OutcomeApproved)), nil)
	}
}

func TestAmountAgainstHistory(t *testing.T) {
	s := NewState(StateConfig{})
	want(t, "no history", features(s, pay(0, amount(5000))), map[string]float32{
		"amount_to_customer_mean": 1, "amount_to_customer_max": 1, "amount_zscore": 0, "customer_history_count": 0,
	})
	history(s, 1000, 1200)
	want(t, "two approved", features(s, pay(3*24*time.Hour, amount(5000))), map[string]float32{
		"amount_to_customer_mean": 5000.0 / 1100, "amount_to_customer_max": 5000.0 / 1200, "amount_zscore": 0, "customer_history_count": 2,
	})
	s = NewState(StateConfig{})
	history(s, 1000, 1200, 800, 1000)
	std := math.Sqrt((0 + 200*200 + 200*200 + 0) / 3.0)
	at := 5 * 24 * time.Hour
	want(t, "1500 after 1000, 1200, 800, 1000", features(s, pay(at, amount(1500))), map[string]float32{
		"amount_to_customer_mean": 1.5, "amount_to_customer_max": 1.25, "amount_zscore": float32(500 / std),
	})
	want(t, "900", features(s, pay(at, amount(900))), map[string]float32{"amount_zscore": float32(-100 / std)})
	want(t, "50000", features(s, pay(at, amount(50_000))), map[string]float32{"amount_zscore": 10, "amount_to_customer_mean": 50})
	want(t, "0", features(s, pay(at, amount(0))), map[string]float32{"amount_to_customer_mean": 0, "amount_zscore": -1000 / float32(std)})

	// The same amount every time: the deviation's floor (5% of the mean)
	// keeps one more cent from scoring 10.
	s = NewState(StateConfig{})
	history(s, 1000, 1000, 1000)
	want(t, "constant history", features(s, pay(at, amount(1001))), map[string]float32{"amount_zscore": 1.0 / 50})
}

func TestCustomerAmountsAndRatio(t *testing.T) {
	s := NewState(StateConfig{})
	s.Replay(pay(-8*24*time.Hour, kind(KindDeposit), amount(70_000), outcome(OutcomeApproved)), nil) // out of the 7 d
	s.Replay(pay(-3*24*time.Hour, kind(KindDeposit), amount(9_000), outcome(OutcomeApproved)), nil)
	s.Replay(pay(-time.Hour, kind(KindDeposit), amount(1_000), outcome(OutcomeApproved)), nil)
	s.Replay(pay(-time.Hour, amount(500), outcome(OutcomeApproved)), nil)
	s.Replay(pay(-time.Hour, kind(KindDeposit), amount(4_000), outcome(OutcomeDeclined)), nil)
	got := features(s, pay(0, kind(KindWithdrawal), amount(25_000)))
	want(t, "withdrawal", got, map[string]float32{
		"withdrawal_to_deposits_ratio": 2.5,
		"customer_deposits_24h":        log10p1(1_000),
		"customer_amount_24h":          log10p1(1_500),
		"customer_amount_7d":           log10p1(10_500),
		"customer_age_days":            8,
		"customer_history_count":       4,
		"kind_withdrawal":              1,
	})
	want(t, "payment", features(s, pay(0)), map[string]float32{"withdrawal_to_deposits_ratio": 0})
	want(t, "withdrawal with nothing deposited", features(s, pay(0, kind(KindWithdrawal), customerID("cus_new"))),
		map[string]float32{"withdrawal_to_deposits_ratio": 10, "customer_age_days": 0})
	// Logins do not touch the amount profile.
	s.Replay(pay(time.Minute, kind(KindLogin), amount(0), outcome(OutcomeApproved), deviceID("dev_x")), nil)
	want(t, "after a login", features(s, pay(2*time.Minute, deviceID("dev_x"))),
		map[string]float32{"customer_history_count": 4, "device_new_for_customer": 1})
}

func TestNewDeviceAndCountry(t *testing.T) {
	s := NewState(StateConfig{})
	sydney := geo("AU", -33.8688, 151.2093)
	want(t, "no history", features(s, pay(0, deviceID("dev_2"), sydney)),
		map[string]float32{"device_new_for_customer": 0, "country_new_for_customer": 0})
	history(s, 1000, 1000)
	want(t, "known device and country", features(s, pay(3*24*time.Hour)),
		map[string]float32{"device_new_for_customer": 0, "country_new_for_customer": 0})
	want(t, "new device and country", features(s, pay(3*24*time.Hour, deviceID("dev_2"), sydney)),
		map[string]float32{"device_new_for_customer": 1, "country_new_for_customer": 1, "ip_country_mismatch": 1})
	want(t, "no device, unknown country", features(s, pay(3*24*time.Hour, deviceID(""), func(ev *Event) { ev.Geo = Geo{} })),
		map[string]float32{"device_new_for_customer": 0, "device_missing": 1, "country_new_for_customer": 0, "geo_known": 0})
	want(t, "another customer", features(s, pay(3*24*time.Hour, deviceID("dev_2"), sydney, customerID("cus_2"))),
		map[string]float32{"device_new_for_customer": 0, "country_new_for_customer": 0})
}

func TestImpossibleTravel(t *testing.T) {
	s := NewState(StateConfig{})
	s.Observe(pay(0)) // Vienna
	got := features(s, pay(30*time.Minute, geo("AU", -33.8688, 151.2093)))
	if km := got["km_since_last"]; km < 15_900 || km > 16_100 {
		t.Errorf("Vienna to Sydney: %v km, want about 15,990", km)
	}
	want(t, "Sydney half an hour later", got, map[string]float32{"kmh_since_last": kmhMax})
	// Same place, and a plausible trip: Vienna to Salzburg (≈ 250 km) in 3 h.
	want(t, "Vienna again", features(s, pay(time.Hour)), map[string]float32{"km_since_last": 0, "kmh_since_last": 0})
	got = features(s, pay(3*time.Hour, geo("AT", 47.8095, 13.0550)))
	if kmh := got["kmh_since_last"]; kmh < 75 || kmh > 90 {
		t.Errorf("Vienna to Salzburg in 3 h: %v km/h", kmh)
	}
	// The time has a floor of one minute.
	got = features(s, pay(0, geo("AT", 47.8095, 13.0550)))
	if kmh := got["kmh_since_last"]; kmh < 250*60*0.9 || kmh > 250*60*1.1 {
		t.Errorf("Vienna to Salzburg at the same second: %v km/h, want about 15,000", kmh)
	}
	// Unknown locations count for nothing; the customer stays in Vienna.
	s.Observe(pay(time.Hour, func(ev *Event) { ev.Geo = Geo{Known: false, Lat: -33, Lon: 151} }))
	s.Observe(pay(time.Hour, geo("??", math.NaN(), 0)))
	want(t, "after unknown locations", features(s, pay(2*time.Hour)), map[string]float32{"km_since_last": 0})
	want(t, "no location now", features(s, pay(2*time.Hour, func(ev *Event) { ev.Geo = Geo{} })),
		map[string]float32{"km_since_last": 0, "kmh_since_last": 0, "geo_known": 0})
}

func TestHourHabit(t *testing.T) {
	s := NewState(StateConfig{})
	history(s, 1000, 1000, 1000, 1000) // 09:15 UTC
	want(t, "four approved", features(s, pay(10*24*time.Hour+3*time.Hour)), map[string]float32{"hour_unusual_for_customer": 0})
	history(s, 1000, 1000, 1000, 1000, 1000, 1000)
	s.Replay(pay(20*24*time.Hour+21*time.Hour, outcome(OutcomeApproved)), nil)
	for _, tt := range []struct {
		hour int
		want float32
	}{{9, 1.0 / 11}, {8, 1.0 / 11}, {10, 1.0 / 11}, {3, 1}, {21, 10.0 / 11}, {22, 10.0 / 11}} {
		got := features(s, pay(30*24*time.Hour+time.Duration(tt.hour)*time.Hour))
		want(t, fmt.Sprintf("at %02d:00", tt.hour), got, map[string]float32{"hour_unusual_for_customer": tt.want, "hour_of_day": float32(tt.hour)})
	}
}

func TestAttemptAndSignalFeatures(t *testing.T) {
	s := NewState(StateConfig{})
	want(t, "a person", features(s, pay(0, amount(99_999))), map[string]float32{
		"amount_log": 5, "method_card": 1, "kind_deposit": 0, "geo_known": 1, "ip_country_mismatch": 0,
		"signals_missing": 0, "time_on_page_log": log10p1(30_000), "pointer_moves": 200, "key_events": 40,
		"bot_score": 0, "webdriver": 0, "customer_missing": 0, "ip_missing": 0, "device_missing": 0,
	})
	bot := func(ev *Event) {
		ev.Signals = Signals{Present: true, TimeOnPageMS: 900, TimeToSubmitMS: 300, PasteEvents: 3, Webdriver: true, PointerMoves: 0}
	}
	want(t, "a bot", features(s, pay(0, bot)), map[string]float32{
		"webdriver": 1, "paste_events": 3, "pointer_moves": 0, "bot_score": float32(1 - 0.1*0.6*0.7*0.7),
	})
	huge := func(ev *Event) {
		ev.Signals = Signals{Present: true, PointerMoves: 1e6, KeyEvents: 1e6, PasteEvents: 1e6, FocusChanges: 1e6, TimeToSubmitMS: 5000, Touch: true}
	}
	want(t, "capped", features(s, pay(0, huge)), map[string]float32{
		"pointer_moves": 1000, "key_events": 1000, "paste_events": 100, "focus_changes": 100, "bot_score": 0,
	})
	none := func(ev *Event) {
		ev.Signals = Signals{}
		ev.CustomerID, ev.Email, ev.IP, ev.DeviceID, ev.CardFingerprint = "", "", "", "", ""
		ev.Method, ev.Kind, ev.Amount = MethodVoucher, KindDeposit, -5
	}
	want(t, "nothing known", features(s, pay(0, none)), map[string]float32{
		"signals_missing": 1, "bot_score": 0, "customer_missing": 1, "ip_missing": 1, "device_missing": 1,
		"amount_to_customer_mean": 1, "amount_to_customer_max": 1, "method_voucher": 1, "kind_deposit": 1, "amount_log": 0,
	})
	// A customer known only by email is one customer.
	byEmail := func(ev *Event) { ev.CustomerID = "" }
	s.Observe(pay(0, byEmail))
	want(t, "by email", features(s, pay(time.Second, byEmail)), map[string]float32{"customer_attempts_1h": 1, "customer_missing": 0})
	want(t, "id and email apart", features(s, pay(time.Second, customerID("ada@example.com"))), map[string]float32{"customer_attempts_1h": 0})
}

func TestIPv6KeyedByNetwork(t *testing.T) {
	s := NewState(StateConfig{})
	s.Observe(pay(0, func(ev *Event) { ev.IP = "2001:db8:1:2::1" }))
	s.Observe(pay(time.Second, func(ev *Event) { ev.IP = "2001:db8:1:2:ffff::9" }))
	s.Observe(pay(2*time.Second, func(ev *Event) { ev.IP = "::ffff:198.51.100.7" }))
	want(t, "same /64", features(s, pay(3*time.Second, func(ev *Event) { ev.IP = "2001:db8:1:2::77" })), map[string]float32{"ip_attempts_1m": 2})
	want(t, "other /64", features(s, pay(3*time.Second, func(ev *Event) { ev.IP = "2001:db8:1:3::1" })), map[string]float32{"ip_attempts_1m": 0})
	want(t, "mapped IPv4", features(s, pay(3*time.Second)), map[string]float32{"ip_attempts_1m": 1})
	want(t, "not an address", features(s, pay(3*time.Second, func(ev *Event) { ev.IP = "nonsense" })), map[string]float32{"ip_attempts_1m": 0, "ip_missing": 0})
}

func TestExtractReusesDst(t *testing.T) {
	s := NewState(StateConfig{})
	dst := make([]float32, FeatureCount+3)
	for i := range dst {
		dst[i] = 42
	}
	got := s.Extract(pay(0), dst)
	if len(got) != FeatureCount || &got[0] != &dst[0] {
		t.Fatalf("Extract returned len %d, same array %v", len(got), &got[0] == &dst[0])
	}
	if got[FCardAttempts1m] != 0 {
		t.Errorf("stale value kept: %v", got[FCardAttempts1m])
	}
	if got := s.Extract(pay(0), dst[:2]); len(got) != FeatureCount {
		t.Errorf("short dst: len %d", len(got))
	}
}

func TestExtractDoesNotAllocate(t *testing.T) {
	s := NewState(StateConfig{})
	v6 := func(ev *Event) { ev.IP = "2001:db8:1:2::1" }
	for i := range 20 {
		s.Replay(pay(time.Duration(i)*time.Minute, v6, outcome(OutcomeApproved)), nil)
	}
	dst := make([]float32, FeatureCount)
	for _, ev := range []*Event{pay(time.Hour), pay(time.Hour, v6), pay(time.Hour, customerID(""))} {
		if got := testing.AllocsPerRun(100, func() { s.Extract(ev, dst) }); got != 0 {
			t.Errorf("Extract from %s allocates %v times", ev.IP, got)
		}
	}
}

func TestEvictIdle(t *testing.T) {
	s := NewState(StateConfig{})
	s.Observe(pay(0, func(ev *Event) { ev.VoucherSerial = "V1" }))
	if got := s.Len(); got != 6 {
		t.Fatalf("Len = %d, want 6 (card, voucher, customer, device, ip, email)", got)
	}
	tests := []struct {
		at            time.Duration
		dropped, left int
	}{
		{24*time.Hour - time.Second, 0, 6},
		{24 * time.Hour, 4, 2}, // card, voucher, ip, email
		{7*24*time.Hour - time.Second, 0, 2},
		{7 * 24 * time.Hour, 1, 1}, // device
		{90*24*time.Hour - time.Second, 0, 1},
		{90 * 24 * time.Hour, 1, 0}, // the customer's profile
	}
	for _, tt := range tests {
		if got := s.Evict(base.Add(tt.at)); got != tt.dropped {
			t.Errorf("Evict at +%v dropped %d, want %d", tt.at, got, tt.dropped)
		}
		if got := s.Len(); got != tt.left {
			t.Errorf("after Evict at +%v: Len %d, want %d", tt.at, got, tt.left)
		}
	}
}

func TestEvictEntitiesMax(t *testing.T) {
	s := NewState(StateConfig{EntitiesMax: 100})
	// Events with an IP address only: one entity each.
	fromIP := func(i int, at time.Time) *Event {
		return &Event{Time: at, Kind: KindPayment, IP: fmt.Sprintf("10.0.%d.%d", i/256, i%256)}
	}
	has := func(i int) bool {
		sh, a := s.ips.get(s.keysOf(fromIP(i, base)).ip)
		defer sh.mu.RUnlock()
		return a != nil
	}
	for i := range 120 {
		s.Observe(fromIP(i, base.Add(time.Duration(i)*time.Second)))
	}
	if got := s.Len(); got != 120 {
		t.Fatalf("Len = %d, want 120", got)
	}
	if got := s.Evict(base.Add(2 * time.Minute)); got != 20 {
		t.Errorf("Evict dropped %d, want 20", got)
	}
	if got := s.Len(); got != 100 {
		t.Errorf("Len = %d, want 100", got)
	}
	// The least recently seen went.
	if has(19) || !has(20) {
		t.Errorf("after Evict: has the 20th %v, the 21st %v; want false, true", has(19), has(20))
	}
	// Seen again, an old entity is recent.
	s.Observe(fromIP(20, base.Add(time.Hour)))
	for i := 120; i < 130; i++ {
		s.Observe(fromIP(i, base.Add(time.Hour)))
	}
	if got := s.Evict(base.Add(time.Hour)); got != 10 {
		t.Errorf("Evict dropped %d, want 10", got)
	}
	if !has(20) || has(30) || !has(31) || !has(129) {
		t.Errorf("after the second Evict: 20 %v, 30 %v, 31 %v, 129 %v; want true, false, true, true", has(20), has(30), has(31), has(129))
	}
}

func TestEvictTiesAllGo(t *testing.T) {
	s := NewState(StateConfig{EntitiesMax: 14}) // the hard bound, 17, stays out of it
	for i := range 8 {
		s.Observe(&Event{Time: base, Kind: KindPayment, IP: fmt.Sprintf("10.0.0.%d", i)})
	}
	for i := range 8 {
		s.Observe(&Event{Time: base.Add(time.Second), Kind: KindPayment, IP: fmt.Sprintf("10.0.1.%d", i)})
	}
	// 2 must go; the 8 last seen in the same second as those all go,
	// whatever the map order.
	if got := s.Evict(base.Add(time.Minute)); got != 8 {
		t.Errorf("Evict dropped %d, want 8", got)
	}
	if got := s.Len(); got != 8 {
		t.Errorf("Len = %d, want 8", got)
	}
}

func TestHardBoundWithoutEvict(t *testing.T) {
	s := NewState(StateConfig{EntitiesMax: 1000})
	for i := range 20_000 {
		s.Observe(&Event{Time: base.Add(time.Duration(i) * time.Second), Kind: KindPayment, Email: fmt.Sprintf("p%d@example.com", i)})
	}
	if got := s.Len(); got > 1250+shardCount {
		t.Errorf("Len = %d without Evict, want at most about 1250", got)
	}
}

func TestReplayDeterministic(t *testing.T) {
	events := genEvents(7, 8_000, 1_000)
	run := func() [][]float32 {
		s := NewState(StateConfig{})
		out := make([][]float32, len(events))
		for i := range events {
			out[i] = s.Replay(&events[i], nil)
			if i%3000 == 2999 {
				s.Evict(events[i].Time)
			}
		}
		return out
	}
	a, b := run(), run()
	// Replay is Extract, Observe, ObserveOutcome.
	s := NewState(StateConfig{})
	for i := range events {
		ev := &events[i]
		c := s.Extract(ev, nil)
		s.Observe(ev)
		if ev.Outcome != "" {
			s.ObserveOutcome(ev)
		}
		if i%3000 == 2999 {
			s.Evict(ev.Time)
		}
		for j := range c {
			if math.Float32bits(a[i][j]) != math.Float32bits(b[i][j]) || math.Float32bits(a[i][j]) != math.Float32bits(c[j]) {
				t.Fatalf("event %d feature %s: %v, %v, %v", i, FeatureNames[j], a[i][j], b[i][j], c[j])
			}
			// Only the timing features and the credentials' change may
			// be missing (NaN: not measured, never changed).
			timing := j == FKeyIntervalCV || j == FPointerIntervalCV || j == FKeyIntervalLog || j == FCredentialsChangedDays || j == FAccountAgeDays
			if v := c[j]; (math.IsNaN(float64(v)) && !timing) || math.IsInf(float64(v), 0) || (v < 0 && j != FAmountZscore) {
				t.Fatalf("event %d feature %s = %v", i, FeatureNames[j], v)
			}
		}
	}
}

func TestConcurrentObserveExtract(t *testing.T) {
	s := NewState(StateConfig{EntitiesMax: 500})
	const goroutines, each = 8, 1000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			dst := make([]float32, FeatureCount)
			for i := range each {
				// Every goroutine uses the shared card and IP, and
				// entities of its own.
				ev := pay(time.Duration(i)*time.Second, customerID(fmt.Sprintf("cus_%d_%d", g, i%7)),
					deviceID(fmt.Sprintf("dev_%d", i%5)), outcome(OutcomeApproved))
				s.Extract(ev, dst)
				s.Observe(ev)
				s.ObserveOutcome(ev)
				if i%100 == 0 {
					s.Evict(base)
				}
				_ = s.Len()
			}
		})
	}
	wg.Wait()
	// No update was lost: the shared card's attempts in 24 h.
	got := features(s, pay(each*time.Second))
	want(t, "after the goroutines", got, map[string]float32{"card_attempts_24h": goroutines * each, "device_distinct_customers_7d": 56})
}

// genEvents makes a stream of n attempts in time order (each up to 5 s
// out of order) by a population of payers, each with a card, a voucher,
// a device, an IP address, an email and a home, and some card testers
// who run many cards through one device.
func genEvents(seed uint64, n, payers int) []Event {
	rng := rand.New(rand.NewPCG(seed, 99))
	type payer struct {
		lat, lon float64
		country  string
	}
	homes := []payer{{48.2, 16.37, "AT"}, {52.52, 13.4, "DE"}, {-33.87, 151.2, "AU"}, {40.71, -74.0, "US"}, {51.5, -0.12, "GB"}}
	kinds := []string{KindPayment, KindPayment, KindDeposit, KindDeposit, KindWithdrawal, KindLogin}
	outcomes := []string{OutcomeApproved, OutcomeApproved, OutcomeApproved, OutcomeApproved, OutcomeApproved, OutcomeApproved,
		OutcomeDeclined, OutcomeFailed, OutcomeBlocked, ""}
	events := make([]Event, n)
	at := base
	step := 7 * 24 * time.Hour / time.Duration(max(n, 1))
	for i := range events {
		at = at.Add(time.Duration(rng.Int64N(int64(2 * step))))
		p := rng.IntN(payers)
		home := homes[p%len(homes)]
		if rng.IntN(20) == 0 {
			home = homes[rng.IntN(len(homes))]
		}
		ev := Event{
			ID: fmt.Sprintf("pay_%d", i), Time: at.Add(-time.Duration(rng.IntN(5)) * time.Second),
			Kind: kinds[rng.IntN(len(kinds))], MerchantID: "mer_1", Amount: rng.Int64N(100_000), Currency: "EUR",
			CustomerID: fmt.Sprintf("cus_%d", p), Email: fmt.Sprintf("payer%d@example.com", p),
			IP: fmt.Sprintf("10.%d.%d.%d", p>>16&255, p>>8&255, p&255), DeviceID: fmt.Sprintf("dev_%d", p),
			BillingCountry: homes[p%len(homes)].country,
			Geo:            Geo{Country: home.country, Lat: home.lat + rng.Float64(), Lon: home.lon + rng.Float64(), Known: rng.IntN(10) > 0},
			Signals: Signals{Present: rng.IntN(5) > 0, TimeOnPageMS: rng.Int64N(120_000), TimeToSubmitMS: rng.Int64N(60_000),
				PointerMoves: rng.IntN(500), KeyEvents: rng.IntN(80), PasteEvents: rng.IntN(2), FocusChanges: rng.IntN(10)},
			Outcome: outcomes[rng.IntN(len(outcomes))],
		}
		switch rng.IntN(3) {
		case 0:
			ev.Method, ev.CardFingerprint = MethodCard, fmt.Sprintf("card_%d", p)
		case 1:
			ev.Method, ev.VoucherSerial = MethodVoucher, fmt.Sprintf("V%d", p)
		default:
			ev.Method = MethodAccount
		}
		if rng.IntN(50) == 0 { // a card tester: a fresh card through a shared device
			ev.Method, ev.VoucherSerial, ev.CardFingerprint = MethodCard, "", fmt.Sprintf("stolen_%d", rng.IntN(payers))
			ev.DeviceID, ev.CustomerID, ev.Outcome = "dev_tester", "", OutcomeDeclined
		}
		events[i] = ev
	}
	return events
}
