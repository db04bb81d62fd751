package ledger_test

import (
	"testing"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/ledger/ledgertest"
	"github.com/kassa/kassa/ledger/memstore"
)

func TestMemstore(t *testing.T) {
	ledgertest.Run(t, func(testing.TB) ledger.Store { return memstore.New() })
}

func memOpen(testing.TB) ledger.Store { return memstore.New() }

func BenchmarkCreateTransfers(b *testing.B) {
	b.Run("random", func(b *testing.B) { ledgertest.BenchmarkCreateTransfers(b, memOpen, 16, 1000, false) })
	b.Run("hot", func(b *testing.B) { ledgertest.BenchmarkCreateTransfers(b, memOpen, 16, 1000, true) })
}

func BenchmarkVerify(b *testing.B) {
	ledgertest.BenchmarkVerify(b, memOpen, 500_000)
}
