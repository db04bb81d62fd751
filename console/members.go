package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
)

// Invitation is a new member and the link of their invitation (sent by
// email; the CLI prints it too, for the first member of an organisation).
type Invitation struct {
	Member Member
	Link   string
}

// Invite makes a member of org with role and sends the invitation. by is
// the inviting member's role ("" for the host's CLI): only an owner
// invites an owner. Errors: kassa EInvalid email_invalid, role_invalid;
// EConflict member_exists; EForbidden role_forbidden.
func (s *Service) Invite(ctx context.Context, by Role, org, email string, role Role) (Invitation, error) {
	email, err := identity.NormalizeEmail(email)
	if err != nil {
		return Invitation{}, err
	}
	if org == "" || !role.valid(org) {
		return Invitation{}, kassa.Invalid("role", "role_invalid", "a merchant's member is one of owner, admin, developer, analyst, finance, support; the platform's an operator")
	}
	if by != "" && role == Owner && by != Owner {
		return Invitation{}, ErrForbidden
	}
	if ms, err := s.cfg.Store.Members(ctx, org, MembersMax); err != nil {
		return Invitation{}, fmt.Errorf("console: members: %w", err)
	} else if len(ms) >= MembersMax {
		return Invitation{}, kassa.Errorf(kassa.EConflict, "members_full", "an organisation has at most %d members", MembersMax)
	}
	now := s.now()
	token := s.token()
	m := Member{ID: s.cfg.IDs.New("mem"), Org: org, Email: email, Role: role, Status: Invited,
		InviteHash: hashToken(token), InviteExpires: now.Add(InviteTTL), Created: now, Updated: now}
	if err := s.cfg.Store.CreateMember(ctx, m); err != nil {
		return Invitation{}, err
	}
	// The token goes in the query, not the path: access logs keep paths.
	link := s.cfg.BaseURL + "/console/invite?token=" + url.QueryEscape(token)
	msg := identity.Message{Channel: identity.ChannelEmail, To: email, Subject: "Your invitation to the Kassa console",
		Body: "You are invited to the Kassa console as " + string(role) + ". Set your password and your authenticator app at\n\n" +
			link + "\n\nThe link works for 72 hours, once."}
	if err := s.cfg.Notifier.Send(ctx, msg); err != nil {
		return Invitation{}, fmt.Errorf("console: send invitation: %w", err)
	}
	if err := s.cfg.Audit.Record(ctx, org, "member.invite", m.ID, nil, m.View()); err != nil {
		return Invitation{}, err
	}
	return Invitation{Member: m, Link: link}, nil
}

// invited finds the invited member of a token.
func (s *Service) invited(ctx context.Context, token string) (Member, error) {
	if !validToken(token) {
		return Member{}, ErrInviteInvalid
	}
	m, err := s.cfg.Store.MemberByInvite(ctx, hashToken(token))
	if kassa.ErrorKind(err) == kassa.ENotFound {
		return Member{}, ErrInviteInvalid
	} else if err != nil {
		return Member{}, fmt.Errorf("console: invitation: %w", err)
	}
	if m.Status != Invited || !s.now().Before(m.InviteExpires) {
		return Member{}, ErrInviteInvalid
	}
	return m, nil
}

// Invited returns the member an invitation is for.
func (s *Service) Invited(ctx context.Context, token string) (Member, error) {
	return s.invited(ctx, token)
}

// StartAccept is the invitation's first step: the member's password, and
// a new authenticator secret to add to their app (shown once). Errors:
// invitation_invalid, identity's password errors.
func (s *Service) StartAccept(ctx context.Context, token, password string) (identity.TOTPEnrolment, error) {
	m, err := s.invited(ctx, token)
	if err != nil {
		return identity.TOTPEnrolment{}, err
	}
	if err := identity.CheckPassword(password, m.Email); err != nil {
		return identity.TOTPEnrolment{}, err
	}
	hash, err := s.cfg.Hasher.Hash(password)
	if err != nil {
		return identity.TOTPEnrolment{}, fmt.Errorf("console: hash password: %w", err)
	}
	enr, err := identity.NewTOTP(s.cfg.Issuer, m.Email, s.cfg.Rand)
	if err != nil {
		return identity.TOTPEnrolment{}, err
	}
	sealed, err := s.seal(m.ID, "totp_pending", []byte(enr.Secret))
	if err != nil {
		return identity.TOTPEnrolment{}, err
	}
	inviteHash := m.InviteHash
	_, err = s.cfg.Store.UpdateMember(ctx, m.ID, func(x *Member) error {
		if x.Status != Invited || !bytes.Equal(x.InviteHash, inviteHash) {
			return ErrInviteInvalid
		}
		x.PasswordHash, x.TOTPPending, x.Updated = hash, sealed, s.now()
		return nil
	})
	if err != nil {
		return identity.TOTPEnrolment{}, err
	}
	return enr, nil
}

// FinishAccept ends the invitation with a first code of the app: the
// member is active and logged in (the returned session token). Errors:
// invitation_invalid, code_invalid, login_locked.
func (s *Service) FinishAccept(ctx context.Context, token, code string, c Client) (string, Member, error) {
	m, err := s.invited(ctx, token)
	if err != nil {
		return "", Member{}, err
	}
	if len(m.TOTPPending) == 0 {
		return "", Member{}, kassa.Errorf(kassa.EConflict, "password_first", "set a password first")
	}
	if err := s.reserve(ctx, m.ID); err != nil {
		return "", Member{}, err
	}
	now := s.now()
	inviteHash := m.InviteHash
	m, err = s.cfg.Store.UpdateMember(ctx, m.ID, func(x *Member) error {
		if x.Status != Invited || !bytes.Equal(x.InviteHash, inviteHash) {
			return ErrInviteInvalid
		}
		secret, err := s.open(x.ID, "totp_pending", x.TOTPPending)
		if err != nil {
			return err
		}
		step, ok := identity.TOTPStep(string(secret), code, now)
		if !ok {
			return ErrCodeInvalid
		}
		if x.TOTPSealed, err = s.seal(x.ID, "totp", secret); err != nil {
			return err
		}
		x.TOTPPending, x.TOTPLastStep, x.Status, x.InviteHash, x.Updated = nil, step, Active, nil, now
		x.Reserved, x.Failures = max(x.Reserved-1, 0), 0
		return nil
	})
	if err != nil {
		s.endAttempt(ctx, m.ID, errors.Is(err, ErrCodeInvalid))
		return "", Member{}, err
	}
	tok, err := s.newSession(ctx, m, false, c)
	if err != nil {
		return "", Member{}, err
	}
	actx := WithMember(ctx, m, c)
	if err := s.cfg.Audit.Record(actx, m.Org, "member.accept", m.ID, map[string]Status{"status": Invited},
		map[string]Status{"status": Active}); err != nil {
		return "", Member{}, err
	}
	return tok, m, nil
}

// Members lists an organisation's members, oldest first.
func (s *Service) Members(ctx context.Context, org string) ([]Member, error) {
	ms, err := s.cfg.Store.Members(ctx, org, MembersMax)
	if err != nil {
		return nil, fmt.Errorf("console: members: %w", err)
	}
	return ms, nil
}

// Member returns a member of org (member_not_found for another org's).
func (s *Service) Member(ctx context.Context, org, memberID string) (Member, error) {
	m, err := s.cfg.Store.Member(ctx, memberID)
	if kassa.ErrorKind(err) == kassa.ENotFound || (err == nil && m.Org != org) {
		return Member{}, ErrMemberNotFound
	}
	return m, err
}

// Remove ends a member of org: their sessions end at once. by is the
// removing member's role ("" for the CLI): only an owner removes an
// owner, and the last active owner stays. Errors: member_not_found,
// role_forbidden, EConflict last_owner.
func (s *Service) Remove(ctx context.Context, by Role, org, memberID string) error {
	m, err := s.Member(ctx, org, memberID)
	if err != nil {
		return err
	}
	if m.Status == Removed {
		return nil
	}
	if by != "" && m.Role == Owner && by != Owner {
		return ErrForbidden
	}
	if m.Role == Owner && m.Status == Active {
		ms, err := s.Members(ctx, org)
		if err != nil {
			return err
		}
		owners := 0
		for _, x := range ms {
			if x.Role == Owner && x.Status == Active {
				owners++
			}
		}
		if owners <= 1 {
			return kassa.Errorf(kassa.EConflict, "last_owner", "an organisation keeps at least one owner")
		}
	}
	now := s.now()
	before := m.View()
	if m, err = s.cfg.Store.UpdateMember(ctx, m.ID, func(x *Member) error {
		x.Status, x.InviteHash, x.Updated = Removed, nil, now
		return nil
	}); err != nil {
		return err
	}
	if err := s.cfg.Store.RevokeSessions(ctx, m.ID, now); err != nil {
		return fmt.Errorf("console: revoke sessions: %w", err)
	}
	return s.cfg.Audit.Record(ctx, org, "member.remove", m.ID, before, m.View())
}
