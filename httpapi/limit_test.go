package httpapi

import (
	"fmt"
	"testing"
)

// TestLimiterKeepsRecentLimits is a stranger's attack on the limiter: once
// limited, it floods the limiter with fresh keys (addresses) until it is
// full, hoping every limit is forgotten. Eviction must drop the least
// recently used entries, never the one being hammered.
func TestLimiterKeepsRecentLimits(t *testing.T) {
	l := newLimiter(0.0001, 1)
	if _, ok := l.allow("ip:victim"); !ok {
		t.Fatal("the first request is limited")
	}
	for i := range limiterEntriesMax + 1000 {
		l.allow(fmt.Sprintf("ip:flood-%d", i))
		if i%1000 == 0 {
			if _, ok := l.allow("ip:victim"); ok {
				t.Fatalf("after %d fresh keys the limited key is allowed again", i+1)
			}
		}
	}
	if n := l.len(); n > limiterEntriesMax {
		t.Errorf("the limiter holds %d entries, want at most %d", n, limiterEntriesMax)
	}
}

// TestLimitKeyGroupsIPv6: one IPv6 /64 is one client, as the voucher
// attempt limits count it: a host picks any address in its /64.
func TestLimitKeyGroupsIPv6(t *testing.T) {
	tests := []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"},
		{"192.0.2.7", "::ffff:192.0.2.7"},
	}
	for _, tt := range tests {
		if ka, kb := ipLimitKey(tt.a), ipLimitKey(tt.b); ka != kb {
			t.Errorf("ipLimitKey(%s) = %s, ipLimitKey(%s) = %s; want one key", tt.a, ka, tt.b, kb)
		}
	}
	if ipLimitKey("2001:db8:1:2::1") == ipLimitKey("2001:db8:1:3::1") {
		t.Error("two /64s share a key")
	}
}
