package vault

// Where cards were issued, from their BIN (the first six digits).
//
// Risk compares the issuing country with the IP address's and the billing
// country (docs/risk-features.md). Kassa ships the test BIN table below:
// the built-in test acquirer's cards and one range per country for tests
// and demonstrations. It is not a BIN database; BINs it does not know
// have no country ("").
var binCountries = map[string]string{
	"424242": "US", // the test acquirer's approved card (4242424242424242)
	"400000": "US", // its other test cards (4000000000000002, ...)
	"555555": "US", // a Mastercard test number (5555555555554444)
	"400276": "DE", // 4002760000000009
	"400040": "AT", // 4000400000000004
	"400826": "GB", // 4008260000000004
	"400250": "FR", // 4002500000000009
	"400380": "IT", // 4003800000000002
	"400724": "ES", // 4007240000000007
	"400528": "NL", // 4005280000000005
	"400756": "CH", // 4007560000000008
	"400616": "PL", // 4006160000000008
	"400566": "NG", // 4005660000000008
}

// BINCountry is the ISO 3166-1 alpha-2 country that issued cards of bin
// (a card's first six digits, CardDetails.BIN); "" when unknown.
func BINCountry(bin string) string {
	return binCountries[bin]
}
