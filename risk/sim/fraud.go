package sim

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/kassa/kassa/risk"
)

// Fraud types: the patterns the simulator injects, each a fraud_type.
const (
	CardTesting     = "card_testing"
	AccountTakeover = "account_takeover"
	StolenCard      = "stolen_card"
	CheckoutBot     = "checkout_bot"
	MultiAccounting = "multi_accounting"
	Laundering      = "laundering"
)

// fraudTypes, the share of fraudulent events each aims for and the
// mean events one incident makes.
var fraudTypes = [...]struct {
	name  string
	share float64
	size  float64
}{
	{CardTesting, 0.28, 30},
	{AccountTakeover, 0.12, 2.6},
	{StolenCard, 0.16, 2},
	{CheckoutBot, 0.16, 24},
	{MultiAccounting, 0.14, 12.5},
	{Laundering, 0.14, 11},
}

// FraudTypes lists the fraud_type values the simulator writes.
func FraudTypes() []string {
	ns := make([]string, len(fraudTypes))
	for i, ft := range fraudTypes {
		ns[i] = ft.name
	}
	return ns
}

// fraudDay adds the day's fraud: for each type, incidents while the
// events it owes (its share of FraudRate against the day's legit
// attempts, plus what earlier days fell short or ran over) exceed half
// an incident, so that over- and undershoot even out.
func (g *gen) fraudDay(r *rand.Rand, legit int) {
	rate := g.cfg.FraudRate
	target := float64(legit) * rate / (1 - rate)
	var sum float64
	for i, ft := range fraudTypes {
		sum += ft.share * g.w.share[i]
	}
	for i, ft := range fraudTypes {
		g.owed[i] += target * ft.share * g.w.share[i] / sum
		for range 10_000 { // a bound; incidents make at least one event
			if g.owed[i] <= ft.size/2 {
				break
			}
			n := g.incident(r, ft.name)
			if n == 0 { // impossible here (no operator, no victim yet)
				g.owed[i] = 0
				break
			}
			g.owed[i] -= float64(n)
		}
	}
}

// incident runs one fraud of the type and returns its event count.
func (g *gen) incident(r *rand.Rand, name string) int {
	before := len(g.buf)
	t0 := g.dayStart.Add(uniformDuration(r, 0, 24*time.Hour))
	switch name {
	case CardTesting:
		g.cardTesting(r, t0)
	case AccountTakeover:
		g.accountTakeover(r)
	case StolenCard:
		g.stolenCard(r, t0)
	case CheckoutBot:
		g.checkoutBot(r, t0)
	case MultiAccounting:
		g.multiAccounting(r, t0)
	case Laundering:
		g.laundering(r, t0)
	default:
		panic("sim: unknown fraud type " + name)
	}
	return len(g.buf) - before
}

// cardTesting: a script checks stolen card numbers with tiny payments,
// a new card every few seconds, most of them declined. Usually from one
// device and address; some rotate addresses through proxies, some
// rotate device ids (an anti-detect browser) behind one address.
func (g *gen) cardTesting(r *rand.Rand, t0 time.Time) {
	m := g.shop(r, shopDigital)
	home := countryByCode(oneOf(r, []string{"NG", "VN", "BR", "US", "DE", "NL", "GB"}))
	kind := headless
	if r.Float64() < 0.6 {
		kind = pick(r, []weighted[*deviceKind]{{linuxPC, 1}, {windowsPC, 2}})
	}
	d := newDevice(r, kind, home)
	// Straight at the merchant's API, no page: its server forwards the
	// script's address or (as it does for its payers) none.
	ch := hostedPage
	if r.Float64() < 0.25 {
		ch = channel{server: true, ip: r.Float64() < m.forwardIP}
	}
	mimic := r.Float64() < g.w.mimicShare(0.15)
	variant := r.Float64()
	// An adaptive tester (not in the classic world) rents residential
	// proxies, a fresh address for every card, and a script that moves
	// and types like a person; half also rotate device ids.
	rotate := g.w != classic && r.Float64() < g.w.ctRotate
	rotateDevice := rotate && r.Float64() < 0.5
	if rotate {
		mimic = true
	}
	ip, geo := g.fraudNet(r, home)
	n := 10 + r.IntN(41)
	gap := uniformDuration(r, 4*time.Second, 40*time.Second)
	fixed := int64(100 + 100*r.IntN(5))
	email := throwaway(r)
	t := t0
	for range n {
		e := fraudEvent(t, m, risk.KindPayment, CardTesting)
		c := newCard(r, pick(r, cardCountries))
		e.Method, e.CardFingerprint, e.BillingCountry = risk.MethodCard, c.fingerprint, c.country
		e.CardCountry = c.country
		if g.noFullz() {
			e.BillingCountry = home.code // the tester has numbers, not addresses
		}
		e.Amount = fixed
		if r.Float64() < 0.5 {
			e.Amount = 100 + r.Int64N(401)
		}
		e.Email = email
		switch {
		case rotate:
			ip, geo = residentialNet(r, pick(r, countryWeights()))
			if rotateDevice {
				d = newDevice(r, kind, home)
				e.Email = "" // a guest checkout, nothing to tie the cards together
				if r.Float64() < 0.3 {
					e.Email = throwaway(r)
				}
			}
		case variant < 0.70:
		case variant < 0.85:
			ip, geo = g.fraudNet(r, countryByCode(oneOf(r, hostingCountries)))
		default:
			d = newDevice(r, kind, home)
		}
		e.IP, e.Geo = ip, geo
		if ch.server {
			e.UserAgent = oneOf(r, scriptUAs)
		} else {
			page(e, d, g.w.scriptSignals(r, d, charsCardNew, fieldsCardNew, 0.5, mimic))
		}
		ch.apply(e)
		e.Outcome = outcome(r, 0.17, 0.75)
		g.add(e)
		t = t.Add(time.Duration(r.ExpFloat64() * float64(gap)))
	}
}

// accountTakeover: someone else logs in as a recent payer, from a new
// device, usually abroad (an impossible journey from the payer's last
// attempt), often at night, and spends near or above the payer's
// largest amount with their saved card, or withdraws their balance.
// About a third go through a residential proxy in the payer's country.
func (g *gen) accountTakeover(r *rand.Rand) {
	v := g.victim(r)
	if v == nil {
		return
	}
	from := countryByCode(oneOf(r, []string{"NG", "BR", "VN", "US", "TR", "GB", "ES", "PL"}))
	for from == v.home {
		from = countryByCode("NG")
	}
	d := newDevice(r, pick(r, fraudDevices), from)
	ip, geo := residentialNet(r, from)
	switch u := r.Float64(); {
	case u < 0.2:
		// Stolen session: an infostealer took the payer's cookies and
		// browser profile; the attacker replays them through a proxy
		// near the payer. Only what is done, and when, gives it away.
		d = &device{}
		*d = *v.devices[0]
		ip, geo = residentialNet(r, v.home)
		geo.Lat, geo.Lon = jitter(r, v.lat, v.lon, 10)
	case u < 0.45:
		ip, geo = residentialNet(r, v.home) // a residential proxy in the payer's country
		if r.Float64() < 0.8 {
			d.timezone, d.language = v.home.timezone, v.home.language
		}
	}
	hurry := 0.6
	slow := false
	if g.w != classic && r.Float64() < g.w.atoInCountry {
		// In the payer's country, on a residential line there, the
		// browser set to the payer's time zone and language.
		ip, geo = residentialNet(r, v.home)
		d.timezone, d.language = v.home.timezone, v.home.language
		slow = r.Float64() < g.w.atoSlow
	}
	// Soon after the payer's last attempt (stolen credentials are used
	// while fresh), in the payer's night when that is near; a slow
	// takeover waits days and comes at the payer's own hours, unhurried.
	t := v.lastTime.Add(uniformDuration(r, 10*time.Minute, 3*time.Hour))
	if slow {
		t = v.lastTime.Add(uniformDuration(r, 24*time.Hour, 4*24*time.Hour))
		hurry = 1
	} else if r.Float64() < 0.6 {
		night := v.lastTime.Truncate(time.Hour).Add(time.Hour)
		for i := 0; i < 10 && localHour(night, v.home) >= 5; i++ {
			night = night.Add(time.Hour)
		}
		if localHour(night, v.home) < 5 {
			t = night.Add(uniformDuration(r, 0, 3*time.Hour))
		}
	}
	if t.Before(g.dayStart) {
		t = g.dayStart.Add(uniformDuration(r, 0, 2*time.Hour))
	}
	g.lockOut(v, t, slow)
	ops, shops := v.split()
	if len(ops) > 0 && v.depositCents > 0 && r.Float64() < 0.6 {
		op := oneOf(r, ops)
		e := fraudEvent(t, op, risk.KindWithdrawal, AccountTakeover)
		e.Method = risk.MethodAccount
		cents := max(2000, int64(float64(v.depositCents)*(0.8+0.2*r.Float64()))/100*100)
		g.takeover(r, e, op, v, d, ip, geo, cents, charsAmount, fieldsAmount, hurry)
		t = t.Add(uniformDuration(r, 2*time.Minute, 20*time.Minute))
	}
	if len(shops) == 0 {
		shops = []*merchant{g.shop(r, shopElectronics)}
	}
	for range 1 + r.IntN(3) {
		m := oneOf(r, shops)
		e := fraudEvent(t, m, risk.KindPayment, AccountTakeover)
		c := v.cards[0]
		e.Method, e.CardFingerprint, e.BillingCountry, e.CardCountry = risk.MethodCard, c.fingerprint, v.billingOf(c), c.country
		top := max(v.maxCents, int64(3*v.medianCents))
		cents := int64(float64(top)*(0.8+1.7*r.Float64())) / 100 * 100
		if slow { // no more than the payer spends, so nobody notices soon
			cents = max(500, int64(v.medianCents*(0.7+1.3*r.Float64()))/100*100)
		}
		g.takeover(r, e, m, v, d, ip, geo, cents, charsCardSaved, fieldsCardSaved, hurry)
		t = t.Add(uniformDuration(r, 2*time.Minute, 20*time.Minute))
	}
}

// takeover fills and adds one attempt of a takeover, through the
// merchant's page or (its app) its server.
func (g *gen) takeover(r *rand.Rand, e *risk.Event, m *merchant, v *payer, d *device, ip string, geo risk.Geo, cents int64, chars, fields int, hurry float64) {
	e.CustomerID, e.Email = v.customerID, v.email
	if e.BillingCountry == "" {
		e.BillingCountry = v.billingOf(card{country: v.home.code})
	}
	if !v.credChanged.IsZero() && !v.credChanged.After(e.Time) {
		e.CredentialsChangedAt = v.credChanged
	}
	e.CustomerCreatedAt = v.created
	e.Amount, e.Currency = v.money(cents)
	e.IP, e.Geo = ip, geo
	page(e, d, g.w.humanSignals(r, d, typing{chars: chars, longest: chars, paste: 0.3, fields: fields, away: awayShort, hurry: hurry}))
	via(r, m).apply(e)
	e.Outcome = outcome(r, 0.8, 0.2)
	g.add(e)
}

// victim is a payer seen in the last day or so who has a card.
func (g *gen) victim(r *rand.Rand) *payer {
	for range 50 {
		p := oneOf(r, g.payers)
		if p.account && len(p.cards) > 0 && !p.lastTime.Before(g.dayStart.Add(-18*time.Hour)) {
			return p
		}
	}
	return nil
}

// split is the payer's favourite operators and shops.
func (p *payer) split() (ops, shops []*merchant) {
	for _, m := range p.merchants {
		if m.operator() {
			ops = append(ops, m)
		} else {
			shops = append(shops, m)
		}
	}
	return ops, shops
}

// stolenCard: a fraudster pays with a card from elsewhere, as a new
// customer on a new device, more than people usually spend, often
// pasting the card number. Most act from their own country (the IP's
// country is not the card's); some use a proxy in the card's country;
// some keep amounts small.
func (g *gen) stolenCard(r *rand.Rand, t0 time.Time) {
	cardHome := pick(r, cardCountries)
	from := countryByCode(oneOf(r, []string{"NG", "BR", "VN", "US", "TR", "PL", "ES", "IT", "NL", "FR"}))
	for from.code == cardHome {
		from = countryByCode("NG")
	}
	d := newDevice(r, pick(r, fraudDevices), from)
	ip, geo := g.fraudNet(r, from)
	if r.Float64() < 0.3 {
		ip, geo = residentialNet(r, countryByCode(cardHome))
		if r.Float64() < 0.7 {
			d.timezone, d.language = countryByCode(cardHome).timezone, countryByCode(cardHome).language
		}
	}
	m := g.shop(r, shopElectronics)
	if op := g.operator(r, false); op != nil && r.Float64() < 0.2 {
		m = op
	}
	customer, mail := "cus_"+hex64(r), throwaway(r)
	created := g.fraudAccount(t0, 30*time.Minute)
	if r.Float64() < 0.3 { // a guest, as legit guests: mostly without an e-mail
		customer = ""
		if r.Float64() >= guestEmailShare {
			mail = ""
		}
	}
	ch := via(r, m) // through the merchant's app or server integration
	small := r.Float64() < 0.2
	// A careful fraudster types every digit, slowly, like a customer.
	hurry, paste := 0.7, 0.55
	if g.w != classic && r.Float64() < g.w.stolenSlow {
		hurry, paste, small = 1+0.6*r.Float64(), 0.1, r.Float64() < 0.5
		if r.Float64() < 0.5 {
			ip, geo = residentialNet(r, countryByCode(cardHome))
			d.timezone, d.language = countryByCode(cardHome).timezone, countryByCode(cardHome).language
		}
	}
	c := newCard(r, cardHome)
	fullz := !g.noFullz()
	t := t0
	for range 1 + r.IntN(3) {
		kind := risk.KindPayment
		if m.operator() {
			kind = risk.KindDeposit
		}
		e := fraudEvent(t, m, kind, StolenCard)
		e.Method, e.CardFingerprint, e.BillingCountry = risk.MethodCard, c.fingerprint, c.country
		e.CardCountry = c.country
		if !fullz {
			e.BillingCountry = from.code // a number without its owner's address
		}
		cents := int64(lognormal(r, 15000*m.amountScale/1.3, 0.5))
		if small {
			cents = 2000 + r.Int64N(4000)
		}
		if m.operator() {
			cents = roundDeposit(cents)
		}
		e.Amount = cents
		e.CustomerID, e.Email, e.IP, e.Geo = customer, mail, ip, geo
		if customer != "" {
			e.CustomerCreatedAt = created
		}
		// Back and forth between the list of stolen cards and the form.
		page(e, d, g.w.humanSignals(r, d, typing{chars: charsCardNew + charsEmail, longest: 16, paste: paste,
			fields: fieldsCardNew + fieldsEmail, away: 0.8, hurry: hurry}))
		ch.apply(e)
		e.Outcome = outcome(r, 0.72, 0.28)
		g.add(e)
		if e.Outcome == risk.OutcomeDeclined && r.Float64() < 0.5 {
			c = newCard(r, cardHome) // the next card on the list
		}
		t = t.Add(uniformDuration(r, time.Minute, 30*time.Minute))
	}
}

// checkoutBot: a script buys one product over and over (a limited drop,
// resale), dozens of attempts within the hour, from a few devices and
// many accounts and addresses, filling the form in under a second. A
// few mimic people (a synthetic pointer, a second or three).
func (g *gen) checkoutBot(r *rand.Rand, t0 time.Time) {
	m := g.shop(r, shopElectronics)
	home := pick(r, countryWeights())
	price := int64(lognormal(r, 15000, 0.5))/100*100 + 99
	// Each device is a bot profile; some profiles mimic a person.
	var devs []*device
	var mimics []bool
	for range 1 + r.IntN(3) {
		k := headless
		if r.Float64() < 0.65 {
			k = pick(r, []weighted[*deviceKind]{{windowsPC, 2}, {linuxPC, 1}})
		}
		devs = append(devs, newDevice(r, k, home))
		mimics = append(mimics, r.Float64() < g.w.mimicShare(0.25))
	}
	var cards []card
	for range 2 + r.IntN(4) {
		cards = append(cards, newCard(r, home.code))
	}
	base := fmt.Sprintf("%s%d", oneOf(r, firstNames), r.IntN(1000))
	domain := oneOf(r, []string{"gmail.com", "outlook.com", "proton.me"})
	rotate := r.Float64() < 0.7
	ch := via(r, m)
	ip, geo := g.fraudNet(r, home)
	n := 8 + r.IntN(33)
	gap := uniformDuration(r, 30*time.Second, 2*time.Minute)
	t := t0
	for i := range n {
		e := fraudEvent(t, m, risk.KindPayment, CheckoutBot)
		c := cards[i%len(cards)]
		e.Method, e.CardFingerprint, e.BillingCountry, e.CardCountry = risk.MethodCard, c.fingerprint, c.country, c.country
		e.Amount, e.Currency = price, "EUR"
		e.CustomerID, e.Email = "cus_"+hex64(r), fmt.Sprintf("%s+%d@%s", base, i+1, domain)
		e.CustomerCreatedAt = g.fraudAccount(t, 10*time.Minute)
		if rotate {
			ip, geo = g.fraudNet(r, home)
		}
		e.IP, e.Geo = ip, geo
		d := devs[i%len(devs)]
		if g.w != classic && mimics[i%len(devs)] && r.Float64() < g.w.stealth {
			// An anti-detect browser: a fresh profile for every order.
			d = newDevice(r, d.kind, home)
		}
		if r.Float64() < 0.1 {
			e.UserAgent = d.userAgent // the page script did not run
		} else {
			page(e, d, g.w.scriptSignals(r, d, charsCardNew+charsEmail, fieldsCardNew+fieldsEmail, 0.35, mimics[i%len(devs)]))
		}
		ch.apply(e)
		e.Outcome = outcome(r, 0.55, 0.3)
		g.add(e)
		t = t.Add(time.Duration(r.ExpFloat64() * float64(gap)))
	}
}

// multiAccounting: one person opens account after account at a betting
// operator for its sign-up bonus: one device (or one browser whose
// cookie they clear, so the fingerprint stays), small deposits of the
// bonus minimum, some cashed out hours later.
func (g *gen) multiAccounting(r *rand.Rand, t0 time.Time) {
	m := g.operator(r, true)
	if m == nil {
		return
	}
	home := pick(r, countryWeights())
	d := newDevice(r, pick(r, legitDevices), home)
	clears := r.Float64() < 0.4
	mobile := d.kind.touch && r.Float64() < 0.5
	// An adaptive ring opens each account from a fresh address (another
	// line, a phone's hotspot, a proxy) and a cleared browser.
	fresh := g.w != classic && r.Float64() < g.w.maFreshIP
	if fresh {
		clears = true
	}
	ch := via(r, m) // the operator's app may call Kassa from its server
	ip, geo := residentialNet(r, home)
	var cards []card
	if r.Float64() < 0.5 {
		for range 1 + r.IntN(2) {
			cards = append(cards, newCard(r, home.code))
		}
	}
	n := 4 + r.IntN(13)
	span := uniformDuration(r, time.Hour, 8*time.Hour)
	for i := range n {
		t := t0.Add(span * time.Duration(i) / time.Duration(n)).Add(uniformDuration(r, 0, 10*time.Minute))
		dev := d
		if clears && i > 0 {
			dev = &device{}
			*dev = *d
			dev.id = "dev_" + hex64(r)
		}
		switch {
		case fresh && r.Float64() < 0.5:
			ip, geo = g.mobileNet(r, home)
		case fresh:
			ip, geo = residentialNet(r, home)
		case mobile:
			ip, geo = g.mobileNet(r, home)
		}
		customer, mail := "cus_"+hex64(r), email(r, home)
		e := fraudEvent(t, m, risk.KindDeposit, MultiAccounting)
		e.Amount = oneOf(r, []int64{1000, 1000, 2000, 2500})
		chars, fields, away := charsPIN, fieldsPIN, awayPIN
		if len(cards) > 0 {
			c := cards[i%len(cards)]
			e.Method, e.CardFingerprint, e.CardCountry = risk.MethodCard, c.fingerprint, c.country
			chars, fields, away = charsCardNew, fieldsCardNew, awayUsual
		} else {
			e.Method, e.VoucherSerial = risk.MethodVoucher, serial(r)
		}
		e.BillingCountry = home.code
		e.CustomerID, e.Email, e.IP, e.Geo = customer, mail, ip, geo
		e.CustomerCreatedAt = g.fraudAccount(t, 20*time.Minute)
		page(e, dev, g.w.humanSignals(r, dev, typing{chars: chars, longest: 16, paste: 0.4, fields: fields, away: away, hurry: 0.6}))
		ch.apply(e)
		e.Outcome = outcome(r, 0.92, 0.03)
		g.add(e)
		if e.Outcome == risk.OutcomeApproved && r.Float64() < 0.3 {
			w := *e
			w.Time = t.Add(uniformDuration(r, time.Hour, 4*time.Hour))
			w.Kind, w.Method, w.CardFingerprint, w.VoucherSerial = risk.KindWithdrawal, risk.MethodAccount, "", ""
			w.Amount = 1500 + 100*r.Int64N(46)
			page(&w, dev, g.w.humanSignals(r, dev, typing{chars: charsAmount, fields: fieldsAmount, away: awayShort, hurry: 0.6}))
			ch.apply(&w)
			w.Outcome = outcome(r, 0.8, 0.2)
			g.add(&w)
		}
	}
}

// laundering: a mule opens an account at an operator (or, recruited,
// uses their own), deposits money from many vouchers or cards within
// hours, plays little or not at all and withdraws most of it to a bank
// account.
func (g *gen) laundering(r *rand.Rand, t0 time.Time) {
	m := g.operator(r, false)
	if m == nil {
		return
	}
	home := pick(r, countryWeights())
	d := newDevice(r, pick(r, legitDevices), home)
	ip, geo := residentialNet(r, home)
	customer, mail := "cus_"+hex64(r), email(r, home)
	if r.Float64() < 0.5 {
		mail = throwaway(r)
	}
	created := g.fraudAccount(t0, 3*24*time.Hour)
	if mule := g.victim(r); mule != nil && r.Float64() < 0.35 {
		// A recruited money mule: a real payer, their own account,
		// device and line.
		home, d = mule.home, mule.devices[0]
		customer, mail, created = mule.customerID, mule.email, mule.created
		ip = mule.line.addr.String()
		geo.Country = home.code
		geo.Lat, geo.Lon = jitter(r, mule.lat, mule.lon, 3)
	}
	ch := via(r, m)
	vouchers := r.Float64() < 0.65
	var cards []card
	for range 2 + r.IntN(4) {
		from := home.code
		if r.Float64() < 0.4 {
			from = pick(r, cardCountries)
		}
		cards = append(cards, newCard(r, from))
	}
	n := 4 + r.IntN(12)
	span := uniformDuration(r, time.Hour, 5*time.Hour)
	var total int64
	var t time.Time
	for i := range n {
		t = t0.Add(span * time.Duration(i) / time.Duration(n)).Add(uniformDuration(r, 0, 5*time.Minute))
		e := fraudEvent(t, m, risk.KindDeposit, Laundering)
		chars, fields := charsPIN, fieldsPIN
		if vouchers {
			e.Method, e.VoucherSerial, e.BillingCountry = risk.MethodVoucher, serial(r), home.code
			e.Amount = oneOf(r, []int64{5000, 10000, 10000})
		} else {
			c := cards[i%len(cards)]
			e.Method, e.CardFingerprint, e.BillingCountry, e.CardCountry = risk.MethodCard, c.fingerprint, c.country, c.country
			if g.noFullz() {
				e.BillingCountry = home.code // the mule's own address
			}
			e.Amount = 10000 + 5000*r.Int64N(9)
			chars, fields = charsCardNew, fieldsCardNew
		}
		e.CustomerID, e.Email, e.IP, e.Geo = customer, mail, ip, geo
		e.CustomerCreatedAt = created
		// The PINs or cards come as a list from whoever runs the mule.
		page(e, d, g.w.humanSignals(r, d, typing{chars: chars, longest: 16, paste: 0.6, fields: fields, away: 0.8, hurry: 0.7}))
		ch.apply(e)
		e.Outcome = outcome(r, 0.92, 0)
		if e.Outcome == risk.OutcomeApproved {
			total += e.Amount
		}
		g.add(e)
	}
	if total == 0 {
		return
	}
	out := int64(float64(total)*(0.8+0.15*r.Float64())) / 100 * 100
	parts := 1
	if r.Float64() < 0.2 {
		parts = 2
	}
	t = t.Add(uniformDuration(r, 30*time.Minute, 12*time.Hour))
	for range parts {
		e := fraudEvent(t, m, risk.KindWithdrawal, Laundering)
		e.Method, e.BillingCountry = risk.MethodAccount, home.code
		e.Amount = out / int64(parts)
		e.CustomerID, e.Email, e.IP, e.Geo = customer, mail, ip, geo
		e.CustomerCreatedAt = created
		page(e, d, g.w.humanSignals(r, d, typing{chars: charsAmount, fields: fieldsAmount, away: awayShort, hurry: 0.7}))
		ch.apply(e)
		e.Outcome = outcome(r, 0.85, 0.15)
		g.add(e)
		t = t.Add(uniformDuration(r, 5*time.Minute, 40*time.Minute))
	}
}

func fraudEvent(t time.Time, m *merchant, kind, fraudType string) *risk.Event {
	return &risk.Event{Time: t, MerchantID: m.id, Kind: kind, Currency: "EUR", Label: risk.LabelFraud, FraudType: fraudType}
}

// page sets what the hosted page reported from device d.
func page(e *risk.Event, d *device, s risk.Signals) {
	e.DeviceID, e.UserAgent, e.Signals = d.id, d.userAgent, s
}

// outcome is approved, declined or (the rest) failed.
func outcome(r *rand.Rand, approved, declined float64) string {
	switch u := r.Float64(); {
	case u < approved:
		return risk.OutcomeApproved
	case u < approved+declined:
		return risk.OutcomeDeclined
	default:
		return risk.OutcomeFailed
	}
}

// shop is a shop of the preferred kind half the time, any shop
// otherwise (any merchant when there is no shop).
func (g *gen) shop(r *rand.Rand, prefer int) *merchant {
	var all, preferred []*merchant
	for _, m := range g.merchants {
		if !m.operator() {
			all = append(all, m)
			if m.kind == prefer {
				preferred = append(preferred, m)
			}
		}
	}
	switch {
	case len(preferred) > 0 && r.Float64() < 0.5:
		return oneOf(r, preferred)
	case len(all) > 0:
		return oneOf(r, all)
	default:
		return oneOf(r, g.merchants)
	}
}

// operator is a betting operator (when betting is asked for and there is
// one) or any operator; nil when there are none.
func (g *gen) operator(r *rand.Rand, betting bool) *merchant {
	var ops, bets []*merchant
	for _, m := range g.merchants {
		if m.operator() {
			ops = append(ops, m)
			if m.kind == operatorBetting {
				bets = append(bets, m)
			}
		}
	}
	switch {
	case betting && len(bets) > 0:
		return oneOf(r, bets)
	case len(ops) > 0:
		return oneOf(r, ops)
	default:
		return nil
	}
}

// cardCountries are where stolen cards come from.
var cardCountries = []weighted[string]{
	{"DE", 25}, {"AT", 12}, {"FR", 12}, {"IT", 10}, {"ES", 8}, {"GB", 10}, {"NL", 6}, {"US", 17},
}

func countryWeights() []weighted[*country] {
	ws := make([]weighted[*country], len(homeCountries))
	for i, c := range homeCountries {
		ws[i] = weighted[*country]{c, c.homeWeight}
	}
	return ws
}

// fraudNet is where fraudsters act from: a data centre (VPS, VPN) or a
// residential or mobile line in their country.
func (g *gen) fraudNet(r *rand.Rand, c *country) (string, risk.Geo) {
	switch u := r.Float64(); {
	case u < 0.35:
		h := c
		if !h.hosting.IsValid() {
			h = countryByCode(oneOf(r, hostingCountries))
		}
		a := randomAddr(r, h.hosting)
		lat, lon := jitter(r, h.cities[0].lat, h.cities[0].lon, 2)
		return a.String(), risk.Geo{Country: h.code, Lat: lat, Lon: lon, Known: true}
	case u < 0.5:
		return g.mobileNet(r, c)
	default:
		return residentialNet(r, c)
	}
}

func residentialNet(r *rand.Rand, c *country) (string, risk.Geo) {
	city := oneOf(r, c.cities)
	lat, lon := jitter(r, city.lat, city.lon, 5)
	return randomAddr(r, oneOf(r, c.residential)).String(), risk.Geo{Country: c.code, Lat: lat, Lon: lon, Known: true}
}

// mobileNet is a phone on c's mobile network: like payers' phones,
// mostly behind a carrier-grade NAT address.
func (g *gen) mobileNet(r *rand.Rand, c *country) (string, risk.Geo) {
	a, shared := g.mobileAddr(r, c, oneOf(r, c.cities))
	lat, lon := a.lat, a.lon
	if !shared {
		lat, lon = jitter(r, a.city.lat, a.city.lon, 5)
	}
	return a.addr.String(), risk.Geo{Country: c.code, Lat: lat, Lon: lon, Known: true}
}

// throwaway is an address made for one fraud: random letters and digits.
func throwaway(r *rand.Rand) string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 6+r.IntN(5))
	for i := range b {
		b[i] = letters[r.IntN(len(letters))]
	}
	return fmt.Sprintf("%s%d@%s", b, r.IntN(1000), oneOf(r, []string{"gmail.com", "outlook.com", "proton.me", "mail.com", "yahoo.com", "gmx.net"}))
}

// localHour is the hour of day at t in c (standard time).
func localHour(t time.Time, c *country) int {
	return t.Add(time.Duration(c.utcOffset) * time.Hour).Hour()
}

// noFullz reports whether a fraudster with a card number lacks its
// owner's billing address (and types their own country): a world's share,
// drawn from the day's account stream so that the other streams are as
// before.
func (g *gen) noFullz() bool {
	return g.w.noFullz > 0 && g.acct.Float64() < g.w.noFullz
}

// lockOut: many takeovers change the password or the e-mail address
// first (the owner can no longer log in or be told), minutes before
// spending; a slow takeover does so less often, as the owner would be
// notified.
func (g *gen) lockOut(v *payer, t time.Time, slow bool) {
	share := g.w.atoChange
	if slow {
		share /= 2
	}
	if share > 0 && g.acct.Float64() < share {
		at := t.Add(-uniformDuration(g.acct, 2*time.Minute, time.Hour))
		if at.After(v.credChanged) {
			v.credChanged = at
		}
	}
}

// fraudAccount is when a fraudster's account was made for an attempt at
// t: up to fresh before it (signed up to use it), or, a world's share,
// one to thirteen months before (farmed or bought aged).
func (g *gen) fraudAccount(t time.Time, fresh time.Duration) time.Time {
	if g.w.agedFraud > 0 && g.acct.Float64() < g.w.agedFraud {
		return t.Add(-uniformDuration(g.acct, 30*24*time.Hour, 400*24*time.Hour))
	}
	return t.Add(-uniformDuration(g.acct, time.Minute, fresh))
}
