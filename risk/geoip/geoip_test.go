package geoip_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/kassa/kassa/risk/geoip"
	"github.com/kassa/kassa/risk/geoip/geoiptest"
)

var (
	vienna = geoip.Location{Country: "AT", Lat: 48.2085, Lon: 16.3721, Known: true}
	lagos  = geoip.Location{Country: "NG", Lat: 6.4541, Lon: 3.3947, Known: true}
	null   = geoip.Location{Country: "GH", Lat: 0, Lon: 0, Known: true} // 0,0 is a place
	nocity = geoip.Location{Country: "DE"}                              // a country, no coordinates
)

// testNets are the networks of the test database. The private and
// loopback ones are there to show Lookup does not consult the database
// for such addresses.
var testNets = map[string]geoip.Location{
	"81.2.69.0/24":    vienna,
	"41.58.0.0/16":    lagos,
	"2a02:8388::/32":  vienna,
	"2c0f:f248::/32":  lagos,
	"154.160.0.0/16":  null,
	"88.130.0.0/16":   nocity,
	"10.0.0.0/8":      vienna,
	"192.168.0.0/16":  vienna,
	"fe80::/10":       vienna,
	"100.64.0.0/10":   lagos,
	"198.51.100.0/24": lagos,
}

func openTest(t testing.TB) *geoip.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "city.mmdb")
	geoiptest.Write(t, path, testNets)
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestLookup(t *testing.T) {
	db := openTest(t)
	tests := []struct {
		ip   string
		want geoip.Location
	}{
		{"81.2.69.142", vienna},
		{"41.58.1.2", lagos},
		{"2a02:8388:1:2::3", vienna},
		{"2c0f:f248::1", lagos},
		{"::ffff:81.2.69.142", vienna}, // IPv4-mapped
		{"::ffff:41.58.1.2", lagos},
		{"154.160.3.4", null},
		{"88.130.1.1", nocity},
		{"100.64.1.1", lagos},   // shared address space is not private to netip
		{"198.51.100.7", lagos}, // nor is a documentation network
		{"8.8.8.8", geoip.Location{}},
		{"2001:4860::8888", geoip.Location{}},
		{"10.1.2.3", geoip.Location{}},
		{"192.168.1.1", geoip.Location{}},
		{"::ffff:10.1.2.3", geoip.Location{}},
		{"fe80::1", geoip.Location{}},
		{"fe80::1%eth0", geoip.Location{}},
		{"127.0.0.1", geoip.Location{}},
		{"::1", geoip.Location{}},
		{"0.0.0.0", geoip.Location{}},
		{"::", geoip.Location{}},
		{"169.254.1.1", geoip.Location{}},
		{"224.0.0.1", geoip.Location{}},
		{"fc00::1", geoip.Location{}},
	}
	for _, tt := range tests {
		if got := db.Lookup(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("Lookup(%s) = %+v, want %+v", tt.ip, got, tt.want)
		}
	}
	if got := db.Lookup(netip.Addr{}); got != (geoip.Location{}) {
		t.Errorf("Lookup(invalid) = %+v", got)
	}
	var nilDB *geoip.DB
	if got := nilDB.Lookup(netip.MustParseAddr("81.2.69.142")); got != (geoip.Location{}) {
		t.Errorf("nil DB Lookup = %+v", got)
	}
	if typ, built := nilDB.Metadata(); typ != "" || !built.IsZero() {
		t.Errorf("nil DB Metadata = %q, %v", typ, built)
	}
	if err := nilDB.Close(); err != nil {
		t.Errorf("nil DB Close = %v", err)
	}
}

func TestMetadata(t *testing.T) {
	db := openTest(t)
	typ, built := db.Metadata()
	if typ != "GeoIP2-City" || !built.Equal(geoiptest.Built) {
		t.Errorf("Metadata() = %q, %v; want GeoIP2-City, %v", typ, built, geoiptest.Built)
	}
}

func TestCountryDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "country.mmdb")
	geoiptest.WriteCountry(t, path, map[string]geoip.Location{"81.2.69.0/24": vienna})
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, want := db.Lookup(netip.MustParseAddr("81.2.69.1")), (geoip.Location{Country: "AT"}); got != want {
		t.Errorf("Lookup = %+v, want %+v", got, want)
	}
	if typ, _ := db.Metadata(); typ != "GeoIP2-Country" {
		t.Errorf("type %q", typ)
	}
}

func TestRecordShapes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odd.mmdb")
	iso := func(code string) mmdbtype.Map { return mmdbtype.Map{"iso_code": mmdbtype.String(code)} }
	geoiptest.WriteRecords(t, path, "GeoLite2-City", 32, map[string]mmdbtype.Map{
		// No country: the registered country stands in.
		"1.1.1.0/24": {"registered_country": iso("AU"), "location": mmdbtype.Map{
			"latitude": mmdbtype.Float64(-33.49), "longitude": mmdbtype.Float64(143.21)}},
		// A location without longitude is no location.
		"1.1.2.0/24": {"country": iso("CN"), "location": mmdbtype.Map{"latitude": mmdbtype.Float64(34.7)}},
		// Out-of-range coordinates and a malformed country code are unknown.
		"1.1.3.0/24": {"country": iso("XYZ"), "location": mmdbtype.Map{
			"latitude": mmdbtype.Float64(91), "longitude": mmdbtype.Float64(10)}},
		// A field of the wrong type fails to decode: no location, no error.
		"1.1.4.0/24": {"country": mmdbtype.Map{"iso_code": mmdbtype.Uint32(7)}},
		// Only a continent.
		"1.1.5.0/24": {"continent": mmdbtype.Map{"code": mmdbtype.String("EU")}},
	})
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tests := []struct {
		ip   string
		want geoip.Location
	}{
		{"1.1.1.1", geoip.Location{Country: "AU", Lat: -33.49, Lon: 143.21, Known: true}},
		{"1.1.2.1", geoip.Location{Country: "CN"}},
		{"1.1.3.1", geoip.Location{}},
		{"1.1.4.1", geoip.Location{}},
		{"1.1.5.1", geoip.Location{}},
	}
	for _, tt := range tests {
		if got := db.Lookup(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("Lookup(%s) = %+v, want %+v", tt.ip, got, tt.want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	city := filepath.Join(dir, "city.mmdb")
	geoiptest.Write(t, city, testNets)
	good, err := os.ReadFile(city)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	asn := filepath.Join(dir, "asn.mmdb")
	geoiptest.WriteRecords(t, asn, "GeoLite2-ASN", 24, map[string]mmdbtype.Map{
		"1.1.1.0/24": {"autonomous_system_number": mmdbtype.Uint32(13335)},
	})
	tests := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.mmdb"), "no such file"},
		{"empty", write("empty.mmdb", nil), "open geoip database"},
		{"not a database", write("text.mmdb", []byte(strings.Repeat("not a database\n", 100))), "open geoip database"},
		{"truncated", write("half.mmdb", good[:len(good)/2]), "open geoip database"},
		{"wrong type", asn, `type "GeoLite2-ASN" is not a City or Country database`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := geoip.Open(tt.path)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("Open error %q, want one naming the file and %q", err, tt.want)
			}
		})
	}
}

func TestConcurrentLookups(t *testing.T) {
	db := openTest(t)
	ips := []netip.Addr{
		netip.MustParseAddr("81.2.69.142"), netip.MustParseAddr("2c0f:f248::1"),
		netip.MustParseAddr("::ffff:41.58.1.2"), netip.MustParseAddr("8.8.8.8"),
	}
	want := []geoip.Location{vienna, lagos, lagos, {}}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := (g + i) % len(ips)
				if got := db.Lookup(ips[k]); got != want[k] {
					t.Errorf("Lookup(%s) = %+v, want %+v", ips[k], got, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkLookup(b *testing.B) {
	db := openTest(b)
	for _, bc := range []struct{ name, ip string }{
		{"city-ipv4", "81.2.69.142"},
		{"city-ipv6", "2a02:8388:1:2::3"},
		{"country-only", "88.130.1.1"},
		{"not-found", "8.8.8.8"},
		{"private", "10.1.2.3"},
	} {
		ip := netip.MustParseAddr(bc.ip)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				db.Lookup(ip)
			}
		})
	}
}
