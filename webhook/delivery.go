package webhook

import (
	"math/rand/v2"
	"time"
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"   // waiting for its next attempt
	DeliverySucceeded = "succeeded" // an attempt got a 2xx answer
	DeliveryFailed    = "failed"    // retries ran out, or the endpoint was disabled or deleted
)

// Delivery is one event on its way to one endpoint, over one or more
// attempts.
type Delivery struct {
	ID             string // whd_...
	EventID        string
	EventType      string
	EndpointID     string
	MerchantID     string
	Status         string
	Attempts       int
	ResponseStatus int    // of the last attempt; 0 when it got no answer
	Error          string // of the last attempt, when it failed
	Created        time.Time
	FirstAttempt   *time.Time
	LastAttempt    *time.Time
	NextAttempt    *time.Time // while pending
	Completed      *time.Time // when it succeeded or failed
}

// Job is a claimed delivery with what sending it needs.
type Job struct {
	Delivery Delivery
	Event    Event
	Endpoint Endpoint
	Secrets  []Secret // the endpoint's secrets active when claimed, newest first
}

// Attempt is the outcome of one try, as recorded by Store.Finish.
type Attempt struct {
	DeliveryID     string
	EndpointID     string
	At             time.Time // when the attempt started
	FirstAttempt   time.Time // of the delivery (At for the first attempt)
	Status         string    // the delivery's status after it
	ResponseStatus int
	Error          string
	NextAttempt    *time.Time // when Status is DeliveryPending
}

// RetryWindow is how long a delivery is retried: it fails after the first
// failed attempt at least RetryWindow after its first attempt.
const RetryWindow = 24 * time.Hour

// backoffSchedule is the wait after the n-th failed attempt (before
// jitter); the last entry repeats.
var backoffSchedule = []time.Duration{
	5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour,
}

// Backoff returns the wait after the n-th failed attempt (n ≥ 1), before
// jitter: 5s, 30s, 2m, 10m, 30m, 1h, 2h, 4h, 8h, then 8h again.
func Backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	return backoffSchedule[min(n, len(backoffSchedule))-1]
}

// Jitter spreads a wait uniformly over [0.8d, 1.2d] so endpoints that
// failed together are not retried in lockstep.
func Jitter(d time.Duration) time.Duration {
	return d*4/5 + rand.N(d*2/5+1)
}
