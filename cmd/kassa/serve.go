package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/internal/tlsutil"
	"github.com/kassa/kassa/merchant"
)

// Timeouts of the HTTP server; every one is set.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 60 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
	headerBytesMax    = 64 << 10
)

type serveConfig struct {
	appConfig
	listen          string
	tlsCert         string
	tlsKey          string
	insecureHTTP    bool
	demo            bool
	logLevel        string
	shutdownTimeout time.Duration
	// metricsListen is where /metrics is served, apart from the API;
	// metricsTokenFile holds the bearer token a scrape must send.
	metricsListen    string
	metricsTokenFile string
	roles            string
}

// metricsTokenLengthMin is the shortest bearer token --metrics-token-file
// may hold.
const metricsTokenLengthMin = 16

func runServe(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var cfg serveConfig
	fs := newFlagSet("serve", "serve [flags]", stderr)
	cfg.appConfig.register(fs)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:8443", "`address` to listen on (host:port; port 0 picks a free one)")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "TLS certificate `file` (PEM); without it a self-signed one is made in --data")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "TLS private key `file` (PEM), with --tls-cert")
	fs.BoolVar(&cfg.insecureHTTP, "insecure-http", false, "serve plain HTTP instead of TLS (only on a loopback address; for development)")
	fs.BoolVar(&cfg.demo, "demo", false, "create a demo merchant once and print its keys and ready-to-paste curl lines")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	fs.Float64Var(&cfg.rateLimit, "rate-limit", 1000, "requests per second allowed per API key (burst twice that); 0 disables")
	fs.StringVar(&cfg.metricsListen, "metrics-listen", "127.0.0.1:9464", "`address` of the Prometheus /metrics listener, apart from the API (host:port; port 0 picks a free one; off: none). Beyond loopback it needs --metrics-token-file")
	fs.StringVar(&cfg.metricsTokenFile, "metrics-token-file", "", "`file` with the bearer token a scrape of /metrics must send (Prometheus' bearer_token_file); at least 16 characters")
	fs.StringVar(&cfg.roles, "roles", rolesDefault, "what this node does, comma-separated: api (the /v1 API), pages (the hosted pages), worker (background jobs, one node at a time each, under leases in the database). /healthz, /readyz and /metrics are on every node")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a shutdown waits for in-flight requests")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments, got %q", fs.Args())
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if cfg.insecureHTTP && !loopbackAddr(cfg.listen) {
		return usagef("--insecure-http is refused on %s: plaintext is allowed only on a loopback address", cfg.listen)
	}
	if err := checkMetricsFlags(cfg); err != nil {
		return err
	}
	roles, err := parseRoles(cfg.roles)
	if err != nil {
		return err
	}
	cfg.appConfig.roles = &roles
	logger, err := newLogger(cfg.logLevel, stderr)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, logger, stdout)
}

// checkMetricsFlags refuses a metrics listener strangers could read:
// beyond loopback it needs a token, and plaintext stays on loopback.
func checkMetricsFlags(cfg serveConfig) error {
	if metricsOff(cfg.metricsListen) {
		if cfg.metricsTokenFile != "" {
			return usagef("--metrics-token-file needs a --metrics-listen address")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(cfg.metricsListen); err != nil {
		return usagef("--metrics-listen %q: want host:port or off", cfg.metricsListen)
	}
	if loopbackAddr(cfg.metricsListen) {
		return nil
	}
	if cfg.insecureHTTP {
		return usagef("--metrics-listen %s with --insecure-http is refused: plaintext is allowed only on a loopback address", cfg.metricsListen)
	}
	if cfg.metricsTokenFile == "" {
		return usagef("--metrics-listen %s is beyond loopback: give --metrics-token-file so strangers cannot read the metrics", cfg.metricsListen)
	}
	return nil
}

func metricsOff(addr string) bool { return addr == "" || addr == "off" }

// metricsToken reads --metrics-token-file ("" when none is given).
func metricsToken(file string) (string, error) {
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--metrics-token-file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if len(token) < metricsTokenLengthMin || strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("--metrics-token-file %s: want one token of at least %d characters", file, metricsTokenLengthMin)
	}
	return token, nil
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func serve(ctx context.Context, cfg serveConfig, logger *slog.Logger, stdout io.Writer) error {
	cfg.appConfig.startRisk = true
	// Listening first gives the pages' default --public-url the port in
	// use (--listen 127.0.0.1:0). The deferred Close covers the early
	// returns; after serving, the listener is closed already and a second
	// Close is harmless.
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	cfg.appConfig.listen, cfg.appConfig.plainHTTP = ln.Addr().String(), cfg.insecureHTTP
	a, err := newApp(ctx, cfg.appConfig, logger)
	if err != nil {
		return err
	}
	// Closed after the HTTP server has drained: every request that was
	// answered had its transfers committed.
	defer a.close()
	logger.Info("database ready", "backend", a.db.Dialect().String(), "roles", a.roles.String())
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	waitWork := a.runWorkers(workCtx)
	defer waitWork()
	defer stopWork()

	srv := newHTTPServer(ctx, a.api, logger)
	scheme := "http"
	var certPath string
	if !cfg.insecureHTTP {
		scheme = "https"
		cert, fp, path, err := loadCert(cfg, logger)
		if err != nil {
			return err
		}
		certPath = path
		srv.TLSConfig = tlsutil.ServerConfig(cert)
		if err := registerCertExpiry(a.reg, cert); err != nil {
			return err
		}
		logger.Info("tls certificate", "sha256", fp, "file", path)
	}
	base := scheme + "://" + ln.Addr().String()
	metrics, err := listenMetrics(ctx, cfg, a, srv.TLSConfig, logger)
	if err != nil {
		ln.Close()
		return err
	}
	if cfg.demo {
		if err := demo(ctx, a.merchants, cfg, base, a.pagesOrigin, certPath, stdout); err != nil {
			ln.Close()
			metrics.close()
			return err
		}
	}
	errc := make(chan error, 2)
	if metrics.srv != nil {
		logger.Info("metrics listening", "url", metrics.url, "token", metrics.token)
		fmt.Fprintf(stdout, "kassa: metrics on %s\n", metrics.url)
		go func() { errc <- serveOn(metrics.srv, metrics.ln) }()
	}
	// The last line a starting server prints: scripts wait for it.
	logger.Info("listening", "url", base)
	fmt.Fprintf(stdout, "kassa: listening on %s\n", base)
	go func() { errc <- serveOn(srv, ln) }()
	select {
	case err := <-errc:
		srv.Close()
		metrics.close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: draining in-flight requests", "timeout", cfg.shutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	metrics.close() // scrapes need no draining
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// newHTTPServer is an http.Server with every timeout set.
func newHTTPServer(ctx context.Context, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    headerBytesMax,
		ErrorLog:          log.New(&slogWriter{logger}, "", 0),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// serveOn serves srv on ln, with TLS when srv has a TLS configuration.
func serveOn(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "") // certificates come from TLSConfig; HTTP/2 is on
	}
	return srv.Serve(ln)
}

// metricsListener is the /metrics listener (none when srv is nil).
type metricsListener struct {
	srv   *http.Server
	ln    net.Listener
	url   string
	token bool // whether scrapes need the bearer token
}

func (m metricsListener) close() {
	if m.srv != nil {
		m.srv.Close()
	}
}

// listenMetrics opens the /metrics listener of --metrics-listen, with the
// API's TLS configuration (plain HTTP only with --insecure-http, and then
// only on loopback; see checkMetricsFlags).
func listenMetrics(ctx context.Context, cfg serveConfig, a *app, tlsConfig *tls.Config, logger *slog.Logger) (metricsListener, error) {
	if metricsOff(cfg.metricsListen) {
		return metricsListener{}, nil
	}
	token, err := metricsToken(cfg.metricsTokenFile)
	if err != nil {
		return metricsListener{}, err
	}
	ln, err := net.Listen("tcp", cfg.metricsListen)
	if err != nil {
		return metricsListener{}, fmt.Errorf("--metrics-listen: %w", err)
	}
	srv := newHTTPServer(ctx, httpapi.MetricsHandler(a.reg, token), logger)
	scheme := "http"
	if tlsConfig != nil {
		srv.TLSConfig, scheme = tlsConfig.Clone(), "https"
	}
	return metricsListener{srv: srv, ln: ln, url: scheme + "://" + ln.Addr().String() + "/metrics", token: token != ""}, nil
}

func rateLimitOrOff(perSec float64) float64 {
	if perSec <= 0 {
		return -1
	}
	return perSec
}

func loadCert(cfg serveConfig, logger *slog.Logger) (tls.Certificate, string, string, error) {
	if cfg.tlsCert != "" {
		cert, err := tlsutil.Load(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return cert, "", "", fmt.Errorf("load TLS certificate: %w", err)
		}
		return cert, tlsutil.Fingerprint(cert), cfg.tlsCert, nil
	}
	cert, fp, created, err := tlsutil.LoadOrCreate(cfg.store.data)
	if err != nil {
		return cert, "", "", fmt.Errorf("self-signed TLS certificate: %w", err)
	}
	if created {
		logger.Info("generated a self-signed TLS certificate", "dir", cfg.store.data)
	}
	return cert, fp, filepath.Join(cfg.store.data, tlsutil.CertFile), nil
}

// slogWriter sends net/http's own error log (e.g. TLS handshake errors
// from clients offering TLS 1.2) to the structured log.
type slogWriter struct{ l *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	w.l.Warn("http server", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}

// demoFile keeps the demo merchant's keys (0600) so every --demo start can
// print the same ready-to-paste lines. Only the demo merchant's keys are
// ever written to disk.
const demoFile = "demo-keys.json"

func demo(ctx context.Context, merchants *merchant.Service, cfg serveConfig, base, pages, certPath string, stdout io.Writer) error {
	path := filepath.Join(cfg.store.data, demoFile)
	var keys merchant.Created
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &keys)
		if err == nil {
			if _, err := merchants.Get(ctx, keys.ID); kassa.ErrorKind(err) == kassa.ENotFound {
				keys = merchant.Created{} // the file belongs to another database
			} else if err != nil {
				return err
			}
		}
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if keys.ID == "" {
		keys, err = merchants.Create(ctx, "Demo Merchant")
		if err != nil {
			return err
		}
		b, _ := json.MarshalIndent(keys, "", "  ")
		if err := os.MkdirAll(cfg.store.data, 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	tlsArg := ""
	if certPath != "" {
		tlsArg = "--cacert " + certPath + " "
	}
	fmt.Fprintf(stdout, `Demo merchant %s (%s)
  secret key:      %s
  publishable key: %s
  (kept in %s; real merchants' keys are shown once and never stored)

Hosted pages (payment, 3-D Secure, account): %s

Try it:
  curl %s-H "Authorization: Bearer %s" %s/v1/merchant
  curl %s%s/healthz

Create a payment, then open its page: the link is next_action.redirect_url in the answer.
  curl %s-H "Authorization: Bearer %s" -H "Content-Type: application/json" -d '{"amount":2500,"currency":"EUR","description":"Demo deposit"}' %s/v1/payments

`, keys.ID, keys.Name, keys.SecretKey, keys.PublishableKey, path, pages,
		tlsArg, keys.SecretKey, base, tlsArg, base, tlsArg, keys.SecretKey, base)
	return nil
}
