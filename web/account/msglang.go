package account

import (
	"context"

	"github.com/kassa/kassa/identity"
)

// sendCtx is the request's context for an identity call that may send
// the payer a message (a code, a notice): it carries the page's
// language, so the email or SMS is in the language the payer reads the
// page in (identity.WithLanguage).
func (v *visit) sendCtx() context.Context {
	return identity.WithLanguage(v.r.Context(), string(v.lang()))
}
