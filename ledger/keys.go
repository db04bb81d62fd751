package ledger

// VerifierKeyFor returns the note verifier key (public) that checks
// checkpoints signed with the note signer key skey, without starting a
// Ledger; `kassa ledger verify` uses it.
func VerifierKeyFor(skey string) (string, error) { return ed25519VerifierKey(skey) }
