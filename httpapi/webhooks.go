package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/webhook"
)

// webhookBodyBytesMax is ample for an endpoint: a 2 KiB URL, 64 event
// types and a description.
const webhookBodyBytesMax = 16 << 10

func (s *Server) registerWebhooks() {
	s.HandleLimit("POST", "/v1/webhook_endpoints", AuthSecret, webhookBodyBytesMax, s.createWebhookEndpoint)
	s.Handle("GET", "/v1/webhook_endpoints", AuthSecret, s.listWebhookEndpoints)
	s.Handle("GET", "/v1/webhook_endpoints/{id}", AuthSecret, s.getWebhookEndpoint)
	s.Handle("DELETE", "/v1/webhook_endpoints/{id}", AuthSecret, s.deleteWebhookEndpoint)
	s.HandleLimit("POST", "/v1/webhook_endpoints/{id}/rotate_secret", AuthSecret, webhookBodyBytesMax, s.rotateWebhookSecret)
	s.Handle("GET", "/v1/webhook_endpoints/{id}/deliveries", AuthSecret, s.listWebhookDeliveries)
	s.Handle("GET", "/v1/events", AuthSecret, s.listEvents)
	s.Handle("GET", "/v1/events/{id}", AuthSecret, s.getEvent)
	s.HandleLimit("POST", "/v1/events/{id}/redeliver", AuthSecret, webhookBodyBytesMax, s.redeliverEvent)
}

// webhookEndpointJSON is an endpoint as the API shows it. Secret is set
// only in the answers to creation and rotation.
type webhookEndpointJSON struct {
	ID          string   `json:"id"`
	Object      string   `json:"object"`
	URL         string   `json:"url"`
	Description string   `json:"description"`
	Events      []string `json:"events"`
	Status      string   `json:"status"`
	Created     string   `json:"created"`
	Disabled    string   `json:"disabled,omitempty"`
	Secret      string   `json:"secret,omitempty"`
}

func toWebhookEndpointJSON(ep webhook.Endpoint) webhookEndpointJSON {
	out := webhookEndpointJSON{
		ID: ep.ID, Object: "webhook_endpoint", URL: ep.URL, Description: ep.Description, Events: ep.Events,
		Status: ep.Status, Created: rfc3339(ep.Created),
	}
	if ep.DisabledAt != nil {
		out.Disabled = rfc3339(*ep.DisabledAt)
	}
	return out
}

type createWebhookEndpointRequest struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
}

func (s *Server) createWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	var req createWebhookEndpointRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	c, err := s.cfg.Webhooks.CreateEndpoint(r.Context(), p.Merchant.ID,
		webhook.EndpointParams{URL: req.URL, Events: req.Events, Description: req.Description})
	if err != nil {
		return err
	}
	out := toWebhookEndpointJSON(c.Endpoint)
	out.Secret = c.Secret
	return WriteJSON(w, http.StatusCreated, out)
}

func (s *Server) listWebhookEndpoints(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	eps, more, err := s.cfg.Webhooks.Endpoints(r.Context(), p.Merchant.ID, r.URL.Query().Get("starting_after"), limit)
	if err != nil {
		return err
	}
	data := make([]webhookEndpointJSON, len(eps))
	for i, ep := range eps {
		data[i] = toWebhookEndpointJSON(ep)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": more})
}

func (s *Server) getWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	ep, err := s.cfg.Webhooks.Endpoint(r.Context(), p.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, toWebhookEndpointJSON(ep))
}

func (s *Server) deleteWebhookEndpoint(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	id := r.PathValue("id")
	if err := s.cfg.Webhooks.DeleteEndpoint(r.Context(), p.Merchant.ID, id); err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"id": id, "object": "webhook_endpoint", "deleted": true})
}

func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	c, err := s.cfg.Webhooks.RotateSecret(r.Context(), p.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := toWebhookEndpointJSON(c.Endpoint)
	out.Secret = c.Secret
	return WriteJSON(w, http.StatusOK, out)
}

type webhookDeliveryJSON struct {
	ID             string `json:"id"`
	Object         string `json:"object"`
	Event          string `json:"event"`
	EventType      string `json:"event_type"`
	Endpoint       string `json:"endpoint"`
	Status         string `json:"status"`
	Attempts       int    `json:"attempts"`
	ResponseStatus int    `json:"response_status,omitempty"`
	Error          string `json:"error,omitempty"`
	Created        string `json:"created"`
	FirstAttempt   string `json:"first_attempt,omitempty"`
	LastAttempt    string `json:"last_attempt,omitempty"`
	NextAttempt    string `json:"next_attempt,omitempty"`
	Completed      string `json:"completed,omitempty"`
}

func optTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return rfc3339(*t)
}

func toWebhookDeliveryJSON(d webhook.Delivery) webhookDeliveryJSON {
	return webhookDeliveryJSON{
		ID: d.ID, Object: "webhook_delivery", Event: d.EventID, EventType: d.EventType, Endpoint: d.EndpointID,
		Status: d.Status, Attempts: d.Attempts, ResponseStatus: d.ResponseStatus, Error: d.Error,
		Created: rfc3339(d.Created), FirstAttempt: optTime(d.FirstAttempt), LastAttempt: optTime(d.LastAttempt),
		NextAttempt: optTime(d.NextAttempt), Completed: optTime(d.Completed),
	}
}

func deliveriesJSON(ds []webhook.Delivery) []webhookDeliveryJSON {
	out := make([]webhookDeliveryJSON, len(ds))
	for i, d := range ds {
		out[i] = toWebhookDeliveryJSON(d)
	}
	return out
}

func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	ds, more, err := s.cfg.Webhooks.Deliveries(r.Context(), p.Merchant.ID, r.PathValue("id"), r.URL.Query().Get("starting_after"), limit)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": deliveriesJSON(ds), "has_more": more})
}

type eventJSON struct {
	ID      string          `json:"id"`
	Object  string          `json:"object"`
	Type    string          `json:"type"`
	Created string          `json:"created"`
	Data    json.RawMessage `json:"data"`
}

func toEventJSON(ev webhook.Event) eventJSON {
	return eventJSON{ID: ev.ID, Object: "event", Type: ev.Type, Created: rfc3339(ev.Created), Data: ev.Data}
}

// eventTypeLengthMax bounds the type filter of GET /v1/events.
const eventTypeLengthMax = 64

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	typ := r.URL.Query().Get("type")
	if len(typ) > eventTypeLengthMax {
		return kassa.Invalid("type", "type_invalid", "type must be an event type of at most %d characters", eventTypeLengthMax)
	}
	evs, more, err := s.cfg.Webhooks.Events(r.Context(), p.Merchant.ID, typ, r.URL.Query().Get("starting_after"), limit)
	if err != nil {
		return err
	}
	data := make([]eventJSON, len(evs))
	for i, ev := range evs {
		data[i] = toEventJSON(ev)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": more})
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	ev, err := s.cfg.Webhooks.Event(r.Context(), p.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, toEventJSON(ev))
}

type redeliverRequest struct {
	Endpoint string `json:"endpoint"`
}

// redeliverEvent queues the event again for every subscribed endpoint,
// or for the one the body names; the body is optional.
func (s *Server) redeliverEvent(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	var req redeliverRequest
	if r.ContentLength != 0 {
		if err := DecodeJSON(r, &req); err != nil {
			return err
		}
	}
	ds, err := s.cfg.Webhooks.Redeliver(r.Context(), p.Merchant.ID, r.PathValue("id"), req.Endpoint)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusAccepted, map[string]any{"object": "list", "data": deliveriesJSON(ds), "has_more": false})
}
