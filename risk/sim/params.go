package sim

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/kassa/kassa/risk"
)

// FriendlyFraud is the fraud_type of label noise: a legitimate payer's own
// approved payment that they later dispute. Nothing in the attempt can
// tell it apart, so no model should be judged on catching it.
const FriendlyFraud = "friendly_fraud"

// WorldsMax bounds Config.World.
const WorldsMax = 1_000_000

// world is what differs between independent worlds: how the population
// behaves on the page, which fraud is common and how far fraudsters
// adapt, how often honest payers look like them, and how noisy the labels
// are. World 0 is the classic simulator (its parameters are the constants
// the package was written with); every other world draws its own from its
// number alone, so that world N is the same whatever the seed, and a
// model can be trained on some worlds and judged on one it never saw.
type world struct {
	n int

	// fraudRate is the share of fraudulent attempts when Config.FraudRate
	// is not given; share scales each fraud type's share of them.
	fraudRate float64
	share     [len(fraudTypes)]float64

	// Page behaviour of people: the floor of time to submit (ms), the
	// median ms per key, the median of reading and thinking before the
	// first input, the medians of the coefficient of variation of their
	// key and pointer intervals.
	humanFloorMS, perKeyMS, readMS float64
	humanKeyCV, humanPointerCV     float64

	// Bots: the share that mimic people (pointer, typing, seconds); the
	// most jitter a mimic adds to its intervals (as a coefficient of
	// variation); how long a mimic takes to submit (ms).
	mimic     float64
	botJitter float64
	// stealth is the share of mimics that hide navigator.webdriver and
	// move the pointer as much as a person would (the classic ones do
	// neither: their pointer moves a few dozen times).
	stealth        float64
	mimicSubmitLo  float64
	mimicSubmitSpn float64

	// Adaptive fraud: card testers who rotate residential proxies (a
	// fresh IP per attempt) with a mimicking page script; takeovers from
	// the payer's own country, days after the credentials leaked, at the
	// payer's hours; stolen-card fraudsters who type slowly and carefully;
	// multi-accounters on a fresh (mobile) IP per account.
	ctRotate, atoInCountry, atoSlow, stolenSlow, maFreshIP float64

	// Benign look-alikes: new devices, pastes (password managers), expats
	// whose card is from another country, VPN users, travel.
	newDevice, pasteScale, expat, vpn, travel float64

	// Cards and accounts: the share of takeovers that change the
	// password or e-mail first, the daily chance an honest account holder
	// changes theirs, the share of card fraudsters without the card's
	// billing address, and of expats whose billing address is where they
	// live rather than the card's country.
	atoChange, credChange, noFullz, expatBilling float64
	// agedFraud is the share of fraudsters' accounts that were made long
	// before (farmed or bought), not minutes before they are used.
	agedFraud float64

	// Label noise: legit approved card payments disputed as fraud
	// (friendly fraud), and fraud never charged back (labelled legit).
	friendly, missedFraud float64
}

// classic is world 0: the simulator as first written.
var classic = &world{
	fraudRate:    0.02,
	share:        [len(fraudTypes)]float64{1, 1, 1, 1, 1, 1},
	humanFloorMS: 900, perKeyMS: 260, readMS: 3500,
	humanKeyCV: 0.45, humanPointerCV: 0.9,
	mimic: -1, botJitter: 0.15, mimicSubmitLo: 1200, mimicSubmitSpn: 3500,
	newDevice: newDeviceShare, pasteScale: 1, travel: 1,
}

// newWorld draws world n's parameters (n ≥ 1) from n alone.
func newWorld(n int) *world {
	if n == 0 {
		return classic
	}
	r := rand.New(rand.NewPCG(uint64(n), 0x5eed_0f_0e_a11d))
	u := func(lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }
	w := &world{n: n}
	w.fraudRate = math.Exp(u(math.Log(0.001), math.Log(0.01)))
	for i := range w.share {
		w.share[i] = math.Exp(0.6 * r.NormFloat64())
	}
	w.humanFloorMS = u(150, 400)
	w.perKeyMS = u(170, 330)
	w.readMS = u(1500, 4500)
	w.humanKeyCV = u(0.3, 0.6)
	w.humanPointerCV = u(0.6, 1.2)
	w.mimic = u(0.5, 0.9)
	w.stealth = u(0.5, 0.95)
	w.botJitter = u(0.1, 0.35)
	w.mimicSubmitLo = u(1200, 1800)
	w.mimicSubmitSpn = u(1200, 4000)
	w.ctRotate = u(0.4, 0.9)
	w.atoInCountry = u(0.4, 0.85)
	w.atoSlow = u(0.2, 0.6)
	w.stolenSlow = u(0.2, 0.6)
	w.maFreshIP = u(0.3, 0.8)
	w.newDevice = u(0.004, 0.02)
	w.pasteScale = u(1, 3)
	w.expat = u(0.02, 0.08)
	w.vpn = u(0.02, 0.08)
	w.travel = u(1, 3)
	w.friendly = u(0.0001, 0.0005)
	w.missedFraud = u(0, 0.05)
	// Drawn after the others, so that adding them changed no world.
	w.atoChange = u(0.25, 0.75)
	w.credChange = u(0.001, 0.004)
	w.noFullz = u(0.2, 0.6)
	w.expatBilling = u(0.3, 0.7)
	w.agedFraud = u(0.1, 0.4)
	return w
}

// mimicShare is the share of bots that mimic people: the classic world's
// own rate per pattern, or the world's.
func (w *world) mimicShare(classicShare float64) float64 {
	if w.mimic < 0 {
		return classicShare
	}
	return w.mimic
}

// adapt applies the world's benign look-alikes to the population: more
// pastes, expats paying with a card from another country, more VPN users.
func (w *world) adapt(r *rand.Rand, ps []*payer) {
	if w == classic {
		return
	}
	for _, p := range ps {
		p.pasteShare = min(0.9, p.pasteShare*w.pasteScale)
		if r.Float64() < w.expat {
			from := pick(r, cardCountries)
			if from == p.home.code {
				from = "GB"
			}
			for i := range p.cards {
				p.cards[i].country = from
			}
		}
		if p.vpn == 0 && r.Float64() < w.vpn {
			p.vpn = 0.2 + 0.5*r.Float64()
		}
	}
}

// expatAddresses gives some expats (payers whose cards come from another
// country) their home as billing country, from a stream of its own.
func (w *world) expatAddresses(r *rand.Rand, ps []*payer) {
	for _, p := range ps {
		if len(p.cards) > 0 && p.cards[0].country != p.home.code && r.Float64() < w.expatBilling {
			p.billing = p.home.code
		}
	}
}

// accountAges dates the accounts of the payers there from the start:
// a week to five years old (log-uniform). Those who join later make
// theirs just before their first attempt (payer.account).
func accountAges(r *rand.Rand, ps []*payer, start time.Time) {
	for _, p := range ps {
		if p.firstDay == 0 {
			days := math.Exp(math.Log(7) + (math.Log(5*365)-math.Log(7))*r.Float64())
			p.created = start.Add(-time.Duration(days * 24 * float64(time.Hour)))
		}
	}
}

// noise applies the world's label noise to an event about to be added:
// a legit approved card payment disputed by its own payer, or a fraud
// nobody charged back.
func (w *world) noise(r *rand.Rand, e *risk.Event) {
	if w == classic {
		return
	}
	switch {
	case e.Label == risk.LabelLegit && e.Kind == risk.KindPayment && e.Method == risk.MethodCard &&
		e.Outcome == risk.OutcomeApproved && r.Float64() < w.friendly:
		e.Label, e.FraudType = risk.LabelFraud, FriendlyFraud
	case e.Label == risk.LabelFraud && r.Float64() < w.missedFraud:
		e.Label, e.FraudType = risk.LabelLegit, ""
	}
}

// cv is a coefficient of variation as the page reports it: rounded to
// three decimals and never 0 (0 means not measured).
func cv(x float64) float64 { return max(0.001, math.Round(x*1000)/1000) }
