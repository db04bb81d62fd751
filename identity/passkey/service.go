package passkey

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
)

// Config configures a Service.
type Config struct {
	// RPID is the relying party id: the registrable domain passkeys are
	// bound to ("pay.example"; "localhost" in tests). Required.
	RPID string
	// RPDisplayName is shown by the authenticator ("Kassa"). Required.
	RPDisplayName string
	// Origins are the origins ceremonies may run at: https, or http on
	// localhost ("https://pay.example", "http://localhost:8080").
	// Required.
	Origins []string
	Store   Store // required
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Rand is the source of ids; nil means crypto/rand. (Challenges always
	// come from crypto/rand.)
	Rand io.Reader
	// Logger gets refusals worth an operator's eye (counter regressions);
	// nil discards.
	Logger *slog.Logger
}

// Service runs passkey ceremonies and keeps customers' passkeys.
type Service struct {
	rpID  string
	store Store
	wa    *webauthn.WebAuthn
	now   func() time.Time
	ids   id.Generator
	log   *slog.Logger
	// uv is the user verification every ceremony asks for: "required".
	// Only tests lower it, to show that the service's own check of the UV
	// bit holds where the library's would not.
	uv protocol.UserVerificationRequirement
}

// Id prefixes.
const (
	ceremonyPrefix   = "pkc"
	credentialPrefix = "pkey"
)

// recordUseAttemptsMax bounds re-reading a credential whose sign count
// another finished login changed at the same time.
const recordUseAttemptsMax = 3

// New checks cfg and returns a service.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("passkey: Config.Store is required")
	case cfg.RPID == "":
		return nil, errors.New("passkey: Config.RPID is required")
	case cfg.RPDisplayName == "":
		return nil, errors.New("passkey: Config.RPDisplayName is required")
	case len(cfg.Origins) == 0:
		return nil, errors.New("passkey: Config.Origins is required")
	}
	for _, o := range cfg.Origins {
		if err := checkOrigin(o); err != nil {
			return nil, fmt.Errorf("passkey: Config.Origins: %w", err)
		}
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	timeout := webauthn.TimeoutConfig{Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cfg.RPDisplayName,
		RPOrigins:     slices.Clone(cfg.Origins),
		// No attestation: Kassa does not restrict authenticator models,
		// and asking for attestation makes browsers ask the payer.
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementPreferred,
			RequireResidentKey: protocol.ResidentKeyNotRequired(),
			UserVerification:   protocol.VerificationRequired,
		},
		// The browser's timeout; the server enforces CeremonyTTL itself,
		// on its own clock.
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	return &Service{
		rpID: cfg.RPID, store: cfg.Store, wa: wa, now: cfg.Clock,
		ids: id.Generator{Rand: cfg.Rand}, log: cfg.Logger, uv: protocol.VerificationRequired,
	}, nil
}

// checkOrigin accepts https origins and http ones on loopback names
// (browsers treat those as secure contexts).
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q is not an origin (scheme://host[:port])", o)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && (u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1" || u.Hostname() == "::1"):
	default:
		return fmt.Errorf("%q: passkeys need https (or http on localhost)", o)
	}
	return nil
}

// time returns the current time as stored: UTC, whole microseconds.
func (s *Service) time() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// BeginRegistration starts registering a passkey for user. It returns the
// options for navigator.credentials.create (JSON: {"publicKey": {...}},
// binary fields base64url) and the ceremony's id for FinishRegistration.
// The options ask for a discoverable credential if the authenticator can
// (residentKey "preferred") and require user verification; the user's
// passkeys are excluded, so one authenticator is not registered twice.
func (s *Service) BeginRegistration(ctx context.Context, user User) (json.RawMessage, string, error) {
	if err := checkUser(user); err != nil {
		return nil, "", err
	}
	creds, err := s.store.Credentials(ctx, user.CustomerID, listLimit)
	if err != nil {
		return nil, "", fmt.Errorf("list passkeys: %w", err)
	}
	if len(creds) >= CredentialsPerCustomerMax {
		return nil, "", errLimit()
	}
	wu := newWebauthnUser(user, s.forRP(creds))
	sel := s.wa.Config.AuthenticatorSelection
	sel.UserVerification = s.uv
	creation, session, err := s.wa.BeginRegistration(wu,
		webauthn.WithAuthenticatorSelection(sel),
		webauthn.WithExclusions(webauthn.Credentials(wu.creds).CredentialDescriptors()),
		webauthn.WithExtensions(webauthn.WithExtensionCredProps()),
	)
	if err != nil {
		return nil, "", fmt.Errorf("begin registration: %w", err)
	}
	return s.storeCeremony(ctx, Ceremony{Kind: KindRegistration, CustomerID: user.CustomerID}, creation, session)
}

// FinishRegistration verifies the browser's answer to the ceremony's
// options (the JSON of the PublicKeyCredential, as Script's create
// resolves to) and stores the new passkey. The ceremony is consumed
// whatever the outcome. user must be the one the ceremony was begun for.
func (s *Service) FinishRegistration(ctx context.Context, ceremonyID string, user User, responseJSON []byte) (Credential, error) {
	if err := checkUser(user); err != nil {
		return Credential{}, err
	}
	c, session, err := s.takeCeremony(ctx, ceremonyID, KindRegistration)
	if err != nil {
		return Credential{}, err
	}
	if c.CustomerID != user.CustomerID {
		return Credential{}, mismatch("the ceremony was begun for another customer")
	}
	if len(responseJSON) > ResponseBytesMax {
		return Credential{}, tooLarge()
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(responseJSON)
	if err != nil {
		return Credential{}, responseInvalid(err)
	}
	// Our own check, before and besides the library's.
	if err := checkFlags(parsed.Response.AttestationObject.AuthData.Flags); err != nil {
		return Credential{}, err
	}
	creds, err := s.store.Credentials(ctx, user.CustomerID, listLimit)
	if err != nil {
		return Credential{}, fmt.Errorf("list passkeys: %w", err)
	}
	wc, err := s.wa.CreateCredential(newWebauthnUser(user, s.forRP(creds)), session, parsed)
	if err != nil {
		return Credential{}, verificationFailed(err)
	}
	cred := s.newCredential(user.CustomerID, wc, parsed)
	switch err := s.store.CreateCredential(ctx, cred, CredentialsPerCustomerMax); {
	case errors.Is(err, ErrLimit):
		return Credential{}, errLimit()
	case errors.Is(err, ErrDuplicate):
		return Credential{}, kassa.Errorf(kassa.EConflict, CodeAlreadyRegistered, "this passkey is registered already")
	case err != nil:
		return Credential{}, fmt.Errorf("store passkey: %w", err)
	}
	return cred, nil
}

func (s *Service) newCredential(customerID string, wc *webauthn.Credential, parsed *protocol.ParsedCredentialCreationData) Credential {
	now := s.time()
	c := Credential{
		ID:                 s.ids.New(credentialPrefix),
		CustomerID:         customerID,
		RPID:               s.rpID,
		CredentialID:       wc.ID,
		Name:               "Passkey",
		PublicKey:          wc.PublicKey,
		PublicKeyAlgorithm: coseAlgorithm(wc.PublicKey),
		AAGUID:             wc.Authenticator.AAGUID,
		SignCount:          wc.Authenticator.SignCount,
		Attachment:         string(wc.Authenticator.Attachment),
		UserVerified:       wc.Flags.UserVerified,
		BackupEligible:     wc.Flags.BackupEligible,
		BackupState:        wc.Flags.BackupState,
		Discoverable:       wc.Extensions.RK,
		AttestationFormat:  wc.AttestationFormat,
		AttestationType:    wc.AttestationType,
		AttestationObject:  wc.Attestation.Object,
		ClientDataJSON:     wc.Attestation.ClientDataJSON,
		Created:            now,
	}
	for _, t := range parsed.Response.Transports {
		c.Transports = append(c.Transports, string(t))
	}
	return c
}

// coseAlgorithm is the algorithm a COSE_Key names (its label 3), 0 if
// unreadable. The key comes from the signed authenticator data, unlike the
// publicKeyAlgorithm member of the response that browsers may leave out.
func coseAlgorithm(key []byte) int64 {
	var k webauthncose.PublicKeyData
	if err := webauthncbor.Unmarshal(key, &k); err != nil {
		return 0
	}
	return k.Algorithm
}

// BeginLogin starts a login ceremony in which user proves possession of
// one of their passkeys, with user verification, for purpose and subject
// (e.g. PurposeStepUp and a payment id). It returns the options for
// navigator.credentials.get (JSON: {"publicKey": {...}}) and the
// ceremony's id.
func (s *Service) BeginLogin(ctx context.Context, user User, purpose Purpose, subject string) (json.RawMessage, string, error) {
	if err := checkUser(user); err != nil {
		return nil, "", err
	}
	if err := checkBinding(purpose, subject); err != nil {
		return nil, "", err
	}
	creds, err := s.store.Credentials(ctx, user.CustomerID, listLimit)
	if err != nil {
		return nil, "", fmt.Errorf("list passkeys: %w", err)
	}
	creds = s.forRP(creds)
	if len(creds) == 0 {
		return nil, "", kassa.Errorf(kassa.EUnprocessable, CodeNoPasskeys, "the customer has no passkey")
	}
	assertion, session, err := s.wa.BeginLogin(newWebauthnUser(user, creds), webauthn.WithUserVerification(s.uv))
	if err != nil {
		return nil, "", fmt.Errorf("begin login: %w", err)
	}
	return s.storeCeremony(ctx, Ceremony{Kind: KindLogin, CustomerID: user.CustomerID, Purpose: purpose, Subject: subject},
		assertion, session)
}

// BeginDiscoverableLogin starts a login ceremony for whoever has a
// discoverable passkey on the device: the authenticator offers its
// accounts and names the user in its answer.
func (s *Service) BeginDiscoverableLogin(ctx context.Context, purpose Purpose, subject string) (json.RawMessage, string, error) {
	if err := checkBinding(purpose, subject); err != nil {
		return nil, "", err
	}
	assertion, session, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(s.uv))
	if err != nil {
		return nil, "", fmt.Errorf("begin discoverable login: %w", err)
	}
	return s.storeCeremony(ctx, Ceremony{Kind: KindLogin, Purpose: purpose, Subject: subject}, assertion, session)
}

// FinishLogin verifies the browser's answer to a login ceremony and
// returns the passkey used (its CustomerID is the payer, also after a
// discoverable login). purpose and subject are what the caller is about to
// authorize: a ceremony begun for anything else is refused. The ceremony
// is consumed whatever the outcome.
func (s *Service) FinishLogin(ctx context.Context, ceremonyID string, purpose Purpose, subject string, responseJSON []byte) (Credential, error) {
	c, session, err := s.takeCeremony(ctx, ceremonyID, KindLogin)
	if err != nil {
		return Credential{}, err
	}
	if c.Purpose != purpose || c.Subject != subject {
		return Credential{}, mismatch(fmt.Sprintf("the ceremony was begun for %s %q", c.Purpose, c.Subject))
	}
	if len(responseJSON) > ResponseBytesMax {
		return Credential{}, tooLarge()
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(responseJSON)
	if err != nil {
		return Credential{}, responseInvalid(err)
	}
	if err := checkFlags(parsed.Response.AuthenticatorData.Flags); err != nil {
		return Credential{}, err
	}
	cred, err := s.assertedCredential(ctx, c, parsed)
	if err != nil {
		return Credential{}, err
	}
	if !cred.CloneSuspected.IsZero() {
		return Credential{}, errCloned()
	}
	creds, err := s.store.Credentials(ctx, cred.CustomerID, listLimit)
	if err != nil {
		return Credential{}, fmt.Errorf("list passkeys: %w", err)
	}
	wu := newWebauthnUser(User{CustomerID: cred.CustomerID}, s.forRP(creds))
	if c.CustomerID != "" {
		_, err = s.wa.ValidateLogin(wu, session, parsed)
	} else {
		_, _, err = s.wa.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) { return wu, nil }, session, parsed)
	}
	if err != nil {
		return Credential{}, verificationFailed(err)
	}
	return s.recordUse(ctx, cred, parsed.Response.AuthenticatorData)
}

// assertedCredential finds the stored credential the response names: one
// of the ceremony's customer, or for a discoverable login the one whose
// customer the response's user handle names.
func (s *Service) assertedCredential(ctx context.Context, c Ceremony, parsed *protocol.ParsedCredentialAssertionData) (Credential, error) {
	cred, err := s.store.CredentialByCredentialID(ctx, s.rpID, parsed.RawID)
	if errors.Is(err, ErrNotFound) {
		return Credential{}, unknownCredential()
	} else if err != nil {
		return Credential{}, fmt.Errorf("find passkey: %w", err)
	}
	owner := c.CustomerID
	if owner == "" {
		owner = string(parsed.Response.UserHandle)
	}
	if cred.CustomerID != owner {
		return Credential{}, unknownCredential()
	}
	return cred, nil
}

// recordUse stores the assertion's sign count, or refuses the assertion and
// flags the credential when the count did not go up.
func (s *Service) recordUse(ctx context.Context, cred Credential, ad protocol.AuthenticatorData) (Credential, error) {
	now := s.time()
	for range recordUseAttemptsMax {
		// Authenticators without a counter always send 0 (synced
		// passkeys do); anything else must exceed what was stored.
		if (ad.Counter != 0 || cred.SignCount != 0) && ad.Counter <= cred.SignCount {
			if err := s.store.FlagCloned(ctx, cred.ID, now); err != nil {
				return Credential{}, fmt.Errorf("flag passkey: %w", err)
			}
			s.log.Warn("passkey sign counter did not increase; flagged as possibly cloned",
				"passkey", cred.ID, "customer", cred.CustomerID, "stored", cred.SignCount, "got", ad.Counter)
			return Credential{}, errCloned()
		}
		ok, err := s.store.RecordUse(ctx, cred.ID, cred.SignCount, ad.Counter, ad.Flags.HasBackupState(), now)
		if err != nil {
			return Credential{}, fmt.Errorf("record passkey use: %w", err)
		}
		if ok {
			cred.SignCount, cred.BackupState, cred.LastUsed = ad.Counter, ad.Flags.HasBackupState(), now
			return cred, nil
		}
		// Another login changed it meanwhile (or it was flagged or
		// deleted): look again.
		if cred, err = s.store.Credential(ctx, cred.CustomerID, cred.ID); errors.Is(err, ErrNotFound) {
			return Credential{}, unknownCredential()
		} else if err != nil {
			return Credential{}, fmt.Errorf("find passkey: %w", err)
		}
		if !cred.CloneSuspected.IsZero() {
			return Credential{}, errCloned()
		}
	}
	return Credential{}, kassa.Errorf(kassa.EConflict, CodeVerificationFailed, "the passkey was used concurrently; try again")
}

// PruneCeremonies deletes ceremonies that expired and returns how many. Run
// it now and then; expired ones are refused anyway.
func (s *Service) PruneCeremonies(ctx context.Context) (int, error) {
	return s.store.DeleteExpiredCeremonies(ctx, s.time())
}

// storeCeremony saves a begun ceremony with the library's session and
// returns the options to send and the ceremony's id.
func (s *Service) storeCeremony(ctx context.Context, c Ceremony, options any, session *webauthn.SessionData) (json.RawMessage, string, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, "", fmt.Errorf("encode options: %w", err)
	}
	if c.Session, err = json.Marshal(session); err != nil {
		return nil, "", fmt.Errorf("encode session: %w", err)
	}
	c.ID = s.ids.New(ceremonyPrefix)
	c.Created = s.time()
	c.Expires = c.Created.Add(CeremonyTTL)
	if err := s.store.CreateCeremony(ctx, c); err != nil {
		return nil, "", fmt.Errorf("store ceremony: %w", err)
	}
	return opts, c.ID, nil
}

// takeCeremony consumes the ceremony id and returns it with its session if
// it is of kind k and has not expired.
func (s *Service) takeCeremony(ctx context.Context, ceremonyID string, k Kind) (Ceremony, webauthn.SessionData, error) {
	var session webauthn.SessionData
	if !id.HasPrefix(ceremonyID, ceremonyPrefix) {
		return Ceremony{}, session, ceremonyUnknown()
	}
	c, err := s.store.TakeCeremony(ctx, ceremonyID)
	if errors.Is(err, ErrNotFound) {
		return Ceremony{}, session, ceremonyUnknown()
	} else if err != nil {
		return Ceremony{}, session, fmt.Errorf("take ceremony: %w", err)
	}
	if !s.time().Before(c.Expires) {
		return Ceremony{}, session, kassa.Errorf(kassa.EUnprocessable, CodeCeremonyExpired,
			"the passkey ceremony expired; begin again")
	}
	if c.Kind != k {
		return Ceremony{}, session, mismatch(fmt.Sprintf("the ceremony is a %s, not a %s", c.Kind, k))
	}
	if err := json.Unmarshal(c.Session, &session); err != nil {
		return Ceremony{}, session, fmt.Errorf("decode ceremony %s: %w", c.ID, err)
	}
	return c, session, nil
}

// forRP keeps the credentials registered for the service's RP ID.
func (s *Service) forRP(creds []Credential) []Credential {
	return slices.DeleteFunc(creds, func(c Credential) bool { return c.RPID != s.rpID })
}

// checkFlags refuses authenticator data without user presence or user
// verification, whatever the ceremony asked for.
func checkFlags(f protocol.AuthenticatorFlags) error {
	if !f.HasUserPresent() {
		return kassa.Errorf(kassa.EForbidden, CodeUserPresenceRequired,
			"the authenticator did not confirm the user's presence")
	}
	if !f.HasUserVerified() {
		return kassa.Errorf(kassa.EForbidden, CodeUserVerificationRequired,
			"the authenticator did not verify the user (fingerprint, face or device PIN); use a passkey that can")
	}
	return nil
}

func checkUser(u User) error {
	if !id.HasPrefix(u.CustomerID, "cus") || len(u.CustomerID) > UserHandleLengthMax {
		return kassa.Invalid("customer", CodeCustomerInvalid, "not a customer id")
	}
	return nil
}

func checkBinding(p Purpose, subject string) error {
	if p != PurposeLogin && p != PurposeStepUp {
		return kassa.Invalid("purpose", CodePurposeInvalid, "the purpose must be %s or %s", PurposeLogin, PurposeStepUp)
	}
	if p == PurposeStepUp && subject == "" {
		return kassa.Invalid("subject", CodeSubjectInvalid, "a step-up must name what it confirms (e.g. a payment id)")
	}
	if len(subject) > SubjectLengthMax || !utf8.ValidString(subject) || strings.ContainsFunc(subject, isControl) {
		return kassa.Invalid("subject", CodeSubjectInvalid, "the subject must be at most %d bytes of printable text", SubjectLengthMax)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func errLimit() error {
	return kassa.Errorf(kassa.EUnprocessable, CodeLimitReached,
		"a customer can have at most %d passkeys; delete one first", CredentialsPerCustomerMax)
}

func errCloned() error {
	return kassa.Errorf(kassa.EForbidden, CodePossiblyCloned,
		"this passkey may have been copied and is blocked; delete it and register a new one")
}

func mismatch(msg string) error {
	return kassa.Errorf(kassa.EForbidden, CodeCeremonyMismatch, "%s", msg)
}

func ceremonyUnknown() error {
	return kassa.Errorf(kassa.EUnprocessable, CodeCeremonyUnknown,
		"no such passkey ceremony: it was finished already or never begun; begin again")
}

func unknownCredential() error {
	return kassa.Errorf(kassa.EUnauthorized, CodeUnknownCredential, "this passkey is not registered")
}

func tooLarge() error {
	return kassa.Errorf(kassa.ETooLarge, CodeResponseInvalid, "the passkey response exceeds %d bytes", ResponseBytesMax)
}

func responseInvalid(err error) error {
	return &libraryError{
		Err:   kassa.Errorf(kassa.EInvalid, CodeResponseInvalid, "not a passkey response: %s", protocolDetails(err)),
		cause: err,
	}
}

func verificationFailed(err error) error {
	return &libraryError{
		Err:   kassa.Errorf(kassa.EUnauthorized, CodeVerificationFailed, "the passkey response did not verify: %s", protocolDetails(err)),
		cause: err,
	}
}

// protocolDetails is the library's short description of err.
func protocolDetails(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		if pe.DevInfo != "" {
			return pe.Details + " (" + pe.DevInfo + ")"
		}
		return pe.Details
	}
	return err.Error()
}

// libraryError is a refusal by the WebAuthn library: a *kassa.Error for
// callers, with the library's error (a *protocol.Error) in its chain for
// logs and tests.
type libraryError struct {
	Err   *kassa.Error
	cause error
}

func (e *libraryError) Error() string   { return e.Err.Error() }
func (e *libraryError) Unwrap() []error { return []error{e.Err, e.cause} }
