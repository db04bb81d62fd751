package browser

import (
	"context"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// Authenticator is a virtual WebAuthn authenticator of the browser (the
// DevTools WebAuthn domain; enable it with webauthn.Enable first).
type Authenticator struct {
	b  *Browser
	ID webauthn.AuthenticatorID
}

// AddAuthenticator adds a platform authenticator (ctap2, internal, with
// resident keys); uv says whether it can verify its user (fingerprint,
// face or device PIN).
func (b *Browser) AddAuthenticator(uv bool) *Authenticator {
	a := &Authenticator{b: b}
	b.Run(chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		a.ID, err = webauthn.AddVirtualAuthenticator(&webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         uv,
			IsUserVerified:              uv,
			AutomaticPresenceSimulation: true, // sent as false when left zero: presence would never come
		}).Do(ctx)
		return err
	}))
	return a
}

// Remove takes the authenticator out of the browser.
func (a *Authenticator) Remove() { a.b.Run(webauthn.RemoveVirtualAuthenticator(a.ID)) }

// Credentials are the credentials the authenticator holds.
func (a *Authenticator) Credentials() []*webauthn.Credential {
	var cs []*webauthn.Credential
	a.b.Run(chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cs, err = webauthn.GetCredentials(a.ID).Do(ctx)
		return err
	}))
	return cs
}

// Add puts a copy of a credential (its private key) on the authenticator.
func (a *Authenticator) Add(c *webauthn.Credential) { a.b.Run(webauthn.AddCredential(a.ID, c)) }
