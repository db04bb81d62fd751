package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Timeouts and limits of one delivery attempt.
const (
	dialTimeout        = 5 * time.Second
	attemptTimeout     = 15 * time.Second
	responseBytesMax   = 64 << 10
	idleConnsPerHost   = 4
	idleConnTimeout    = 90 * time.Second
	userAgent          = "Kassa-Webhooks/1"
	errorTextLengthMax = 500
)

// forbiddenPrefixes are the address ranges a webhook may not reach unless
// private targets are allowed, with the reason shown to the merchant.
var forbiddenPrefixes = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified address"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address (RFC 1918)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "a protocol assignment address"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
	{netip.MustParsePrefix("192.88.99.0/24"), "a 6to4 relay anycast address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address (RFC 1918)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
	{netip.MustParsePrefix("::/128"), "an unspecified address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	// ::a.b.c.d (IPv4-compatible, deprecated) reaches a.b.c.d on some
	// stacks, so none of it is public.
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible address"},
	{netip.MustParsePrefix("64:ff9b::/96"), "a NAT64 address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a NAT64 address"},
	{netip.MustParsePrefix("100::/64"), "a discard address"},
	// IETF protocol assignments: Teredo (2001::/32) tunnels to an
	// embedded IPv4 address; ORCHID, benchmarking and the rest are no
	// webhook's home either.
	{netip.MustParsePrefix("2001::/23"), "an IETF protocol assignment address"},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
	{netip.MustParsePrefix("2002::/16"), "a 6to4 address"},
	{netip.MustParsePrefix("fc00::/7"), "a private address (unique local)"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
}

// Forbidden returns why addr may not receive webhooks from Kassa ("" when
// it may): loopback, private (RFC 1918, ULA), link-local, CGNAT,
// multicast, unspecified, and other special-purpose ranges. IPv4 mapped
// into IPv6 is judged as IPv4.
func Forbidden(addr netip.Addr) string {
	addr = addr.Unmap()
	if addr.Zone() != "" {
		return "a scoped address"
	}
	for _, f := range forbiddenPrefixes {
		if f.prefix.Contains(addr) {
			return f.reason
		}
	}
	if addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return "a broadcast address"
	}
	return ""
}

// errTargetForbidden marks a dial refused by the guard.
type errTargetForbidden struct{ addr, reason string }

func (e errTargetForbidden) Error() string {
	return fmt.Sprintf("refused to connect to %s: %s (webhooks go only to public addresses)", e.addr, e.reason)
}

// dialControl refuses connections to forbidden addresses. It runs after
// name resolution, on the address actually dialed, so a host name that
// resolves (or is rebound) to a private address cannot get through.
func dialControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return errTargetForbidden{address, "not an IP address"}
	}
	if reason := Forbidden(ap.Addr()); reason != "" {
		return errTargetForbidden{ap.Addr().String(), reason}
	}
	return nil
}

// newClient returns the HTTP client deliveries use: connect within 5 s,
// whole attempt within 15 s, no redirects, no proxy (a proxy would dial
// the target on our behalf, past the guard), and the guard on every dial
// unless allowPrivate.
func newClient(allowPrivate bool, roots *x509.CertPool) *http.Client {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = dialControl
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
		TLSHandshakeTimeout:    dialTimeout,
		ResponseHeaderTimeout:  attemptTimeout,
		MaxIdleConnsPerHost:    idleConnsPerHost,
		IdleConnTimeout:        idleConnTimeout,
		ForceAttemptHTTP2:      true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   attemptTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
