package vault_test

import (
	"testing"

	"github.com/kassa/kassa/vault"
)

// The test BIN table knows the test acquirer's cards and one range per
// country; other BINs have no country.
func TestBINCountry(t *testing.T) {
	tests := []struct{ pan, want string }{
		{"4242424242424242", "US"},
		{"4000000000000002", "US"},
		{"4002760000000009", "DE"},
		{"4000400000000004", "AT"},
		{"4111111111111111", ""},
		{"", ""},
	}
	for _, tt := range tests {
		bin := tt.pan[:min(6, len(tt.pan))]
		if got := vault.BINCountry(bin); got != tt.want {
			t.Errorf("BINCountry(%q) = %q, want %q", bin, got, tt.want)
		}
	}
}
