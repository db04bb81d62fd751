package webhook

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa"
)

// TestSignVector checks Sign against the Standard Webhooks reference
// vector (the one the specification's libraries test with).
func TestSignVector(t *testing.T) {
	key, err := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign([]Secret{{Key: key}}, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
	two := Sign([]Secret{{Key: key}, {Key: []byte("other")}}, "m", time.Unix(1, 0), nil)
	if parts := strings.Split(two, " "); len(parts) != 2 || !strings.HasPrefix(parts[1], "v1,") {
		t.Errorf("two secrets sign as %q, want two space-separated v1 signatures", two)
	}
}

func TestSecretNotPrinted(t *testing.T) {
	s := Secret{Key: []byte("0123456789abcdef0123456789abcdef")}
	enc := base64.StdEncoding.EncodeToString(s.Key)
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := sprintf(f, s); strings.Contains(out, enc) || strings.Contains(out, string(s.Key)) {
			t.Errorf("%s prints the key: %s", f, out)
		}
	}
	if s.String() != "whsec_"+enc {
		t.Errorf("String = %q", s.String())
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 8 * time.Hour, 8 * time.Hour}
	for i, w := range want {
		if got := Backoff(i + 1); got != w {
			t.Errorf("Backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	for range 1000 {
		if j := Jitter(time.Minute); j < 48*time.Second || j > 72*time.Second {
			t.Fatalf("Jitter(1m) = %s, outside [48s, 72s]", j)
		}
	}
}

func TestForbidden(t *testing.T) {
	for _, tt := range []struct {
		addr   string
		public bool
	}{
		{"127.0.0.1", false}, {"127.1.2.3", false}, {"::1", false}, {"10.0.0.1", false}, {"172.16.5.4", false},
		{"172.31.255.255", false}, {"192.168.1.1", false}, {"fc00::1", false}, {"fd12:3456::1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, {"100.64.0.1", false}, {"100.127.255.254", false},
		{"224.0.0.1", false}, {"ff02::1", false}, {"0.0.0.0", false}, {"::", false}, {"255.255.255.255", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false}, {"64:ff9b::a00:1", false},
		{"8.8.8.8", true}, {"1.1.1.1", true}, {"172.32.0.1", true}, {"100.128.0.1", true}, {"2606:4700::1111", true},
		{"::ffff:8.8.8.8", true},
		// IPv4-compatible IPv6 (::/96) reaches the embedded IPv4 host on
		// some stacks; the 6to4 relay anycast and deprecated site-local
		// ranges are not public destinations either.
		{"::127.0.0.1", false}, {"::10.0.0.1", false}, {"::a9fe:a9fe", false},
		{"192.88.99.1", false}, {"192.88.99.255", false},
		{"fec0::1", false}, {"feff:ffff::1", false},
		{"192.88.100.1", true},
		// 2001::/23 is IETF protocol assignments: Teredo (2001::/32,
		// which embeds an IPv4 server and client), ORCHID, benchmarking;
		// 2001:200::/23 onwards is ordinary global unicast.
		{"2001::a9fe:a9fe", false}, {"2001:0:4136:e378:8000:63bf:3fff:fdd2", false}, {"2001:2::1", false},
		{"2001:20::1", false}, {"2001:1ff:ffff::1", false}, {"2001:200::1", true}, {"2001:4860:4860::8888", true},
	} {
		reason := Forbidden(netip.MustParseAddr(tt.addr))
		if (reason == "") != tt.public {
			t.Errorf("Forbidden(%s) = %q, want public=%v", tt.addr, reason, tt.public)
		}
	}
	if err := dialControl("tcp", "127.0.0.1:443", nil); err == nil {
		t.Error("dialControl let 127.0.0.1 through")
	}
	if err := dialControl("tcp", "[2606:4700::1111]:443", nil); err != nil {
		t.Errorf("dialControl refused a public address: %v", err)
	}
}

func TestValidateURL(t *testing.T) {
	for _, tt := range []struct {
		url          string
		allowPrivate bool
		code         string
	}{
		{"https://hooks.example.com/x?a=b", false, ""},
		{"https://hooks.example.com:8443/x", false, ""},
		{"https://8.8.8.8/x", false, ""},
		{"https://localhost/x", false, ""}, // a name: checked when dialed
		{"http://hooks.example.com", false, "url_not_https"},
		{"http://127.0.0.1:8080", true, ""},
		{"https://127.0.0.1", false, "url_not_public"},
		{"https://127.0.0.1", true, ""},
		{"https://[fd00::1]/", false, "url_not_public"},
		{"https://hooks.example.com:0/", false, "url_invalid"},
		{"https://hooks.example.com:99999/", false, "url_invalid"},
		{"https://hooks.example.com/#frag", false, "url_invalid"},
		{"mailto:a@example.com", false, "url_invalid"},
		{"", false, "url_required"},
		{"https://" + strings.Repeat("a", URLLengthMax), false, "url_invalid"},
	} {
		err := validateURL(tt.url, tt.allowPrivate)
		if e := kassa.AsError(err); (tt.code == "" && err != nil) || (tt.code != "" && (e == nil || e.Code != tt.code || e.Param != "url")) {
			t.Errorf("validateURL(%.40q, %v) = %v, want %q", tt.url, tt.allowPrivate, err, tt.code)
		}
	}
}

func TestEventTypes(t *testing.T) {
	RegisterEventType("unit.tested")
	if !KnownEventType("unit.tested") || !KnownEventType("*") || KnownEventType("unit.untested") {
		t.Error("registry does not know what was registered")
	}
	for _, bad := range []string{"", "nodot", "Upper.case", "a..b", "a.b.", strings.Repeat("a.", 40) + "b"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RegisterEventType(%q) did not panic", bad)
				}
			}()
			RegisterEventType(bad)
		}()
	}
	ev := Event{ID: "evt_x", MerchantID: "mer_x", Type: "unit.tested", Created: time.Unix(1, 0), Data: []byte(`{"a":1}`)}
	if err := ev.Validate(); err != nil {
		t.Errorf("Validate(good) = %v", err)
	}
	for name, mut := range map[string]func(*Event){
		"id":      func(e *Event) { e.ID = "pay_x" },
		"type":    func(e *Event) { e.Type = "unit.untested" },
		"star":    func(e *Event) { e.Type = "*" },
		"array":   func(e *Event) { e.Data = []byte(`[1]`) },
		"invalid": func(e *Event) { e.Data = []byte(`{`) },
		"big":     func(e *Event) { e.Data = []byte(`{"a":"` + strings.Repeat("x", EventDataBytesMax) + `"}`) },
		"time":    func(e *Event) { e.Created = time.Time{} },
	} {
		bad := ev
		mut(&bad)
		if bad.Validate() == nil {
			t.Errorf("Validate accepted a bad %s", name)
		}
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
