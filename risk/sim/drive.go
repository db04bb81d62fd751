package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kassa/kassa/risk"
)

// DriveConfig says which Kassa to drive and how.
type DriveConfig struct {
	BaseURL   string // e.g. https://kassa.example
	SecretKey string // sk_...
	// Client sends the requests; nil means one with a 30 s timeout.
	Client *http.Client
	// Concurrency is how many events are in flight at once (default 1,
	// which keeps the server's view in exact time order).
	Concurrency int
}

// Decisions counts Kassa's decisions.
type Decisions struct {
	Allow     int `json:"allow"`
	Challenge int `json:"challenge"`
	Review    int `json:"review"`
	Block     int `json:"block"`
}

// DriveStats is what Kassa decided, by ground truth.
type DriveStats struct {
	Events int       `json:"events"`
	Fraud  Decisions `json:"fraud"`
	Legit  Decisions `json:"legit"`
	// Retries counts requests repeated after 429 Too Many Requests.
	Retries int `json:"retries"`
	// Latency of the evaluate calls (including retries), to within 5%.
	LatencyP50 time.Duration `json:"latency_p50"`
	LatencyP99 time.Duration `json:"latency_p99"`
}

// APIError is a refusal from Kassa: its status and RFC 9457 problem.
type APIError struct {
	Method, Path string
	Status       int
	Code         string
	Title        string
	Detail       string
}

func (e *APIError) Error() string {
	msg := e.Detail
	if msg == "" {
		msg = e.Title
	}
	if e.Code != "" {
		msg += " (" + e.Code + ")"
	}
	return fmt.Sprintf("sim: %s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), msg)
}

// Limits on driving.
const (
	concurrencyMax   = 64
	retryCountMax    = 5
	retryWaitMax     = 5 * time.Second
	responseBytesMax = 1 << 20
)

// retryWaitBase is the first backoff after a 429 without Retry-After;
// each retry doubles it.
var retryWaitBase = 100 * time.Millisecond

// Drive simulates cfg and sends every event, in time order, to a running
// Kassa: POST /v1/risk/evaluate, then the outcome (blocked when Kassa
// blocked it), then for fraud a chargeback label. The server stamps time
// and geolocation itself. The first error stops it.
func Drive(ctx context.Context, dc DriveConfig, cfg Config) (DriveStats, error) {
	d, err := newDriver(dc)
	if err != nil {
		return DriveStats{}, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	events := make(chan *risk.Event, d.concurrency)
	var wg sync.WaitGroup
	for range d.concurrency {
		wg.Go(func() {
			for e := range events {
				if err := d.send(ctx, e); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	genErr := Generate(ctx, cfg, func(e *risk.Event) error {
		select {
		case events <- e:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(events)
	wg.Wait()
	// A worker's error (or the caller's cancellation) is the cause;
	// Generate then only saw a cancelled context.
	if err := context.Cause(ctx); err != nil {
		return d.stats(), err
	}
	return d.stats(), genErr
}

type driver struct {
	base        *url.URL
	key         string
	client      *http.Client
	concurrency int

	mu      sync.Mutex
	st      DriveStats
	latency histogram
}

func newDriver(dc DriveConfig) (*driver, error) {
	u, err := url.Parse(strings.TrimSuffix(dc.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sim: base URL %q is not an http(s) URL", dc.BaseURL)
	}
	if dc.SecretKey == "" {
		return nil, errors.New("sim: a secret key is required")
	}
	d := &driver{base: u, key: dc.SecretKey, client: dc.Client, concurrency: dc.Concurrency}
	if d.client == nil {
		d.client = &http.Client{Timeout: 30 * time.Second}
	}
	if d.concurrency == 0 {
		d.concurrency = 1
	}
	if d.concurrency < 0 || d.concurrency > concurrencyMax {
		return nil, fmt.Errorf("sim: concurrency %d must be between 1 and %d", dc.Concurrency, concurrencyMax)
	}
	return d, nil
}

// evaluateRequest is an event as a merchant would submit it: without
// the simulator's id and time, the outcome and ground truth, and the
// geolocation (Kassa's own GeoIP fills that).
type evaluateRequest struct {
	Kind string `json:"kind"`
	// MerchantID stays out of the request: the key names the merchant.
	MerchantID      string       `json:"-"`
	Amount          int64        `json:"amount"`
	Currency        string       `json:"currency"`
	Method          string       `json:"method"`
	CardFingerprint string       `json:"card_fingerprint,omitempty"`
	VoucherSerial   string       `json:"voucher_serial,omitempty"`
	CustomerID      string       `json:"customer_id,omitempty"`
	Email           string       `json:"email,omitempty"`
	IP              string       `json:"ip,omitempty"`
	UserAgent       string       `json:"user_agent,omitempty"`
	BillingCountry  string       `json:"billing_country,omitempty"`
	DeviceID        string       `json:"device_id,omitempty"`
	Signals         risk.Signals `json:"client_signals,omitzero"`
}

// evaluation is Kassa's answer to an evaluate call.
type evaluation struct {
	ID       string `json:"id"`
	Decision string `json:"decision"`
	Score    int    `json:"score"`
	Level    string `json:"level"`
}

func (d *driver) send(ctx context.Context, e *risk.Event) error {
	req := evaluateRequest{
		Kind: e.Kind, MerchantID: e.MerchantID, Amount: e.Amount, Currency: e.Currency, Method: e.Method,
		CardFingerprint: e.CardFingerprint, VoucherSerial: e.VoucherSerial, CustomerID: e.CustomerID,
		Email: e.Email, IP: e.IP, UserAgent: e.UserAgent, BillingCountry: e.BillingCountry,
		DeviceID: e.DeviceID, Signals: e.Signals,
	}
	var ev evaluation
	start := time.Now()
	if err := d.post(ctx, "/v1/risk/evaluate", req, &ev); err != nil {
		return err
	}
	took := time.Since(start)
	if ev.ID == "" {
		return fmt.Errorf("sim: evaluate of %s answered without an id", e.ID)
	}
	outcome := e.Outcome
	if ev.Decision == "block" {
		outcome = risk.OutcomeBlocked
	}
	path := "/v1/risk/evaluations/" + url.PathEscape(ev.ID) + "/outcome"
	if err := d.post(ctx, path, map[string]string{"outcome": outcome}, nil); err != nil {
		return err
	}
	if e.Label == risk.LabelFraud {
		label := map[string]string{"subject": ev.ID, "label": risk.LabelFraud, "source": "chargeback"}
		if err := d.post(ctx, "/v1/risk/labels", label, nil); err != nil {
			return err
		}
	}
	return d.record(e, ev.Decision, took)
}

func (d *driver) record(e *risk.Event, decision string, took time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := &d.st.Legit
	if e.Label == risk.LabelFraud {
		c = &d.st.Fraud
	}
	switch decision {
	case "allow":
		c.Allow++
	case "challenge":
		c.Challenge++
	case "review":
		c.Review++
	case "block":
		c.Block++
	default:
		return fmt.Errorf("sim: evaluate of %s answered decision %q", e.ID, decision)
	}
	d.st.Events++
	d.latency.add(took)
	return nil
}

func (d *driver) stats() DriveStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.st
	st.LatencyP50 = d.latency.quantile(0.50)
	st.LatencyP99 = d.latency.quantile(0.99)
	return st
}

// post sends body as JSON and decodes a 2xx answer into out (unless nil).
// 429 is retried after Retry-After (at most retryWaitMax) or a doubling
// backoff, retryCountMax times; other refusals are *APIError.
func (d *driver) post(ctx context.Context, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("sim: encode %s: %w", path, err)
	}
	wait := retryWaitBase
	for try := 0; ; try++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.base.String()+path, bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("sim: POST %s: %w", path, err)
		}
		req.Header.Set("Authorization", "Bearer "+d.key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := d.client.Do(req)
		if err != nil {
			return fmt.Errorf("sim: POST %s: %w", path, err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, responseBytesMax))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("sim: POST %s: read answer: %w", path, err)
		}
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("sim: POST %s: decode answer: %w", path, err)
			}
			return nil
		case resp.StatusCode == http.StatusTooManyRequests && try < retryCountMax:
			d.mu.Lock()
			d.st.Retries++
			d.mu.Unlock()
			pause := wait
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
				pause = time.Duration(s) * time.Second
			}
			pause = min(pause, retryWaitMax) + time.Duration(rand.Int64N(int64(wait)/4+1)) // jitter spreads workers apart
			wait *= 2
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		default:
			return problem(path, resp.StatusCode, data)
		}
	}
}

// problem reads an RFC 9457 body into an *APIError (any body: a proxy's
// HTML page still gives the status).
func problem(path string, status int, body []byte) error {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Code   string `json:"code"`
	}
	_ = json.Unmarshal(body, &p) // not a problem document: status only
	return &APIError{Method: http.MethodPost, Path: path, Status: status, Code: p.Code, Title: p.Title, Detail: p.Detail}
}

// histogram counts durations in buckets 5% apart, from 10µs to about
// two minutes: bounded memory however long the drive.
type histogram struct {
	counts [histBuckets]int
	n      int
}

const (
	histBuckets = 340
	histGrowth  = 1.05
	histMin     = 10 * time.Microsecond
)

func (h *histogram) add(d time.Duration) {
	i := 0
	if d > histMin {
		i = int(math.Log(float64(d)/float64(histMin))/math.Log(histGrowth)) + 1
	}
	h.counts[min(i, histBuckets-1)]++
	h.n++
}

// quantile is the upper bound of the bucket holding the q-quantile.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(h.n)))
	seen := 0
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(float64(histMin) * math.Pow(histGrowth, float64(i)))
		}
	}
	return time.Duration(float64(histMin) * math.Pow(histGrowth, histBuckets-1))
}
