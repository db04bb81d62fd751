package voucher

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/kassa/kassa"
)

func TestNormalizePIN(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"1234567890123456", "1234567890123456", true},
		{"1234-5678-9012-3456", "1234567890123456", true},
		{" 1234 5678 9012 3456 ", "1234567890123456", true},
		{"1234 - 5678 -- 9012 3456", "1234567890123456", true},
		{"123456789012345", "", false},
		{"12345678901234567", "", false},
		{"1234567890I23456", "", false},
		{"1234\t5678901234 56", "", false},
		{"１２３４567890123456", "", false}, // full-width digits are not digits here
		{"", "", false},
		{"----------------", "", false},
		{string(bytes.Repeat([]byte{' '}, 60)) + "1234567890123456", "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizePIN(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizePIN(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestValidSerial(t *testing.T) {
	for s, want := range map[string]bool{"000000000001": true, "123456789012": true, "12345678901": false,
		"1234567890123": false, "12345678901a": false, "": false} {
		if got := ValidSerial(s); got != want {
			t.Errorf("ValidSerial(%q) = %v", s, got)
		}
	}
}

func TestPINHashIsKeyed(t *testing.T) {
	k1, k2 := GenerateKey(), GenerateKey()
	pin := "1234567890123456"
	if bytes.Equal(pinHash(k1, pin), pinHash(k2, pin)) {
		t.Error("the hash does not depend on the key")
	}
	if !bytes.Equal(pinHash(k1, pin), pinHash(k1, pin)) || bytes.Equal(pinHash(k1, pin), pinHash(k1, "1234567890123457")) {
		t.Error("the hash is not a function of the PIN")
	}
	if bytes.Contains(pinHash(k1, pin), []byte(pin)) {
		t.Error("the hash contains the PIN")
	}
}

func TestIPSubject(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2::9":      "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
		"not an ip":            "not an ip",
	} {
		if got := ipSubject(in); got != want {
			t.Errorf("ipSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLockedOutError(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := lockedOut(Lockout{Until: now.Add(1500 * time.Millisecond)}, now)
	var le *LockedOutError
	if !errors.As(err, &le) || le.Seconds() != 2 {
		t.Errorf("Seconds of 1.5 s = %v, want 2", err)
	}
	if ke := kassa.AsError(err); ke == nil || ke.Kind != kassa.ERateLimited || ke.Code != CodePINAttemptsExceeded {
		t.Errorf("kassa error = %v", ke)
	}
	if s := lockedOut(Lockout{Until: now}, now).(*LockedOutError).Seconds(); s != 1 {
		t.Errorf("Seconds at the end = %d, want at least 1", s)
	}
}

func TestNewChecksConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Store: nilStore{}},
		{Store: nilStore{}, Ledger: nilLedger{}, PINKey: make([]byte, PINKeyLengthMin-1)},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted it", cfg)
		}
	}
	if _, err := New(Config{Store: nilStore{}, Ledger: nilLedger{}, PINKey: GenerateKey()}); err != nil {
		t.Error(err)
	}
}

func TestLimitsDefaults(t *testing.T) {
	l := Limits{IP: Limit{Failures: 3}}.withDefaults()
	if l.IP != (Limit{3, IPWindow, IPLockout}) || l.Payment != DefaultLimits.Payment || l.Serial != DefaultLimits.Serial {
		t.Errorf("withDefaults = %+v", l)
	}
}

// nilStore and nilLedger satisfy the interfaces for tests that never
// reach storage.
type nilStore struct{ Store }
type nilLedger struct{ Ledger }

func TestParseExpiry(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "0001-01-01T00:00:00Z",
		"2030-12-31":                "2031-01-01T00:00:00Z",
		"2030-06-01T12:00:00+02:00": "2030-06-01T10:00:00Z",
	} {
		got, err := ParseExpiry(in)
		if err != nil || got.UTC().Format(time.RFC3339) != want {
			t.Errorf("ParseExpiry(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"tomorrow", "31.12.2030", "2030-13-01"} {
		if _, err := ParseExpiry(in); kassa.ErrorKind(err) != kassa.EInvalid {
			t.Errorf("ParseExpiry(%q) = %v, want invalid", in, err)
		}
	}
}
