package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
)

// Endpoint statuses.
const (
	StatusEnabled  = "enabled"
	StatusDisabled = "disabled"
)

// Limits on endpoints.
const (
	EndpointsPerMerchantMax = 16
	URLLengthMax            = 2048
	DescriptionLengthMax    = 500
	EventsPerEndpointMax    = 64
	// SecretsActiveMax bounds the secrets of one endpoint that sign at
	// once: the current one and those rotated out less than
	// RotationOverlap ago.
	SecretsActiveMax = 4
	// RotationOverlap is how long a rotated-out secret keeps signing
	// beside the new one.
	RotationOverlap = 24 * time.Hour
	secretBytes     = 32
	secretPrefix    = "whsec_"
)

// Endpoint is a merchant's URL that receives webhooks.
type Endpoint struct {
	ID          string // we_...
	MerchantID  string
	URL         string
	Description string
	Events      []string // registered types or "*"
	Status      string   // StatusEnabled or StatusDisabled
	Created     time.Time
	DisabledAt  *time.Time
}

// Snapshot is the endpoint as event data: never a secret.
func (ep Endpoint) Snapshot() json.RawMessage {
	var disabled *string
	if ep.DisabledAt != nil {
		s := ep.DisabledAt.UTC().Format(time.RFC3339)
		disabled = &s
	}
	b, err := json.Marshal(struct {
		ID          string   `json:"id"`
		Object      string   `json:"object"`
		URL         string   `json:"url"`
		Description string   `json:"description"`
		Events      []string `json:"events"`
		Status      string   `json:"status"`
		Created     string   `json:"created"`
		Disabled    *string  `json:"disabled,omitempty"`
	}{ep.ID, "webhook_endpoint", ep.URL, ep.Description, ep.Events, ep.Status, ep.Created.UTC().Format(time.RFC3339), disabled})
	if err != nil {
		panic("webhook: marshal endpoint: " + err.Error()) // strings only: cannot fail
	}
	return b
}

// Secret is a signing key of an endpoint. Kassa keeps the key itself (it
// must compute HMACs with it), sealed with Config.Sealer; it is shown to
// the merchant only when made.
//
// The Service hands the store a Secret with Sealed set and Key empty, and
// the store hands back what it keeps: Sealed, or Key alone for a secret
// an older Kassa stored in clear (the vault's rewrap seals those).
type Secret struct {
	Key       []byte // in clear: only in memory
	Sealed    []byte // Key sealed under SecretAAD(endpoint id)
	Created   time.Time
	ExpiresAt *time.Time // set when rotated out
}

// SealDomain is the vault Envelope domain of webhook signing secrets.
const SealDomain = "webhook"

// SecretAAD is the associated data an endpoint's secrets are sealed with:
// a sealed secret opens only as a secret of its endpoint.
func SecretAAD(endpointID string) []byte { return []byte(endpointID + "/secret") }

// String is the secret as shown to the merchant: whsec_ + base64(key).
// Printing a Secret with %v does not reveal it; only String does.
func (s Secret) String() string { return secretPrefix + base64.StdEncoding.EncodeToString(s.Key) }

// GoString keeps the key out of %#v.
func (s Secret) GoString() string { return "webhook.Secret{...}" }

// Format keeps the key out of %v and %+v.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("whsec_...")) }

// Active reports whether the secret still signs at now.
func (s Secret) Active(now time.Time) bool { return s.ExpiresAt == nil || now.Before(*s.ExpiresAt) }

func newSecret(ids id.Generator, now time.Time) Secret {
	key := make([]byte, secretBytes)
	r := ids.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, key); err != nil {
		// A broken source of randomness must never yield guessable keys.
		panic("webhook: reading randomness: " + err.Error())
	}
	return Secret{Key: key, Created: now}
}

// Sign returns the webhook-signature header value for a message: one
// "v1,<base64 HMAC-SHA256>" per secret, space-separated, over
// "{msgID}.{unix timestamp}.{body}".
func Sign(secrets []Secret, msgID string, ts time.Time, body []byte) string {
	var b strings.Builder
	prefix := msgID + "." + strconv.FormatInt(ts.Unix(), 10) + "."
	for i, s := range secrets {
		mac := hmac.New(sha256.New, s.Key)
		mac.Write([]byte(prefix))
		mac.Write(body)
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return b.String()
}

// EndpointParams is what a merchant sends to create an endpoint.
type EndpointParams struct {
	URL         string
	Events      []string
	Description string
}

// validate checks the parameters and returns them cleaned (events
// deduplicated and sorted).
func (p EndpointParams) validate(allowPrivate bool) (EndpointParams, error) {
	if err := validateURL(p.URL, allowPrivate); err != nil {
		return p, err
	}
	if len(p.Events) == 0 {
		return p, kassa.Invalid("events", "events_required", "name at least one event type, or \"*\" for all")
	}
	if len(p.Events) > EventsPerEndpointMax {
		return p, kassa.Invalid("events", "events_invalid", "at most %d event types per endpoint", EventsPerEndpointMax)
	}
	for _, t := range p.Events {
		if !KnownEventType(t) {
			return p, kassa.Invalid("events", "event_type_unknown", "unknown event type %q; known: \"*\", %s",
				truncate(t, eventTypeLengthMax), strings.Join(EventTypes(), ", "))
		}
	}
	events := slices.Clone(p.Events)
	slices.Sort(events)
	p.Events = slices.Compact(events)
	if utf8.RuneCountInString(p.Description) > DescriptionLengthMax || !utf8.ValidString(p.Description) {
		return p, kassa.Invalid("description", "description_invalid", "the description must be valid UTF-8 of at most %d characters", DescriptionLengthMax)
	}
	return p, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// validateURL accepts absolute https URLs with a host (http too when
// private targets are allowed) whose host, when it is a literal IP
// address, is public. Host names are checked when dialed (see Guard).
func validateURL(raw string, allowPrivate bool) error {
	if raw == "" {
		return kassa.Invalid("url", "url_required", "an endpoint needs a url")
	}
	if len(raw) > URLLengthMax {
		return kassa.Invalid("url", "url_invalid", "the url must be at most %d bytes", URLLengthMax)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
		return kassa.Invalid("url", "url_invalid", "the url must be absolute, like https://example.com/webhooks")
	}
	if u.User != nil {
		return kassa.Invalid("url", "url_invalid", "the url must not carry a user name or password")
	}
	if u.Fragment != "" {
		return kassa.Invalid("url", "url_invalid", "the url must not have a fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowPrivate {
			return kassa.Invalid("url", "url_not_https", "the url must use https")
		}
	default:
		return kassa.Invalid("url", "url_not_https", "the url must use https")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return kassa.Invalid("url", "url_invalid", "the url's port must be from 1 to 65535")
		}
	}
	if addr, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !allowPrivate {
		if reason := Forbidden(addr); reason != "" {
			return &kassa.Error{Kind: kassa.EUnprocessable, Code: "url_not_public", Param: "url",
				Message: "webhooks go only to public addresses; " + addr.String() + " is " + reason}
		}
	}
	return nil
}
