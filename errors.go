// Package kassa holds what every Kassa package shares: the error model
// that the HTTP API maps to problem responses in one place.
package kassa

import (
	"errors"
	"fmt"
	"time"
)

// Error kinds. httpapi maps each to one HTTP status.
const (
	EInvalid       = "invalid"       // 400/422: the request is wrong; Param names the field
	EUnauthorized  = "unauthorized"  // 401: no or bad credentials
	EForbidden     = "forbidden"     // 403: credentials may not do this
	ENotFound      = "not_found"     // 404
	EConflict      = "conflict"      // 409: the state does not allow it
	ERateLimited   = "rate_limited"  // 429
	EUnavailable   = "unavailable"   // 503: overloaded or shutting down
	EInternal      = "internal"      // 500: details go to the log only
	ETooLarge      = "too_large"     // 413
	EUnprocessable = "unprocessable" // 422: well-formed but semantically refused
)

// Error is an error a caller may see. Code is a stable machine-readable
// code (snake_case) specific to the failure, Kind the class it belongs to.
type Error struct {
	Kind    string
	Code    string
	Message string
	Param   string
	// Details are extra members of the problem response (e.g. the line
	// and column of a rule's compile error); nil for most errors.
	Details map[string]any
}

func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Param)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error of the given kind and code.
func Errorf(kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EInvalid error about one request field.
func Invalid(param, code, format string, args ...any) *Error {
	return &Error{Kind: EInvalid, Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

// AsError returns the *Error in err's chain, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// ErrorKind returns the kind of err, EInternal for errors that are not *Error.
func ErrorKind(err error) string {
	if e := AsError(err); e != nil {
		return e.Kind
	}
	return EInternal
}

// LockedOutError is an ERateLimited error that says when to retry: what
// failed too often (a login source, a voucher, a payer's IP) is locked out,
// or a code was sent too recently. errors.As finds the *Error in it;
// Seconds tells the client when to retry (httpapi sets Retry-After from it).
type LockedOutError struct {
	Err        *Error
	Until      time.Time
	RetryAfter time.Duration
}

func (e *LockedOutError) Error() string { return e.Err.Error() }
func (e *LockedOutError) Unwrap() error { return e.Err }

// Seconds is RetryAfter rounded up to whole seconds, at least 1.
func (e *LockedOutError) Seconds() int {
	s := int((e.RetryAfter + time.Second - 1) / time.Second)
	return max(1, s)
}
