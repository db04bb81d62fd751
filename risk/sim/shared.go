package sim

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/kassa/kassa/risk"
)

// Shared and anonymous traffic: many honest payers behind one address,
// attempts without an address, device or signals, and addresses the
// GeoIP database does not know (docs/risk-events.md explains them).
const (
	// Carrier-grade NAT: a mobile carrier puts many subscribers behind
	// each public IPv4 address. A country has one CGNAT address per
	// cgnatPayersPerAddr payers living there (at least cgnatMin; a
	// country nobody lives in, cgnatForeign), each in one of its cities.
	cgnatPayersPerAddr = 250
	cgnatMin           = 2
	cgnatForeign       = 6
	// cgnatShare is the share of sessions on a mobile network that come
	// from a CGNAT address (the rest: an address of their own, as
	// IPv6 or a carrier without CGNAT gives).
	cgnatShare = 0.7

	// Offices, campuses and public wifi: one address per
	// sharedPayersPerAddr payers of a country (at least sharedMin).
	sharedPayersPerAddr = 50
	sharedMin           = 3
	// workShare of payers work (or study) somewhere with such an
	// address; on weekdays from 9 to 17 local time atWorkShare of their
	// sessions come from there.
	workShare   = 0.3
	atWorkShare = 0.6
	// publicWifiShare of phone sessions (at home, not abroad) are on a
	// café's, station's or campus's wifi.
	publicWifiShare = 0.06
	// householdShare of payers share their home line with another payer
	// (a partner, flatmates, grown-up children) but not their devices.
	householdShare = 0.12

	// unlocatedPerMille of the /24 blocks (IPv6: /64 networks) are
	// unknown to the GeoIP database: their events have an ip but no geo.
	unlocatedPerMille = 65
)

// line is a home's internet line, shared by the payers of a household;
// its address changes now and then.
type line struct{ addr netip.Addr }

// sharedAddr is an address many payers use and where GeoIP places it
// (always the same point: the carrier's gateway, the office).
type sharedAddr struct {
	addr     netip.Addr
	city     city
	lat, lon float64
}

// pools are a country's shared addresses.
type pools struct {
	cgnat  []sharedAddr // in the mobile block
	shared []sharedAddr // offices, campuses, public wifi; in residential blocks
}

// newPools makes every country's shared addresses, scaled to how many
// payers live there, and gives some payers a workplace.
func newPools(r *rand.Rand, ps []*payer) map[*country]*pools {
	home := map[*country]int{}
	for _, p := range ps {
		home[p.home]++
	}
	used := map[netip.Addr]bool{}
	draw := func(c *country, pr netip.Prefix, i int) sharedAddr {
		a := randomAddr(r, pr)
		for used[a] {
			a = randomAddr(r, pr)
		}
		used[a] = true
		ct := c.cities[i%len(c.cities)]
		lat, lon := jitter(r, ct.lat, ct.lon, 4)
		return sharedAddr{addr: a, city: ct, lat: lat, lon: lon}
	}
	all := map[*country]*pools{}
	for _, c := range countries {
		n, m := cgnatForeign, sharedMin
		if h := home[c]; c.homeWeight > 0 {
			n = max(cgnatMin, int(math.Round(float64(h)/cgnatPayersPerAddr)))
			m = max(sharedMin, int(math.Round(float64(h)/sharedPayersPerAddr)))
		}
		pl := &pools{}
		for i := range n {
			pl.cgnat = append(pl.cgnat, draw(c, c.mobile, i))
		}
		for i := range m {
			pl.shared = append(pl.shared, draw(c, oneOf(r, c.residential), i))
		}
		all[c] = pl
	}
	for _, p := range ps {
		if r.Float64() < workShare {
			w := near(r, all[p.home].shared, p.homeCity)
			p.work = &w
		}
	}
	return all
}

// near is one of the addresses in the payer's city, or any when the
// city has none.
func near(r *rand.Rand, as []sharedAddr, c city) sharedAddr {
	n := 0
	for _, a := range as {
		if a.city == c {
			n++
		}
	}
	if n == 0 {
		return oneOf(r, as)
	}
	k := r.IntN(n)
	for _, a := range as {
		if a.city == c {
			if k == 0 {
				return a
			}
			k--
		}
	}
	panic("unreachable")
}

// mobileAddr is where a session on c's mobile network comes from: a
// CGNAT address near city, or (1 − cgnatShare) an address of its own.
// shared says which.
func (g *gen) mobileAddr(r *rand.Rand, c *country, ct city) (a sharedAddr, shared bool) {
	if r.Float64() < cgnatShare {
		return near(r, g.pools[c].cgnat, ct), true
	}
	return sharedAddr{addr: randomAddr(r, c.mobile), city: ct}, false
}

// atWork reports whether t is office hours (weekdays, 9 to 17) in c.
func atWork(t time.Time, c *country) bool {
	local := t.Add(time.Duration(c.utcOffset) * time.Hour)
	wd := local.Weekday()
	return wd != time.Saturday && wd != time.Sunday && local.Hour() >= 9 && local.Hour() < 17
}

// located reports whether the GeoIP database knows a: it misses
// unlocatedPerMille of the /24 blocks (IPv6: /64s), always the same.
func located(a netip.Addr) bool {
	a = a.Unmap()
	var x uint64
	if a.Is4() {
		b := a.As4()
		x = uint64(b[0])<<16 | uint64(b[1])<<8 | uint64(b[2])
	} else {
		b := a.As16()
		x = binary.BigEndian.Uint64(b[:8])
	}
	return splitmix(x^0x9e0_1a7e)%1000 >= unlocatedPerMille
}

// channel is how an attempt reaches Kassa: through the hosted page
// (address, device, signals), or from the merchant's server (its app's
// backend, a server-to-server integration: no device or signals), with
// or without the payer's address and user agent.
type channel struct {
	server bool // no device_id, no client_signals
	ip     bool // the payer's address (and user agent) forwarded
}

var hostedPage = channel{ip: true}

// via draws the channel of an attempt at m.
func via(r *rand.Rand, m *merchant) channel {
	if r.Float64() < m.server {
		return channel{server: true, ip: r.Float64() < m.forwardIP}
	}
	return hostedPage
}

// apply removes what the channel does not carry from an event made as
// if it came through the page.
func (c channel) apply(e *risk.Event) {
	if c.server {
		e.DeviceID, e.Signals = "", risk.Signals{}
	}
	if !c.ip {
		e.IP, e.Geo, e.UserAgent = "", risk.Geo{}, ""
	}
}
