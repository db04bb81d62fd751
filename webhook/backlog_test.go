package webhook_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kassa/kassa/webhook"
)

// gauge returns the value of an unlabelled gauge of the service.
func (e *env) gauge(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := e.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("the service exports no %s", name)
	return 0
}

// The backlog gauges count the deliveries that are due and say how long
// the oldest has waited; they fall to zero once delivered. A worker that
// does not run at all shows here, never in the lag histogram.
func TestBacklogGauges(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	e := newEnv(t, webhook.Config{AllowPrivateTargets: true})
	if _, err := e.svc.CreateEndpoint(context.Background(), e.merchant, webhook.EndpointParams{URL: srv.URL, Events: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	if got := e.gauge(t, "kassa_webhook_due_deliveries"); got != 0 {
		t.Errorf("kassa_webhook_due_deliveries = %v with nothing published, want 0", got)
	}
	e.publish(t)
	e.publish(t)
	e.clock.Advance(90 * time.Second)
	if got := e.gauge(t, "kassa_webhook_due_deliveries"); got != 2 {
		t.Errorf("kassa_webhook_due_deliveries = %v after two events, want 2", got)
	}
	if got := e.gauge(t, "kassa_webhook_oldest_due_age_seconds"); got != 90 {
		t.Errorf("kassa_webhook_oldest_due_age_seconds = %v, want 90", got)
	}
	if n, err := e.svc.RunOnce(context.Background()); err != nil || n != 2 {
		t.Fatalf("RunOnce = %d, %v; want 2 delivered", n, err)
	}
	if got := e.gauge(t, "kassa_webhook_due_deliveries"); got != 0 {
		t.Errorf("kassa_webhook_due_deliveries = %v after delivery, want 0", got)
	}
	if got := e.gauge(t, "kassa_webhook_oldest_due_age_seconds"); got != 0 {
		t.Errorf("kassa_webhook_oldest_due_age_seconds = %v after delivery, want 0", got)
	}
}
