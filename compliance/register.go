package compliance

// Self-exclusion registers: Spelpaus (SE), ROFUS (DK), GAMSTOP (GB),
// OASIS (DE), CRUKS (NL). Each is a SelfExclusionRegister; which one
// answers for a name is configuration (kassa serve
// --self-exclusion-registers): the test register, an adapter speaking
// HTTPS to the URL the operator's contract with the register names, or
// nothing, in which case the register is unreachable and a deposit in a
// jurisdiction that requires it is refused (fails closed).

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Person is who a register is asked about: what the Kassa account's KYC
// holds. Registers key on different fields (Spelpaus and ROFUS on the
// national identity number, GAMSTOP on name, date of birth, email and
// postcode, OASIS on name, date and place of birth); an adapter sends
// what its register takes.
type Person struct {
	GivenName  string
	FamilyName string
	BirthDate  string // YYYY-MM-DD
	Email      string
	PostalCode string
	Country    string
	// DocumentNumber is the identity document's number (the national
	// identity number where the document carries it).
	DocumentNumber string
}

// Answer is a register's answer about a person.
type Answer struct {
	Excluded bool
	// Until is when the exclusion ends, when the register says (zero:
	// not said, or indefinite).
	Until time.Time
}

// ErrUnreachable wraps a register's failure to answer.
var ErrUnreachable = errors.New("self-exclusion register unreachable")

// SelfExclusionRegister is a national self-exclusion register.
type SelfExclusionRegister interface {
	// Name is the register's name in policy files (spelpaus, rofus,
	// gamstop, oasis, cruks).
	Name() string
	// Check asks whether p is excluded. An error (wrapping
	// ErrUnreachable when the register did not answer) is no answer.
	Check(ctx context.Context, p Person) (Answer, error)
}

// Register names and what they are.
var RegisterTitles = map[string]string{
	"spelpaus": "Spelpaus (Sweden)",
	"rofus":    "ROFUS (Denmark)",
	"gamstop":  "GAMSTOP (Great Britain)",
	"oasis":    "OASIS (Germany)",
	"cruks":    "CRUKS (Netherlands)",
}

// Test identities of TestRegister, documented in docs/compliance.md: a
// person whose family name is TestExcludedName is excluded (until
// TestExcludedUntil after the check, or indefinitely when the given
// name is "Indefinite"); one whose family name is TestUnreachableName
// makes the register fail as if unreachable. Everyone else is not
// excluded.
const (
	TestExcludedName    = "Excluded"
	TestUnreachableName = "Unreachable"
	TestExcludedFor     = 180 * 24 * time.Hour
)

// TestRegister answers like a register without leaving the process.
type TestRegister struct {
	RegisterName string
	Clock        func() time.Time // nil: time.Now
}

var _ SelfExclusionRegister = TestRegister{}

func (r TestRegister) Name() string { return r.RegisterName }

func (r TestRegister) Check(ctx context.Context, p Person) (Answer, error) {
	switch {
	case strings.EqualFold(p.FamilyName, TestUnreachableName):
		return Answer{}, fmt.Errorf("%s (test identity): %w", r.RegisterName, ErrUnreachable)
	case strings.EqualFold(p.FamilyName, TestExcludedName):
		if strings.EqualFold(p.GivenName, "Indefinite") {
			return Answer{Excluded: true}, nil
		}
		now := time.Now
		if r.Clock != nil {
			now = r.Clock
		}
		return Answer{Excluded: true, Until: now().Add(TestExcludedFor).UTC().Truncate(time.Second)}, nil
	}
	return Answer{}, nil
}

// Unconfigured is a register nobody configured: always unreachable.
type Unconfigured struct{ RegisterName string }

func (u Unconfigured) Name() string { return u.RegisterName }

func (u Unconfigured) Check(context.Context, Person) (Answer, error) {
	return Answer{}, fmt.Errorf("%s is not configured (kassa serve --self-exclusion-registers): %w", u.RegisterName, ErrUnreachable)
}

// HTTPConfig is the transport of a named adapter: where the register's
// service is and how Kassa authenticates to it, from the operator's
// contract with the register.
type HTTPConfig struct {
	URL string
	// Token is sent as the adapter's credential (GAMSTOP: X-API-Key;
	// the others: Authorization: Bearer).
	Token string
	// Certificate is a TLS client certificate (ROFUS, OASIS and
	// Spelpaus authenticate operators by certificate).
	Certificate *tls.Certificate
	// Client overrides the HTTP client (tests: one trusting their CA).
	Client  *http.Client
	Timeout time.Duration // per check; 0: 3 s
}

// responseMax bounds what a register may answer.
const responseMax = 64 << 10

// NewAdapter returns the named register's adapter over cfg: gamstop
// speaks GAMSTOP's API (form fields, the X-Exclusion answer header);
// spelpaus, rofus, oasis and cruks send the person as JSON and read
// {"excluded": bool, "until": RFC 3339} — a gateway in front of the
// register's own protocol (SOAP with certificates, national identity
// numbers) maps it. An unknown name is an error.
func NewAdapter(name string, cfg HTTPConfig) (SelfExclusionRegister, error) {
	if _, ok := RegisterTitles[name]; !ok {
		return nil, fmt.Errorf("self-exclusion register %q: want one of spelpaus, rofus, gamstop, oasis, cruks", name)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("self-exclusion register %s: the URL must be https://...", name)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.Certificate != nil {
			tr.TLSClientConfig.Certificates = []tls.Certificate{*cfg.Certificate}
		}
		cfg.Client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	return &httpRegister{name: name, cfg: cfg}, nil
}

type httpRegister struct {
	name string
	cfg  HTTPConfig
}

func (h *httpRegister) Name() string { return h.name }

func (h *httpRegister) Check(ctx context.Context, p Person) (Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := h.request(ctx, p)
	if err != nil {
		return Answer{}, err
	}
	resp, err := h.cfg.Client.Do(req)
	if err != nil {
		// The error names the URL only: no personal data.
		return Answer{}, fmt.Errorf("%s: %w: %v", h.name, ErrUnreachable, redactURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, responseMax))
	if err != nil {
		return Answer{}, fmt.Errorf("%s: %w: reading the answer: %v", h.name, ErrUnreachable, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Answer{}, fmt.Errorf("%s: %w: status %d", h.name, ErrUnreachable, resp.StatusCode)
	}
	if h.name == "gamstop" {
		// Y excluded, P previously excluded (not now), N not found.
		switch resp.Header.Get("X-Exclusion") {
		case "Y":
			return Answer{Excluded: true}, nil
		case "N", "P":
			return Answer{}, nil
		}
		return Answer{}, fmt.Errorf("gamstop: %w: no X-Exclusion answer", ErrUnreachable)
	}
	var a struct {
		Excluded *bool     `json:"excluded"`
		Until    time.Time `json:"until"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.Excluded == nil {
		return Answer{}, fmt.Errorf("%s: %w: the answer is not {\"excluded\": bool}", h.name, ErrUnreachable)
	}
	return Answer{Excluded: *a.Excluded, Until: a.Until}, nil
}

func (h *httpRegister) request(ctx context.Context, p Person) (*http.Request, error) {
	var req *http.Request
	var err error
	if h.name == "gamstop" {
		form := url.Values{"firstName": {p.GivenName}, "lastName": {p.FamilyName}, "dateOfBirth": {p.BirthDate},
			"email": {p.Email}, "postcode": {p.PostalCode}}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-API-Key", h.cfg.Token)
		}
		return req, err
	}
	body, err := json.Marshal(map[string]string{"given_name": p.GivenName, "family_name": p.FamilyName,
		"birth_date": p.BirthDate, "document_number": p.DocumentNumber, "postal_code": p.PostalCode, "country": p.Country})
	if err != nil {
		return nil, err
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		if h.cfg.Token != "" {
			req.Header.Set("Authorization", "Bearer "+h.cfg.Token)
		}
	}
	return req, err
}

// redactURLError keeps a transport error's cause without the request.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
