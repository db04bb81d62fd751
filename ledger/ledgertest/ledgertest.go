// Package ledgertest is the conformance suite for ledger.Store
// implementations: every backend runs the same ledger behaviour tests
// (result codes, a model-based property test, Merkle proofs, expiry,
// queries, Verify) through the real sequencer.
package ledgertest

import "testing"

// Run runs the whole suite; open returns a fresh, empty store per test.
func Run(t *testing.T, open Opener) {
	t.Run("AccountResultCodes", func(t *testing.T) { AccountResultCodes(t, open) })
	t.Run("TransferResultCodes", func(t *testing.T) { TransferResultCodes(t, open) })
	t.Run("Model", func(t *testing.T) { Model(t, open) })
	t.Run("Proofs", func(t *testing.T) { Proofs(t, open) })
	t.Run("TreeMatchesTlog", func(t *testing.T) { TreeMatchesTlog(t, open) })
	t.Run("ExpiryAndQueries", func(t *testing.T) { ExpiryAndQueries(t, open) })
	t.Run("AmbiguousCommit", func(t *testing.T) { AmbiguousCommit(t, open) })
	t.Run("SharedWriters", func(t *testing.T) { SharedWriters(t, open) })
}
