package console

import (
	"net/http"

	members "github.com/kassa/kassa/console"
	"github.com/kassa/kassa/reqlog"
)

type requestsData struct {
	Requests []reqlog.Entry
	Class    string // "", "2", "4" or "5": the statuses shown
	Kept     int
}

// requests shows the merchant's recent API requests as this process
// served them (package reqlog): method, route pattern, status, latency,
// time and request id, never a body, a query or a key. A member reads
// only their own merchant's ring.
func (h *Handler) requests(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewDevelopers) {
		return
	}
	d := requestsData{Class: r.URL.Query().Get("status"), Kept: reqlog.PerMerchant}
	switch d.Class {
	case "2", "4", "5":
	default:
		d.Class = ""
	}
	for _, e := range h.cfg.Requests.Recent(v.org()) {
		if d.Class == "" || e.Status/100 == int(d.Class[0]-'0') {
			d.Requests = append(d.Requests, e)
		}
	}
	h.render(v, http.StatusOK, page{Template: "requests", Title: "Recent API requests", Data: d})
}
