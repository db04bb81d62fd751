// Package sim simulates payment attempts: payers with homes, devices,
// cards, vouchers and habits, who shop, deposit and withdraw, travel,
// mistype and are declined; and fraudsters who test stolen cards, take
// over accounts, run checkout bots, open accounts by the dozen and
// launder money through an operator. Every attempt is a risk.Event with
// its ground truth (label, fraud_type); the stream is what Kassa's fraud
// model trains on (docs/risk-events.md describes the model of behaviour
// and every parameter).
//
// The design starts from the Fraud Detection Handbook's transaction
// simulator (customer profiles with a location, spending amounts and
// frequency; terminals; fraud scenarios injected on top) and goes further:
// devices, networks and browser signals, several merchants and kinds of
// attempt, travel, and fraud that is not trivially separable.
//
// The same Config gives byte-identical output on one architecture: the
// random numbers come from PCG streams seeded by Config.Seed (one for the
// population, one per day for legit behaviour, one per day for fraud),
// and nothing depends on map order.
package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/kassa/kassa/risk"
)

// Config says what to simulate.
type Config struct {
	Seed   uint64
	Payers int
	Days   int
	// Start is the first day's midnight (UTC); zero means 2026-01-01.
	Start time.Time
	// Merchants is how many merchants there are (default 5): shops,
	// a betting and a gaming operator in turn.
	Merchants int
	// FraudRate is the share of all attempts that are fraudulent
	// (roughly; default 0.02 in world 0, the world's own rate of 0.1–1%
	// in the others).
	FraudRate float64
	// World selects an independent world (see docs/risk.md): 0 is the
	// classic simulator; every other world draws its own parameters —
	// fraud mix, page behaviour, adaptive fraud, benign look-alikes, label
	// noise — from its number, so a model can be judged on a world it was
	// never trained or tuned on.
	World int
}

// Limits on a Config.
const (
	payersMax    = 10_000_000
	daysMax      = 3660
	merchantsMax = 1000
	fraudRateMax = 0.5
)

// DefaultStart is where a simulation starts when Config.Start is zero.
var DefaultStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (c Config) withDefaults() (Config, error) {
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	c.Start = c.Start.UTC()
	if c.Merchants == 0 {
		c.Merchants = 5
	}
	if c.World < 0 || c.World > WorldsMax {
		return c, fmt.Errorf("sim: world %d must be between 0 and %d", c.World, WorldsMax)
	}
	if c.FraudRate == 0 {
		c.FraudRate = newWorld(c.World).fraudRate
	}
	switch {
	case c.Payers < 1 || c.Payers > payersMax:
		return c, fmt.Errorf("sim: payers %d must be between 1 and %d", c.Payers, payersMax)
	case c.Days < 1 || c.Days > daysMax:
		return c, fmt.Errorf("sim: days %d must be between 1 and %d", c.Days, daysMax)
	case c.Merchants < 1 || c.Merchants > merchantsMax:
		return c, fmt.Errorf("sim: merchants %d must be between 1 and %d", c.Merchants, merchantsMax)
	case c.FraudRate < 0 || c.FraudRate > fraudRateMax:
		return c, fmt.Errorf("sim: fraud rate %g must be between 0 and %g", c.FraudRate, fraudRateMax)
	}
	return c, nil
}

// Streams of random numbers, so that one part of the simulation can
// change without reshuffling the others.
const (
	streamPopulation = iota
	streamLegit
	streamFraud
	streamNetworks
	streamWorld
	streamNoise
	streamAccount
)

func stream(seed uint64, kind, day int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, splitmix(uint64(kind)<<32|uint64(day))))
}

// worldStream is stream for world n: world 0's streams are the classic
// ones; another world's are apart from them and from each other's.
func worldStream(seed uint64, n, kind, day int) *rand.Rand {
	if n == 0 {
		return stream(seed, kind, day)
	}
	return rand.New(rand.NewPCG(seed^splitmix(uint64(n)), splitmix(uint64(kind)<<32|uint64(day))))
}

// splitmix scrambles a small number into a well-spread one (SplitMix64's
// finaliser), so that neighbouring streams do not start alike.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// gen is one simulation's state.
type gen struct {
	cfg   Config
	w     *world
	noise *rand.Rand // the day's label noise
	// acct is the day's draws for cards' billing addresses and account
	// changes (a stream of its own: adding them reshuffled nothing else).
	acct      *rand.Rand
	merchants []*merchant
	payers    []*payer
	pools     map[*country]*pools
	day       int
	dayStart  time.Time
	dayEnd    time.Time
	// buf holds the day's events (and those of earlier days that fall
	// after their day's end: retries past midnight, slow fraud).
	buf []*risk.Event
	// owed is, per fraud type, how many fraudulent events the simulation
	// still owes to reach FraudRate (negative: it is ahead).
	owed [len(fraudTypes)]float64
}

// Generate simulates cfg and passes every event to emit in time order
// (non-decreasing Time), ids sim_0000000001 upwards. It holds one day's
// events in memory. An error from emit or ctx stops it.
func Generate(ctx context.Context, cfg Config, emit func(*risk.Event) error) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	g := &gen{cfg: cfg, w: newWorld(cfg.World), merchants: newMerchants(cfg.Merchants)}
	st := func(kind, day int) *rand.Rand { return worldStream(cfg.Seed, cfg.World, kind, day) }
	g.payers = newPopulation(st(streamPopulation, 0), cfg.Payers, cfg.Days, g.merchants)
	g.w.adapt(st(streamWorld, 0), g.payers)
	g.pools = newPools(st(streamNetworks, 0), g.payers)
	acct := st(streamAccount, 0)
	g.w.expatAddresses(acct, g.payers)
	accountAges(acct, g.payers, cfg.Start)
	seq := 0
	send := func(evs []*risk.Event) error {
		for _, e := range evs {
			seq++
			e.ID = fmt.Sprintf("sim_%010d", seq)
			if err := emit(e); err != nil {
				return err
			}
		}
		return nil
	}
	for day := range cfg.Days {
		if err := ctx.Err(); err != nil {
			return err
		}
		g.day = day
		g.dayStart = cfg.Start.Add(time.Duration(day) * 24 * time.Hour)
		g.dayEnd = g.dayStart.Add(24 * time.Hour)
		carried := len(g.buf)
		g.noise = st(streamNoise, day)
		g.acct = st(streamAccount, 1+day)
		legit := st(streamLegit, day)
		for _, p := range g.payers {
			g.legitDay(legit, p)
		}
		g.fraudDay(st(streamFraud, day), len(g.buf)-carried)
		// Stable: events at the same millisecond keep the order they
		// were made in, which is itself deterministic.
		slices.SortStableFunc(g.buf, func(a, b *risk.Event) int { return a.Time.Compare(b.Time) })
		n, _ := slices.BinarySearchFunc(g.buf, g.dayEnd, func(e *risk.Event, t time.Time) int { return e.Time.Compare(t) })
		if err := send(g.buf[:n]); err != nil {
			return err
		}
		g.buf = slices.Clone(g.buf[n:])
	}
	return send(g.buf)
}

// add queues an event of the current day, after checking what the
// generators promise: valid, and not before the day (those were sent).
// It removes the geolocation of addresses GeoIP does not know.
func (g *gen) add(e *risk.Event) {
	e.Time = e.Time.UTC().Truncate(time.Millisecond)
	if e.IP == "" {
		if e.Geo != (risk.Geo{}) {
			panic(fmt.Sprintf("sim: event at %s located without an address", e.Time))
		}
	} else if !located(netip.MustParseAddr(e.IP)) {
		e.Geo = risk.Geo{}
	}
	if e.Time.Before(g.dayStart) {
		panic(fmt.Sprintf("sim: event at %s before the day %s", e.Time, g.dayStart))
	}
	if err := e.Validate(); err != nil {
		panic("sim: invalid event: " + err.Error())
	}
	g.w.noise(g.noise, e)
	g.buf = append(g.buf, e)
}
