package account

import (
	"net/http"
)

// outboxListMax is how many messages the development outbox page lists.
const outboxListMax = 50

// showOutbox is GET /dev/outbox (Config.DevOutbox only): the newest
// messages identity "sent" through the development outbox, codes and all,
// so that a developer (or a browser test) can sign up without a mail
// server. ?to= keeps those to one address or number.
func (h *Handler) showOutbox(v *visit) {
	to := v.r.URL.Query().Get("to")
	if len(to) > inputBytesMax {
		to = ""
	}
	ms, err := h.cfg.Outbox.Messages(v.r.Context(), to, outboxListMax)
	if err != nil {
		h.fail(v, err)
		return
	}
	h.render(v, http.StatusOK, page{Template: "outbox", Title: "Development outbox", Data: ms,
		Values: map[string]string{"to": to}})
}
