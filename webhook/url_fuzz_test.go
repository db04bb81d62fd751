package webhook

import (
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/kassa/kassa"
)

// stdlibForbids is a reference for the SSRF guard built from net/netip's
// own classification: whatever it calls loopback, private, link-local,
// multicast or unspecified must never receive a webhook.
func stdlibForbids(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || a.Zone() != ""
}

// FuzzValidateURL checks the webhook URL validator. A refusal is a
// kassa.Error on param url (422 for a private address, else 400). An
// accepted URL is absolute, https (http only where private targets are
// allowed), without credentials or fragment, within the length limit;
// when its host is an IP literal, the guard that runs at dial time agrees
// (no URL is accepted that every delivery would then refuse, or the other
// way round), and the guard refuses at least what net/netip calls
// non-public.
func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{
		"https://hooks.example.com/x?a=b", "https://8.8.8.8/x", "https://[2606:4700::1111]/", "https://127.0.0.1/",
		"https://[::1]/", "https://[::ffff:127.0.0.1]/", "https://[::ffff:10.1.2.3]:8443/", "https://[fe80::1%25eth0]/",
		"https://0.0.0.0/", "https://255.255.255.255/", "https://[::]/", "https://[fd00::1]/", "https://169.254.169.254/latest",
		"https://0177.0.0.1/", "https://2130706433/", "https://127.1/", "https://0x7f.0.0.1/", "http://example.com",
		"https://user:pw@example.com/", "https://example.com/#f", "https://example.com:0/", "https://example.com:99999/",
		"https://:443/", "https:///x", "//example.com", "mailto:a@b.example", "https:example.com", "HTTPS://EXAMPLE.COM/",
		"https://[::127.0.0.1]/", "https://192.88.99.1/", "https://[fec0::1]/", "https://100.64.0.1/", "https://[64:ff9b::a00:1]/",
		"https://example.com\t/", "https://exa mple.com/", "https://例え.jp/", "https://%31%32%37.0.0.1/",
	} {
		f.Add(s, false)
	}
	f.Add("http://127.0.0.1:8080/hook", true)
	f.Fuzz(func(t *testing.T, raw string, allowPrivate bool) {
		err := validateURL(raw, allowPrivate)
		if err != nil {
			var ke *kassa.Error
			if !errors.As(err, &ke) || ke.Param != "url" || (ke.Kind != kassa.EInvalid && ke.Kind != kassa.EUnprocessable) {
				t.Fatalf("validateURL(%q) = %#v, want a kassa.Error on url", raw, err)
			}
		}
		u, perr := url.Parse(raw)
		if err == nil {
			if perr != nil || len(raw) > URLLengthMax || !u.IsAbs() || u.Hostname() == "" || u.User != nil || u.Fragment != "" {
				t.Fatalf("validateURL accepted %q", raw)
			}
			if u.Scheme != "https" && !(allowPrivate && u.Scheme == "http") {
				t.Fatalf("validateURL accepted scheme %q in %q (allowPrivate %v)", u.Scheme, raw, allowPrivate)
			}
			if p := u.Port(); p != "" {
				if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
					t.Fatalf("validateURL accepted port %q in %q", p, raw)
				}
			}
		}
		if perr != nil || allowPrivate {
			return
		}
		addr, aerr := netip.ParseAddr(strings.Trim(u.Hostname(), "[]"))
		if aerr != nil {
			return // a host name: only the dial-time guard can judge it
		}
		dialErr := dialControl("tcp", netip.AddrPortFrom(addr, 443).String(), nil)
		if (err == nil) != (dialErr == nil) && len(raw) <= URLLengthMax && !refusedForOtherReasons(err) {
			t.Fatalf("%q: validateURL says %v, the dial guard says %v", raw, err, dialErr)
		}
		if stdlibForbids(addr) && dialErr == nil {
			t.Fatalf("the dial guard lets %s through (net/netip calls it non-public)", addr)
		}
	})
}

// refusedForOtherReasons reports whether a validation error is about
// something other than the address (scheme, port, credentials ...).
func refusedForOtherReasons(err error) bool {
	var ke *kassa.Error
	return errors.As(err, &ke) && ke.Code != "url_not_public"
}
