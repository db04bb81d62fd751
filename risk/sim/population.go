package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"time"
)

// device is one browser on one machine: the device cookie Kassa sets
// (ID) and what the page script reads from it.
type device struct {
	id          string
	fingerprint string
	kind        *deviceKind
	userAgent   string
	screen      string
	timezone    string
	language    string
}

func newDevice(r *rand.Rand, k *deviceKind, home *country) *device {
	return &device{
		id:          "dev_" + hex64(r),
		fingerprint: hex64(r) + hex64(r),
		kind:        k,
		userAgent:   userAgent(r, k),
		screen:      oneOf(r, k.screens),
		timezone:    home.timezone,
		language:    home.language,
	}
}

type card struct {
	fingerprint string
	country     string // where it was issued (its BIN's country)
}

func newCard(r *rand.Rand, country string) card {
	return card{fingerprint: "fp_" + hex64(r), country: country}
}

// voucher is a prepaid voucher the payer bought at a kiosk; payments
// draw on it until it is spent.
type voucher struct {
	serial  string
	balance int64 // EUR cents
}

var voucherValues = []int64{1000, 2500, 5000, 10000}

func newVoucher(r *rand.Rand, atLeast int64) voucher {
	v := voucher{serial: serial(r)}
	for _, x := range voucherValues {
		if x >= atLeast {
			v.balance = x
			return v
		}
	}
	v.balance = voucherValues[len(voucherValues)-1]
	return v
}

// serial is a voucher serial: twelve digits, as voucher.ValidSerial wants.
func serial(r *rand.Rand) string { return fmt.Sprintf("%012d", r.Uint64N(1e12)) }

func hex64(r *rand.Rand) string { return fmt.Sprintf("%016x", r.Uint64()) }

// payer is one legitimate person with their habits (fixed when the
// population is made) and their recent history (updated as they act).
type payer struct {
	customerID string
	email      string
	home       *country
	homeCity   city
	lat, lon   float64 // home, jittered around the city

	devices []*device
	cards   []card
	voucher voucher
	// voucherShare is how often they pay by voucher when a merchant
	// takes both.
	voucherShare float64
	// line is the home's internet line (shared with the household);
	// work, when not nil, is their workplace's or campus's network.
	line *line
	work *sharedAddr
	// payLocal: a payer from a non-euro country who pays in the local
	// currency.
	payLocal bool
	// vpn is how often they browse through a VPN (a data-centre exit in
	// another country).
	vpn float64

	// Spending: amounts are lognormal in EUR cents around medianCents;
	// sessionsPerDay is the Poisson rate of checkout sessions; peakHour
	// the local hour they are most active around.
	medianCents    float64
	amountSigma    float64
	sessionsPerDay float64
	peakHour       float64
	merchants      []*merchant
	used           []*merchant // the merchants they have paid at
	gambler        bool
	pasteShare     float64
	autofill       bool
	pace           float64 // scales their times on the page
	firstDay       int
	lastDay        int

	// History.
	seen         bool
	account      bool // has attempted as their account (not only as a guest)
	lastTime     time.Time
	maxCents     int64
	depositCents int64 // deposited at operators and not withdrawn yet
	trip         *trip

	// billing is the billing country they give with a card, when it is
	// not the card's (an expat who moved their address); credChanged
	// when their password, e-mail or phone last changed (zero: never),
	// changeNext that they will reset it before their next attempt.
	billing     string
	credChanged time.Time
	changeNext  bool
	// created is when their account was made: before the simulation for
	// those there from its start, minutes before their first attempt for
	// those who join during it.
	created time.Time
}

// trip is a journey abroad: the payer is in the air between depart and
// arrive (and between leave and back on the way home).
type trip struct {
	dest                        *country
	destCity                    city
	depart, arrive, leave, back time.Time
}

// newPopulation makes the payers. Some share a household device and
// line with an earlier payer (families), which is legit and looks like
// several accounts on one device; more share only the line.
func newPopulation(r *rand.Rand, n, days int, ms []*merchant) []*payer {
	homes := make([]weighted[*country], len(homeCountries))
	for i, c := range homeCountries {
		homes[i] = weighted[*country]{c, c.homeWeight}
	}
	ps := make([]*payer, n)
	for i := range ps {
		p := newPayer(r, pick(r, homes), days, ms)
		switch u := r.Float64(); {
		case i == 0:
		case u < 0.05:
			other := ps[r.IntN(i)]
			if other.home == p.home {
				p.devices[0] = other.devices[0]
				p.line = other.line
				p.homeCity, p.lat, p.lon = other.homeCity, other.lat, other.lon
			}
		case u < 0.05+householdShare:
			other := ps[r.IntN(i)]
			if other.home == p.home {
				p.line = other.line
				p.homeCity, p.lat, p.lon = other.homeCity, other.lat, other.lon
			}
		}
		ps[i] = p
	}
	return ps
}

func newPayer(r *rand.Rand, home *country, days int, ms []*merchant) *payer {
	p := &payer{
		customerID: "cus_" + hex64(r),
		home:       home,
		homeCity:   oneOf(r, home.cities),
	}
	p.lat, p.lon = jitter(r, p.homeCity.lat, p.homeCity.lon, 8)
	p.email = email(r, home)
	p.line = &line{addr: homeAddr(r, home)}
	for range 1 + r.IntN(3) {
		if len(p.devices) > 0 && r.Float64() < 0.5 {
			break // most people pay from one or two devices
		}
		p.devices = append(p.devices, newDevice(r, pick(r, legitDevices), home))
	}
	for range 1 + r.IntN(2) {
		p.cards = append(p.cards, newCard(r, home.code))
	}
	switch u := r.Float64(); {
	case u < 0.55:
		p.voucherShare = 0 // card only
	case u < 0.80:
		p.voucherShare = 1 // voucher only: no card, or will not use it online
	default:
		p.voucherShare = 0.2 + 0.6*r.Float64()
	}
	p.voucher = newVoucher(r, voucherValues[r.IntN(len(voucherValues))])
	p.payLocal = home.currency != "" && r.Float64() < 0.5
	if r.Float64() < 0.05 {
		p.vpn = 0.3 + 0.5*r.Float64()
	}
	p.medianCents = math.Exp(math.Log(2500) + 0.7*r.NormFloat64())
	p.amountSigma = 0.35 + 0.45*r.Float64()
	p.sessionsPerDay = math.Exp(math.Log(1.0) + 0.75*r.NormFloat64())
	p.gambler = r.Float64() < 0.35
	if p.gambler {
		p.sessionsPerDay *= 1.6
	}
	p.peakHour = peakHour(r)
	p.pasteShare = 0.02
	if r.Float64() < 0.15 {
		p.pasteShare = 0.3 // password managers, PINs copied from e-mail
	}
	p.autofill = r.Float64() < 0.35
	p.pace = lognormal(r, 1, 0.3)
	p.merchants = favourites(r, ms, p.gambler)
	p.firstDay, p.lastDay = 0, days
	if r.Float64() < 0.25 {
		p.firstDay = r.IntN(max(days, 1)) // joined during the period
	}
	if r.Float64() < 0.05 {
		p.lastDay = p.firstDay + r.IntN(max(days-p.firstDay, 1)) // left
	}
	return p
}

// peakHour: most people shop in the evening, some at lunch or on the way
// to work, a few at night.
func peakHour(r *rand.Rand) float64 {
	switch u := r.Float64(); {
	case u < 0.55:
		return 19 + 3*r.Float64()
	case u < 0.75:
		return 12 + 2*r.Float64()
	case u < 0.90:
		return 7.5 + 2*r.Float64()
	case u < 0.95:
		return 15 + 3*r.Float64()
	default:
		return 0.5 + 2.5*r.Float64() // night owls
	}
}

// favourites are the one to three merchants a payer uses; gamblers have
// at least one operator among them.
func favourites(r *rand.Rand, ms []*merchant, gambler bool) []*merchant {
	var shops, ops []*merchant
	for _, m := range ms {
		if m.operator() {
			ops = append(ops, m)
		} else {
			shops = append(shops, m)
		}
	}
	var fs []*merchant
	if gambler && len(ops) > 0 {
		fs = append(fs, oneOf(r, ops))
	}
	for range 1 + r.IntN(2) {
		pool := shops
		if len(pool) == 0 || (gambler && r.Float64() < 0.4 && len(ops) > 0) {
			pool = ops
		}
		if len(pool) == 0 {
			break
		}
		m := oneOf(r, pool)
		if !containsMerchant(fs, m) {
			fs = append(fs, m)
		}
	}
	if len(fs) == 0 {
		fs = append(fs, ms[0])
	}
	return fs
}

func containsMerchant(ms []*merchant, m *merchant) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

var (
	firstNames = []string{"anna", "lukas", "maria", "paul", "laura", "jonas", "sofia", "felix", "elena", "david",
		"julia", "marco", "chiara", "pierre", "camille", "javier", "lucia", "daan", "emma", "piotr", "kasia",
		"oliver", "amelia", "noah", "lena", "tomas", "eva", "max", "nina", "leon"}
	lastNames = []string{"mueller", "schmidt", "gruber", "huber", "wagner", "rossi", "bianchi", "martin", "bernard",
		"garcia", "lopez", "jansen", "devries", "nowak", "kowalski", "smith", "jones", "novak", "meier", "keller",
		"weber", "fischer", "moreau", "ferrari", "bakker"}
)

// email is a plausible personal address; with a few digits so that
// sixty payers called anna.mueller stay distinct.
func email(r *rand.Rand, home *country) string {
	f, l := oneOf(r, firstNames), oneOf(r, lastNames)
	d := oneOf(r, home.mailDomains)
	switch r.IntN(4) {
	case 0:
		return fmt.Sprintf("%s.%s%d@%s", f, l, r.IntN(100), d)
	case 1:
		return fmt.Sprintf("%c%s%d@%s", f[0], l, 1950+r.IntN(56), d)
	case 2:
		return fmt.Sprintf("%s_%s%d@%s", f, l, r.IntN(1000), d)
	default:
		return fmt.Sprintf("%s%s%d@%s", f, l[:3], r.IntN(10000), d)
	}
}

// homeAddr is a residential line's address; one in five is IPv6.
func homeAddr(r *rand.Rand, c *country) netip.Addr {
	if r.Float64() < 0.2 {
		return randomAddr(r, c.v6)
	}
	return randomAddr(r, oneOf(r, c.residential))
}
