package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/audit"
)

// registerAudit registers GET /v1/audit_events: the merchant's own audit
// log (what its team did in the console, with the CLI or through the
// API). The operator's view of every organisation is in the console.
func (s *Server) registerAudit() {
	if s.cfg.Audit == nil {
		return
	}
	s.Handle("GET", "/v1/audit_events", AuthSecret, s.listAuditEvents)
}

type auditEventJSON struct {
	ID      string          `json:"id"`
	Object  string          `json:"object"`
	Actor   audit.Actor     `json:"actor"`
	Action  string          `json:"action"`
	Target  string          `json:"target"`
	Before  json.RawMessage `json:"before"`
	After   json.RawMessage `json:"after"`
	Created string          `json:"created"`
}

func (s *Server) listAuditEvents(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	q := r.URL.Query()
	limit := pageLimitDefault
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > audit.PageLimitMax {
			return kassa.Invalid("limit", "limit_invalid", "limit must be an integer from 1 to %d", audit.PageLimitMax)
		}
		limit = n
	}
	evs, more, err := s.cfg.Audit.List(r.Context(), audit.Filter{Org: p.Merchant.ID, Action: q.Get("action"),
		Target: q.Get("target"), StartingAfter: q.Get("starting_after"), Limit: limit})
	if err != nil {
		return err
	}
	data := make([]auditEventJSON, len(evs))
	null := json.RawMessage("null")
	for i, e := range evs {
		data[i] = auditEventJSON{ID: e.ID, Object: "audit_event", Actor: e.Actor, Action: e.Action, Target: e.Target,
			Before: e.Before, After: e.After, Created: rfc3339(e.Created)}
		if data[i].Before == nil {
			data[i].Before = null
		}
		if data[i].After == nil {
			data[i].After = null
		}
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": more})
}
