package account

import "testing"

// TestSafeNext: a flow returns only to the pages' own paths, never to
// another site.
func TestSafeNext(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"/account", "/account"},
		{"/account#passkeys", "/account#passkeys"},
		{"/challenge/pay_1?client_secret=pay_1_secret_x", "/challenge/pay_1?client_secret=pay_1_secret_x"},
		{"/pay/pay_1?client_secret=s", "/pay/pay_1?client_secret=s"},
		{"", ""},
		{"https://evil.example/account", ""},
		{"//evil.example/account", ""},
		{"/\\evil.example", ""},
		{"/\t/evil.example", ""},
		{"javascript:alert(1)", ""},
		{"/login", ""},
		{"/v1/payments", ""},
		{"/accountx", ""},
		{"account", ""},
	}
	for _, tt := range tests {
		if got := safeNext(tt.in); got != tt.want {
			t.Errorf("safeNext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
