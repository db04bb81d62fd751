package compliance_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa/compliance"
)

var ana = compliance.Person{GivenName: "Ana", FamilyName: "Lima", BirthDate: "1990-05-17", Email: "ana@example.com",
	PostalCode: "SW1A 1AA", Country: "GB", DocumentNumber: "X123"}

// TestAdapters: the named adapters speak to the register's service at
// the configured URL; anything but a clear answer is unreachable.
func TestAdapters(t *testing.T) {
	var mu sync.Mutex
	var got struct {
		key     string
		auth    string
		body    string
		ctype   string
		answers string
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got.key, got.auth, got.ctype = r.Header.Get("X-API-Key"), r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		got.body = string(b)
		answer := got.answers
		mu.Unlock()
		switch answer {
		case "Y", "N", "P", "?":
			w.Header().Set("X-Exclusion", answer)
		case "slow":
			time.Sleep(200 * time.Millisecond)
		case "500":
			w.WriteHeader(500)
			return
		default:
			io.WriteString(w, answer)
		}
	}))
	defer srv.Close()
	answer := func(a string) {
		mu.Lock()
		got.answers = a
		mu.Unlock()
	}
	ctx := context.Background()
	adapter := func(name string) compliance.SelfExclusionRegister {
		r, err := compliance.NewAdapter(name, compliance.HTTPConfig{URL: srv.URL + "/check", Token: "tok", Client: srv.Client(),
			Timeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	gamstop := adapter("gamstop")
	for want, excluded := range map[string]bool{"Y": true, "N": false, "P": false} {
		answer(want)
		a, err := gamstop.Check(ctx, ana)
		if err != nil || a.Excluded != excluded {
			t.Errorf("gamstop %s = %+v, %v", want, a, err)
		}
	}
	mu.Lock()
	if got.key != "tok" || got.ctype != "application/x-www-form-urlencoded" || !strings.Contains(got.body, "lastName=Lima") ||
		!strings.Contains(got.body, "dateOfBirth=1990-05-17") {
		t.Errorf("gamstop request: key %q type %q body %q", got.key, got.ctype, got.body)
	}
	mu.Unlock()
	spelpaus := adapter("spelpaus")
	answer(`{"excluded": true, "until": "2027-01-01T00:00:00Z"}`)
	a, err := spelpaus.Check(ctx, ana)
	if err != nil || !a.Excluded || !a.Until.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("spelpaus = %+v, %v", a, err)
	}
	mu.Lock()
	if got.auth != "Bearer tok" || !strings.Contains(got.body, `"document_number":"X123"`) {
		t.Errorf("spelpaus request: auth %q body %q", got.auth, got.body)
	}
	mu.Unlock()
	for _, bad := range []string{"?", "slow", "500", `{"excluded": "maybe"}`, `{}`, "not json"} {
		answer(bad)
		r := spelpaus
		if bad == "?" {
			r = gamstop
		}
		if _, err := r.Check(ctx, ana); !errors.Is(err, compliance.ErrUnreachable) {
			t.Errorf("answer %q: %v, want unreachable", bad, err)
		} else if strings.Contains(err.Error(), "Lima") || strings.Contains(err.Error(), "1990") {
			t.Errorf("the error names the person: %v", err)
		}
	}
	// Nobody listening.
	srv.Close()
	if _, err := gamstop.Check(ctx, ana); !errors.Is(err, compliance.ErrUnreachable) {
		t.Errorf("closed server: %v", err)
	}
	for _, cfg := range []struct{ name, url string }{{"lugas", "https://x"}, {"oasis", "http://plain"}, {"rofus", "ftp://x"}} {
		if _, err := compliance.NewAdapter(cfg.name, compliance.HTTPConfig{URL: cfg.url}); err == nil {
			t.Errorf("NewAdapter(%s, %s) accepted", cfg.name, cfg.url)
		}
	}
	if _, err := (compliance.Unconfigured{RegisterName: "oasis"}).Check(ctx, ana); !errors.Is(err, compliance.ErrUnreachable) {
		t.Errorf("unconfigured: %v", err)
	}
}
