package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// databasePingInterval is how often a node checks that its database
// answers (kassa_database_ping_failures_total), whether or not a load
// balancer probes /readyz.
const (
	databasePingInterval = 15 * time.Second
	databasePingTimeout  = 5 * time.Second
)

// registerDataDirSpace exports the free and total bytes of the file
// system holding dir (the SQLite database, keys and certificate), read at
// each scrape.
func registerDataDirSpace(reg prometheus.Registerer, dir string) {
	statfs := func() (free, size float64) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			return 0, 0 // the scrape shows 0 bytes free: the directory is gone
		}
		return float64(st.Bavail) * float64(st.Bsize), float64(st.Blocks) * float64(st.Bsize)
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kassa_data_dir_free_bytes",
			Help: "Bytes available to Kassa on the file system of the data directory (--data)."},
			func() float64 { free, _ := statfs(); return free }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kassa_data_dir_size_bytes",
			Help: "Size in bytes of the file system of the data directory (--data)."},
			func() float64 { _, size := statfs(); return size }),
	)
}

// registerCertExpiry exports when the served TLS certificate expires.
func registerCertExpiry(reg prometheus.Registerer, cert tls.Certificate) error {
	leaf := cert.Leaf
	if leaf == nil {
		if len(cert.Certificate) == 0 {
			return fmt.Errorf("certificate expiry: no certificate")
		}
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return fmt.Errorf("certificate expiry: %w", err)
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "kassa_tls_certificate_expiry_timestamp_seconds",
		Help: "Unix time when the TLS certificate this node serves expires (its NotAfter)."})
	g.Set(float64(leaf.NotAfter.Unix()))
	return reg.Register(g)
}

// pingDatabase checks that the database answers, counting failures in
// kassa_database_ping_failures_total (each is logged).
func (a *app) pingDatabase(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, databasePingTimeout)
	defer cancel()
	if err := a.db.Ping(ctx); err != nil {
		a.pingFailures.Inc()
		a.log.Warn("database ping", "err", err)
	}
}
