package passkey

import "github.com/go-webauthn/webauthn/protocol"

// SetUserVerification changes the user verification the service's
// ceremonies ask for (and so what the library requires), to show that the
// service's own check of the UV bit refuses unverified responses anyway.
func SetUserVerification(s *Service, uv string) { s.uv = protocol.UserVerificationRequirement(uv) }
