package console

import (
	"context"

	"github.com/kassa/kassa"
)

// SetRole changes the role of a member of org. by is the changing
// member's role ("" for the CLI): only an owner makes an owner or
// changes an owner's role, and the organisation's last active owner
// stays an owner — checked with every member of org locked, so two
// owners demoting each other at once leave one. The member's next page
// reads the new role. Errors: member_not_found, role_invalid,
// role_forbidden, EConflict last_owner or member_removed.
func (s *Service) SetRole(ctx context.Context, by Role, org, memberID string, role Role) (Member, error) {
	if org == Platform || !role.valid(org) {
		return Member{}, kassa.Invalid("role", "role_invalid", "the role must be one of %v", MerchantRoles)
	}
	var before Public
	changed := false
	m, err := s.cfg.Store.UpdateOrgMember(ctx, org, memberID, func(m *Member, all []Member) error {
		if m.Status == Removed {
			return kassa.Errorf(kassa.EConflict, "member_removed", "the member was removed")
		}
		if by != "" && by != Owner && (m.Role == Owner || role == Owner) {
			return ErrForbidden
		}
		if m.Role == role {
			return nil
		}
		if m.Role == Owner && m.Status == Active {
			owners := 0
			for _, x := range all {
				if x.Role == Owner && x.Status == Active {
					owners++
				}
			}
			if owners <= 1 {
				return kassa.Errorf(kassa.EConflict, "last_owner", "an organisation keeps at least one owner")
			}
		}
		before, changed = m.View(), true
		m.Role, m.Updated = role, s.now()
		return nil
	})
	if err != nil || !changed {
		return m, err
	}
	return m, s.cfg.Audit.Record(ctx, org, "member.role", m.ID, before, m.View())
}
