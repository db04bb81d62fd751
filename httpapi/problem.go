package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/kassa/kassa"
)

// ProblemTypeBase prefixes every problem type URI; the documentation
// describes each code under it.
const ProblemTypeBase = "https://kassa.dev/problems/"

// Problem is an RFC 9457 problem details object, extended with the code
// and param members every Kassa error carries.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Code      string `json:"code"`
	Param     string `json:"param,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// Extra members specific to a problem (e.g. the existing payment).
	Extra map[string]any `json:"-"`
}

// MarshalJSON flattens Extra into the object.
func (p Problem) MarshalJSON() ([]byte, error) {
	type plain Problem
	if len(p.Extra) == 0 {
		return json.Marshal(plain(p))
	}
	b, err := json.Marshal(plain(p))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range p.Extra {
		if _, taken := m[k]; !taken {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// statusOf maps an error kind to its HTTP status: the one place where
// domain errors meet HTTP.
var statusOf = map[string]int{
	kassa.EInvalid:       http.StatusBadRequest,
	kassa.EUnauthorized:  http.StatusUnauthorized,
	kassa.EForbidden:     http.StatusForbidden,
	kassa.ENotFound:      http.StatusNotFound,
	kassa.EConflict:      http.StatusConflict,
	kassa.ERateLimited:   http.StatusTooManyRequests,
	kassa.EUnavailable:   http.StatusServiceUnavailable,
	kassa.EInternal:      http.StatusInternalServerError,
	kassa.ETooLarge:      http.StatusRequestEntityTooLarge,
	kassa.EUnprocessable: http.StatusUnprocessableEntity,
}

// writeError answers with the problem for err. Errors that are not
// *kassa.Error are internal: the caller sees a generic message and the
// details go to the log only.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var p Problem
	if e := kassa.AsError(err); e != nil {
		status, ok := statusOf[e.Kind]
		if !ok {
			status = http.StatusInternalServerError
		}
		p = Problem{Status: status, Code: e.Code, Detail: e.Message, Param: e.Param, Extra: e.Details}
		if status == http.StatusInternalServerError {
			s.log.ErrorContext(r.Context(), "request failed", "request_id", requestID(r.Context()), "err", err)
			p.Detail = "an internal error occurred; the request id identifies it in the server log"
		}
	} else {
		p = Problem{Status: http.StatusInternalServerError, Code: "internal_error",
			Detail: "an internal error occurred; the request id identifies it in the server log"}
		if !errors.Is(err, errAborted) {
			s.log.ErrorContext(r.Context(), "request failed", "request_id", requestID(r.Context()), "err", err)
		}
	}
	if p.Status == http.StatusTooManyRequests {
		if ra, ok := errors.AsType[retryAfterError](err); ok {
			w.Header().Set("Retry-After", fmt.Sprint(ra.Seconds()))
		}
	}
	writeProblem(w, r, p)
}

var errAborted = errors.New("client went away")

// retryAfterError is implemented by errors that tell a client when to retry.
type retryAfterError interface {
	error
	Seconds() int
}

func writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Type == "" {
		p.Type = ProblemTypeBase + p.Code
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	p.RequestID = requestID(r.Context())
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
