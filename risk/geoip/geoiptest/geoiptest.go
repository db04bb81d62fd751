// Package geoiptest writes small MaxMind DB files for tests, so packages
// that locate IP addresses (the risk engine, the HTTP API) can test with a
// database of their own: MaxMind's test databases are not available to
// fetch here, and real ones are not for the repository.
package geoiptest

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/kassa/kassa/risk/geoip"
)

// Built is the build time every database written here records.
var Built = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Write writes a GeoIP2-City-shaped database (record size 28, an IPv6
// tree that includes IPv4) to path. nets maps networks in CIDR notation
// ("81.2.69.0/24", "2a02:8388::/32") to their locations; a Location that
// is not Known gets a record with a country and no coordinates, as some
// real records have. Reserved networks (private, documentation) may be
// written too, to check that Lookup ignores them.
func Write(t testing.TB, path string, nets map[string]geoip.Location) {
	t.Helper()
	records := make(map[string]mmdbtype.Map, len(nets))
	for cidr, loc := range nets {
		records[cidr] = cityRecord(loc)
	}
	WriteRecords(t, path, "GeoIP2-City", 28, records)
}

// WriteCountry writes a GeoIP2-Country-shaped database (record size 24):
// countries only, whatever Lat, Lon and Known say.
func WriteCountry(t testing.TB, path string, nets map[string]geoip.Location) {
	t.Helper()
	records := make(map[string]mmdbtype.Map, len(nets))
	for cidr, loc := range nets {
		records[cidr] = mmdbtype.Map{
			"country":            country(loc.Country),
			"registered_country": country(loc.Country),
		}
	}
	WriteRecords(t, path, "GeoIP2-Country", 24, records)
}

// WriteRecords writes a database of the given type and record size (24,
// 28 or 32) whose networks hold the given records verbatim, for record
// shapes Write cannot express.
func WriteRecords(t testing.TB, path, databaseType string, recordSize int, records map[string]mmdbtype.Map) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            databaseType,
		Description:             map[string]string{"en": "Kassa test database"},
		Languages:               []string{"en"},
		IPVersion:               6,
		RecordSize:              recordSize,
		BuildEpoch:              Built.Unix(),
		IncludeReservedNetworks: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range records {
		_, network, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatalf("geoiptest: network %q: %v", cidr, err)
		}
		if err := tree.Insert(network, rec); err != nil {
			t.Fatalf("geoiptest: insert %s: %v", cidr, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// cityRecord is a City record trimmed to what Lookup reads plus a few
// fields it must skip, as a real record has.
func cityRecord(loc geoip.Location) mmdbtype.Map {
	rec := mmdbtype.Map{
		"city":               mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Test City")}},
		"continent":          mmdbtype.Map{"code": mmdbtype.String("EU"), "geoname_id": mmdbtype.Uint32(6255148)},
		"country":            country(loc.Country),
		"registered_country": country(loc.Country),
	}
	if loc.Known {
		rec["location"] = mmdbtype.Map{
			"accuracy_radius": mmdbtype.Uint16(20),
			"latitude":        mmdbtype.Float64(loc.Lat),
			"longitude":       mmdbtype.Float64(loc.Lon),
			"time_zone":       mmdbtype.String("Europe/Vienna"),
		}
	}
	return rec
}

func country(iso string) mmdbtype.Map {
	return mmdbtype.Map{
		"iso_code":   mmdbtype.String(iso),
		"geoname_id": mmdbtype.Uint32(2782113),
		"names":      mmdbtype.Map{"en": mmdbtype.String("Country " + iso)},
	}
}
