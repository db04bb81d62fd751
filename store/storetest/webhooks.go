package storetest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"github.com/kassa/kassa/internal/testclock"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault/vaulttest"
	"github.com/kassa/kassa/webhook"
)

func init() {
	webhook.RegisterEventType("test.created")
	webhook.RegisterEventType("test.other")
	Register("Webhooks", func(t *testing.T, open Opener) {
		t.Run("Endpoints", func(t *testing.T) { testWebhookEndpoints(t, open) })
		t.Run("OutboxRollback", func(t *testing.T) { testOutboxRollback(t, open) })
		t.Run("Events", func(t *testing.T) { testWebhookEvents(t, open) })
		t.Run("DeliverySigned", func(t *testing.T) { testDeliverySigned(t, open) })
		t.Run("Rotation", func(t *testing.T) { testSecretRotation(t, open) })
		t.Run("RetryAndDisable", func(t *testing.T) { testRetryAndDisable(t, open) })
		t.Run("Redeliver", func(t *testing.T) { testRedeliver(t, open) })
		t.Run("LeaseTakeover", func(t *testing.T) { testLeaseTakeover(t, open) })
		t.Run("ConcurrentClaim", func(t *testing.T) { testConcurrentClaim(t, open) })
		t.Run("Backlog", func(t *testing.T) { testWebhookBacklog(t, open) })
	})
}

// NewFakeClock returns a test clock at the current second, so that
// signatures made at its time pass a verifier's freshness check until the
// clock is moved.
func NewFakeClock() *testclock.Clock { return testclock.New(time.Now().UTC().Truncate(time.Second)) }

// Receiver is a webhook consumer for tests. It answers 500 on paths under
// /down and to bodies containing "fail":true, 200 otherwise.
type Receiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []Received
}

// Received is one request a Receiver got.
type Received struct {
	Path   string
	Header http.Header
	Body   []byte
}

// NewReceiver starts a receiver, closed when the test ends.
func NewReceiver(t *testing.T) *Receiver {
	r := &Receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, Received{Path: req.URL.Path, Header: req.Header.Clone(), Body: body})
		r.mu.Unlock()
		if strings.HasPrefix(req.URL.Path, "/down") || strings.Contains(string(body), `"fail":true`) {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

// Got returns the requests received so far.
func (r *Receiver) Got() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.got...)
}

type whEnv struct {
	db       *sqlstore.DB
	store    *sqlstore.Webhooks
	svc      *webhook.Service
	clock    *testclock.Clock
	merchant string
	other    string
	recv     *Receiver
}

func newWhEnv(t *testing.T, open Opener) *whEnv {
	t.Helper()
	db := open(t)
	ctx := context.Background()
	clock := NewFakeClock()
	ms := merchant.NewService(sqlstore.NewMerchants(db), clock.Now, id.Generator{})
	m1, err := ms.Create(ctx, "Webhook Shop")
	if err != nil {
		t.Fatal(err)
	}
	m2, err := ms.Create(ctx, "Other Shop")
	if err != nil {
		t.Fatal(err)
	}
	store := sqlstore.NewWebhooks(db)
	svc := webhook.New(webhook.Config{
		Store: store, Sealer: vaulttest.Envelope(webhook.SealDomain), Now: clock.Now, AllowPrivateTargets: true,
		Jitter: func(d time.Duration) time.Duration { return d },
	})
	return &whEnv{db: db, store: store, svc: svc, clock: clock, merchant: m1.ID, other: m2.ID, recv: NewReceiver(t)}
}

func (e *whEnv) endpoint(t *testing.T, merchantID, path string, events ...string) webhook.Created {
	t.Helper()
	c, err := e.svc.CreateEndpoint(context.Background(), merchantID, webhook.EndpointParams{URL: e.recv.URL + path, Events: events})
	if err != nil {
		t.Fatalf("CreateEndpoint(%s %v): %v", path, events, err)
	}
	return c
}

func (e *whEnv) publish(t *testing.T, merchantID, typ string, data any) webhook.Event {
	t.Helper()
	ev, err := e.svc.NewEvent(merchantID, typ, data)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func (e *whEnv) runOnce(t *testing.T) int {
	t.Helper()
	n, err := e.svc.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *whEnv) deliveries(t *testing.T, endpointID string) []webhook.Delivery {
	t.Helper()
	ds, _, err := e.svc.Deliveries(context.Background(), e.merchant, endpointID, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func wantKind(t *testing.T, what string, err error, kind, code string) {
	t.Helper()
	e := kassa.AsError(err)
	if e == nil || e.Kind != kind || (code != "" && e.Code != code) {
		t.Errorf("%s = %v, want %s %s", what, err, kind, code)
	}
}

func testWebhookEndpoints(t *testing.T, open Opener) {
	e := newWhEnv(t, open)
	ctx := context.Background()
	c := e.endpoint(t, e.merchant, "/a", "test.created", "test.created", "*")
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(c.Secret, "whsec_"))
	if !strings.HasPrefix(c.Secret, "whsec_") || err != nil || len(key) != 32 {
		t.Errorf("secret %q is not whsec_ + base64 of 32 bytes", c.Secret)
	}
	if !id.HasPrefix(c.ID, "we") || c.Status != webhook.StatusEnabled || len(c.Events) != 2 {
		t.Errorf("created %+v, want we_ id, enabled, events deduplicated", c.Endpoint)
	}
	got, err := e.svc.Endpoint(ctx, e.merchant, c.ID)
	if err != nil || got.URL != c.URL || !got.Created.Equal(c.Created) || len(got.Events) != 2 {
		t.Errorf("Endpoint = %+v, %v; want %+v", got, err, c.Endpoint)
	}
	// Another merchant sees nothing of it.
	if _, err := e.svc.Endpoint(ctx, e.other, c.ID); !errors.Is(err, webhook.ErrEndpointNotFound) {
		t.Errorf("other merchant's Endpoint = %v, want not found", err)
	}
	if err := e.svc.DeleteEndpoint(ctx, e.other, c.ID); !errors.Is(err, webhook.ErrEndpointNotFound) {
		t.Errorf("other merchant's DeleteEndpoint = %v, want not found", err)
	}
	if _, err := e.svc.RotateSecret(ctx, e.other, c.ID); !errors.Is(err, webhook.ErrEndpointNotFound) {
		t.Errorf("other merchant's RotateSecret = %v, want not found", err)
	}
	if eps, _, err := e.svc.Endpoints(ctx, e.other, "", 10); err != nil || len(eps) != 0 {
		t.Errorf("other merchant's Endpoints = %v, %v; want none", eps, err)
	}
	// At most EndpointsPerMerchantMax per merchant.
	for i := 1; i < webhook.EndpointsPerMerchantMax; i++ {
		e.clock.Advance(time.Second)
		e.endpoint(t, e.merchant, "/n", "test.other")
	}
	_, err = e.svc.CreateEndpoint(ctx, e.merchant, webhook.EndpointParams{URL: e.recv.URL, Events: []string{"*"}})
	wantKind(t, "17th endpoint", err, kassa.EUnprocessable, "endpoint_limit_reached")
	// Pages, oldest first.
	var all []webhook.Endpoint
	after := ""
	for range webhook.EndpointsPerMerchantMax {
		page, more, err := e.svc.Endpoints(ctx, e.merchant, after, 5)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if !more {
			break
		}
		after = page[len(page)-1].ID
	}
	if len(all) != webhook.EndpointsPerMerchantMax || all[0].ID != c.ID {
		t.Errorf("paged through %d endpoints, want %d starting with %s", len(all), webhook.EndpointsPerMerchantMax, c.ID)
	}
	if _, _, err := e.svc.Endpoints(ctx, e.merchant, "we_nope", 5); kassa.ErrorKind(err) != kassa.EInvalid {
		t.Errorf("bad cursor = %v, want invalid", err)
	}
	// Deleting frees a slot and forgets the endpoint.
	if err := e.svc.DeleteEndpoint(ctx, e.merchant, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Endpoint(ctx, e.merchant, c.ID); !errors.Is(err, webhook.ErrEndpointNotFound) {
		t.Errorf("deleted Endpoint = %v, want not found", err)
	}
	if err := e.svc.DeleteEndpoint(ctx, e.merchant, c.ID); !errors.Is(err, webhook.ErrEndpointNotFound) {
		t.Errorf("second delete = %v, want not found", err)
	}
	e.endpoint(t, e.merchant, "/again", "*")
}

// testOutboxRollback writes an event inside a caller's transaction: when
// the caller rolls back, neither the event nor a delivery remains.
func testOutboxRollback(t *testing.T, open Opener) {
	e := newWhEnv(t, open)
	ctx := context.Background()
	ep := e.endpoint(t, e.merchant, "/tx", "*")
	boom := errors.New("boom")
	write := func(name string, ev webhook.Event, fail bool) error {
		return e.db.Transact(ctx, func(tx *sqlstore.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE merchants SET name = ? WHERE id = ?`, name, e.merchant); err != nil {
				return err
			}
			if err := e.store.AppendEvent(ctx, tx, ev); err != nil {
				return err
			}
			if fail {
				return boom
			}
			return nil
		})
	}
	rolled, _ := e.svc.NewEvent(e.merchant, "test.created", map[string]string{"name": "rolled back"})
	if err := write("rolled back", rolled, true); !errors.Is(err, boom) {
		t.Fatalf("Transact = %v, want boom", err)
	}
	if _, err := e.svc.Event(ctx, e.merchant, rolled.ID); !errors.Is(err, webhook.ErrEventNotFound) {
		t.Errorf("event of a rolled-back transaction: %v, want not found", err)
	}
	if ds := e.deliveries(t, ep.ID); len(ds) != 0 {
		t.Errorf("deliveries after rollback: %v, want none", ds)
	}
	if n := e.runOnce(t); n != 0 || len(e.recv.Got()) != 0 {
		t.Errorf("worker attempted %d deliveries after a rollback", n)
	}
	kept, _ := e.svc.NewEvent(e.merchant, "test.created", map[string]string{"name": "kept"})
	if err := write("kept", kept, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Event(ctx, e.merchant, kept.ID); err != nil {
		t.Errorf("committed event: %v", err)
	}
	if ds := e.deliveries(t, ep.ID); len(ds) != 1 || ds[0].EventID != kept.ID || ds[0].Status != webhook.DeliveryPending {
		t.Errorf("deliveries after commit: %+v, want one pending of %s", ds, kept.ID)
	}
	// A malformed event is refused and rolls the caller back too.
	bad := kept
	bad.ID, bad.Type = "evt_other", "never.registered"
	if err := write("bad", bad, false); err == nil {
		t.Error("AppendEvent accepted an unregistered type")
	}
}

func testWebhookEvents(t *testing.T, open Opener) {
	e := newWhEnv(t, open)
	ctx := context.Background()
	var made []webhook.Event
	for i := range 5 {
		typ := "test.created"
		if i%2 == 1 {
			typ = "test.other"
		}
		made = append(made, e.publish(t, e.merchant, typ, map[string]int{"n": i}))
		e.clock.Advance(time.Second)
	}
	e.publish(t, e.other, "test.created", map[string]int{"n": 99})
	// Newest first, a page at a time.
	var all []webhook.Event
	after := ""
	for range 10 {
		page, more, err := e.svc.Events(ctx, e.merchant, "", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if !more {
			break
		}
		after = page[len(page)-1].ID
	}
	if len(all) != 5 {
		t.Fatalf("listed %d events, want 5", len(all))
	}
	for i, ev := range all {
		want := made[4-i]
		if ev.ID != want.ID || ev.Type != want.Type || !ev.Created.Equal(want.Created) || string(ev.Data) != string(want.Data) {
			t.Errorf("event %d = %+v, want %+v", i, ev, want)
		}
	}
	others, _, err := e.svc.Events(ctx, e.merchant, "test.other", "", 10)
	if err != nil || len(others) != 2 || others[0].ID != made[3].ID {
		t.Errorf("Events(type test.other) = %v, %v; want 2 newest first", others, err)
	}
	if _, err := e.svc.Event(ctx, e.other, made[0].ID); !errors.Is(err, webhook.ErrEventNotFound) {
		t.Errorf("other merchant's event = %v, want not found", err)
	}
	if _, _, err := e.svc.Events(ctx, e.other, "", made[0].ID, 10); kassa.ErrorKind(err) != kassa.EInvalid {
		t.Errorf("other merchant's event as cursor = %v, want invalid", err)
	}
}

// verifyWith checks a received webhook with the Standard Webhooks
// library's verifier.
func verifyWith(t *testing.T, secret string, r Received, checkTime bool) error {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if checkTime {
		return wh.Verify(r.Body, r.Header)
	}
	return wh.VerifyIgnoringTimestamp(r.Body, r.Header)
}

func testDeliverySigned(t *testing.T, open Opener) {
	e := newWhEnv(t, open)
	ctx := context.Background()
	a := e.endpoint(t, e.merchant, "/a", "test.created")
	b := e.endpoint(t, e.merchant, "/b", "*")
	c := e.endpoint(t, e.merchant, "/c", "test.other")
	e.endpoint(t, e.other, "/other", "*")
	ev := e.publish(t, e.merchant, "test.created", map[string]any{"id": "obj_1", "amount": 1250})
	if n := e.runOnce(t); n != 2 {
		t.Fatalf("attempted %d deliveries, want 2 (endpoints a and b)", n)
	}
	got := e.recv.Got()
	if len(got) != 2 {
		t.Fatalf("received %d webhooks, want 2", len(got))
	}
	secrets := map[string]string{"/a": a.Secret, "/b": b.Secret}
	for _, r := range got {
		if err := verifyWith(t, secrets[r.Path], r, true); err != nil {
			t.Errorf("%s: standard webhooks verify: %v", r.Path, err)
		}
		if err := verifyWith(t, c.Secret, r, true); err == nil {
			t.Errorf("%s verified with another endpoint's secret", r.Path)
		}
		h := r.Header
		if h.Get("webhook-id") != ev.ID || h.Get("Content-Type") != "application/json" || h.Get("User-Agent") != "Kassa-Webhooks/1" {
			t.Errorf("%s headers %v", r.Path, h)
		}
		if ts := h.Get("webhook-timestamp"); ts != strconv.FormatInt(e.clock.Now().Unix(), 10) {
			t.Errorf("webhook-timestamp %s, want %d", ts, e.clock.Now().Unix())
		}
		var body map[string]any
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		data, _ := body["data"].(map[string]any)
		if body["id"] != ev.ID || body["type"] != "test.created" || body["created"] != ev.Created.Format(time.RFC3339) ||
			data["id"] != "obj_1" || data["amount"] != 1250.0 || len(body) != 4 {
			t.Errorf("body %s", r.Body)
		}
	}
	for _, ep := range []webhook.Created{a, b} {
		ds := e.deliveries(t, ep.ID)
		if len(ds) != 1 || ds[0].Status != webhook.DeliverySucceeded || ds[0].Attempts != 1 ||
			ds[0].ResponseStatus != 204 || ds[0].Completed == nil || ds[0].NextAttempt != nil || ds[0].EventType != "test.created" {
			t.Errorf("deliveries of %s = %+v, want one succeeded with 204", ep.ID, ds)
		}
	}
	if n := e.runOnce(t); n != 0 {
		t.Errorf("second run attempted %d, want 0", n)
	}
	if _, _, err := e.svc.Deliveries(ctx, e.other, a.ID, "", 10); !errors.Is(err, webhook.ErrEndpointNotFound) {
		t.Errorf("other merchant's deliveries = %v, want not found", err)
	}
}

func testSecretRotation(t *testing.T, open Opener) {
	e := newWhEnv(t, open)
	ctx := context.Background()
	old := e.endpoint(t, e.merchant, "/r", "*")
	e.clock.Advance(time.Minute)
	rotated, err := e.svc.RotateSecret(ctx, e.merchant, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Secret == old.Secret || !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.ID != old.ID {
		t.Fatalf("rotation gave %q", rotated.Secret)
	}
	// During the overlap both secrets verify.
	e.publish(t, e.merchant, "test.created", map[string]int{"n": 1})
	e.runOnce(t)
	got := e.recv.Got()
	if len(got) != 1 {
		t.Fatalf("received %d, want 1", len(got))
	}
	if sigs := strings.Fields(got[0].Header.Get("webhook-signature")); len(sigs) != 2 {
		t.Errorf("signature header has %d signatures during the overlap, want 2", len(sigs))
	}
	for name, s := range map[string]string{"old": old.Secret, "new": rotated.Secret} {
		if err := verifyWith(t, s, got[0], true); err != nil {
			t.Errorf("%s secret during overlap: %v", name, err)
		}
	}
	// After the overlap only the new one does.
	e.clock.Advance(webhook.RotationOverlap)
	e.publish(t, e.merchant, "test.created", map[string]int{"n": 2})
	e.runOnce(t)
	got = e.recv.Got()
	if len(got) != 2 {
		t.Fatalf("received %d, want 2", len(got))
	}
	if err := verifyWith(t, rotated.Secret, got[1], false); err != nil {
		t.Errorf("new secret after overlap: %v", err)
	}
	if err := verifyWith(t, old.Secret, got[1], false); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("old secret after overlap = %v, want no matching signature", err)
	}
	// Rotations are bounded while old secrets still sign.
	for i := 1; i < webhook.SecretsActiveMax; i++ {
		if _, err := e.svc.RotateSecret(ctx, e.merchant, old.ID); err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
	}
	_, err = e.svc.RotateSecret(ctx, e.merchant, old.ID)
	wantKind(t, "rotation past the active maximum", err, kassa.EConflict, "too_many_secrets")
	e.clock.Advance(webhook.RotationOverlap + time.Second)
	if _, err := e.svc.RotateSecret(ctx, e.merchant, old.ID); err != nil {
		t.Errorf("rotation after the overlap: %v", err)
	}
}

func testRetryAndDisable(t *testing.T, open Opener) {
	e := newWhEnv(t, open)
	ctx := context.Background()
	down := e.endpoint(t, e.merchant, "/down", "test.created")
	watcher := e.endpoint(t, e.merchant, "/watch", webhook.TypeEndpointDisabled)
	// flaky fails one event throughout but gets another through, so it
	// is not disabled.
	flaky := e.endpoint(t, e.merchant, "/flaky", "test.created")
	ev := e.publish(t, e.merchant, "test.created", map[string]bool{"fail": true})
	start := e.clock.Now()

	var attempts []time.Time
	var later webhook.Event
	for i := 0; i < 20; i++ {
		e.runOnce(t)
		if i == 10 {
			// An event published meanwhile: pending on down when it is
			// disabled; delivered to flaky.
			later = e.publish(t, e.merchant, "test.created", map[string]bool{"fail": false})
			e.runOnce(t)
		}
		ds := e.deliveries(t, down.ID)
		d := ds[len(ds)-1] // the oldest: ev's
		if d.EventID != ev.ID {
			t.Fatalf("oldest delivery is of %s, want %s", d.EventID, ev.ID)
		}
		attempts = append(attempts, *d.LastAttempt)
		if d.Status == webhook.DeliveryFailed {
			break
		}
		if d.Status != webhook.DeliveryPending || d.ResponseStatus != 500 || d.Error == "" || d.Attempts != len(attempts) {
			t.Fatalf("after attempt %d: %+v", len(attempts), d)
		}
		if wait := d.NextAttempt.Sub(*d.LastAttempt); wait != webhook.Backoff(d.Attempts) {
			t.Errorf("wait after attempt %d = %s, want %s", d.Attempts, wait, webhook.Backoff(d.Attempts))
		}
		// Not due a moment early.
		e.clock.Set(d.NextAttempt.Add(-time.Second))
		e.runOnce(t)
		if ds := e.deliveries(t, down.ID); ds[len(ds)-1].Attempts != d.Attempts {
			t.Errorf("attempt %d was made early", d.Attempts+1)
		}
		e.clock.Set(*d.NextAttempt)
	}
	last := attempts[len(attempts)-1]
	if len(attempts) != 12 || last.Sub(start) < webhook.RetryWindow || attempts[len(attempts)-2].Sub(start) >= webhook.RetryWindow {
		t.Errorf("%d attempts over %s, want 12, the last the first past %s", len(attempts), last.Sub(start), webhook.RetryWindow)
	}
	// down failed throughout: disabled, its pending delivery failed, and
	// the event published.
	got, err := e.svc.Endpoint(ctx, e.merchant, down.ID)
	if err != nil || got.Status != webhook.StatusDisabled || got.DisabledAt == nil || !got.DisabledAt.Equal(last) {
		t.Errorf("down endpoint = %+v, %v; want disabled at %s", got, err, last)
	}
	for _, d := range e.deliveries(t, down.ID) {
		if d.Status != webhook.DeliveryFailed || d.Completed == nil {
			t.Errorf("delivery %s of %s to a disabled endpoint: %s", d.ID, d.EventID, d.Status)
		}
		if d.EventID == later.ID && d.Error != "the endpoint was disabled" {
			t.Errorf("pending delivery of a disabled endpoint: error %q", d.Error)
		}
	}
	if got, _ := e.svc.Endpoint(ctx, e.merchant, flaky.ID); got.Status != webhook.StatusEnabled {
		t.Errorf("flaky endpoint, which had a success, is %s", got.Status)
	}
	evs, _, err := e.svc.Events(ctx, e.merchant, webhook.TypeEndpointDisabled, "", 10)
	if err != nil || len(evs) != 1 {
		t.Fatalf("disabled events = %v, %v; want 1", evs, err)
	}
	var data map[string]any
	if err := json.Unmarshal(evs[0].Data, &data); err != nil {
		t.Fatal(err)
	}
	if data["id"] != down.ID || data["status"] != "disabled" || data["object"] != "webhook_endpoint" {
		t.Errorf("disabled event data %s", evs[0].Data)
	}
	if strings.Contains(string(evs[0].Data), "whsec_") || strings.Contains(string(evs[0].Data), strings.TrimPrefix(down.Secret, "whsec_")) {
		t.Errorf("disabled event data carries a secret: %s", evs[0].Data)
	}
	e.runOnce(t)
	var watched int
	for _, r := range e.recv.Got() {
		if r.Path == "/watch" && strings.Contains(string(r.Body), down.ID) {
			watched++
			if err := verifyWith(t, watcher.Secret, r, false); err != nil {
				t.Errorf("disabled webhook: %v", err)
			}
		}
	}
	if watched != 1 {
		t.Errorf("the watcher got %d webhook_endpoint.disabled webhooks, want 1", watched)
	}
	// A disabled endpoint gets nothing more; redelivering to it is refused.
	e.publish(t, e.merchant, "test.created", map[string]int{"n": 3})
	if ds := e.deliveries(t, down.ID); ds[0].EventID == ev.ID || len(ds) != 2 {
		t.Errorf("a disabled endpoint got a new delivery: %d deliveries", len(ds))
	}
	_, err = e.svc.Redeliver(ctx, e.merchant, ev.ID, down.ID)
	wantKind(t, "redeliver to a disabled endpoint", err, kassa.EConflict, "webhook_endpoint_disabled")
}

func testRedeliver(t *testing.T, open Opener) {
	e := newWhEnv(t, open)
	ctx := context.Background()
	a := e.endpoint(t, e.merchant, "/a", "*")
	b := e.endpoint(t, e.merchant, "/b", "test.created")
	c := e.endpoint(t, e.merchant, "/c", "test.other")
	ev := e.publish(t, e.merchant, "test.created", map[string]int{"n": 1})
	e.runOnce(t)
	e.clock.Advance(time.Hour)
	ds, err := e.svc.Redeliver(ctx, e.merchant, ev.ID, "")
	if err != nil || len(ds) != 2 {
		t.Fatalf("Redeliver = %v, %v; want 2 deliveries", ds, err)
	}
	for _, d := range ds {
		if d.Status != webhook.DeliveryPending || d.EventID != ev.ID || (d.EndpointID != a.ID && d.EndpointID != b.ID) {
			t.Errorf("redelivery %+v", d)
		}
	}
	// To one endpoint, even one not subscribed to the type.
	one, err := e.svc.Redeliver(ctx, e.merchant, ev.ID, c.ID)
	if err != nil || len(one) != 1 || one[0].EndpointID != c.ID {
		t.Fatalf("Redeliver to c = %v, %v", one, err)
	}
	if n := e.runOnce(t); n != 3 {
		t.Errorf("attempted %d redeliveries, want 3", n)
	}
	got := e.recv.Got()
	if len(got) != 5 {
		t.Fatalf("received %d, want 5", len(got))
	}
	secrets := map[string]string{"/a": a.Secret, "/b": b.Secret, "/c": c.Secret}
	for _, r := range got {
		if r.Header.Get("webhook-id") != ev.ID {
			t.Errorf("redelivery webhook-id %q, want the event id %s", r.Header.Get("webhook-id"), ev.ID)
		}
		if err := verifyWith(t, secrets[r.Path], r, false); err != nil {
			t.Errorf("%s: %v", r.Path, err)
		}
	}
	if ds := e.deliveries(t, a.ID); len(ds) != 2 || ds[0].Status != webhook.DeliverySucceeded {
		t.Errorf("a's deliveries: %+v", ds)
	}
	_, err = e.svc.Redeliver(ctx, e.other, ev.ID, "")
	wantKind(t, "other merchant's redeliver", err, kassa.ENotFound, "event_not_found")
	_, err = e.svc.Redeliver(ctx, e.merchant, ev.ID, "we_nope")
	wantKind(t, "redeliver to an unknown endpoint", err, kassa.ENotFound, "webhook_endpoint_not_found")
}

// testLeaseTakeover: a worker claims a delivery and dies; once its lease
// ends another worker delivers it, and the dead worker's late report is
// refused.
func testLeaseTakeover(t *testing.T, open Opener) {
	e := newWhEnv(t, open)
	ctx := context.Background()
	ep := e.endpoint(t, e.merchant, "/l", "*")
	ev := e.publish(t, e.merchant, "test.created", map[string]int{"n": 1})
	now := e.clock.Now()
	jobs, err := e.store.Claim(ctx, now, now.Add(time.Minute), "crashed-worker", 10)
	if err != nil || len(jobs) != 1 || jobs[0].Event.ID != ev.ID || len(jobs[0].Secrets) != 1 || jobs[0].Endpoint.URL != ep.URL {
		t.Fatalf("Claim = %+v, %v", jobs, err)
	}
	if n := e.runOnce(t); n != 0 {
		t.Errorf("a leased delivery was attempted by another worker")
	}
	e.clock.Advance(time.Minute + time.Microsecond)
	if n := e.runOnce(t); n != 1 || len(e.recv.Got()) != 1 {
		t.Fatalf("after the lease ended: attempted %d, received %d; want 1, 1", n, len(e.recv.Got()))
	}
	late := webhook.Attempt{DeliveryID: jobs[0].Delivery.ID, EndpointID: ep.ID, At: now, FirstAttempt: now,
		Status: webhook.DeliveryFailed, ResponseStatus: 500}
	if _, err := e.store.Finish(ctx, "crashed-worker", late, nil); !errors.Is(err, webhook.ErrLeaseLost) {
		t.Errorf("late Finish = %v, want ErrLeaseLost", err)
	}
	if ds := e.deliveries(t, ep.ID); len(ds) != 1 || ds[0].Status != webhook.DeliverySucceeded || ds[0].Attempts != 1 {
		t.Errorf("deliveries %+v, want one succeeded after one attempt", ds)
	}
}

func testConcurrentClaim(t *testing.T, open Opener) {
	e := newWhEnv(t, open)
	ctx := context.Background()
	e.endpoint(t, e.merchant, "/x", "*")
	const n = 30
	for i := range n {
		e.publish(t, e.merchant, "test.created", map[string]int{"n": i})
	}
	now := e.clock.Now()
	owners := []string{"w1", "w2", "w3"}
	claimed := make([][]webhook.Job, len(owners))
	errs := make([]error, len(owners))
	var wg sync.WaitGroup
	for i, o := range owners {
		wg.Go(func() { claimed[i], errs[i] = e.store.Claim(ctx, now, now.Add(time.Minute), o, n) })
	}
	wg.Wait()
	seen := map[string]string{}
	for i, jobs := range claimed {
		if errs[i] != nil {
			t.Fatalf("Claim by %s: %v", owners[i], errs[i])
		}
		for _, j := range jobs {
			if prev, dup := seen[j.Delivery.ID]; dup {
				t.Errorf("delivery %s claimed by %s and %s", j.Delivery.ID, prev, owners[i])
			}
			seen[j.Delivery.ID] = owners[i]
		}
	}
	if len(seen) != n {
		t.Errorf("claimed %d distinct deliveries, want %d", len(seen), n)
	}
}

// testWebhookBacklog: Backlog counts the due deliveries (up to its limit)
// and names the oldest due time; delivered ones leave it.
func testWebhookBacklog(t *testing.T, open Opener) {
	e := newWhEnv(t, open)
	ctx := context.Background()
	start := e.clock.Now()
	if n, oldest, err := e.store.Backlog(ctx, start, 10); err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("Backlog with nothing published = %d, %v, %v; want 0, zero time", n, oldest, err)
	}
	e.endpoint(t, e.merchant, "/b", "*")
	for i := range 3 {
		e.publish(t, e.merchant, "test.created", map[string]int{"n": i})
		e.clock.Advance(time.Second)
	}
	now := e.clock.Now()
	if n, oldest, err := e.store.Backlog(ctx, now, 10); err != nil || n != 3 || !oldest.Equal(start) {
		t.Errorf("Backlog = %d, %v, %v; want 3, %v", n, oldest, err, start)
	}
	if n, _, err := e.store.Backlog(ctx, now, 2); err != nil || n != 2 {
		t.Errorf("Backlog with limit 2 = %d, %v; want 2", n, err)
	}
	if n, _, err := e.store.Backlog(ctx, start.Add(-time.Second), 10); err != nil || n != 0 {
		t.Errorf("Backlog before the events fell due = %d, %v; want 0", n, err)
	}
	if n := e.runOnce(t); n != 3 {
		t.Fatalf("delivered %d, want 3", n)
	}
	if n, oldest, err := e.store.Backlog(ctx, e.clock.Now(), 10); err != nil || n != 0 || !oldest.IsZero() {
		t.Errorf("Backlog after delivery = %d, %v, %v; want 0, zero time", n, oldest, err)
	}
}
