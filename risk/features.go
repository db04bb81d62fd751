package risk

import (
	"math"
	"slices"
	"time"
)

// Indexes into a feature vector, in FeatureNames order.
// docs/risk-features.md defines each feature and says why it matters.
const (
	FAmountLog = iota
	FHourOfDay
	FKindDeposit
	FKindWithdrawal
	FKindSignup
	FKindLogin
	FMethodCard
	FMethodVoucher
	FMethodAccount

	FCardAttempts1m
	FCardAttempts1h
	FCardAttempts24h
	FCardFailures1h
	FCardFailures24h
	FCardDeclines24h
	FCardDistinctCustomers24h

	FVoucherAttempts1m
	FVoucherAttempts1h
	FVoucherFailures1h
	FVoucherFailures24h

	FCustomerMissing
	FCustomerAttempts1h
	FCustomerAttempts24h
	FCustomerFailures24h
	FCustomerAmount24h
	FCustomerAmount7d
	FCustomerHistoryCount
	FCustomerAgeDays
	FCustomerDeposits24h
	FWithdrawalToDepositsRatio

	FAmountToCustomerMean
	FAmountZscore
	FAmountToCustomerMax

	FDeviceMissing
	FDeviceAttempts1m
	FDeviceAttempts1h
	FDeviceFailures1h
	FDeviceDistinctCards24h
	FDeviceDistinctCustomers7d
	FDeviceDistinctVouchers24h
	FDeviceNewForCustomer

	FIPMissing
	FIPAttempts1m
	FIPAttempts1h
	FIPFailures1h
	FIPDistinctCards1h
	FIPDistinctCards24h
	FIPDistinctCustomers24h

	FEmailAttempts24h
	FEmailFailures24h

	FGeoKnown
	FIPCountryMismatch
	FCountryNewForCustomer
	FKmSinceLast
	FKmhSinceLast

	FHourUnusualForCustomer

	FSignalsMissing
	FTimeOnPageLog
	FTimeToSubmitLog
	FPointerMoves
	FKeyEvents
	FPasteEvents
	FFocusChanges
	FWebdriver
	FBotScore

	// Features that carry over (docs/risk-features.md says why each
	// should hold beyond the data it was learned from).
	FKeyIntervalCV
	FPointerIntervalCV
	FKeyIntervalLog
	FCardDistinctDevices24h
	FCardDistinctIPs24h
	FDeviceDistinctIPs24h
	FDeviceKnownDays
	FCardNewForCustomer
	FCardKnownDays
	FIPRangeNewForCustomer
	FCardCountryIPMismatch
	FCardCountryBillingMismatch
	FCredentialsChangedDays
	FAccountAgeDays

	// FeatureCount is the length of a feature vector.
	FeatureCount
)

var featureNames = [FeatureCount]string{
	FAmountLog:      "amount_log",
	FHourOfDay:      "hour_of_day",
	FKindDeposit:    "kind_deposit",
	FKindWithdrawal: "kind_withdrawal",
	FKindSignup:     "kind_signup",
	FKindLogin:      "kind_login",
	FMethodCard:     "method_card",
	FMethodVoucher:  "method_voucher",
	FMethodAccount:  "method_account",

	FCardAttempts1m:           "card_attempts_1m",
	FCardAttempts1h:           "card_attempts_1h",
	FCardAttempts24h:          "card_attempts_24h",
	FCardFailures1h:           "card_failures_1h",
	FCardFailures24h:          "card_failures_24h",
	FCardDeclines24h:          "card_declines_24h",
	FCardDistinctCustomers24h: "card_distinct_customers_24h",

	FVoucherAttempts1m:  "voucher_attempts_1m",
	FVoucherAttempts1h:  "voucher_attempts_1h",
	FVoucherFailures1h:  "voucher_failures_1h",
	FVoucherFailures24h: "voucher_failures_24h",

	FCustomerMissing:           "customer_missing",
	FCustomerAttempts1h:        "customer_attempts_1h",
	FCustomerAttempts24h:       "customer_attempts_24h",
	FCustomerFailures24h:       "customer_failures_24h",
	FCustomerAmount24h:         "customer_amount_24h",
	FCustomerAmount7d:          "customer_amount_7d",
	FCustomerHistoryCount:      "customer_history_count",
	FCustomerAgeDays:           "customer_age_days",
	FCustomerDeposits24h:       "customer_deposits_24h",
	FWithdrawalToDepositsRatio: "withdrawal_to_deposits_ratio",

	FAmountToCustomerMean: "amount_to_customer_mean",
	FAmountZscore:         "amount_zscore",
	FAmountToCustomerMax:  "amount_to_customer_max",

	FDeviceMissing:             "device_missing",
	FDeviceAttempts1m:          "device_attempts_1m",
	FDeviceAttempts1h:          "device_attempts_1h",
	FDeviceFailures1h:          "device_failures_1h",
	FDeviceDistinctCards24h:    "device_distinct_cards_24h",
	FDeviceDistinctCustomers7d: "device_distinct_customers_7d",
	FDeviceDistinctVouchers24h: "device_distinct_vouchers_24h",
	FDeviceNewForCustomer:      "device_new_for_customer",

	FIPMissing:              "ip_missing",
	FIPAttempts1m:           "ip_attempts_1m",
	FIPAttempts1h:           "ip_attempts_1h",
	FIPFailures1h:           "ip_failures_1h",
	FIPDistinctCards1h:      "ip_distinct_cards_1h",
	FIPDistinctCards24h:     "ip_distinct_cards_24h",
	FIPDistinctCustomers24h: "ip_distinct_customers_24h",

	FEmailAttempts24h: "email_attempts_24h",
	FEmailFailures24h: "email_failures_24h",

	FGeoKnown:              "geo_known",
	FIPCountryMismatch:     "ip_country_mismatch",
	FCountryNewForCustomer: "country_new_for_customer",
	FKmSinceLast:           "km_since_last",
	FKmhSinceLast:          "kmh_since_last",

	FHourUnusualForCustomer: "hour_unusual_for_customer",

	FSignalsMissing:  "signals_missing",
	FTimeOnPageLog:   "time_on_page_log",
	FTimeToSubmitLog: "time_to_submit_log",
	FPointerMoves:    "pointer_moves",
	FKeyEvents:       "key_events",
	FPasteEvents:     "paste_events",
	FFocusChanges:    "focus_changes",
	FWebdriver:       "webdriver",
	FBotScore:        "bot_score",

	FKeyIntervalCV:          "key_interval_cv",
	FPointerIntervalCV:      "pointer_interval_cv",
	FKeyIntervalLog:         "key_interval_log",
	FCardDistinctDevices24h: "card_distinct_devices_24h",
	FCardDistinctIPs24h:     "card_distinct_ips_24h",
	FDeviceDistinctIPs24h:   "device_distinct_ips_24h",
	FDeviceKnownDays:        "device_known_days",
	FCardNewForCustomer:     "card_new_for_customer",
	FCardKnownDays:          "card_known_days",
	FIPRangeNewForCustomer:  "ip_range_new_for_customer",

	FCardCountryIPMismatch:      "card_country_ip_mismatch",
	FCardCountryBillingMismatch: "card_country_billing_mismatch",
	FCredentialsChangedDays:     "credentials_changed_days",
	FAccountAgeDays:             "account_age_days",
}

// demoted are features computed (rules and reasons may use them) but left
// out of the models Kassa trains: they separated fraud only in the
// simulator they were first fitted on. hour_of_day is UTC, whose meaning
// depends on where the payers live (hour_unusual_for_customer carries what
// is real in it); bot_score is a hand-made sum of the simulator's own
// script signs, with a cut at 1.5 s that humans cross and patient bots
// avoid.
var demoted = map[int]bool{FHourOfDay: true, FBotScore: true}

// ModelFeatureNames are the features kassa model train fits on: every
// feature but the demoted ones, in FeatureNames order.
var ModelFeatureNames = func() []string {
	var ns []string
	for i, n := range featureNames {
		if !demoted[i] {
			ns = append(ns, n)
		}
	}
	return ns
}()

// FeatureNames names the features of a vector, in order. A model records
// it with its weights; a model trained on other names must not be served.
var FeatureNames = slices.Clone(featureNames[:])

var featureIndex = func() map[string]int {
	m := make(map[string]int, FeatureCount)
	for i, n := range featureNames {
		m[n] = i
	}
	return m
}()

// FeatureIndex is the position of the named feature in a vector.
func FeatureIndex(name string) (int, bool) {
	i, ok := featureIndex[name]
	return i, ok
}

// Caps of features that could otherwise grow without bound.
const (
	historyCountMax       = 1000
	amountRatioMax        = 100
	withdrawalRatioMax    = 10
	zscoreMax             = 10
	kmhMax                = 20_000
	pointerMovesMax       = 1000
	keyEventsMax          = 1000
	pasteEventsMax        = 100
	focusChangesMax       = 100
	earthRadiusKm         = 6371.0088
	travelSecondsMin      = 60
	zscoreApprovedMin     = 3
	hourHabitApprovedMin  = 5
	fastSubmitMS          = 1500
	secondsPerDay         = 24 * 60 * 60
	secondsPerHour        = 60 * 60
	zscoreStdMeanFraction = 0.05
	knownDaysMax          = 365
)

// Extract writes ev's features, given everything observed before, into
// dst (grown to FeatureCount if it is shorter) and returns it. It only
// reads the state and may run concurrently with Observe and
// ObserveOutcome. It does not allocate when dst is long enough.
func (s *State) Extract(ev *Event, dst []float32) []float32 {
	return s.extract(ev, s.keysOf(ev), dst)
}

// Replay is the offline path for an event file in time order: Extract,
// then Observe, then ObserveOutcome when ev has an outcome.
func (s *State) Replay(ev *Event, dst []float32) []float32 {
	k := s.keysOf(ev)
	dst = s.extract(ev, k, dst)
	s.observe(ev, k)
	if ev.Outcome != "" {
		s.observeOutcome(ev, k)
	}
	return dst
}

func (s *State) extract(ev *Event, k keys, dst []float32) []float32 {
	if cap(dst) < FeatureCount {
		dst = make([]float32, FeatureCount)
	}
	f := dst[:FeatureCount]
	clear(f)
	t := ev.Time.Unix()
	attemptFeatures(ev, f)
	if k.card != 0 {
		s.cardFeatures(k, t, f)
	}
	if k.voucher != 0 {
		s.voucherFeatures(k.voucher, t, f)
	}
	for _, serial := range ev.ExtraVoucherSerials {
		if h := s.voucherKey(ev, serial); h != 0 {
			s.voucherFeatures(h, t, f)
		}
	}
	s.customerFeatures(ev, k, t, f)
	if k.device == 0 {
		f[FDeviceMissing] = 1
	} else {
		s.deviceFeatures(k, t, f)
	}
	if k.ip == 0 {
		f[FIPMissing] = 1
	} else {
		s.ipFeatures(k, t, f)
	}
	if k.email != 0 {
		s.emailFeatures(k, t, f)
	}
	signalFeatures(&ev.Signals, f)
	return f
}

// methodFeatures are the one-hot features of the method classes an
// event's Method names. A payment method tells risk which class it is
// (payment.RiskView.Method): a new payment method maps onto a class the
// models know, so they need no retraining to score it.
var methodFeatures = map[string]int{
	MethodCard:    FMethodCard,
	MethodVoucher: FMethodVoucher,
	MethodAccount: FMethodAccount,
}

func attemptFeatures(ev *Event, f []float32) {
	f[FAmountLog] = log10p1(float64(max(ev.Amount, 0)))
	f[FHourOfDay] = float32(ev.Time.UTC().Hour())
	f[FKindDeposit] = flag(ev.Kind == KindDeposit)
	f[FKindWithdrawal] = flag(ev.Kind == KindWithdrawal || ev.Kind == KindPayout)
	f[FKindSignup] = flag(ev.Kind == KindSignup)
	f[FKindLogin] = flag(ev.Kind == KindLogin)
	f[FMethodCard], f[FMethodVoucher], f[FMethodAccount] = 0, 0, 0
	if fi, ok := methodFeatures[ev.Method]; ok {
		f[fi] = 1
	}
	g := ev.Geo
	f[FGeoKnown] = flag(g.Known && validLatLon(g.Lat, g.Lon))
	f[FIPCountryMismatch] = flag(g.Country != "" && ev.BillingCountry != "" && g.Country != ev.BillingCountry)
	f[FCardCountryIPMismatch] = flag(ev.CardCountry != "" && g.Country != "" && ev.CardCountry != g.Country)
	f[FCardCountryBillingMismatch] = flag(ev.CardCountry != "" && ev.BillingCountry != "" && ev.CardCountry != ev.BillingCountry)
	f[FCredentialsChangedDays] = daysBefore(ev, ev.CredentialsChangedAt)
	f[FAccountAgeDays] = daysBefore(ev, ev.CustomerCreatedAt)
}

// daysBefore is how many days before the attempt at was (the payer's
// credentials changed, their account was created), at most knownDaysMax;
// missing (NaN) when at is zero (never, or nobody knows). A time after
// the attempt (another node's clock) counts as just now.
func daysBefore(ev *Event, at time.Time) float32 {
	if at.IsZero() {
		return float32(math.NaN())
	}
	d := ev.Time.Sub(at).Seconds() / secondsPerDay
	return float32(min(max(d, 0), knownDaysMax))
}

func (s *State) cardFeatures(k keys, t int64, f []float32) {
	sh, c := s.cards.get(k.card)
	defer sh.mu.RUnlock()
	if c == nil {
		return
	}
	f[FCardAttempts1m] = float32(c.att1m.sum(span1m, t))
	f[FCardAttempts1h] = float32(c.att1h.sum(span1h, t))
	f[FCardAttempts24h] = float32(c.att24h.sum(span24h, t))
	f[FCardFailures1h] = float32(c.fail1h.sum(span1h, t))
	f[FCardFailures24h] = float32(c.fail24h.sum(span24h, t))
	f[FCardDeclines24h] = float32(c.dec24h.sum(span24h, t))
	f[FCardDistinctCustomers24h] = float32(c.customers.count(t - span24h.seconds()))
	f[FCardDistinctDevices24h] = float32(c.devices.count(t - span24h.seconds()))
	f[FCardDistinctIPs24h] = float32(c.ips.count(t - span24h.seconds()))
}

// voucherFeatures raises the voucher features to those of voucher h
// where they are higher: an attempt with several vouchers is as risky as
// its riskiest.
func (s *State) voucherFeatures(h uint64, t int64, f []float32) {
	sh, v := s.vouchers.get(h)
	defer sh.mu.RUnlock()
	if v == nil {
		return
	}
	f[FVoucherAttempts1m] = max(f[FVoucherAttempts1m], float32(v.att1m.sum(span1m, t)))
	f[FVoucherAttempts1h] = max(f[FVoucherAttempts1h], float32(v.att1h.sum(span1h, t)))
	f[FVoucherFailures1h] = max(f[FVoucherFailures1h], float32(v.fail1h.sum(span1h, t)))
	f[FVoucherFailures24h] = max(f[FVoucherFailures24h], float32(v.fail24h.sum(span24h, t)))
}

// VoucherFailures24h is how many failed attempts one voucher serial of
// ev (its first or an extra one) had in the 24 hours before ev.Time, in
// ev's scope.
func (s *State) VoucherFailures24h(ev *Event, serial string) float32 {
	h := s.voucherKey(ev, serial)
	if h == 0 {
		return 0
	}
	sh, v := s.vouchers.get(h)
	defer sh.mu.RUnlock()
	if v == nil {
		return 0
	}
	return float32(v.fail24h.sum(span24h, ev.Time.Unix()))
}

// customerFeatures fills the customer's counters, their amount history,
// habits and travel; the ratios that need history default to "like
// before" (1) and the withdrawal ratio to "nothing deposited".
func (s *State) customerFeatures(ev *Event, k keys, t int64, f []float32) {
	f[FAmountToCustomerMean], f[FAmountToCustomerMax] = 1, 1
	deposits := 0.0
	if k.customer == 0 {
		f[FCustomerMissing] = 1
	} else {
		deposits = s.readCustomer(ev, k, t, f)
	}
	if ev.Kind == KindWithdrawal || ev.Kind == KindPayout {
		f[FWithdrawalToDepositsRatio] = ratioCapped(float64(max(ev.Amount, 0)), deposits, withdrawalRatioMax)
	}
}

// readCustomer fills what the customer's entity knows and returns the
// approved deposits of the last 7 days.
func (s *State) readCustomer(ev *Event, k keys, t int64, f []float32) float64 {
	sh, c := s.customers.get(k.customer)
	defer sh.mu.RUnlock()
	if c == nil {
		return 0
	}
	f[FCustomerAttempts1h] = float32(c.att1h.sum(span1h, t))
	f[FCustomerAttempts24h] = float32(c.att24h.sum(span24h, t))
	f[FCustomerFailures24h] = float32(c.fail24h.sum(span24h, t))
	f[FCustomerAmount24h] = log10p1(c.approved24h.sum(span24h, t))
	f[FCustomerAmount7d] = log10p1(c.approved7d.sum(span7d, t))
	f[FCustomerDeposits24h] = log10p1(c.deposits24h.sum(span24h, t))
	f[FCustomerAgeDays] = float32(max(t-c.first, 0)) / secondsPerDay
	c.profile.features(ev, k, t, f)
	return c.deposits7d.sum(span7d, t)
}

// features compares the attempt with the customer's approved history and
// last location.
func (p *profile) features(ev *Event, k keys, t int64, f []float32) {
	f[FCustomerHistoryCount] = float32(min(p.approved, historyCountMax))
	amount := float64(max(ev.Amount, 0))
	if p.approved > 0 {
		f[FAmountToCustomerMean] = ratioCapped(amount, p.mean, amountRatioMax)
		f[FAmountToCustomerMax] = ratioCapped(amount, float64(p.amountMax), amountRatioMax)
		f[FDeviceNewForCustomer] = flag(k.device != 0 && !p.devices.has(k.device))
		f[FCountryNewForCustomer] = flag(ev.Geo.Country != "" && !p.countries.has(countryKey(ev.Geo.Country)))
		// Novelty that outlives the first approval: how long ago the
		// device and the card were first approved for this customer (0
		// when never), and whether the address range is new to them.
		f[FDeviceKnownDays] = knownDays(&p.devices, k.device, t)
		f[FCardKnownDays] = knownDays(&p.cards, k.card, t)
		f[FCardNewForCustomer] = flag(k.card != 0 && !p.cards.has(k.card))
		f[FIPRangeNewForCustomer] = flag(k.ipRange != 0 && !p.ipRanges.has(k.ipRange))
	}
	if p.approved >= zscoreApprovedMin {
		// A floor on the deviation keeps a customer who always pays the
		// same amount from scoring ±10 for one cent more.
		std := math.Sqrt(p.m2 / float64(p.approved-1))
		std = max(std, zscoreStdMeanFraction*p.mean, 1)
		f[FAmountZscore] = float32(max(min((amount-p.mean)/std, zscoreMax), -zscoreMax))
	}
	var total uint64
	for _, n := range p.hours {
		total += uint64(n)
	}
	if total >= hourHabitApprovedMin {
		h := ev.Time.UTC().Hour()
		near := uint64(p.hours[(h+23)%24]) + uint64(p.hours[h]) + uint64(p.hours[(h+1)%24])
		f[FHourUnusualForCustomer] = float32(1 - float64(near)/float64(total))
	}
	if g := ev.Geo; p.located && g.Known && validLatLon(g.Lat, g.Lon) {
		km := haversineKm(p.lat, p.lon, g.Lat, g.Lon)
		hours := float64(max(abs64(t-p.locAt), travelSecondsMin)) / secondsPerHour
		f[FKmSinceLast] = float32(km)
		f[FKmhSinceLast] = float32(min(km/hours, kmhMax))
	}
}

// knownDays is how many days ago h was first approved in set d (0 when
// never, or for no h), at most knownDaysMax.
func knownDays(d *distinct, h uint64, t int64) float32 {
	if h == 0 {
		return 0
	}
	first, ok := d.since(h)
	if !ok {
		return 0
	}
	return float32(min(float64(max(t-first, 0))/secondsPerDay, knownDaysMax))
}

func (s *State) deviceFeatures(k keys, t int64, f []float32) {
	sh, d := s.devices.get(k.device)
	defer sh.mu.RUnlock()
	if d == nil {
		return
	}
	f[FDeviceAttempts1m] = float32(d.att1m.sum(span1m, t))
	f[FDeviceAttempts1h] = float32(d.att1h.sum(span1h, t))
	f[FDeviceFailures1h] = float32(d.fail1h.sum(span1h, t))
	f[FDeviceDistinctCards24h] = float32(d.cards.count(t - span24h.seconds()))
	f[FDeviceDistinctCustomers7d] = float32(d.customers.count(t - span7d.seconds()))
	f[FDeviceDistinctVouchers24h] = float32(d.vouchers.count(t - span24h.seconds()))
	f[FDeviceDistinctIPs24h] = float32(d.ips.count(t - span24h.seconds()))
}

func (s *State) ipFeatures(k keys, t int64, f []float32) {
	sh, a := s.ips.get(k.ip)
	defer sh.mu.RUnlock()
	if a == nil {
		return
	}
	f[FIPAttempts1m] = float32(a.att1m.sum(span1m, t))
	f[FIPAttempts1h] = float32(a.att1h.sum(span1h, t))
	f[FIPFailures1h] = float32(a.fail1h.sum(span1h, t))
	f[FIPDistinctCards1h] = float32(a.cards.count(t - span1h.seconds()))
	f[FIPDistinctCards24h] = float32(a.cards.count(t - span24h.seconds()))
	f[FIPDistinctCustomers24h] = float32(a.customers.count(t - span24h.seconds()))
}

func (s *State) emailFeatures(k keys, t int64, f []float32) {
	sh, e := s.emails.get(k.email)
	defer sh.mu.RUnlock()
	if e == nil {
		return
	}
	f[FEmailAttempts24h] = float32(e.att24h.sum(span24h, t))
	f[FEmailFailures24h] = float32(e.fail24h.sum(span24h, t))
}

// signalFeatures turns the page's measurements into features; without
// signals all are 0 but signals_missing.
func signalFeatures(sg *Signals, f []float32) {
	nan := float32(math.NaN())
	f[FKeyIntervalCV], f[FPointerIntervalCV], f[FKeyIntervalLog] = nan, nan, nan
	if !sg.Present {
		f[FSignalsMissing] = 1
		return
	}
	// Timing regularity is missing (NaN), not 0, when the page did not
	// measure it: 0 would be a perfectly regular machine.
	if sg.KeyIntervalCV > 0 {
		f[FKeyIntervalCV] = float32(sg.KeyIntervalCV)
	}
	if sg.PointerIntervalCV > 0 {
		f[FPointerIntervalCV] = float32(sg.PointerIntervalCV)
	}
	if sg.KeyIntervalMS > 0 {
		f[FKeyIntervalLog] = log10p1(float64(sg.KeyIntervalMS))
	}
	f[FTimeOnPageLog] = log10p1(float64(max(sg.TimeOnPageMS, 0)))
	f[FTimeToSubmitLog] = log10p1(float64(max(sg.TimeToSubmitMS, 0)))
	f[FPointerMoves] = float32(min(max(sg.PointerMoves, 0), pointerMovesMax))
	f[FKeyEvents] = float32(min(max(sg.KeyEvents, 0), keyEventsMax))
	f[FPasteEvents] = float32(min(max(sg.PasteEvents, 0), pasteEventsMax))
	f[FFocusChanges] = float32(min(max(sg.FocusChanges, 0), focusChangesMax))
	f[FWebdriver] = flag(sg.Webdriver)
	f[FBotScore] = botScore(sg)
}

// botScore is a hand-made 0–1 heuristic that a model can start from:
// each sign of automation is independent evidence with its own weight,
// combined as 1 − ∏(1 − w).
func botScore(sg *Signals) float32 {
	notBot := 1.0
	if sg.Webdriver {
		notBot *= 1 - 0.9
	}
	if sg.PointerMoves <= 0 && !sg.Touch {
		notBot *= 1 - 0.4
	}
	if sg.TimeToSubmitMS < fastSubmitMS {
		notBot *= 1 - 0.3
	}
	if sg.PasteEvents > 0 && sg.KeyEvents <= 0 {
		notBot *= 1 - 0.3
	}
	return float32(1 - notBot)
}

func flag(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

func log10p1(x float64) float32 { return float32(math.Log10(1 + x)) }

// ratioCapped is a/b for a, b ≥ 0, at most limit; 0 when a is 0 and limit
// when only b is.
func ratioCapped(a, b, limit float64) float32 {
	switch {
	case a <= 0:
		return 0
	case b <= 0:
		return float32(limit)
	}
	return float32(min(a/b, limit))
}

func validLatLon(lat, lon float64) bool {
	return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 // false for NaN too
}

// haversineKm is the great-circle distance between two points in km.
func haversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(min(a, 1)))
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// FeatureShared reports whether feature i is computed from the platform's
// memory of other attempts (velocity, history), which may include other
// merchants' payers, rather than from the attempt alone.
func FeatureShared(i int) bool { return i >= 0 && i < FeatureCount && featureShared[i] }

var featureShared = func() (s [FeatureCount]bool) {
	for i := FCardAttempts1m; i < FSignalsMissing; i++ {
		s[i] = true
	}
	for _, i := range []int{FCustomerMissing, FDeviceMissing, FIPMissing, FGeoKnown, FIPCountryMismatch} {
		s[i] = false
	}
	for i := FCardDistinctDevices24h; i <= FIPRangeNewForCustomer; i++ {
		s[i] = true
	}
	// The payer's account history is not the merchant's to see.
	s[FCredentialsChangedDays] = true
	s[FAccountAgeDays] = true
	return s
}()
