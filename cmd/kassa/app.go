package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/business"
	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/credit"
	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/passkey"
	"github.com/kassa/kassa/invoice"
	"github.com/kassa/kassa/lease"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/privacy"
	"github.com/kassa/kassa/reqlog"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/risk/geoip"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
	"github.com/kassa/kassa/voucher"
	"github.com/kassa/kassa/web"
	"github.com/kassa/kassa/web/account"
	"github.com/kassa/kassa/webhook"
)

// Secret files in the data directory (each overridable by a flag).
const (
	voucherPINKeyFile  = "voucher-pin.key"
	idempotencyKeyFile = "idempotency.key"
)

// appConfig is what every command that runs Kassa's services needs.
type appConfig struct {
	store                storeFlags
	ledgerKey            string
	ledgerOrigin         string
	voucherPINKey        string
	idempotencyKey       string
	allowPrivateWebhooks bool
	rateLimit            float64
	vault                vaultFlags
	identity             identityFlags
	listen               string // serve's --listen, for the default public URL
	plainHTTP            bool   // serve's --insecure-http: cookies cannot be Secure
	geoIPDB              string
	node                 string
	trustedProxies       string
	payouts              payoutFlags
	privacy              privacyFlags
	compliance           complianceFlags
	// startRisk replays the risk engine's recent evaluations and runs its
	// background work (serve and bench do; one-shot admin commands don't).
	startRisk bool
	noRisk    bool // no risk engine at all (a benchmark's baseline)
	// roles is serve's --roles; nil means all of them.
	roles *roleSet
}

func (c *appConfig) register(fs *flag.FlagSet) {
	c.store.register(fs)
	fs.StringVar(&c.ledgerKey, "ledger-key", "", "checkpoint signer key `file` (note signer key); default "+ledgerKeyFile+" in --data, made on first start. Every node of a cluster needs the same one")
	fs.StringVar(&c.ledgerOrigin, "ledger-origin", ledgerOriginDefault, "`name` of the ledger log, the first line of every checkpoint (used when a key is made)")
	fs.StringVar(&c.voucherPINKey, "voucher-pin-key", "", "`file` with the HMAC key voucher PINs are stored under (base64, ≥ 32 bytes); default "+voucherPINKeyFile+" in --data, made on first start. Losing it makes every issued PIN unknown")
	fs.StringVar(&c.idempotencyKey, "idempotency-key", "", "`file` with the HMAC key for Idempotency-Key request fingerprints; default "+idempotencyKeyFile+" in --data")
	fs.BoolVar(&c.allowPrivateWebhooks, "allow-private-webhooks", false, "let webhook endpoints be plain http and loopback/private addresses (development and tests only)")
	c.vault.register(fs)
	c.identity.register(fs)
	fs.StringVar(&c.geoIPDB, "geoip-db", "", "MaxMind GeoIP2/GeoLite2 City or Country `file` (.mmdb) for IP geolocation in risk scoring; none: no geolocation features")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", "", "comma-separated `addresses or CIDRs` of load balancers whose X-Forwarded-For names the client (rate limits, voucher attempt limits and risk features use the client's address)")
	c.payouts.register(fs)
	c.privacy.register(fs)
	c.compliance.register(fs)
	fs.StringVar(&c.node, "node", "", "this node's `name` in the shared risk feature log (default: the host name and process id)")
}

// app is Kassa's services wired over one database.
type app struct {
	log       *slog.Logger
	db        *sqlstore.DB
	reg       *prometheus.Registry
	merchants *merchant.Service
	audit     *audit.Log
	ledger    *ledger.Ledger
	webhooks  *webhook.Service
	vouchers  *voucher.Service
	payments  *payment.Service
	payouts   *payout.Service
	business  *business.Service
	vault     *vault.Service
	keks      vault.KeyProvider
	idem      *sqlstore.Idempotency
	risk      *risk.Engine
	geoip     *geoip.DB
	identity  *identity.Service
	passkeys  *passkey.Service
	outbox    *identity.Outbox
	notifier  identity.Notifier // the payers' messages: --notifier
	invoices  *invoice.Service
	privacy   *privacy.Service
	credit    *credit.Service
	stopRisk  context.CancelFunc
	// mismatches is the number of unfixed reconciliation mismatches.
	mismatches prometheus.Gauge
	// pingFailures counts database checks that failed (pingDatabase).
	pingFailures prometheus.Counter
	api          *httpapi.Server
	// pagesOrigin is where payers reach the hosted pages (--public-url).
	pagesOrigin string
	// roles says what this node serves and runs (--roles).
	roles roleSet
	// jobs runs the background jobs under leases (the worker role).
	jobs *lease.Runner
	// compliance enforces jurisdiction policies and payer limits.
	compliance *compliance.Service
	// requests are the merchants' recent API requests this process
	// served, for the console's developers.
	requests *reqlog.Log
	// sealing seals personal columns per subject (seal.go);
	// privacyRotate rotates its key file after shreddings (gdpr.go).
	sealing       *sealing
	privacyRotate bool
	exclusion     *lateExclusion // compliance's register check, handed to identity before compliance exists
}

func newApp(ctx context.Context, cfg appConfig, logger *slog.Logger) (a *app, err error) {
	a = &app{log: logger, reg: prometheus.NewRegistry(), roles: allRoles}
	if cfg.roles != nil {
		a.roles = *cfg.roles
	}
	built := a // a is nil once an error is returned
	defer func() {
		if err != nil {
			built.close()
		}
	}()
	cfg.store.logger = logger
	if a.db, err = cfg.store.open(ctx); err != nil {
		return nil, err
	}
	a.mismatches = prometheus.NewGauge(prometheus.GaugeOpts{Name: "kassa_reconcile_mismatches",
		Help: "Mismatches between payments and the ledger the last reconciliation could not fix."})
	a.pingFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "kassa_database_ping_failures_total",
		Help: "Checks of the database (every 15 s on each node) that failed; each is logged."})
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		a.mismatches, a.pingFailures)
	db := a.db
	a.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kassa_database_failover_errors_total",
		Help: "Transactions and database checks that found the PostgreSQL server gone, shutting down or read-only (a failover); each drops the pool's older connections."},
		func() float64 { return float64(db.FailoverErrors()) }))
	registerDataDirSpace(a.reg, cfg.store.data)
	a.merchants = merchant.NewService(sqlstore.NewMerchants(a.db), nil, id.Generator{})
	a.audit = audit.New(sqlstore.NewAudit(a.db), nil, id.Generator{})
	if a.ledger, err = openLedger(a.db, cfg.store.data, cfg.ledgerKey, cfg.ledgerOrigin, logger, a.reg); err != nil {
		return nil, err
	}
	// One provider of the vault's key-encryption keys for everything that
	// seals with them: the vault, identity, webhook signing secrets.
	if a.keks, err = cfg.vault.keyProvider(cfg.store.data); err != nil {
		return nil, err
	}
	if err := a.openSealing(cfg); err != nil {
		return nil, err
	}
	a.webhooks = webhook.New(webhook.Config{Store: sqlstore.NewWebhooks(a.db), Logger: logger,
		Sealer:              &vault.Envelope{Wrapper: vault.NewLocalWrapper(a.keks), Domain: webhook.SealDomain},
		AllowPrivateTargets: cfg.allowPrivateWebhooks})
	a.reg.MustRegister(a.webhooks.Collectors()...)
	pinKey, err := binaryKey(cfg.store.data, cfg.voucherPINKey, voucherPINKeyFile)
	if err != nil {
		return nil, err
	}
	if a.vouchers, err = voucher.New(voucher.Config{Store: sqlstore.NewVouchers(a.db), Ledger: a.ledger,
		PINKey: pinKey, Logger: logger}); err != nil {
		return nil, err
	}
	if a.vault, err = openVault(a.db, cfg.store.data, a.keks, cfg.vault, logger); err != nil {
		return nil, err
	}
	var scorer payment.Risk
	if !cfg.noRisk {
		if a.risk, err = a.openRisk(ctx, cfg); err != nil {
			return nil, err
		}
		scorer = a.risk
	}
	if err := a.openIdentity(cfg); err != nil {
		return nil, err
	}
	if err := a.openPrivacy(cfg.privacy); err != nil {
		return nil, err
	}
	if err := a.openCompliance(cfg); err != nil {
		return nil, err
	}
	// The built-in test acquirer; its issuer page (3-D Secure) is one of
	// the hosted pages.
	acq := acquirer.NewTest()
	a.openPayouts(cfg.payouts, acquirer.WithTimeout(acq, 10*time.Second))
	if err := a.openCredit(acquirer.WithTimeout(acq, 10*time.Second)); err != nil {
		return nil, err
	}
	a.openBusiness(logger)
	a.payments = payment.New(payment.Config{Store: sqlstore.NewPayments(a.db), Ledger: a.ledger,
		Vouchers: a.vouchers, Vault: a.vault, Acquirer: acquirer.WithTimeout(acq, 10*time.Second),
		Risk: scorer, AttemptsMax: payment.AttemptsMaxDefault, Logger: logger, Movements: a.movements, Pricing: a.business,
		Gate: compliance.PaymentGate{Service: a.compliance}, Credit: a.credit})
	a.openInvoices()
	idemKey, err := binaryKey(cfg.store.data, cfg.idempotencyKey, idempotencyKeyFile)
	if err != nil {
		return nil, err
	}
	trusted, err := httpapi.ParseTrustedProxies(cfg.trustedProxies)
	if err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	a.idem = sqlstore.NewIdempotency(a.db)
	accounts, err := account.New(account.Config{Identity: a.identity, Passkeys: a.passkeys, Payments: a.payments,
		Merchants: a.merchants, Outbox: a.outbox, DevOutbox: cfg.identity.devOutbox, Wallets: a.payouts, PersonalData: a.privacy,
		Limits: a.compliance, Withdrawals: a.payouts, PublicURL: a.pagesOrigin, SecureCookies: !cfg.plainHTTP, Logger: logger,
		PrivacyURL: cfg.identity.privacyURL, PayLater: a.credit})
	if err != nil {
		return nil, err
	}
	pages := http.Handler(web.New(web.Config{Payments: a.payments, Merchants: a.merchants, Cards: a.vault, Payers: accounts, Wallets: a.payments, PayLater: a.credit, Issuer: acq,
		Invoices: a.invoices, PublicURL: a.pagesOrigin, Logger: logger}))
	var payers httpapi.RoutedHandler = accounts
	a.requests = reqlog.New()
	consolePages, err := a.openConsole(cfg)
	if err != nil {
		return nil, err
	}
	if !a.roles.pages {
		pages, payers, consolePages = nil, nil, nil
	}
	a.api = httpapi.New(httpapi.Config{
		Logger:            logger,
		Merchants:         a.merchants,
		DB:                a.db,
		Ledger:            a.ledger,
		Webhooks:          a.webhooks,
		Vouchers:          a.vouchers,
		Payments:          a.payments,
		Payouts:           a.payouts,
		Invoices:          a.invoices,
		Audit:             a.audit,
		Compliance:        a.compliance,
		Business:          a.business,
		Vault:             a.vault,
		Risk:              a.risk,
		PublicURL:         a.pagesOrigin,
		NoAPI:             !a.roles.api,
		Pages:             pages,
		Accounts:          payers,
		Console:           consolePages,
		Idempotency:       a.idem,
		IdempotencySecret: idemKey,
		Registry:          a.reg,
		RateLimit:         rateLimitOrOff(cfg.rateLimit),
		TrustedProxies:    trusted,
		Version:           Version,
		Requests:          a.requests,
	})
	if a.jobs, err = lease.NewRunner(lease.Config{Store: sqlstore.NewLeases(a.db), Holder: nodeName(cfg), Logger: logger}); err != nil {
		return nil, err
	}
	a.reg.MustRegister(a.jobs.Collectors()...)
	a.registerJobs()
	return a, nil
}

// Intervals of the background work.
const (
	voucherSweepInterval     = time.Minute
	paymentSweepInterval     = 10 * time.Second
	reconcileInterval        = 10 * time.Minute
	idempotencySweepInterval = 10 * time.Minute
	identitySweepInterval    = 10 * time.Minute
)

// runWorkers starts the background work until ctx ends; wait blocks
// until it has stopped. Every node checks its database and reloads the
// vault's keys; a worker node also delivers webhooks (each delivery under
// its own lease) and competes for the leases of the jobs registerJobs
// added, running those it holds.
func (a *app) runWorkers(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	wg.Go(func() { every(ctx, databasePingInterval, func(time.Time) { a.pingDatabase(ctx) }) })
	wg.Go(func() { every(ctx, vaultWorkInterval, func(time.Time) { a.vault.ReloadKeys() }) })
	if !a.roles.worker {
		return wg.Wait
	}
	wg.Go(func() {
		if err := a.webhooks.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("webhook worker stopped", "err", err)
		}
	})
	wg.Go(func() { a.jobs.Run(ctx) })
	return wg.Wait
}

// every calls fn each interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func(now time.Time)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			fn(now)
		}
	}
}

// reconcile reconciles payments with the ledger, reversing duplicates;
// what it cannot fix is logged as an error and counted in
// kassa_reconcile_mismatches.
func (a *app) reconcile(ctx context.Context) error {
	rep, err := a.payments.Reconcile(ctx, true)
	if err == nil {
		err = a.reconcilePayouts(ctx, &rep)
	}
	if err == nil {
		err = a.reconcileCredit(ctx, &rep)
	}
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	a.mismatches.Set(float64(rep.Unfixed()))
	for _, m := range rep.Mismatches {
		a.log.Error("reconcile mismatch", "payment", m.PaymentID, "account", m.Account, "problem", m.Problem, "fixed", m.Fixed)
	}
	return nil
}

// openRisk makes the risk engine and, when asked, starts it: the replay
// of recent evaluations warms its features before the first payment.
func (a *app) openRisk(ctx context.Context, cfg appConfig) (*risk.Engine, error) {
	if cfg.geoIPDB != "" {
		db, err := geoip.Open(cfg.geoIPDB)
		if err != nil {
			return nil, fmt.Errorf("--geoip-db: %w", err)
		}
		a.geoip = db
		kind, built := db.Metadata()
		a.log.Info("geoip database", "type", kind, "built", built.Format(time.DateOnly))
	}
	node := nodeName(cfg)
	eng, err := risk.NewEngine(risk.Config{Store: sqlstore.NewRisk(a.db), Node: node, GeoIP: a.geoip,
		Notifier: a.webhooks, DefaultModel: risk.DefaultModel, IDs: id.Generator{}, Logger: a.log})
	if err != nil {
		return nil, err
	}
	a.reg.MustRegister(eng.Collectors()...)
	if cfg.startRisk {
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		if err := eng.Start(rctx); err != nil {
			cancel()
			return nil, err
		}
		a.stopRisk = cancel
	}
	return eng, nil
}

func (a *app) close() {
	if a.stopRisk != nil {
		a.stopRisk()
		a.risk.Close()
	}
	if a.geoip != nil {
		a.geoip.Close()
	}
	if a.vault != nil {
		a.vault.Close()
	}
	if a.ledger != nil {
		a.ledger.Close()
	}
	if a.db != nil {
		a.db.Close()
	}
}

// openLedger starts the ledger's sequencer over db, with commit metrics.
func openLedger(db *sqlstore.DB, dataDir, keyFile, origin string, logger *slog.Logger, reg prometheus.Registerer) (*ledger.Ledger, error) {
	skey, err := ledgerKey(dataDir, keyFile, origin)
	if err != nil {
		return nil, err
	}
	batchSize := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kassa_ledger_commit_batch_size",
		Help:    "Leaves (accounts and transfers) written per ledger commit.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 8),
	})
	commitTime := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kassa_ledger_commit_seconds",
		Help:    "Time of one durable ledger commit.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	// Each commit signs a checkpoint: its time tells how fresh the
	// published tree head is, and whether commits still happen.
	checkpointTime := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "kassa_ledger_checkpoint_timestamp_seconds",
		Help: "Unix time this node last committed to the ledger and signed a checkpoint (0 before its first commit).",
	})
	reg.MustRegister(batchSize, commitTime, checkpointTime)
	if db.Dialect() == sqlstore.SQLite {
		db.SetLogger(logger)
		status := func() sqlstore.LedgerIndexStatus { st, _ := db.LedgerIndexStatus(); return st }
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "kassa_ledger_index_lag_leaves",
				Help: "Ledger leaves not yet in the account index (SQLite; listings scan them instead).",
			}, func() float64 { return float64(status().Lag) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "kassa_ledger_index_failures_total",
				Help: "Failed steps of the ledger's account indexer (SQLite); each is logged.",
			}, func() float64 { return float64(status().Failures) }),
		)
	}
	led, err := ledger.New(ledger.Config{
		Store:     newLedgerStore(db),
		SignerKey: skey,
		Logger:    logger,
		OnCommit: func(leaves int, d time.Duration) {
			batchSize.Observe(float64(leaves))
			commitTime.Observe(d.Seconds())
			checkpointTime.Set(float64(time.Now().UnixNano()) / 1e9)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("start ledger: %w", err)
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kassa_ledger_queued_submissions",
		Help: "Ledger calls waiting behind the commit in progress; waiting calls and no new checkpoint mean a stalled commit.",
	}, func() float64 { return float64(led.Waiting()) }))
	return led, nil
}
