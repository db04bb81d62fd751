package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/kassa/kassa/risk"
)

// Limits of what the page's script and the browser send for risk.
const (
	// ClientSignalsBytesMax bounds the form's client_signals field: the
	// script's report takes about 400 bytes.
	ClientSignalsBytesMax = 2 << 10
	// userAgentBytesMax is the longest User-Agent passed on: risk.Event
	// refuses text over 512 bytes, and a refused event goes unscored
	// (scoring fails open), so a longer header is cut rather than let
	// through as it is.
	userAgentBytesMax = 512
)

// clientSignals reads the report of pay.js from the form's client_signals
// field. Anything but a JSON object of risk.Signals within its limits is
// ignored: the payment goes on as without JavaScript (Present false), and
// only the fact is logged, never the value (it comes from the payer's
// machine).
func (h *Handler) clientSignals(r *http.Request, paymentID string) risk.Signals {
	raw := r.PostForm.Get("client_signals")
	sig, problem := parseSignals(raw)
	if problem != "" {
		h.log.DebugContext(r.Context(), "payment page: client_signals ignored", "payment", paymentID,
			"problem", problem, "bytes", len(raw))
	}
	return sig
}

// parseSignals reads a client_signals report; problem says why one was
// dropped.
func parseSignals(raw string) (sig risk.Signals, problem string) {
	if raw == "" {
		return risk.Signals{}, "" // no JavaScript, or a form from elsewhere
	}
	switch {
	case len(raw) > ClientSignalsBytesMax:
		problem = "too long"
	case !strings.HasPrefix(strings.TrimSpace(raw), "{") || json.Unmarshal([]byte(raw), &sig) != nil:
		problem = "not a JSON object of client signals"
	default:
		sig.Present = true
		if err := sig.Validate(); err != nil {
			problem = "out of range"
		}
	}
	if problem != "" {
		return risk.Signals{}, problem
	}
	return sig, ""
}

// userAgent is the request's User-Agent as risk takes it: valid UTF-8 of
// at most userAgentBytesMax bytes.
func userAgent(r *http.Request) string {
	ua := strings.ToValidUTF8(r.UserAgent(), "\uFFFD")
	if len(ua) <= userAgentBytesMax {
		return ua
	}
	ua = ua[:userAgentBytesMax]
	for len(ua) > 0 && !utf8.ValidString(ua) {
		ua = ua[:len(ua)-1] // a character cut in two
	}
	return ua
}
