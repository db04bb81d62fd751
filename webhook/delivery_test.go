package webhook_test

import (
	"context"
	"crypto/x509"
	"github.com/kassa/kassa/internal/syncbuf"
	"github.com/kassa/kassa/internal/testclock"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/internal/tlsutil"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/store/storetest"
	"github.com/kassa/kassa/vault/vaulttest"
	"github.com/kassa/kassa/webhook"
)

type env struct {
	db       *sqlstore.DB
	svc      *webhook.Service
	clock    *testclock.Clock
	merchant string
	logs     *syncbuf.Buffer
	registry *prometheus.Registry
}

func newEnv(t *testing.T, cfg webhook.Config) *env {
	t.Helper()
	db, err := sqlstore.OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := storetest.NewFakeClock()
	m, err := merchant.NewService(sqlstore.NewMerchants(db), clock.Now, id.Generator{}).Create(context.Background(), "Shop")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, clock: clock, merchant: m.ID, logs: &syncbuf.Buffer{}, registry: prometheus.NewRegistry()}
	cfg.Store, cfg.Now = sqlstore.NewWebhooks(db), clock.Now
	if cfg.Sealer == nil {
		cfg.Sealer = vaulttest.Envelope(webhook.SealDomain)
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.svc = webhook.New(cfg)
	e.registry.MustRegister(e.svc.Collectors()...)
	return e
}

func (e *env) publish(t *testing.T) webhook.Event {
	t.Helper()
	ev, err := e.svc.NewEvent(e.merchant, "test.created", map[string]string{"object": "thing"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func (e *env) onlyDelivery(t *testing.T, endpointID string) webhook.Delivery {
	t.Helper()
	ds, _, err := e.svc.Deliveries(context.Background(), e.merchant, endpointID, "", 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries = %+v, %v; want one", ds, err)
	}
	return ds[0]
}

// metric returns the value of a counter (or a histogram's count) with
// the label value, summed over matching series.
func (e *env) metric(t *testing.T, name, label string) float64 {
	t.Helper()
	mfs, err := e.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				match = match || lp.GetValue() == label
			}
			if !match {
				continue
			}
			if m.Counter != nil {
				sum += m.Counter.GetValue()
			}
			if m.Histogram != nil {
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

// TestSSRFGuard: private targets are refused at creation when literal,
// and at dial time when a host name resolves to them; allowing private
// targets lets the same delivery through.
func TestSSRFGuard(t *testing.T) {
	var hits sync.Map
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.Header.Get("webhook-id"), true)
	}))
	// Kassa's own self-signed certificate names localhost, which
	// httptest's does not.
	cert, _, _, err := tlsutil.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = tlsutil.ServerConfig(cert)
	srv.StartTLS()
	defer srv.Close()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	ctx := context.Background()

	strict := newEnv(t, webhook.Config{RootCAs: roots})
	for _, u := range []string{srv.URL, "https://[::1]" + port, "https://10.0.0.8" + port, "http://localhost" + port} {
		if _, err := strict.svc.CreateEndpoint(ctx, strict.merchant, webhook.EndpointParams{URL: u, Events: []string{"*"}}); err == nil {
			t.Errorf("CreateEndpoint(%s) accepted a private target", u)
		}
	}
	// localhost is a name: accepted now, refused when dialed.
	c, err := strict.svc.CreateEndpoint(ctx, strict.merchant, webhook.EndpointParams{URL: "https://localhost" + port, Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	ev := strict.publish(t)
	if n, err := strict.svc.RunOnce(ctx); n != 1 || err != nil {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	if _, hit := hits.Load(ev.ID); hit {
		t.Fatal("the guard let a delivery to localhost through")
	}
	d := strict.onlyDelivery(t, c.ID)
	if d.Status != webhook.DeliveryPending || !strings.Contains(d.Error, "refused to connect to") ||
		(!strings.Contains(d.Error, "127.0.0.1") && !strings.Contains(d.Error, "::1")) {
		t.Errorf("delivery to localhost: %+v, want pending with a refusal naming the loopback address", d)
	}
	if got := strict.metric(t, "kassa_webhook_attempts_total", "blocked"); got != 1 {
		t.Errorf("blocked attempts metric = %v, want 1", got)
	}

	// With private targets allowed, the same endpoint is reached over https.
	open := newEnv(t, webhook.Config{RootCAs: roots, AllowPrivateTargets: true})
	c, err = open.svc.CreateEndpoint(ctx, open.merchant, webhook.EndpointParams{URL: "https://localhost" + port, Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	ev = open.publish(t)
	if _, err := open.svc.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, hit := hits.Load(ev.ID); !hit {
		t.Errorf("delivery with private targets allowed did not arrive: %+v", open.onlyDelivery(t, c.ID))
	}
	if got := open.metric(t, "kassa_webhook_attempts_total", "success"); got != 1 {
		t.Errorf("success metric = %v, want 1", got)
	}
	if got := open.metric(t, "kassa_webhook_delivery_lag_seconds", ""); got != 1 {
		t.Errorf("lag observations = %v, want 1", got)
	}
	for _, e := range []*env{strict, open} {
		if strings.Contains(e.logs.String(), "whsec_") {
			t.Error("a secret is in the log")
		}
	}
}

// TestNoRedirects: a 3xx answer is a failed attempt; the redirect is not
// followed.
func TestNoRedirects(t *testing.T) {
	var followed bool
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) })
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { followed = true })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	e := newEnv(t, webhook.Config{AllowPrivateTargets: true})
	c, err := e.svc.CreateEndpoint(context.Background(), e.merchant, webhook.EndpointParams{URL: srv.URL + "/hook?token=s3cr3t", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	e.publish(t)
	if _, err := e.svc.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := e.onlyDelivery(t, c.ID)
	if followed || d.Status != webhook.DeliveryPending || d.ResponseStatus != http.StatusFound {
		t.Errorf("redirect followed=%v, delivery %+v; want not followed, pending with 302", followed, d)
	}
	if strings.Contains(e.logs.String(), "s3cr3t") || strings.Contains(d.Error, "s3cr3t") {
		t.Error("the endpoint URL (with its token) was logged or stored as the error")
	}
}

// TestRun: the worker loop delivers what is published while it runs and
// stops with its context.
func TestRun(t *testing.T) {
	got := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("webhook-id")
	}))
	defer srv.Close()
	e := newEnv(t, webhook.Config{AllowPrivateTargets: true, PollInterval: 10 * time.Millisecond})
	if _, err := e.svc.CreateEndpoint(context.Background(), e.merchant, webhook.EndpointParams{URL: srv.URL, Events: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	ev := e.publish(t)
	select {
	case id := <-got:
		if id != ev.ID {
			t.Errorf("received %s, want %s", id, ev.ID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run delivered nothing within 30s")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop with its context")
	}
}
