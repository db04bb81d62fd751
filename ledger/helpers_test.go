package ledger_test

import (
	"testing"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/ledger/ledgertest"
	"github.com/kassa/kassa/ledger/memstore"
)

// newEnv is ledgertest's environment over an in-memory store.
func newEnv(t testing.TB, tune ...func(*ledger.Config)) *ledgertest.Env {
	t.Helper()
	return ledgertest.NewEnv(t, func(testing.TB) ledger.Store { return memstore.New() }, tune...)
}

// codes lists the result codes of results.
func codes(rs []ledger.Result) []ledger.ResultCode { return ledgertest.Codes(rs) }
