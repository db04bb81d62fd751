// Package console holds the members of merchants' teams and of the
// platform organisation, and their sessions in the console: invitations
// by email, a password and a mandatory authenticator app (TOTP, identity's
// code and parameters), sessions apart from payers' (their own table,
// token and cookie), the role table, and the audit entry of every change.
package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
)

// Platform is the organisation of the platform operator.
const Platform = audit.Platform

// Status of a member.
type Status string

const (
	Invited Status = "invited" // the invitation is not accepted yet
	Active  Status = "active"
	Removed Status = "removed" // kept for the audit log; logs in no more
)

// Member is one person of an organisation (a merchant or the platform).
type Member struct {
	ID            string // mem_...
	Org           string // a merchant id or Platform
	Email         string
	Role          Role
	Status        Status
	PasswordHash  string
	TOTPSealed    []byte // the authenticator's secret, sealed; nil until enrolled
	TOTPPending   []byte // an enrolment under way (invitation), sealed
	TOTPLastStep  int64  // replayed codes are refused
	InviteHash    []byte // SHA-256 of the invitation token; nil once accepted
	InviteExpires time.Time
	// Failures counts wrong passwords and codes in the window from
	// FailWindow; Reserved the attempts under way until ReservedUntil;
	// LockedUntil ends a lockout.
	Failures      int
	FailWindow    time.Time
	Reserved      int
	ReservedUntil time.Time
	LockedUntil   time.Time
	Created       time.Time
	Updated       time.Time
}

// Session is a member's login. Only the SHA-256 of its token is stored.
// A Pending session has passed the password and must pass the
// authenticator code; it authenticates nothing.
type Session struct {
	ID            string // cses_...
	MemberID      string
	TokenHash     []byte
	Pending       bool
	IP            string
	UserAgent     string
	Created       time.Time
	LastSeen      time.Time
	IdleExpiresAt time.Time
	ExpiresAt     time.Time
	RevokedAt     time.Time
}

// Live reports whether the session may be used at now.
func (s Session) Live(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt) && now.Before(s.IdleExpiresAt)
}

// Limits.
const (
	InviteTTL       = 72 * time.Hour
	SessionIdle     = 30 * time.Minute
	SessionAbsolute = 12 * time.Hour
	pendingTTL      = 10 * time.Minute
	touchInterval   = time.Minute
	// MembersMax bounds an organisation's members (and a listing).
	MembersMax = 200
	// failuresMax wrong passwords or codes within failWindow lock the
	// member out for lockout.
	failuresMax  = 5
	failWindow   = 15 * time.Minute
	lockout      = 15 * time.Minute
	attemptLease = time.Minute
	tokenBytes   = 32
)

// Store keeps members and sessions.
type Store interface {
	// CreateMember stores a new member: kassa EConflict member_exists
	// when a member that is not removed has the email address.
	CreateMember(ctx context.Context, m Member) error
	Member(ctx context.Context, id string) (Member, error) // ENotFound member_not_found
	// MemberByEmail finds the member of an email address that is not removed.
	MemberByEmail(ctx context.Context, email string) (Member, error)
	MemberByInvite(ctx context.Context, hash []byte) (Member, error)
	// UpdateMember changes a member in one transaction (row locked).
	UpdateMember(ctx context.Context, id string, fn func(*Member) error) (Member, error)
	// UpdateOrgMember changes member id of org in one transaction with
	// every member row of org locked; fn sees them all, so a check over
	// the organisation (its last owner) holds when the change commits.
	// ENotFound member_not_found when id is not org's.
	UpdateOrgMember(ctx context.Context, org, id string, fn func(m *Member, all []Member) error) (Member, error)
	// Members lists an organisation's members, oldest first, at most limit.
	Members(ctx context.Context, org string, limit int) ([]Member, error)
	CreateSession(ctx context.Context, s Session) error
	SessionByTokenHash(ctx context.Context, hash []byte) (Session, error)
	UpdateSession(ctx context.Context, id string, fn func(*Session) error) (Session, error)
	// RevokeSessions ends every live session of the member at now.
	RevokeSessions(ctx context.Context, memberID string, now time.Time) error
}

// Config configures a Service.
type Config struct {
	Store    Store             // required
	Sealer   identity.Sealer   // required: seals authenticator secrets
	Notifier identity.Notifier // required: sends invitations
	Audit    *audit.Log        // required
	// BaseURL is where members reach the console's origin
	// (https://pay.example): invitation links are built on it.
	BaseURL string
	Hasher  identity.Hasher // nil: Argon2id with identity's defaults
	Clock   func() time.Time
	IDs     id.Generator
	Rand    io.Reader // tokens and secrets; nil: crypto/rand
	Issuer  string    // in authenticator apps; "" means "Kassa console"
}

// Service runs members and sessions.
type Service struct {
	cfg Config
}

// New returns a service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Sealer == nil || cfg.Notifier == nil || cfg.Audit == nil {
		return nil, errors.New("console: Store, Sealer, Notifier and Audit are required")
	}
	if cfg.Hasher == nil {
		cfg.Hasher = &identity.Argon2id{Params: identity.DefaultArgon2}
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "Kassa console"
	}
	return &Service{cfg: cfg}, nil
}

func (s *Service) now() time.Time { return s.cfg.Clock().UTC() }

func (s *Service) token() string {
	b := make([]byte, tokenBytes)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		panic("console: reading randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(t string) []byte {
	h := sha256.Sum256([]byte("kassa console token\x00" + t))
	return h[:]
}

// validToken bounds what reaches the store.
func validToken(t string) bool {
	if len(t) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(t)
	return err == nil
}

func (s *Service) seal(memberID, field string, b []byte) ([]byte, error) {
	out, err := s.cfg.Sealer.Seal(b, identity.SealAAD(memberID, field))
	if err != nil {
		return nil, fmt.Errorf("console: seal %s: %w", field, err)
	}
	return out, nil
}

func (s *Service) open(memberID, field string, b []byte) ([]byte, error) {
	out, err := s.cfg.Sealer.Open(b, identity.SealAAD(memberID, field))
	if err != nil {
		return nil, fmt.Errorf("console: open %s: %w", field, err)
	}
	return out, nil
}

// Errors members see.
var (
	ErrLoginFailed    = kassa.Errorf(kassa.EUnauthorized, "login_failed", "the email address or the password is wrong")
	ErrCodeInvalid    = kassa.Errorf(kassa.EInvalid, "code_invalid", "the code is wrong or was used already")
	ErrSessionInvalid = kassa.Errorf(kassa.EUnauthorized, "session_invalid", "log in again")
	ErrInviteInvalid  = kassa.Errorf(kassa.ENotFound, "invitation_invalid", "this invitation is unknown, used or expired")
	ErrMemberNotFound = kassa.Errorf(kassa.ENotFound, "member_not_found", "no such member")
	errLocked         = kassa.Errorf(kassa.ERateLimited, "login_locked", "too many wrong tries; wait a quarter of an hour")
	// ErrForbidden is every refusal of a role: the page or action exists
	// but the member's role may not use it.
	ErrForbidden = kassa.Errorf(kassa.EForbidden, "role_forbidden", "your role may not do this")
)

// Public is what the console shows of a member.
type Public struct {
	ID     string `json:"id"`
	Email  string `json:"email"`
	Role   Role   `json:"role"`
	Status Status `json:"status"`
}

// View is the public part of m.
func (m Member) View() Public {
	return Public{ID: m.ID, Email: m.Email, Role: m.Role, Status: m.Status}
}
