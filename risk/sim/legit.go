package sim

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/kassa/kassa/risk"
)

// Legit behaviour's parameters (docs/risk-events.md explains them).
const (
	tripStartDaily    = 0.006   // chance a payer at home sets off on a trip today
	homeIPChangeDaily = 0.02    // chance their line gets a new address today
	newDeviceShare    = 0.004   // sessions on a device the payer never used before
	signalsBlocked    = 0.04    // sessions whose page script sent nothing
	webdriverLegit    = 0.001   // sessions under automation (tests, assistive tools)
	guestShare        = 0.24    // shop checkouts without a customer account
	guestEmailShare   = 1.0 / 3 // guests who type an e-mail address (the others give none)
	bigPurchaseShare  = 0.01    // sessions of five times the usual amount
	withdrawShare     = 0.15    // operator sessions that cash out, when there is a balance
	depositAgainShare = 0.25    // deposits followed by another within the hour (chasing a loss)
	devicesMax        = 4
)

// legitDay is one payer's day: some sessions at their usual hours,
// wherever they are.
func (g *gen) legitDay(r *rand.Rand, p *payer) {
	if g.day < p.firstDay || g.day >= p.lastDay {
		return
	}
	if r.Float64() < homeIPChangeDaily {
		p.line.addr = homeAddr(r, p.home) // the household's line
	}
	if p.trip != nil && p.trip.back.Before(g.dayStart) {
		p.trip = nil
	}
	if p.trip == nil && r.Float64() < tripStartDaily*g.w.travel {
		p.trip = planTrip(r, p, g.dayStart)
	}
	g.changeCredentials(p)
	rate := p.sessionsPerDay
	switch g.dayStart.Weekday() {
	case time.Saturday, time.Sunday:
		rate *= 1.25
	case time.Friday:
		rate *= 1.1
	}
	n := poisson(r, rate)
	if n == 0 {
		return
	}
	times := make([]time.Time, 0, n)
	for range n {
		c := p.home
		if p.trip != nil {
			c = p.trip.dest
		}
		local := sessionHour(r, p.peakHour)
		off := time.Duration((local - float64(c.utcOffset) + 48) * float64(time.Hour))
		t := g.dayStart.Add(off % (24 * time.Hour))
		if p.trip.inAir(t) {
			continue
		}
		times = append(times, t)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for _, t := range times {
		g.session(r, p, t)
	}
}

// sessionHour is a local hour of day (fractional): around the payer's
// peak, sometimes anywhere in the waking day.
func sessionHour(r *rand.Rand, peak float64) float64 {
	if r.Float64() < 0.15 {
		return 7 + 16*r.Float64()
	}
	return math.Mod(peak+2.2*r.NormFloat64()+48, 24)
}

// planTrip: a journey of two to ten days, by plane (about 750 km/h plus
// an hour and a half at airports).
func planTrip(r *rand.Rand, p *payer, dayStart time.Time) *trip {
	dest := p.home
	for dest == p.home {
		dest = pick(r, travelDestinations)
	}
	tr := &trip{dest: dest, destCity: oneOf(r, dest.cities)}
	flight := time.Duration((1.5 + distanceKM(p.lat, p.lon, tr.destCity.lat, tr.destCity.lon)/750) * float64(time.Hour))
	tr.depart = dayStart.Add(uniformDuration(r, 6*time.Hour, 20*time.Hour))
	tr.arrive = tr.depart.Add(flight)
	tr.leave = tr.arrive.Add(uniformDuration(r, 2*24*time.Hour, 10*24*time.Hour))
	tr.back = tr.leave.Add(flight)
	return tr
}

var travelDestinations = []weighted[*country]{
	{countryByCode("ES"), 20}, {countryByCode("IT"), 18}, {countryByCode("FR"), 12}, {countryByCode("GB"), 8},
	{countryByCode("AT"), 8}, {countryByCode("DE"), 8}, {countryByCode("NL"), 5}, {countryByCode("CH"), 4},
	{countryByCode("TR"), 8}, {countryByCode("US"), 6}, {countryByCode("CZ"), 3},
}

// inAir reports whether t is on a plane (no sessions then).
func (tr *trip) inAir(t time.Time) bool {
	if tr == nil {
		return false
	}
	return (!t.Before(tr.depart) && t.Before(tr.arrive)) || (!t.Before(tr.leave) && t.Before(tr.back))
}

// abroad reports whether the payer is at the trip's destination at t.
func (tr *trip) abroad(t time.Time) bool {
	return tr != nil && !t.Before(tr.arrive) && t.Before(tr.leave)
}

// visit is a session's merchant, device and the way its attempts reach
// Kassa (the hosted page, or the merchant's server).
type visit struct {
	m  *merchant
	d  *device
	ch channel
}

// session is one visit to a merchant: an attempt, a retry if it went
// wrong, and at an operator sometimes more deposits (chasing a loss).
func (g *gen) session(r *rand.Rand, p *payer, t time.Time) {
	m := p.merchants[0]
	if len(p.merchants) > 1 && r.Float64() < 0.45 {
		m = p.merchants[1+r.IntN(len(p.merchants)-1)]
	}
	v := visit{m: m, d: p.pickDevice(r, g.w.newDevice), ch: via(r, m)}
	e := g.attempt(r, p, v, t)
	for range 3 {
		if e.Kind != risk.KindDeposit || e.Outcome != risk.OutcomeApproved || r.Float64() >= depositAgainShare {
			break
		}
		e = g.attempt(r, p, v, e.Time.Add(uniformDuration(r, 5*time.Minute, 40*time.Minute)))
	}
}

// attempt is one legit attempt (and its retry).
func (g *gen) attempt(r *rand.Rand, p *payer, v visit, t time.Time) *risk.Event {
	m, d := v.m, v.d
	e := &risk.Event{Time: t, MerchantID: m.id, UserAgent: d.userAgent, Email: p.email, CustomerID: p.customerID}
	if p.created.IsZero() {
		p.created = t.Add(-uniformDuration(g.acct, 2*time.Minute, 30*time.Minute)) // signed up to pay
	}
	if p.changeNext {
		// A reset of a forgotten password on the way to paying.
		p.credChanged, p.changeNext = t.Add(-uniformDuration(g.acct, time.Minute, 30*time.Minute)), false
	}
	g.locate(r, p, e, d, t)

	cents := int64(lognormal(r, p.medianCents*m.amountScale, p.amountSigma))
	if r.Float64() < bigPurchaseShare {
		cents *= 5
	}
	first := !containsMerchant(p.used, m)
	if first {
		p.used = append(p.used, m)
	}
	chars, longest, fields := 0, 0, 0
	switch {
	case m.operator() && p.depositCents > 0 && r.Float64() < withdrawShare:
		e.Kind, e.Method = risk.KindWithdrawal, risk.MethodAccount
		cents = max(1000, int64(float64(p.depositCents)*lognormal(r, 0.8, 0.6))/100*100)
		chars, fields = charsAmount, fieldsAmount
	case m.operator():
		e.Kind = risk.KindDeposit
		cents = roundDeposit(cents)
		if first && r.Float64() < 0.5 {
			cents = oneOf(r, []int64{1000, 2000}) // what the welcome bonus asks for
		}
		chars, longest, fields = p.payWith(r, e, &cents)
	default:
		e.Kind = risk.KindPayment
		if r.Float64() < 0.5 { // a price tag: 19.99, 24.95, 49.00
			cents = max(100, cents/100*100+oneOf(r, []int64{99, 95, 0, 49})-100)
		}
		chars, longest, fields = p.payWith(r, e, &cents)
	}
	if !m.operator() && r.Float64() < guestShare {
		e.CustomerID = ""
		if r.Float64() < guestEmailShare {
			chars += charsEmail
			fields += fieldsEmail
		} else {
			e.Email = "" // known by the card or voucher alone
		}
	}
	if e.BillingCountry == "" {
		e.BillingCountry = p.home.code
	}
	if e.CustomerID != "" && p.account && !p.credChanged.IsZero() && !p.credChanged.After(t) {
		e.CredentialsChangedAt = p.credChanged
	}
	if e.CustomerID != "" {
		e.CustomerCreatedAt = p.created
	}
	e.Amount, e.Currency = p.money(cents)
	if !v.ch.server {
		p.signals(r, g.w, e, d, typing{chars: chars, longest: longest, paste: p.pasteShare,
			fields: fields, away: awayFor(e, chars), hurry: p.pace})
	}
	v.ch.apply(e)
	e.Outcome = legitOutcome(r, e, cents, p)
	e.Label = risk.LabelLegit
	g.add(e)
	p.remember(e, cents)
	if retry := g.retry(r, p, e, d, cents); retry != nil {
		return retry
	}
	return e
}

// retry: after a typo the payer tries again within two minutes; after a
// decline some try a smaller amount or their other card a few minutes
// later.
func (g *gen) retry(r *rand.Rand, p *payer, first *risk.Event, d *device, cents int64) *risk.Event {
	var after time.Duration
	switch {
	case first.Outcome == risk.OutcomeFailed:
		after = uniformDuration(r, 20*time.Second, 2*time.Minute)
	case first.Outcome == risk.OutcomeDeclined && r.Float64() < 0.4:
		after = uniformDuration(r, time.Minute, 10*time.Minute)
		cents = max(500, cents/2/100*100)
	default:
		return nil
	}
	e := *first
	e.Time = first.Time.Add(after)
	if first.Method == risk.MethodCard && first.Outcome == risk.OutcomeDeclined && len(p.cards) > 1 {
		e.CardFingerprint = p.cards[1].fingerprint
	}
	e.Amount, e.Currency = p.money(cents)
	chars, fields := charsCardSaved, fieldsCardSaved
	if first.Method == risk.MethodVoucher {
		chars, fields = charsPIN, fieldsPIN
	}
	if e.Signals.Present {
		// After a failure the page put the focus in the field at fault.
		p.signals(r, g.w, &e, d, typing{chars: chars, longest: chars, paste: p.pasteShare,
			fields: fields, prefocused: first.Outcome == risk.OutcomeFailed, away: awayFor(&e, chars), hurry: p.pace})
	}
	e.Outcome = risk.OutcomeApproved
	if r.Float64() < 0.12 {
		e.Outcome = risk.OutcomeDeclined
	}
	g.add(&e)
	p.remember(&e, cents)
	return &e
}

// pickDevice: mostly the first device, a phone more often when away;
// now and then a new one (a new phone, a borrowed laptop), which the
// payer keeps.
func (p *payer) pickDevice(r *rand.Rand, newShare float64) *device {
	if r.Float64() < newShare {
		d := newDevice(r, pick(r, legitDevices), p.home)
		if len(p.devices) >= devicesMax {
			p.devices = p.devices[1:]
		}
		p.devices = append(p.devices, d)
		return d
	}
	if len(p.devices) == 1 || r.Float64() < 0.6 {
		return p.devices[0]
	}
	return p.devices[1+r.IntN(len(p.devices)-1)]
}

// locate sets the IP address and its geolocation: the home line (or
// the office's network in office hours), the phone's mobile network
// (mostly a carrier-grade NAT address shared with many subscribers),
// public wifi, a hotel's network abroad (or roaming, which shows the
// home country), or a VPN's data centre. GeoIP places a shared address
// at the same point for everyone.
func (g *gen) locate(r *rand.Rand, p *payer, e *risk.Event, d *device, t time.Time) {
	abroad := p.trip.abroad(t)
	var addr netip.Addr
	var c *country
	lat, lon := p.lat, p.lon
	shared := false
	switch {
	case p.vpn > 0 && r.Float64() < p.vpn:
		c = countryByCode(oneOf(r, hostingCountries))
		addr = randomAddr(r, c.hosting)
		lat, lon = c.cities[0].lat, c.cities[0].lon
	case abroad && !(d.kind.touch && r.Float64() < 0.4):
		c = p.trip.dest
		addr = randomAddr(r, oneOf(r, c.residential))
		lat, lon = p.trip.destCity.lat, p.trip.destCity.lon
	case d.kind.touch && r.Float64() < 0.45, abroad:
		c = p.home
		var a sharedAddr
		a, shared = g.mobileAddr(r, c, p.homeCity)
		addr = a.addr
		if shared {
			lat, lon = a.lat, a.lon
		}
	case d.kind.touch && r.Float64() < publicWifiShare:
		c = p.home
		a := near(r, g.pools[c].shared, p.homeCity)
		addr, lat, lon, shared = a.addr, a.lat, a.lon, true
	case p.work != nil && atWork(t, p.home) && r.Float64() < atWorkShare:
		c = p.home
		addr, lat, lon, shared = p.work.addr, p.work.lat, p.work.lon, true
	default:
		c = p.home
		addr = p.line.addr
		if r.Float64() < 0.03 { // at a friend's
			addr = homeAddr(r, c)
			city := oneOf(r, c.cities)
			lat, lon = city.lat, city.lon
		}
	}
	e.IP = addr.String()
	if !shared {
		lat, lon = jitter(r, lat, lon, 3)
	}
	e.Geo = risk.Geo{Country: c.code, Lat: lat, Lon: lon, Known: true}
	if abroad && d.kind.touch {
		d.timezone = p.trip.dest.timezone // phones follow the local time
	} else if d.kind.touch {
		d.timezone = p.home.timezone
	}
}

// payWith chooses card or voucher and fills the event's instrument; it
// returns the characters typed, the longest field and the fields moved
// into. A voucher pays at most its value; a voucher payer whose voucher
// is short buys a new one.
func (p *payer) payWith(r *rand.Rand, e *risk.Event, cents *int64) (chars, longest, fields int) {
	if r.Float64() < p.voucherShare {
		e.Method = risk.MethodVoucher
		*cents = min(*cents, voucherValues[len(voucherValues)-1])
		if p.voucher.balance < *cents {
			p.voucher = newVoucher(r, *cents)
		}
		e.VoucherSerial = p.voucher.serial
		return charsPIN, charsPIN, fieldsPIN
	}
	e.Method = risk.MethodCard
	c := p.cards[0]
	if len(p.cards) > 1 && r.Float64() < 0.25 {
		c = p.cards[1]
	}
	e.CardFingerprint, e.BillingCountry, e.CardCountry = c.fingerprint, p.billingOf(c), c.country
	switch {
	case p.seen && r.Float64() < 0.5:
		return charsCardSaved, charsCardSaved, fieldsCardSaved
	case p.autofill && r.Float64() < 0.1:
		// The password manager filled even the CVC: from the number
		// field, or (30%) from its own button, never entering one.
		if r.Float64() < 0.3 {
			return 0, 0, 0
		}
		return 0, 0, 1
	case p.autofill:
		return charsCardSaved, charsCardSaved, fieldsCardFill // the browser filled the rest
	default:
		return charsCardNew, 16, fieldsCardNew
	}
}

// awayFor is how often a payer leaves the window, pastes aside: more
// when a voucher's PIN has to be looked up, less for one short field.
func awayFor(e *risk.Event, chars int) float64 {
	switch {
	case e.Method == risk.MethodVoucher:
		return awayPIN
	case chars <= charsCardSaved+charsAmount:
		return awayShort
	default:
		return awayUsual
	}
}

// signals fills client_signals and device_id, or leaves both empty when
// the page's script was blocked.
func (p *payer) signals(r *rand.Rand, w *world, e *risk.Event, d *device, t typing) {
	if r.Float64() < signalsBlocked {
		e.DeviceID, e.Signals = "", risk.Signals{}
		return
	}
	e.DeviceID = d.id
	e.Signals = w.humanSignals(r, d, t)
	if r.Float64() < webdriverLegit {
		e.Signals.Webdriver = true
	}
}

// legitOutcome: cards are declined now and then (more often for amounts
// well above the payer's usual: insufficient funds), typos fail.
func legitOutcome(r *rand.Rand, e *risk.Event, cents int64, p *payer) string {
	u := r.Float64()
	switch e.Method {
	case risk.MethodCard:
		declined := 0.025
		if float64(cents) > 3*p.medianCents {
			declined += 0.06
		}
		if u < declined {
			return risk.OutcomeDeclined
		}
		if u < declined+0.02 {
			return risk.OutcomeFailed
		}
	case risk.MethodVoucher:
		if u < 0.03 {
			return risk.OutcomeFailed // a mistyped PIN
		}
	case risk.MethodAccount:
		if u < 0.03 {
			return risk.OutcomeDeclined
		}
	}
	return risk.OutcomeApproved
}

// remember updates the payer's history after an attempt.
func (p *payer) remember(e *risk.Event, cents int64) {
	p.seen = true
	p.account = p.account || e.CustomerID != ""
	p.lastTime = e.Time
	if e.Outcome != risk.OutcomeApproved {
		return
	}
	switch e.Kind {
	case risk.KindDeposit:
		p.depositCents += cents
	case risk.KindWithdrawal:
		p.depositCents = max(0, p.depositCents-cents)
	}
	if e.Method == risk.MethodVoucher {
		p.voucher.balance -= cents
	}
	p.maxCents = max(p.maxCents, cents)
}

// money converts EUR cents into what the payer pays in.
func (p *payer) money(cents int64) (int64, string) {
	if p.payLocal {
		return int64(math.Round(float64(cents) * p.home.eurRate)), p.home.currency
	}
	return cents, "EUR"
}

// roundDeposit: people deposit round sums.
func roundDeposit(cents int64) int64 {
	switch {
	case cents < 1000:
		return 1000
	case cents < 5000:
		return (cents + 250) / 500 * 500
	default:
		return (cents + 500) / 1000 * 1000
	}
}

// changeCredentials: now and then an account holder changes their
// password, e-mail address or phone number; half of them because they
// forgot the password on the way to paying (just before their next
// attempt), the others at any time of the day.
func (g *gen) changeCredentials(p *payer) {
	if g.w.credChange == 0 || !p.account || g.acct.Float64() >= g.w.credChange {
		return
	}
	if g.acct.Float64() < 0.5 {
		p.changeNext = true
		return
	}
	p.credChanged = g.dayStart.Add(uniformDuration(g.acct, 0, 24*time.Hour))
}

// billingOf is the billing country the payer gives with card c: the
// card's, or where they live when they moved their address there.
func (p *payer) billingOf(c card) string {
	if p.billing != "" {
		return p.billing
	}
	return c.country
}
