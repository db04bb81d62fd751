package account

import (
	"context"
	"encoding/json"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/passkey"
)

// PasskeyFactor makes passkeys a second factor of identity's logins: give
// it in identity.Config.Factors under identity.FactorPasskey, over the
// same passkey service as Config.Passkeys. (Package passkey does not
// know package identity, so the bridge lives with the pages that run the
// ceremony.)
//
// The second-factor page begins a passkey login ceremony bound to the
// login's session (passkey.PurposeLogin, subject: the session id) and
// sends the browser's answer as the proof's Data, {"ceremony_id": ...,
// "response": ...}. A proof that does not verify, or whose passkey
// belongs to someone else, is a wrong proof (identity counts it against
// the lockout); a ceremony that expired or was finished already is an
// error the page shows.
func PasskeyFactor(ps *passkey.Service) identity.FactorVerifier { return passkeyFactor{ps} }

type passkeyFactor struct{ ps *passkey.Service }

// passkeyProof is the Data of a passkey's identity.Proof.
type passkeyProof struct {
	CeremonyID string          `json:"ceremony_id"`
	Response   json.RawMessage `json:"response"`
}

// Enrolled reports whether the customer has a passkey that is not
// blocked as a possible clone.
func (f passkeyFactor) Enrolled(ctx context.Context, customerID string) (bool, error) {
	creds, err := f.ps.Credentials(ctx, customerID)
	if kassa.ErrorKind(err) == kassa.EInvalid {
		return false, nil // not a customer id the passkey service takes
	} else if err != nil {
		return false, err
	}
	for _, c := range creds {
		if c.CloneSuspected.IsZero() {
			return true, nil
		}
	}
	return false, nil
}

// Verify finishes the ceremony of the proof for the login's session.
func (f passkeyFactor) Verify(ctx context.Context, customerID, sessionID string, p identity.Proof) (bool, error) {
	var d passkeyProof
	if err := json.Unmarshal(p.Data, &d); err != nil || d.CeremonyID == "" {
		return false, nil
	}
	cred, err := f.ps.FinishLogin(ctx, d.CeremonyID, passkey.PurposeLogin, sessionID, d.Response)
	switch kassa.ErrorKind(err) {
	case kassa.EForbidden, kassa.EUnauthorized, kassa.EInvalid, kassa.ETooLarge:
		// Refused: no user verification, a bad signature, an unknown
		// or cloned passkey, a ceremony of another session, not a
		// WebAuthn answer.
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return cred.CustomerID == customerID, nil
}
