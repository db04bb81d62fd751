package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// X-Forwarded-For names the client only when a trusted proxy sent it.
func TestRealClient(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.1")
	if err != nil || len(trusted) != 2 || !trusted[1].Contains(netip.MustParseAddr("192.0.2.1")) {
		t.Fatalf("ParseTrustedProxies = %v, %v", trusted, err)
	}
	if _, err := ParseTrustedProxies("10.0.0.0/8, nonsense"); err == nil {
		t.Error("a bad proxy entry was accepted")
	}
	var got string
	h := realClient(trusted, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = clientIP(r) }))
	tests := []struct{ peer, xff, want string }{
		{"10.1.2.3:5000", "198.51.100.7, 203.0.113.9", "203.0.113.9"},          // right-most untrusted hop
		{"10.1.2.3:5000", "203.0.113.9, 10.9.9.9", "203.0.113.9"},              // trusted hops skipped
		{"10.1.2.3:5000", "198.51.100.7, garbage, 203.0.113.9", "203.0.113.9"}, // parsed right to left
		{"10.1.2.3:5000", "garbage", "10.1.2.3"},                               // nothing usable: the proxy
		{"10.1.2.3:5000", "", "10.1.2.3"},                                      // no header
		{"198.51.100.50:5000", "203.0.113.9", "198.51.100.50"},                 // an untrusted peer cannot choose
		{"[::ffff:10.1.2.3]:5000", "2001:db8::1", "2001:db8::1"},               // mapped peers, IPv6 clients
		{"10.1.2.3:5000", "10.7.7.7, 192.0.2.1", "10.7.7.7"},                   // all trusted: the left-most
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.peer
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got != tt.want {
			t.Errorf("peer %s X-Forwarded-For %q: client %s, want %s", tt.peer, tt.xff, got, tt.want)
		}
	}
}
