// Package httpapi serves Kassa's JSON API: authentication of callers,
// request limits, problem-details errors, metrics and the OpenAPI document.
// Handlers are thin: decode, call the domain, encode.
package httpapi

import (
	"context"
	"crypto/cipher"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/business"
	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/idempotency"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/invoice"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/reqlog"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/vault"
	"github.com/kassa/kassa/voucher"
	"github.com/kassa/kassa/webhook"
)

// Defaults and limits.
const (
	BodyBytesDefault = 1 << 20 // request bodies larger than this are refused with 413
	rateLimitDefault = 1000    // requests per second per API key
	rateBurstDefault = 2000
)

// Pinger checks the database for /readyz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config wires a Server to the domain services.
type Config struct {
	Logger    *slog.Logger
	Merchants *merchant.Service
	DB        Pinger
	// Ledger serves /v1/ledger/...; nil leaves those routes out.
	Ledger *ledger.Ledger
	// Webhooks serves /v1/webhook_endpoints/... and /v1/events/...; nil leaves those routes out.
	Webhooks *webhook.Service
	// Vouchers serves /v1/vouchers/...; nil leaves those routes out.
	Vouchers *voucher.Service
	// Payments serves /v1/payments, /v1/refunds and /v1/balance; nil
	// leaves them out.
	Payments *payment.Service
	// Payouts serves /v1/payouts/...; nil leaves those routes out.
	Payouts *payout.Service
	// Invoices serves /v1/invoices/... and /v1/invoice_settings; nil
	// leaves those routes out.
	Invoices *invoice.Service
	// Audit serves /v1/audit_events; nil leaves it out.
	Audit *audit.Log
	// Console serves the console pages (package web/console) for the
	// routes it names; nil leaves them out.
	Console RoutedHandler
	// Compliance serves /v1/customers/{id}/limits; nil leaves them out.
	Compliance *compliance.Service
	// Business serves balance transactions, settlements and reports, and
	// /v1/balance's available and pending; nil leaves them out.
	Business *business.Service
	// Pages serves the hosted pages (GET and POST /pay/{id}, package web); nil leaves them out.
	Pages http.Handler
	// PublicURL is the origin payers reach the hosted pages at
	// (https://pay.example, kassa serve's --public-url). The links the
	// API hands out (next_action.redirect_url: the payment, challenge and
	// issuer pages) are built on it, never on a request's Host header,
	// which whoever sends the request chooses. Empty: the request's own
	// scheme and Host, for tests of this package; kassa serve always sets it.
	PublicURL string
	// Accounts serves the payer account pages (sign-up, login, account,
	// step-up challenge; package web/account) for the routes it names;
	// nil leaves them out.
	Accounts RoutedHandler
	// Vault serves /v1/tokens and /v1/cards; nil leaves them out.
	Vault *vault.Service
	// Risk serves /v1/risk/... and, with Payments, /v1/reviews; nil
	// leaves them out.
	Risk *risk.Engine
	// Identity serves /v1/signups (payer sign-up as JSON); nil leaves it
	// out.
	Identity *identity.Service
	// Idempotency remembers Idempotency-Key requests; nil ignores the header.
	Idempotency idempotency.Store
	// IdempotencySecret keys the stored request fingerprints (HMAC); every
	// node must use the same one. Required with Idempotency.
	IdempotencySecret []byte
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Registry receives the HTTP metrics; nil makes a fresh one. The API
	// does not serve it: MetricsHandler does, on a listener of its own.
	Registry *prometheus.Registry
	// RateLimit is the steady requests/s allowed per API key (and per
	// client IP for unauthenticated calls); RateBurst the burst. Zero means
	// the defaults; negative disables limiting.
	RateLimit float64
	RateBurst int
	// TrustedProxies are the load balancers whose X-Forwarded-For names
	// the client; nil trusts no one (the peer's address is the client's).
	TrustedProxies []netip.Prefix
	// PINBudget bounds wrong voucher PINs at the balance check per API key
	// and platform-wide; zero fields take the defaults.
	PINBudget PINBudget
	// NoAPI leaves every /v1 route out: a node without the api role
	// (kassa serve --roles) answers them 404 route_not_found. /healthz and
	// /readyz stay.
	NoAPI bool
	// BodyBytesMax caps request bodies; zero means BodyBytesDefault.
	BodyBytesMax int64
	Version      string
	// Requests keeps each merchant's recent API requests for the
	// console's developers page; nil keeps none.
	Requests *reqlog.Log
}

// Server is the HTTP API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	routes  []Route
	metrics *httpMetrics
	limiter *limiter
	handler http.Handler
	// answers seals the answers the idempotency store keeps.
	answers cipher.AEAD
	// pins holds the wrong-PIN budgets of the voucher balance check.
	pins *pinBudget
	// inFlight is the Idempotency-Keys of requests running here.
	inFlight inFlight
}

// Auth says which callers a route admits.
type Auth int

const (
	AuthNone        Auth = iota // anyone
	AuthSecret                  // a secret key
	AuthPublishable             // a secret or a publishable key (payer's browser)
)

func (s *Server) now() time.Time {
	if s.cfg.Clock != nil {
		return s.cfg.Clock()
	}
	return time.Now()
}

// Route is one registered endpoint.
type Route struct {
	Method, Pattern string
	Auth            Auth
	BodyBytesMax    int64
}

// HandlerFunc is an endpoint that returns an error instead of writing one.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// New returns a server with the foundation's routes registered.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.BodyBytesMax == 0 {
		cfg.BodyBytesMax = BodyBytesDefault
	}
	if cfg.Idempotency != nil && len(cfg.IdempotencySecret) < 32 {
		panic("httpapi: Config.IdempotencySecret must be at least 32 bytes")
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit, cfg.RateBurst = rateLimitDefault, rateBurstDefault
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = max(1, int(cfg.RateLimit))
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger,
		mux:     http.NewServeMux(),
		metrics: newHTTPMetrics(cfg.Registry),
	}
	if cfg.RateLimit > 0 {
		s.limiter = newLimiter(cfg.RateLimit, cfg.RateBurst)
	}
	if cfg.Idempotency != nil {
		s.answers = newAnswerAEAD(cfg.IdempotencySecret)
	}
	if cfg.Vouchers != nil {
		s.pins = newPINBudget(cfg.PINBudget, cfg.Registry)
	}
	s.Handle("GET", "/healthz", AuthNone, s.healthz)
	s.Handle("GET", "/readyz", AuthNone, s.readyz)
	if !cfg.NoAPI {
		s.registerAPI()
	}
	s.registerPages()
	s.registerAccounts()
	s.registerRouted(s.cfg.Console)
	s.handler = realClient(cfg.TrustedProxies, s.middleware(http.HandlerFunc(s.dispatch)))
	return s
}

// registerAPI registers the /v1 routes.
func (s *Server) registerAPI() {
	s.Handle("GET", "/v1/openapi.json", AuthNone, s.openapi)
	s.Handle("GET", "/v1/merchant", AuthSecret, s.getMerchant)
	if s.cfg.Ledger != nil {
		s.registerLedger()
	}
	if s.cfg.Webhooks != nil {
		s.registerWebhooks()
	}
	s.registerVouchers()
	s.registerPayments()
	s.registerPayouts()
	s.registerInvoices()
	s.registerLimits()
	s.registerBusiness()
	s.registerRisk()
	s.registerSignUps()
	s.registerTokens()
	s.registerAudit()
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Routes lists every registered endpoint.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// Handle registers an endpoint with the default body limit.
func (s *Server) Handle(method, pattern string, auth Auth, h HandlerFunc) {
	s.HandleLimit(method, pattern, auth, 0, h)
}

// HandleLimit registers an endpoint whose bodies may be up to bodyMax
// bytes (0 = the server's default).
func (s *Server) HandleLimit(method, pattern string, auth Auth, bodyMax int64, h HandlerFunc) {
	if bodyMax == 0 {
		bodyMax = s.cfg.BodyBytesMax
	}
	s.routes = append(s.routes, Route{Method: method, Pattern: pattern, Auth: auth, BodyBytesMax: bodyMax})
	s.mux.Handle(method+" "+pattern, s.endpoint(auth, bodyMax, h))
}

// dispatch routes a request; unknown paths and wrong methods become
// problems instead of the mux's plain-text answers.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if info := infoFrom(r.Context()); info != nil && pattern != "" {
		_, info.route, _ = strings.Cut(pattern, " ") // "GET /v1/x" → "/v1/x"
	}
	if pattern == "" {
		// Misses are limited per client IP like every unauthenticated
		// call: answering them costs as much as answering a route.
		if s.limiter != nil {
			if wait, ok := s.limiter.allow(ipLimitKey(clientIP(r))); !ok {
				s.writeError(w, r, rateLimited(wait))
				return
			}
		}
		rec := &statusRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if rec.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", rec.header.Get("Allow"))
			writeProblem(w, r, Problem{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
				Detail: r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + rec.header.Get("Allow")})
			return
		}
		if rec.status >= 300 && rec.status < 400 { // path cleaning redirects
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.status)
			return
		}
		writeProblem(w, r, Problem{Status: http.StatusNotFound, Code: "route_not_found",
			Detail: "no endpoint at " + r.URL.Path})
		return
	}
	s.mux.ServeHTTP(w, r) // (not h: only the mux's own dispatch sets path values)
}

// statusRecorder captures what the mux's own 404/405 handlers would write.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(status int)      { r.status = status }

// endpoint wraps a handler with authentication, rate limiting, the body
// limit and error mapping.
func (s *Server) endpoint(auth Auth, bodyMax int64, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		limitKey := ipLimitKey(clientIP(r))
		if auth != AuthNone {
			p, err := s.authenticate(r, auth)
			if err != nil {
				// Failed authentication counts against the client's IP,
				// which slows down anyone guessing keys.
				if s.limiter != nil {
					if wait, ok := s.limiter.allow(limitKey); !ok {
						s.writeError(w, r, rateLimited(wait))
						return
					}
				}
				s.writeError(w, r, err)
				return
			}
			ctx = withPrincipal(ctx, p)
			if s.cfg.Audit != nil {
				ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorAPIKey, ID: p.KeyID, IP: clientIP(r),
					UserAgent: r.UserAgent()})
			}
			limitKey = "key:" + p.KeyID
			if info := infoFrom(ctx); info != nil {
				info.merchantID, info.keyID = p.Merchant.ID, p.KeyID
			}
		}
		if s.limiter != nil {
			if wait, ok := s.limiter.allow(limitKey); !ok {
				s.writeError(w, r, rateLimited(wait))
				return
			}
		}
		if err := checkURLText(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, bodyMax)
		}
		var err error
		if p, ok := PrincipalFrom(ctx); ok {
			err = s.idempotent(w, r.WithContext(ctx), idempotencyNamespace(p), h)
		} else {
			err = h(w, r.WithContext(ctx))
		}
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, context.Canceled) {
				err = errAborted
			}
			s.writeError(w, r, err)
		}
	})
}

// checkURLText refuses a request whose path or query, decoded, is not
// UTF-8 text or holds a NUL character. Ids and cursors in them reach the
// store, and PostgreSQL refuses such bytes in text (the request would
// end in a 500); no object has such an id.
func checkURLText(r *http.Request) error {
	text := func(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }
	ok := text(r.URL.Path)
	for k, vs := range r.URL.Query() {
		ok = ok && text(k)
		for _, v := range vs {
			ok = ok && text(v)
		}
	}
	if !ok {
		return kassa.Errorf(kassa.EInvalid, "url_invalid", "the URL's path and query must be UTF-8 text without NUL characters")
	}
	return nil
}

func (s *Server) authenticate(r *http.Request, auth Auth) (merchant.Principal, error) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return merchant.Principal{}, kassa.Errorf(kassa.EUnauthorized, "api_key_missing",
			"send an API key as 'Authorization: Bearer sk_...'")
	}
	p, err := s.cfg.Merchants.Authenticate(r.Context(), strings.TrimSpace(token))
	if err != nil {
		return p, err
	}
	if auth == AuthSecret && p.Kind != merchant.Secret {
		return p, kassa.Errorf(kassa.EForbidden, "secret_key_required",
			"this endpoint needs a secret key; publishable keys reach only the endpoints a payer's browser uses")
	}
	return p, nil
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p merchant.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the authenticated caller of the request.
func PrincipalFrom(ctx context.Context) (merchant.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(merchant.Principal)
	return p, ok
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	return WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyTimeout bounds the database check of /readyz.
const readyTimeout = 2 * time.Second

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.cfg.DB.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness check failed", "err", err)
		return kassa.Errorf(kassa.EUnavailable, "database_unavailable", "the database does not answer")
	}
	return WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type merchantJSON struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Name    string `json:"name"`
	Created string `json:"created"`
}

func (s *Server) getMerchant(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	return WriteJSON(w, http.StatusOK, merchantJSON{
		ID: p.Merchant.ID, Object: "merchant", Name: p.Merchant.Name,
		Created: p.Merchant.CreatedAt.UTC().Format(time.RFC3339),
	})
}
