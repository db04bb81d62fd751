package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
)

// country is a place payers live in or travel to, with the synthetic
// address ranges the simulator draws its IPs from there.
type country struct {
	code      string
	utcOffset int // hours, standard time (the simulator ignores summer time)
	timezone  string
	language  string
	// homeWeight is the country's share of payers; 0 for countries that
	// only travellers and fraudsters act from.
	homeWeight float64
	// currency and eurRate: the local currency some of its payers pay in
	// (units per EUR); "" means EUR.
	currency string
	eurRate  float64
	cities   []city
	// residential and mobile are access networks; hosting is a data
	// centre (VPNs, proxies and bots live there); v6 is an IPv6 /48
	// under 2001:db8::/32 (RFC 3849) for residential lines.
	residential []netip.Prefix
	mobile      netip.Prefix
	hosting     netip.Prefix
	v6          netip.Prefix
	mailDomains []string
}

type city struct {
	name     string
	lat, lon float64
}

func p(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// countries: ten home countries first, then places that only travellers
// and fraudsters act from. The IPv4 blocks look like the public access
// networks of those countries but are synthetic: nothing about real
// address owners follows from them.
var countries = []*country{
	{code: "DE", utcOffset: 1, timezone: "Europe/Berlin", language: "de-DE", homeWeight: 0.25,
		cities:      []city{{"Berlin", 52.520, 13.405}, {"Hamburg", 53.551, 9.994}, {"Munich", 48.137, 11.576}, {"Cologne", 50.938, 6.960}, {"Frankfurt", 50.110, 8.682}},
		residential: []netip.Prefix{p("79.192.0.0/16"), p("91.64.0.0/16")}, mobile: p("80.187.0.0/16"), hosting: p("88.99.0.0/16"), v6: p("2001:db8:de::/48"),
		mailDomains: []string{"gmx.de", "web.de", "t-online.de", "gmail.com"}},
	{code: "AT", utcOffset: 1, timezone: "Europe/Vienna", language: "de-AT", homeWeight: 0.20,
		cities:      []city{{"Vienna", 48.208, 16.373}, {"Graz", 47.071, 15.439}, {"Linz", 48.306, 14.286}, {"Salzburg", 47.809, 13.055}, {"Innsbruck", 47.269, 11.404}},
		residential: []netip.Prefix{p("77.116.0.0/16"), p("84.113.0.0/16")}, mobile: p("178.115.0.0/16"), v6: p("2001:db8:a7::/48"),
		mailDomains: []string{"gmx.at", "aon.at", "gmail.com", "chello.at"}},
	{code: "IT", utcOffset: 1, timezone: "Europe/Rome", language: "it-IT", homeWeight: 0.10,
		cities:      []city{{"Rome", 41.903, 12.496}, {"Milan", 45.464, 9.190}, {"Naples", 40.852, 14.268}, {"Turin", 45.070, 7.687}},
		residential: []netip.Prefix{p("79.20.0.0/16"), p("93.44.0.0/16")}, mobile: p("5.90.0.0/16"), v6: p("2001:db8:17::/48"),
		mailDomains: []string{"libero.it", "virgilio.it", "gmail.com", "hotmail.it"}},
	{code: "FR", utcOffset: 1, timezone: "Europe/Paris", language: "fr-FR", homeWeight: 0.10,
		cities:      []city{{"Paris", 48.857, 2.352}, {"Lyon", 45.764, 4.836}, {"Marseille", 43.297, 5.370}, {"Toulouse", 43.605, 1.444}},
		residential: []netip.Prefix{p("90.3.0.0/16"), p("86.246.0.0/16")}, mobile: p("92.184.0.0/16"), hosting: p("51.38.0.0/16"), v6: p("2001:db8:f7::/48"),
		mailDomains: []string{"orange.fr", "free.fr", "gmail.com", "laposte.net"}},
	{code: "ES", utcOffset: 1, timezone: "Europe/Madrid", language: "es-ES", homeWeight: 0.08,
		cities:      []city{{"Madrid", 40.417, -3.704}, {"Barcelona", 41.385, 2.173}, {"Valencia", 39.470, -0.376}, {"Seville", 37.389, -5.984}},
		residential: []netip.Prefix{p("88.6.0.0/16"), p("83.44.0.0/16")}, mobile: p("37.11.0.0/16"), v6: p("2001:db8:e5::/48"),
		mailDomains: []string{"gmail.com", "hotmail.es", "yahoo.es", "telefonica.net"}},
	{code: "NL", utcOffset: 1, timezone: "Europe/Amsterdam", language: "nl-NL", homeWeight: 0.07,
		cities:      []city{{"Amsterdam", 52.368, 4.904}, {"Rotterdam", 51.924, 4.478}, {"Utrecht", 52.091, 5.122}},
		residential: []netip.Prefix{p("84.104.0.0/16"), p("145.53.0.0/16")}, mobile: p("31.149.0.0/16"), hosting: p("185.107.0.0/16"), v6: p("2001:db8:91::/48"),
		mailDomains: []string{"ziggo.nl", "kpnmail.nl", "gmail.com", "outlook.com"}},
	{code: "PL", utcOffset: 1, timezone: "Europe/Warsaw", language: "pl-PL", homeWeight: 0.06, currency: "PLN", eurRate: 4.3,
		cities:      []city{{"Warsaw", 52.230, 21.012}, {"Krakow", 50.065, 19.945}, {"Wroclaw", 51.108, 17.039}},
		residential: []netip.Prefix{p("83.24.0.0/16"), p("89.64.0.0/16")}, mobile: p("37.47.0.0/16"), v6: p("2001:db8:71::/48"),
		mailDomains: []string{"wp.pl", "onet.pl", "gmail.com", "interia.pl"}},
	{code: "GB", utcOffset: 0, timezone: "Europe/London", language: "en-GB", homeWeight: 0.05, currency: "GBP", eurRate: 0.85,
		cities:      []city{{"London", 51.507, -0.128}, {"Manchester", 53.481, -2.243}, {"Birmingham", 52.486, -1.890}},
		residential: []netip.Prefix{p("86.128.0.0/16"), p("81.96.0.0/16")}, mobile: p("92.40.0.0/16"), hosting: p("178.62.0.0/16"), v6: p("2001:db8:6b::/48"),
		mailDomains: []string{"gmail.com", "outlook.com", "btinternet.com", "yahoo.co.uk"}},
	{code: "CH", utcOffset: 1, timezone: "Europe/Zurich", language: "de-CH", homeWeight: 0.05, currency: "CHF", eurRate: 0.94,
		cities:      []city{{"Zurich", 47.377, 8.540}, {"Geneva", 46.204, 6.143}, {"Basel", 47.560, 7.589}},
		residential: []netip.Prefix{p("83.76.0.0/16"), p("85.1.0.0/16")}, mobile: p("178.197.0.0/16"), v6: p("2001:db8:c4::/48"),
		mailDomains: []string{"bluewin.ch", "gmx.ch", "gmail.com"}},
	{code: "CZ", utcOffset: 1, timezone: "Europe/Prague", language: "cs-CZ", homeWeight: 0.04, currency: "CZK", eurRate: 25,
		cities:      []city{{"Prague", 50.076, 14.438}, {"Brno", 49.195, 16.607}},
		residential: []netip.Prefix{p("89.24.0.0/16"), p("94.112.0.0/16")}, mobile: p("46.135.0.0/16"), v6: p("2001:db8:c2::/48"),
		mailDomains: []string{"seznam.cz", "email.cz", "gmail.com"}},

	{code: "US", utcOffset: -5, timezone: "America/New_York", language: "en-US",
		cities:      []city{{"New York", 40.713, -74.006}, {"Ashburn", 39.044, -77.487}, {"Miami", 25.762, -80.192}},
		residential: []netip.Prefix{p("73.0.0.0/16")}, mobile: p("172.58.0.0/16"), hosting: p("54.80.0.0/16"), v6: p("2001:db8:55::/48"),
		mailDomains: []string{"gmail.com", "yahoo.com", "outlook.com"}},
	{code: "TR", utcOffset: 3, timezone: "Europe/Istanbul", language: "tr-TR",
		cities:      []city{{"Istanbul", 41.008, 28.978}, {"Antalya", 36.897, 30.713}},
		residential: []netip.Prefix{p("78.160.0.0/16")}, mobile: p("176.88.0.0/16"), v6: p("2001:db8:90::/48"),
		mailDomains: []string{"gmail.com", "hotmail.com"}},
	{code: "BR", utcOffset: -3, timezone: "America/Sao_Paulo", language: "pt-BR",
		cities:      []city{{"Sao Paulo", -23.551, -46.633}, {"Rio de Janeiro", -22.907, -43.173}},
		residential: []netip.Prefix{p("177.32.0.0/16")}, mobile: p("191.244.0.0/16"), v6: p("2001:db8:b2::/48"),
		mailDomains: []string{"gmail.com", "hotmail.com", "uol.com.br"}},
	{code: "NG", utcOffset: 1, timezone: "Africa/Lagos", language: "en-NG",
		cities:      []city{{"Lagos", 6.524, 3.379}, {"Abuja", 9.076, 7.399}},
		residential: []netip.Prefix{p("105.112.0.0/16")}, mobile: p("102.89.0.0/16"), v6: p("2001:db8:4e::/48"),
		mailDomains: []string{"gmail.com", "yahoo.com"}},
	{code: "VN", utcOffset: 7, timezone: "Asia/Ho_Chi_Minh", language: "vi-VN",
		cities:      []city{{"Hanoi", 21.028, 105.834}, {"Ho Chi Minh City", 10.823, 106.630}},
		residential: []netip.Prefix{p("113.160.0.0/16")}, mobile: p("171.224.0.0/16"), v6: p("2001:db8:84::/48"),
		mailDomains: []string{"gmail.com", "yahoo.com"}},
}

// homeCountries is the prefix of countries payers live in.
var homeCountries = func() []*country {
	var hs []*country
	for _, c := range countries {
		if c.homeWeight > 0 {
			hs = append(hs, c)
		}
	}
	return hs
}()

func countryByCode(code string) *country {
	for _, c := range countries {
		if c.code == code {
			return c
		}
	}
	panic("sim: unknown country " + code)
}

// Network is an address range the simulator draws IPs from and where a
// GeoIP database should place it. A test or development GeoIP built from
// Networks agrees with the geo the simulator writes into its events (at
// country level; the simulator jitters coordinates around each payer's
// home).
type Network struct {
	Prefix  netip.Prefix
	Country string
	City    string
	Lat     float64
	Lon     float64
	// Kind is "residential", "mobile" or "hosting" (a data centre).
	Kind string
}

// Networks lists every range the simulator uses.
func Networks() []Network {
	var ns []Network
	for _, c := range countries {
		capital := c.cities[0]
		add := func(pr netip.Prefix, kind string) {
			if pr.IsValid() {
				ns = append(ns, Network{Prefix: pr, Country: c.code, City: capital.name, Lat: capital.lat, Lon: capital.lon, Kind: kind})
			}
		}
		for _, pr := range c.residential {
			add(pr, "residential")
		}
		add(c.v6, "residential")
		add(c.mobile, "mobile")
		add(c.hosting, "hosting")
	}
	return ns
}

// hostingCountries are where VPN exits, proxies and bots have servers.
var hostingCountries = []string{"DE", "NL", "FR", "GB", "US"}

// randomAddr returns an address in pr with random host bits, avoiding
// the .0 and .255 ends of IPv4 blocks.
func randomAddr(r *rand.Rand, pr netip.Prefix) netip.Addr {
	b := pr.Addr().As16()
	bits := pr.Bits()
	off := 0
	if pr.Addr().Is4() {
		off = 96
	}
	for i := off + bits; i < 128; i++ {
		if r.IntN(2) == 1 {
			b[i/8] |= 1 << (7 - i%8)
		}
	}
	a := netip.AddrFrom16(b)
	if pr.Addr().Is4() {
		a = a.Unmap()
		v4 := a.As4()
		if v4[3] == 0 || v4[3] == 255 {
			v4[3] = byte(1 + r.IntN(254))
		}
		a = netip.AddrFrom4(v4)
	}
	return a
}

// jitter is a point about km from lat, lon: what a city-level GeoIP
// answers for an address there.
func jitter(r *rand.Rand, lat, lon, km float64) (float64, float64) {
	dlat := r.NormFloat64() * km / 111
	dlon := r.NormFloat64() * km / (111 * math.Cos(lat*math.Pi/180))
	return round4(math.Max(-90, math.Min(90, lat+dlat))), round4(math.Max(-180, math.Min(180, lon+dlon)))
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }

// distanceKM is the great-circle distance (haversine).
func distanceKM(lat1, lon1, lat2, lon2 float64) float64 {
	const earthRadiusKM = 6371
	rad := math.Pi / 180
	dlat := (lat2 - lat1) * rad
	dlon := (lon2 - lon1) * rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * earthRadiusKM * math.Asin(math.Sqrt(a))
}

// Merchant kinds.
const (
	shopElectronics = iota
	shopFashion
	shopDigital
	operatorBetting
	operatorGaming
)

type merchant struct {
	id   string
	kind int
	// amountScale multiplies a payer's typical amount: a laptop shop
	// sells dearer things than a game-credits shop.
	amountScale float64
	// server is the share of attempts the merchant sends from its own
	// server (its app's backend, a server-to-server integration) rather
	// than through the hosted page: no device_id and no client_signals.
	// forwardIP is the share of those that carry the payer's address
	// and user agent; the others carry none (not forwarded, or a private
	// or proxy address, which Kassa drops).
	server, forwardIP float64
}

func (m *merchant) operator() bool { return m.kind == operatorBetting || m.kind == operatorGaming }

// merchantKinds cycles so that five merchants cover every kind, the
// first two a shop and a betting operator.
var merchantKinds = []int{shopElectronics, operatorBetting, shopDigital, operatorGaming, shopFashion}

func newMerchants(n int) []*merchant {
	ms := make([]*merchant, n)
	for i := range ms {
		k := merchantKinds[i%len(merchantKinds)]
		m := &merchant{id: fmt.Sprintf("mer_%d", i+1), kind: k}
		switch k {
		case shopElectronics:
			m.amountScale, m.server, m.forwardIP = 2.2, 0.04, 0.5
		case shopFashion:
			m.amountScale, m.server, m.forwardIP = 1.3, 0.04, 0.5
		case shopDigital:
			m.amountScale, m.server, m.forwardIP = 0.45, 0.45, 0.15
		case operatorBetting:
			m.amountScale, m.server, m.forwardIP = 0.9, 0.08, 0.5
		case operatorGaming:
			m.amountScale, m.server, m.forwardIP = 0.7, 0.25, 0.4
		}
		ms[i] = m
	}
	return ms
}

// Device kinds, with the user agents and screens they report.
type deviceKind struct {
	name     string
	platform string
	touch    bool
	screens  []string
	uas      []uaTemplate
}

// uaTemplate is a user agent whose %d is a version between lo and
// lo+n-1.
type uaTemplate struct {
	format string
	lo, n  int
}

const (
	chromeUA  = "Mozilla/5.0 (%s) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%%d.0.0.0 Safari/537.36"
	safariMac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.%d Safari/605.1.15"
)

var (
	windowsPC = &deviceKind{name: "windows", platform: "Win32", screens: []string{"1920x1080", "1366x768", "1536x864", "2560x1440", "1280x720"},
		uas: []uaTemplate{
			{fmt.Sprintf(chromeUA, "Windows NT 10.0; Win64; x64"), 141, 6},
			{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%[1]d.0.0.0 Safari/537.36 Edg/%[1]d.0.0.0", 141, 6},
			{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:%[1]d.0) Gecko/20100101 Firefox/%[1]d.0", 144, 4},
		}}
	mac = &deviceKind{name: "mac", platform: "MacIntel", screens: []string{"1440x900", "1512x982", "1728x1117", "2560x1440"},
		uas: []uaTemplate{{safariMac, 0, 3}, {fmt.Sprintf(chromeUA, "Macintosh; Intel Mac OS X 10_15_7"), 141, 6}}}
	linuxPC = &deviceKind{name: "linux", platform: "Linux x86_64", screens: []string{"1920x1080", "2560x1440", "1366x768"},
		uas: []uaTemplate{
			{"Mozilla/5.0 (X11; Linux x86_64; rv:%[1]d.0) Gecko/20100101 Firefox/%[1]d.0", 144, 4},
			{fmt.Sprintf(chromeUA, "X11; Linux x86_64"), 141, 6},
		}}
	iPhone = &deviceKind{name: "iphone", platform: "iPhone", touch: true, screens: []string{"390x844", "393x852", "430x932", "375x667"},
		uas: []uaTemplate{{"Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.%d Mobile/15E148 Safari/604.1", 0, 3}}}
	android = &deviceKind{name: "android", platform: "Linux armv81", touch: true, screens: []string{"412x915", "360x800", "384x854", "412x892"},
		uas: []uaTemplate{
			{"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.0.0 Mobile Safari/537.36", 141, 6},
			{"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/%d.0 Chrome/140.0.0.0 Mobile Safari/537.36", 27, 3},
		}}
	// iPadOS asks for desktop pages: a Mac user agent and platform, but
	// a touch screen.
	iPad = &deviceKind{name: "ipad", platform: "MacIntel", touch: true, screens: []string{"820x1180", "1024x1366", "810x1080"},
		uas: []uaTemplate{{safariMac, 0, 3}}}
	// headless is what browser automation reports when it does not hide.
	headless = &deviceKind{name: "headless", platform: "Linux x86_64", screens: []string{"800x600", "1920x1080", "1280x720"},
		uas: []uaTemplate{{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/%d.0.0.0 Safari/537.36", 138, 8}}}
)

// scriptUAs are HTTP clients that call a merchant's API directly.
var scriptUAs = []string{"python-requests/2.32.3", "Go-http-client/2.0", "curl/8.11.1", "axios/1.7.9"}

// legitDevices are what payers own, weighted by how common they are.
var legitDevices = []weighted[*deviceKind]{
	{android, 30}, {iPhone, 25}, {windowsPC, 28}, {mac, 12}, {iPad, 4}, {linuxPC, 1},
}

// fraudDevices are what fraudsters who act by hand use.
var fraudDevices = []weighted[*deviceKind]{
	{windowsPC, 45}, {android, 20}, {linuxPC, 15}, {mac, 8}, {iPhone, 12},
}

type weighted[T any] struct {
	v T
	w float64
}

func pick[T any](r *rand.Rand, ws []weighted[T]) T {
	var sum float64
	for _, x := range ws {
		sum += x.w
	}
	u := r.Float64() * sum
	for _, x := range ws {
		u -= x.w
		if u < 0 {
			return x.v
		}
	}
	return ws[len(ws)-1].v
}

func oneOf[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// userAgent is one of the kind's user agents with a plausible version.
func userAgent(r *rand.Rand, k *deviceKind) string {
	t := oneOf(r, k.uas)
	return fmt.Sprintf(t.format, t.lo+r.IntN(t.n))
}
