package storetest

import (
	"testing"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/ledger/ledgertest"
	"github.com/kassa/kassa/store/sqlstore"
)

func init() { Register("Ledger", testLedger) }

// testLedger runs the ledger's conformance suite (ledger/ledgertest)
// through the real sequencer on sqlstore.Ledger.
func testLedger(t *testing.T, open Opener) {
	ledgertest.Run(t, func(tb testing.TB) ledger.Store {
		return sqlstore.NewLedger(open(tb.(*testing.T)))
	})
}
