package webhook

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kassa/kassa/id"
)

// Store is what the webhook service needs from storage. Lists return at
// most limit records after the cursor id and whether more follow. Records
// of another merchant are reported as not found.
type Store interface {
	// CreateEndpoint stores an endpoint with its first secret. It returns
	// kassa EUnprocessable endpoint_limit_reached when the merchant
	// already has endpointsMax endpoints.
	CreateEndpoint(ctx context.Context, ep Endpoint, secret Secret, endpointsMax int) error
	// Endpoint returns ErrEndpointNotFound when absent.
	Endpoint(ctx context.Context, merchantID, id string) (Endpoint, error)
	// Endpoints lists a merchant's endpoints, oldest first.
	Endpoints(ctx context.Context, merchantID, after string, limit int) ([]Endpoint, bool, error)
	// DeleteEndpoint removes an endpoint, its secrets and its deliveries.
	DeleteEndpoint(ctx context.Context, merchantID, id string) error
	// RotateSecret adds secret to the endpoint and makes every secret that
	// had no expiry expire at expiresAt. It returns kassa EConflict
	// too_many_secrets when SecretsActiveMax secrets are active at
	// secret.Created.
	RotateSecret(ctx context.Context, merchantID, endpointID string, secret Secret, expiresAt time.Time) error
	// Publish stores the event and one pending delivery per subscribed
	// enabled endpoint, in one transaction.
	Publish(ctx context.Context, ev Event) error
	// Event returns ErrEventNotFound when absent.
	Event(ctx context.Context, merchantID, id string) (Event, error)
	// Events lists a merchant's events newest first; typ filters when set.
	Events(ctx context.Context, merchantID, typ, after string, limit int) ([]Event, bool, error)
	// Redeliver adds a pending delivery of the event, due at now, to the
	// endpoint (when endpointID is set; kassa EConflict when disabled) or
	// to every enabled endpoint subscribed to its type.
	Redeliver(ctx context.Context, merchantID, eventID, endpointID string, now time.Time) ([]Delivery, error)
	// Deliveries lists an endpoint's deliveries newest first.
	Deliveries(ctx context.Context, merchantID, endpointID, after string, limit int) ([]Delivery, bool, error)
	// Claim leases up to limit pending deliveries due at now to enabled
	// endpoints, whose lease is free or ended, to owner until leaseUntil.
	Claim(ctx context.Context, now, leaseUntil time.Time, owner string, limit int) ([]Job, error)
	// Finish records an attempt of a delivery leased to owner; it returns
	// ErrLeaseLost when the lease went to another worker. When disable is
	// set and the attempt failed the delivery, the endpoint is disabled
	// and disable published, in the same transaction, if no delivery to it
	// succeeded since a.FirstAttempt.
	Finish(ctx context.Context, owner string, a Attempt, disable *Event) (disabled bool, err error)
	// Backlog counts the pending deliveries to enabled endpoints due at
	// now, at most limit of them, and returns when the oldest of those
	// fell due (zero when none).
	Backlog(ctx context.Context, now time.Time, limit int) (due int, oldest time.Time, err error)
}

// ErrLeaseLost reports an attempt recorded after its lease ended and
// another worker claimed the delivery: the other worker's attempt counts.
var ErrLeaseLost = errors.New("webhook: delivery lease lost to another worker")

// Defaults of Config.
const (
	concurrencyDefault  = 8
	batchSizeDefault    = 32
	pollIntervalDefault = time.Second
	// leaseDefault outlasts one attempt (attemptTimeout) with margin.
	leaseDefault = time.Minute
)

// Sealer seals signing secrets at rest and opens them to sign; Kassa's
// is the vault's Envelope (domain SealDomain) under its key-encryption
// keys, so that the vault's key status, rewrap and retirement cover them.
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Config configures a Service.
type Config struct {
	Store  Store
	Sealer Sealer           // required: no signing secret is stored in clear
	Now    func() time.Time // nil: time.Now
	IDs    id.Generator
	Logger *slog.Logger // nil: discard
	// AllowPrivateTargets admits http:// URLs and loopback and private
	// addresses; for development and tests only.
	AllowPrivateTargets bool
	// RootCAs, when set, replaces the system's roots for https targets.
	RootCAs *x509.CertPool
	// Jitter spreads each retry's wait; nil means Jitter.
	Jitter func(time.Duration) time.Duration
	// Concurrency is how many attempts one worker makes at once;
	// BatchSize how many deliveries it claims at once; PollInterval how
	// long it waits when nothing is due; Lease how long a claim lasts
	// beyond the time the batch's attempts may take.
	Concurrency  int
	BatchSize    int
	PollInterval time.Duration
	Lease        time.Duration
}

// Service manages endpoints and events and delivers webhooks.
type Service struct {
	cfg     Config
	store   Store
	now     func() time.Time
	log     *slog.Logger
	client  *http.Client
	metrics metrics
}

type metrics struct {
	attempts   *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	disabled   prometheus.Counter
	lag        prometheus.Histogram
}

// New returns a service.
func New(cfg Config) *Service {
	if cfg.Sealer == nil {
		panic("webhook: Config.Sealer is required: signing secrets are stored sealed")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Jitter == nil {
		cfg.Jitter = Jitter
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = concurrencyDefault
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = batchSizeDefault
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = pollIntervalDefault
	}
	if cfg.Lease <= attemptTimeout {
		cfg.Lease = leaseDefault
	}
	return &Service{
		cfg: cfg, store: cfg.Store, now: cfg.Now, log: cfg.Logger,
		client: newClient(cfg.AllowPrivateTargets, cfg.RootCAs),
		metrics: metrics{
			attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "kassa_webhook_attempts_total",
				Help: "Webhook delivery attempts by outcome (success, http_error, network_error, blocked).",
			}, []string{"outcome"}),
			deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "kassa_webhook_deliveries_total",
				Help: "Webhook deliveries finished, by outcome (succeeded, failed).",
			}, []string{"outcome"}),
			disabled: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "kassa_webhook_endpoints_disabled_total",
				Help: "Webhook endpoints disabled after failing persistently.",
			}),
			lag: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name:    "kassa_webhook_delivery_lag_seconds",
				Help:    "Seconds from when a delivery attempt was due to when a worker started it.",
				Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900},
			}),
		},
	}
}

// Collectors returns the service's Prometheus metrics for registration.
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.metrics.attempts, s.metrics.deliveries, s.metrics.disabled, s.metrics.lag,
		newBacklogCollector(s)}
}

// NewEvent makes an event of a registered type for a merchant, with a
// fresh id and the current time; data is marshalled to JSON and must be an
// object. Pass it to the store's AppendEvent inside the transaction of the
// change it reports, or to Publish.
func (s *Service) NewEvent(merchantID, typ string, data any) (Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("webhook: marshal %s data: %w", typ, err)
	}
	ev := Event{ID: s.cfg.IDs.New("evt"), MerchantID: merchantID, Type: typ, Created: s.now().UTC(), Data: raw}
	if err := ev.Validate(); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// Publish stores an event that is not tied to another write, with its
// deliveries, in a transaction of its own.
func (s *Service) Publish(ctx context.Context, ev Event) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	if err := s.store.Publish(ctx, ev); err != nil {
		return fmt.Errorf("publish %s: %w", ev.Type, err)
	}
	return nil
}

// Created is a new endpoint with its secret in clear, shown this once.
type Created struct {
	Endpoint
	Secret string
}

// CreateEndpoint validates and stores an endpoint with a fresh secret.
func (s *Service) CreateEndpoint(ctx context.Context, merchantID string, p EndpointParams) (Created, error) {
	p, err := p.validate(s.cfg.AllowPrivateTargets)
	if err != nil {
		return Created{}, err
	}
	// The stores keep microseconds: the answer shows the time as it will
	// be read back.
	now := s.now().UTC().Truncate(time.Microsecond)
	ep := Endpoint{
		ID: s.cfg.IDs.New("we"), MerchantID: merchantID, URL: p.URL, Description: p.Description,
		Events: p.Events, Status: StatusEnabled, Created: now,
	}
	secret := newSecret(s.cfg.IDs, now)
	sealed, err := s.seal(ep.ID, secret)
	if err != nil {
		return Created{}, err
	}
	if err := s.store.CreateEndpoint(ctx, ep, sealed, EndpointsPerMerchantMax); err != nil {
		return Created{}, err
	}
	return Created{Endpoint: ep, Secret: secret.String()}, nil
}

// Endpoint returns one of the merchant's endpoints.
func (s *Service) Endpoint(ctx context.Context, merchantID, id string) (Endpoint, error) {
	return s.store.Endpoint(ctx, merchantID, id)
}

// Endpoints lists the merchant's endpoints, oldest first.
func (s *Service) Endpoints(ctx context.Context, merchantID, after string, limit int) ([]Endpoint, bool, error) {
	return s.store.Endpoints(ctx, merchantID, after, limit)
}

// DeleteEndpoint removes an endpoint; its pending deliveries go with it.
func (s *Service) DeleteEndpoint(ctx context.Context, merchantID, id string) error {
	return s.store.DeleteEndpoint(ctx, merchantID, id)
}

// RotateSecret gives the endpoint a new secret, returned in clear this
// once. The secrets it had keep signing beside it for RotationOverlap.
func (s *Service) RotateSecret(ctx context.Context, merchantID, endpointID string) (Created, error) {
	now := s.now().UTC()
	secret := newSecret(s.cfg.IDs, now)
	sealed, err := s.seal(endpointID, secret)
	if err != nil {
		return Created{}, err
	}
	if err := s.store.RotateSecret(ctx, merchantID, endpointID, sealed, now.Add(RotationOverlap)); err != nil {
		return Created{}, err
	}
	ep, err := s.store.Endpoint(ctx, merchantID, endpointID)
	if err != nil {
		return Created{}, err
	}
	return Created{Endpoint: ep, Secret: secret.String()}, nil
}

// seal returns secret as the store keeps it: sealed, its Key left out.
func (s *Service) seal(endpointID string, secret Secret) (Secret, error) {
	b, err := s.cfg.Sealer.Seal(secret.Key, SecretAAD(endpointID))
	if err != nil {
		return Secret{}, fmt.Errorf("webhook: seal signing secret: %w", err)
	}
	secret.Key, secret.Sealed = nil, b
	return secret, nil
}

// openSecrets returns the secrets of a job that open, in clear (a secret
// an older Kassa stored in clear is used as it is), and how many did not.
func (s *Service) openSecrets(job Job) (open []Secret, failed int) {
	for _, sec := range job.Secrets {
		if sec.Sealed != nil {
			k, err := s.cfg.Sealer.Open(sec.Sealed, SecretAAD(job.Endpoint.ID))
			if err != nil {
				failed++
				continue
			}
			sec.Key, sec.Sealed = k, nil
		}
		if len(sec.Key) > 0 {
			open = append(open, sec)
		}
	}
	return open, failed
}

// Event returns one of the merchant's events.
func (s *Service) Event(ctx context.Context, merchantID, id string) (Event, error) {
	return s.store.Event(ctx, merchantID, id)
}

// Events lists the merchant's events newest first, of one type when typ
// is set.
func (s *Service) Events(ctx context.Context, merchantID, typ, after string, limit int) ([]Event, bool, error) {
	return s.store.Events(ctx, merchantID, typ, after, limit)
}

// Redeliver sends an event again: to one endpoint, or to every enabled
// endpoint subscribed to its type when endpointID is empty.
func (s *Service) Redeliver(ctx context.Context, merchantID, eventID, endpointID string) ([]Delivery, error) {
	return s.store.Redeliver(ctx, merchantID, eventID, endpointID, s.now().UTC())
}

// Deliveries lists an endpoint's deliveries newest first.
func (s *Service) Deliveries(ctx context.Context, merchantID, endpointID, after string, limit int) ([]Delivery, bool, error) {
	if _, err := s.store.Endpoint(ctx, merchantID, endpointID); err != nil {
		return nil, false, err
	}
	return s.store.Deliveries(ctx, merchantID, endpointID, after, limit)
}

// Run delivers due webhooks until ctx ends. Several processes may run it
// at once over one database.
func (s *Service) Run(ctx context.Context) error {
	owner := s.workerID()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		n, err := s.runOnce(ctx, owner)
		wait := s.cfg.PollInterval
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.ErrorContext(ctx, "webhook worker", "err", err)
		case n == s.cfg.BatchSize:
			wait = 0 // more may be due
		}
		timer.Reset(wait)
	}
}

// RunOnce claims the deliveries due now, attempts them, records the
// outcomes, and returns how many it attempted. Tests drive it with a fake
// clock.
func (s *Service) RunOnce(ctx context.Context) (int, error) {
	return s.runOnce(ctx, s.workerID())
}

func (s *Service) workerID() string {
	host, _ := os.Hostname()
	return truncate(host, 64) + "/" + strconv.Itoa(os.Getpid()) + "/" + s.cfg.IDs.Random(8)
}

func (s *Service) runOnce(ctx context.Context, owner string) (int, error) {
	now := s.now().UTC()
	// The last job of a batch may start only after the others have had
	// their turns, so the lease covers them too: a lease that ran out
	// before the attempt would let another worker send it as well.
	rounds := time.Duration((s.cfg.BatchSize + s.cfg.Concurrency - 1) / s.cfg.Concurrency)
	jobs, err := s.store.Claim(ctx, now, now.Add(s.cfg.Lease+rounds*attemptTimeout), owner, s.cfg.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("claim deliveries: %w", err)
	}
	sem := make(chan struct{}, s.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, job := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s.deliver(ctx, owner, job)
		})
	}
	wg.Wait()
	return len(jobs), nil
}

// deliver makes one attempt of a claimed delivery and records it.
func (s *Service) deliver(ctx context.Context, owner string, job Job) {
	at := s.now().UTC()
	if job.Delivery.NextAttempt != nil {
		s.metrics.lag.Observe(max(0, at.Sub(*job.Delivery.NextAttempt).Seconds()))
	}
	status, errText, outcome := s.send(ctx, job, at)
	s.metrics.attempts.WithLabelValues(outcome).Inc()

	a := Attempt{
		DeliveryID: job.Delivery.ID, EndpointID: job.Endpoint.ID, At: at, FirstAttempt: at,
		ResponseStatus: status, Error: errText,
	}
	if job.Delivery.FirstAttempt != nil {
		a.FirstAttempt = *job.Delivery.FirstAttempt
	}
	var disable *Event
	switch {
	case outcome == "success":
		a.Status = DeliverySucceeded
	case at.Sub(a.FirstAttempt) >= RetryWindow:
		a.Status = DeliveryFailed
		ep := job.Endpoint
		ep.Status, ep.DisabledAt = StatusDisabled, &at
		disable = &Event{ID: s.cfg.IDs.New("evt"), MerchantID: ep.MerchantID, Type: TypeEndpointDisabled,
			Created: at, Data: ep.Snapshot()}
	default:
		a.Status = DeliveryPending
		next := at.Add(s.cfg.Jitter(Backoff(job.Delivery.Attempts + 1)))
		a.NextAttempt = &next
	}
	// Record the outcome even when ctx ended meanwhile (shutdown): the
	// attempt happened.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	disabled, err := s.store.Finish(fctx, owner, a, disable)
	log := s.log.With("delivery", job.Delivery.ID, "event", job.Event.ID, "endpoint", job.Endpoint.ID,
		"attempt", job.Delivery.Attempts+1)
	switch {
	case errors.Is(err, ErrLeaseLost):
		log.WarnContext(ctx, "webhook attempt outlived its lease; another worker retries it", "status", a.Status)
		return
	case err != nil:
		log.ErrorContext(ctx, "record webhook attempt", "err", err)
		return
	}
	if a.Status != DeliveryPending {
		s.metrics.deliveries.WithLabelValues(a.Status).Inc()
	}
	if a.Status != DeliverySucceeded {
		log.InfoContext(ctx, "webhook attempt failed", "response_status", status, "error", errText, "status", a.Status)
	}
	if disabled {
		s.metrics.disabled.Inc()
		log.WarnContext(ctx, "webhook endpoint disabled after failing persistently", "since", a.FirstAttempt)
	}
}

// send posts the event to the endpoint and returns the response status,
// an error text for the delivery record (never the URL, which may carry a
// token), and the metrics outcome.
func (s *Service) send(ctx context.Context, job Job, at time.Time) (status int, errText, outcome string) {
	body, err := job.Event.Body()
	if err != nil {
		return 0, "internal error: encoding the event", "network_error"
	}
	if len(job.Secrets) == 0 {
		return 0, "the endpoint has no active signing secret", "network_error"
	}
	secrets, failed := s.openSecrets(job)
	if failed > 0 {
		s.log.ErrorContext(ctx, "webhook signing secrets do not open (sealed under a key-encryption key that is gone, or tampered with)",
			"endpoint_id", job.Endpoint.ID, "count", failed)
	}
	if len(secrets) == 0 {
		return 0, "the endpoint's signing secret cannot be read; rotate it", "network_error"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, job.Endpoint.URL, bytes.NewReader(body))
	if err != nil {
		return 0, "invalid endpoint url", "network_error"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("webhook-id", job.Event.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("webhook-signature", Sign(secrets, job.Event.ID, at, body))
	resp, err := s.client.Do(req)
	if err != nil {
		if _, ok := errors.AsType[errTargetForbidden](err); ok {
			return 0, truncate(attemptError(err), errorTextLengthMax), "blocked"
		}
		return 0, truncate(attemptError(err), errorTextLengthMax), "network_error"
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, responseBytesMax))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, "", "success"
	}
	return resp.StatusCode, "the endpoint answered " + strconv.Itoa(resp.StatusCode) + " " + http.StatusText(resp.StatusCode), "http_error"
}

// attemptError describes a failed request without its URL.
func attemptError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return "timed out after " + attemptTimeout.String()
		}
		err = ue.Err
	}
	return err.Error()
}
