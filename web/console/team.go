package console

import (
	"net/http"

	members "github.com/kassa/kassa/console"
)

// setRole changes a member's role (owner and admin; only an owner makes
// or unmakes an owner; the last owner stays), audited by the service.
func (h *Handler) setRole(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.ManageMembers) {
		return
	}
	m, err := h.cfg.Members.SetRole(v.ctx(), v.m.Role, v.m.Org, r.PathValue("id"), members.Role(v.input("role")))
	if err != nil {
		h.fail(v, err)
		return
	}
	h.showMembers(v, m.Email+" is "+string(m.Role)+".")
}

// dict makes a map of key, value pairs for a template called with more
// than one value.
func dict(kv ...any) map[string]any {
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		m[k] = kv[i+1]
	}
	return m
}
