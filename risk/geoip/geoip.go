// Package geoip locates IP addresses with a MaxMind DB file: GeoIP2 or
// GeoLite2 City (country and coordinates) or Country (country only)
// databases, or others of the same shape.
package geoip

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Location is where an IP address is, as far as the database knows.
type Location struct {
	Country string  // ISO 3166-1 alpha-2; "" unknown
	Lat     float64 // degrees
	Lon     float64 // degrees
	// Known says Lat and Lon are meaningful (0,0 is a place too).
	Known bool
}

// DB is an open database. Lookups are safe for concurrent use; Close is
// not safe to call while lookups run.
type DB struct {
	reader *maxminddb.Reader
}

// Open opens the database at path (memory-mapped). It refuses files that
// are not MaxMind DBs and databases whose type names neither a City nor a
// Country database (an ASN database, say, would locate nothing).
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open geoip database %s: %w", path, err)
	}
	typ := strings.ToLower(r.Metadata.DatabaseType)
	if !strings.Contains(typ, "city") && !strings.Contains(typ, "country") && !strings.Contains(typ, "enterprise") {
		r.Close()
		return nil, fmt.Errorf("open geoip database %s: type %q is not a City or Country database", path, r.Metadata.DatabaseType)
	}
	return &DB{reader: r}, nil
}

// Close releases the database. Closing a nil DB does nothing.
func (d *DB) Close() error {
	if d == nil {
		return nil
	}
	return d.reader.Close()
}

// Metadata returns the database's type (e.g. "GeoLite2-City") and when it
// was built, for logs and readiness checks. A nil DB returns zero values.
func (d *DB) Metadata() (databaseType string, built time.Time) {
	if d == nil {
		return "", time.Time{}
	}
	m := d.reader.Metadata
	return m.DatabaseType, m.BuildTime().UTC()
}

// record is the part of a City or Country record Lookup decodes; the
// decoder skips everything else (names, subdivisions, postal codes).
type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	// RegisteredCountry is where the network's owner registered it; it
	// stands in when a record has no country (some anycast and satellite
	// networks).
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	Location struct {
		Latitude  float64 `maxminddb:"latitude"`
		Longitude float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

var records = sync.Pool{New: func() any { return new(record) }}

// Lookup locates ip. It returns Location{} for addresses the database does
// not know and for those that have no location: invalid, unspecified,
// loopback, private, link-local and multicast addresses. IPv4-mapped IPv6
// addresses are looked up as IPv4. A nil DB returns Location{}.
//
// A record that fails to decode (a corrupt database) also gives
// Location{}: a payment is not refused for want of a location.
func (d *DB) Lookup(ip netip.Addr) Location {
	if d == nil {
		return Location{}
	}
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() {
		return Location{}
	}
	res := d.reader.Lookup(ip)
	if !res.Found() {
		return Location{}
	}
	// Decode takes an any, so a record on the stack would escape to the
	// heap on every lookup; a pool reuses them.
	rec := records.Get().(*record)
	defer records.Put(rec)
	*rec = record{}
	// NaN marks coordinates the record does not have: Decode leaves
	// absent fields as they are.
	rec.Location.Latitude, rec.Location.Longitude = math.NaN(), math.NaN()
	if err := res.Decode(rec); err != nil {
		return Location{}
	}
	loc := Location{Country: rec.Country.ISOCode}
	if loc.Country == "" {
		loc.Country = rec.RegisteredCountry.ISOCode
	}
	if len(loc.Country) != 2 {
		// Callers validate an alpha-2 code; anything else is unknown.
		loc.Country = ""
	}
	lat, lon := rec.Location.Latitude, rec.Location.Longitude
	if !math.IsNaN(lat) && !math.IsNaN(lon) && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 {
		loc.Lat, loc.Lon, loc.Known = lat, lon, true
	}
	return loc
}
