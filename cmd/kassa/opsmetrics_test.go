package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kassa/kassa/internal/tlsutil"
	"github.com/kassa/kassa/ledger"
)

// metricValue reads the unlabelled gauge or counter name from g.
func metricValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetGauge() != nil {
			return m.GetGauge().GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("no metric %s is registered", name)
	return 0
}

func testApp(t *testing.T) *app {
	t.Helper()
	var cfg appConfig
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.register(fs)
	if err := fs.Parse([]string{"--data", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	cfg.noRisk = true
	a, err := newApp(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return a
}

// The operational metrics the alerts in deploy/prometheus read are
// registered on the server's registry and move with the facts.
func TestOperationsMetricsMove(t *testing.T) {
	a := testApp(t)

	free := metricValue(t, a.reg, "kassa_data_dir_free_bytes")
	size := metricValue(t, a.reg, "kassa_data_dir_size_bytes")
	if free <= 0 || size < free {
		t.Errorf("data directory: %v bytes free of %v, want 0 < free <= size", free, size)
	}

	if got := metricValue(t, a.reg, "kassa_ledger_queued_submissions"); got != 0 {
		t.Errorf("kassa_ledger_queued_submissions = %v on an idle ledger, want 0", got)
	}
	before := float64(time.Now().UnixNano()) / 1e9
	if _, err := a.ledger.CreateAccounts(context.Background(), "mer_test", []ledger.Account{{ID: "a", Currency: "EUR"}}); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(t, a.reg, "kassa_ledger_checkpoint_timestamp_seconds"); got < before {
		t.Errorf("kassa_ledger_checkpoint_timestamp_seconds = %v after a commit at %v, want >= it", got, before)
	}

	a.pingDatabase(context.Background())
	if got := metricValue(t, a.reg, "kassa_database_ping_failures_total"); got != 0 {
		t.Errorf("kassa_database_ping_failures_total = %v after a good ping, want 0", got)
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	a.pingDatabase(gone)
	if got := metricValue(t, a.reg, "kassa_database_ping_failures_total"); got != 1 {
		t.Errorf("kassa_database_ping_failures_total = %v after a failed ping, want 1", got)
	}
}

// The certificate gauge holds the served certificate's NotAfter.
func TestCertificateExpiryGauge(t *testing.T) {
	cert, _, _, err := tlsutil.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := registerCertExpiry(reg, cert); err != nil {
		t.Fatal(err)
	}
	if got, want := metricValue(t, reg, "kassa_tls_certificate_expiry_timestamp_seconds"), float64(cert.Leaf.NotAfter.Unix()); got != want {
		t.Errorf("kassa_tls_certificate_expiry_timestamp_seconds = %v, want %v (NotAfter)", got, want)
	}
}
