package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// forwardedHopsMax bounds how many X-Forwarded-For entries are read.
const forwardedHopsMax = 20

// realClient makes r.RemoteAddr the client's own address when the
// request came through one of the trusted proxies (a load balancer in
// front of Kassa): the right-most X-Forwarded-For entry that is not a
// trusted proxy itself. From anyone else the header is ignored, so a
// client cannot choose its address (rate limits, risk features and
// voucher attempt limits all key on it).
func realClient(trusted []netip.Prefix, next http.Handler) http.Handler {
	if len(trusted) == 0 {
		return next
	}
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		peer, perr := netip.ParseAddr(host)
		xff := r.Header.Values("X-Forwarded-For")
		if err != nil || perr != nil || len(xff) == 0 || !isTrusted(peer.Unmap()) {
			next.ServeHTTP(w, r)
			return
		}
		hops := strings.Split(strings.Join(xff, ","), ",")
		if len(hops) > forwardedHopsMax {
			hops = hops[len(hops)-forwardedHopsMax:]
		}
		client := peer
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // a malformed hop: trust nothing left of it
			}
			client = a.Unmap()
			if !isTrusted(client) {
				break
			}
		}
		r2 := r.Clone(r.Context())
		r2.RemoteAddr = netip.AddrPortFrom(client, 0).String()
		next.ServeHTTP(w, r2)
	})
}

// ParseTrustedProxies reads a comma-separated list of addresses and
// CIDR prefixes.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
