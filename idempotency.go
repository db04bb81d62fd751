package kassa

import "context"

type idempotencyKey struct{}

// WithIdempotencyKey returns ctx carrying the identity of the request it
// serves under an Idempotency-Key: the merchant, the key and the request's
// fingerprint, as one opaque string. The HTTP API sets it; domain services
// derive the ids of what the request creates from it, so that a retry of
// a request whose first attempt committed but answered an error (a lost
// connection after COMMIT, a crash before the answer was stored) finds
// what the first attempt created instead of creating it again.
func WithIdempotencyKey(ctx context.Context, scope string) context.Context {
	return context.WithValue(ctx, idempotencyKey{}, scope)
}

// IdempotencyKey returns the scope WithIdempotencyKey put in ctx, or "".
func IdempotencyKey(ctx context.Context) string {
	s, _ := ctx.Value(idempotencyKey{}).(string)
	return s
}
