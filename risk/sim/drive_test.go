package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa/kassa/risk"
)

var driveSim = Config{Seed: 3, Payers: 120, Days: 2, FraudRate: 0.05}

// fakeKassa stands in for Kassa's risk API: it checks every request's
// shape, answers canned decisions (every fifth evaluation blocked) and
// records the outcomes and labels it was told.
type fakeKassa struct {
	t *testing.T
	// before, when set, may answer a request itself (429s, problems).
	before func(w http.ResponseWriter, r *http.Request) bool

	mu        sync.Mutex
	evals     []evaluateRequest
	decisions map[string]string // evaluation id → decision
	outcomes  map[string]string
	labels    map[string]bool
}

func newFakeKassa(t *testing.T) (*fakeKassa, *httptest.Server) {
	f := &fakeKassa{t: t, decisions: map[string]string{}, outcomes: map[string]string{}, labels: map[string]bool{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeKassa) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.before != nil && f.before(w, r) {
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer sk_test_sim" ||
		r.Header.Get("Content-Type") != "application/json" {
		f.t.Errorf("%s %s with Authorization %q, Content-Type %q", r.Method, r.URL.Path,
			r.Header.Get("Authorization"), r.Header.Get("Content-Type"))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var body map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("%s: body: %v", r.URL.Path, err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch path := r.URL.Path; {
	case path == "/v1/risk/evaluate":
		for _, k := range []string{"id", "time", "outcome", "label", "fraud_type", "geo"} {
			if _, ok := body[k]; ok {
				f.t.Errorf("evaluate request carries %q", k)
			}
		}
		var req evaluateRequest
		raw, _ := json.Marshal(body)
		if err := json.Unmarshal(raw, &req); err != nil || req.Kind == "" || req.Amount <= 0 || strings.Contains(string(raw), "merchant_id") {
			f.t.Errorf("evaluate request %s: %v", raw, err)
		}
		f.evals = append(f.evals, req)
		id := fmt.Sprintf("rev_%d", len(f.evals))
		decision := []string{"allow", "challenge", "review", "allow", "block"}[len(f.evals)%5]
		f.decisions[id] = decision
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"decision":%q,"score":42,"level":"medium","reasons":[{"code":"new_device"}]}`, id, decision)
	case strings.HasPrefix(path, "/v1/risk/evaluations/") && strings.HasSuffix(path, "/outcome"):
		id := strings.TrimSuffix(strings.TrimPrefix(path, "/v1/risk/evaluations/"), "/outcome")
		var outcome string
		_ = json.Unmarshal(body["outcome"], &outcome)
		if _, ok := f.decisions[id]; !ok || f.outcomes[id] != "" {
			f.t.Errorf("outcome for evaluation %q: unknown or twice", id)
		}
		f.outcomes[id] = outcome
		w.WriteHeader(http.StatusNoContent)
	case path == "/v1/risk/labels":
		var l struct{ Subject, Label, Source string }
		raw, _ := json.Marshal(body)
		_ = json.Unmarshal(raw, &l)
		if _, ok := f.decisions[l.Subject]; !ok || l.Label != "fraud" || l.Source != "chargeback" {
			f.t.Errorf("label %s", raw)
		}
		f.labels[l.Subject] = true
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":"lab_1"}`)
	default:
		f.t.Errorf("unexpected %s %s", r.Method, path)
		w.WriteHeader(http.StatusNotFound)
	}
}

func TestDrive(t *testing.T) {
	f, srv := newFakeKassa(t)
	want := generate(t, driveSim)
	st, err := Drive(context.Background(), DriveConfig{BaseURL: srv.URL + "/", SecretKey: "sk_test_sim"}, driveSim)
	if err != nil {
		t.Fatalf("Drive: %v", err)
	}
	if len(f.evals) != len(want) || st.Events != len(want) {
		t.Fatalf("%d evaluations, stats say %d, want %d", len(f.evals), st.Events, len(want))
	}
	var wantStats DriveStats
	for i, e := range want {
		got := f.evals[i]
		if got.Kind != e.Kind || got.Amount != e.Amount || got.IP != e.IP || got.DeviceID != e.DeviceID ||
			got.Signals != e.Signals || got.CardFingerprint != e.CardFingerprint {
			t.Fatalf("evaluation %d is %+v, want the fields of %+v", i, got, e)
		}
		id := fmt.Sprintf("rev_%d", i+1)
		decision := f.decisions[id]
		wantOutcome := e.Outcome
		if decision == "block" {
			wantOutcome = risk.OutcomeBlocked
		}
		if f.outcomes[id] != wantOutcome {
			t.Errorf("evaluation %s (%s) outcome %q, want %q", id, decision, f.outcomes[id], wantOutcome)
		}
		if f.labels[id] != (e.Label == risk.LabelFraud) {
			t.Errorf("evaluation %s of a %s event: labelled %v", id, e.Label, f.labels[id])
		}
		c := &wantStats.Legit
		if e.Label == risk.LabelFraud {
			c = &wantStats.Fraud
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
		}
	}
	if st.Fraud != wantStats.Fraud || st.Legit != wantStats.Legit || st.Fraud.Allow+st.Fraud.Block == 0 {
		t.Errorf("stats fraud %+v legit %+v, want %+v %+v", st.Fraud, st.Legit, wantStats.Fraud, wantStats.Legit)
	}
	if st.LatencyP50 <= 0 || st.LatencyP99 < st.LatencyP50 || st.LatencyP99 > 10*time.Second {
		t.Errorf("latency p50 %s p99 %s", st.LatencyP50, st.LatencyP99)
	}
}

func TestDriveConcurrent(t *testing.T) {
	f, srv := newFakeKassa(t)
	st, err := Drive(context.Background(), DriveConfig{BaseURL: srv.URL, SecretKey: "sk_test_sim", Concurrency: 4}, driveSim)
	if err != nil {
		t.Fatalf("Drive: %v", err)
	}
	n := len(generate(t, driveSim))
	if st.Events != n || len(f.outcomes) != n {
		t.Errorf("%d events, %d outcomes, want %d", st.Events, len(f.outcomes), n)
	}
}

func TestDriveRetries429(t *testing.T) {
	defer func(w time.Duration) { retryWaitBase = w }(retryWaitBase)
	retryWaitBase = time.Millisecond
	f, srv := newFakeKassa(t)
	var mu sync.Mutex
	refused := 0
	f.before = func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/v1/risk/evaluate" && refused < 3 { // the first event's first three tries
			refused++
			w.Header().Set("Retry-After", "0")
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"type":"https://kassa.dev/problems/rate_limited","title":"Too Many Requests","status":429,"code":"rate_limited"}`)
			return true
		}
		return false
	}
	cfg := Config{Seed: 3, Payers: 20, Days: 1}
	st, err := Drive(context.Background(), DriveConfig{BaseURL: srv.URL, SecretKey: "sk_test_sim"}, cfg)
	if err != nil {
		t.Fatalf("Drive: %v", err)
	}
	mu.Lock()
	tries := refused
	mu.Unlock()
	if st.Retries != 3 || tries != 3 || st.Events != len(generate(t, cfg)) {
		t.Errorf("retries %d, events %d", st.Retries, st.Events)
	}

	// Refused for good: a bounded number of tries, then the error.
	mu.Lock()
	refused = -1000
	mu.Unlock()
	_, err = Drive(context.Background(), DriveConfig{BaseURL: srv.URL, SecretKey: "sk_test_sim"}, cfg)
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusTooManyRequests || apiErr.Code != "rate_limited" {
		t.Fatalf("Drive against a server that always says 429 = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := refused + 1000; got != retryCountMax+1 {
		t.Errorf("%d tries, want %d", got, retryCountMax+1)
	}
}

func TestDriveProblem(t *testing.T) {
	f, srv := newFakeKassa(t)
	f.before = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/outcome") {
			return false
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, `{"type":"https://kassa.dev/problems/outcome_invalid","title":"Unprocessable Entity","status":422,`+
			`"detail":"outcome already reported","code":"outcome_invalid","param":"outcome"}`)
		return true
	}
	_, err := Drive(context.Background(), DriveConfig{BaseURL: srv.URL, SecretKey: "sk_test_sim", Concurrency: 2}, driveSim)
	if err == nil || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), "outcome already reported") {
		t.Fatalf("Drive = %v, want the 422 and its detail", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != "outcome_invalid" || !strings.HasSuffix(apiErr.Path, "/outcome") {
		t.Errorf("error %#v", apiErr)
	}
}

func TestDriveConfig(t *testing.T) {
	tests := []DriveConfig{
		{BaseURL: "", SecretKey: "sk_x"},
		{BaseURL: "ftp://kassa.example", SecretKey: "sk_x"},
		{BaseURL: "https://kassa.example"},
		{BaseURL: "https://kassa.example", SecretKey: "sk_x", Concurrency: concurrencyMax + 1},
	}
	for _, dc := range tests {
		if _, err := Drive(context.Background(), dc, driveSim); err == nil {
			t.Errorf("Drive accepted %+v", dc)
		}
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 100; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	if p50 := h.quantile(0.5); p50 < 50*time.Millisecond || p50 > 53*time.Millisecond {
		t.Errorf("p50 = %s", p50)
	}
	if p99 := h.quantile(0.99); p99 < 99*time.Millisecond || p99 > 104*time.Millisecond {
		t.Errorf("p99 = %s", p99)
	}
}
