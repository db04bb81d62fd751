package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/ledger/ledgertest"
	"github.com/kassa/kassa/ledger/memstore"
)

func TestVerifyTamper(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		tamper func(s *memstore.Store)
		leaf   int64
	}{
		{"amount", func(s *memstore.Store) { s.SetTransferAmount(100, 5) }, 100},
		{"balance", func(s *memstore.Store) { s.SetAccountBalance("m", "b", 1) }, 1},
		{"delete", func(s *memstore.Store) { s.DeleteLeaf(200) }, 200},
		{"reorder", func(s *memstore.Store) { s.SwapLeaves(50, 60) }, 50},
		{"delete last", func(s *memstore.Store) { s.DeleteLeaf(602) }, 602},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			ledgertest.Fill(t, e, 600, 50)
			e.Verify(t)
			tt.tamper(e.Store.(*memstore.Store))
			_, err := ledger.Verify(ctx, e.Store, e.VerifierKey)
			var ve *ledger.VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("Verify = %v, want a *VerifyError", err)
			}
			if ve.LeafIndex != tt.leaf {
				t.Fatalf("Verify names leaf %d (%v), want %d", ve.LeafIndex, err, tt.leaf)
			}
			t.Log(err)
		})
	}
	t.Run("wrong key", func(t *testing.T) {
		e := newEnv(t)
		ledgertest.Fill(t, e, 10, 10)
		other := newEnv(t)
		if _, err := ledger.Verify(ctx, e.Store, other.VerifierKey); err == nil {
			t.Fatal("Verify accepted a checkpoint signed by another key")
		}
	})
}

func TestLeafEncoding(t *testing.T) {
	tr := &ledger.Transfer{Owner: "m", ID: "t", DebitAccountID: "a", CreditAccountID: "b", Amount: 300, Currency: "EUR", Code: 2,
		Flags: ledger.FlagPending | ledger.FlagLinked, Timeout: time.Hour, Metadata: []byte(`{"k":"v"}`), Timestamp: time.Unix(0, 1e18).UTC()}
	got := ledger.EncodeLeaf(&ledger.Record{Transfer: tr})
	want := "0102" + "016d" + "0174" + "0161" + "0162" + "000000000000012c" + "03455552" + "0002" + "0003" + "00" +
		"0000034630b8a000" + "0de0b6b3a7640000" + "097b226b223a2276227d"
	if fmt.Sprintf("%x", got) != want {
		t.Fatalf("leaf\n got %x\nwant %s", got, want)
	}
	dec, err := ledger.DecodeLeaf(got)
	if err != nil || fmt.Sprint(*dec.Transfer) != fmt.Sprint(*tr) {
		t.Fatalf("decode: %+v %v", dec.Transfer, err)
	}
	for _, bad := range [][]byte{got[:len(got)-1], append(got, 0), {2, 2}, {1, 9}, {1, 1, 0x80, 0x00}} {
		if _, err := ledger.DecodeLeaf(bad); err == nil {
			t.Errorf("DecodeLeaf(%x) succeeded", bad)
		}
	}
}

func FuzzDecodeLeaf(f *testing.F) {
	f.Add(ledger.EncodeLeaf(&ledger.Record{Account: &ledger.Account{Owner: "m", ID: "a", Currency: "EUR", Timestamp: time.Unix(1, 0)}}))
	f.Add(ledger.EncodeLeaf(&ledger.Record{Transfer: &ledger.Transfer{ID: "t", Amount: 1, Metadata: []byte("{}")}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ledger.DecodeLeaf(data)
		if err != nil {
			return
		}
		// Canonical: whatever decodes re-encodes to the same bytes.
		if again := ledger.EncodeLeaf(&r); !bytes.Equal(again, data) {
			t.Fatalf("DecodeLeaf(%x) re-encodes as %x", data, again)
		}
	})
}

// TestVerifyChunks verifies a log longer than the chunks Verify hashes at
// a time (and, unless -short, than a level-1 tile), with accounts created
// between transfers and checkpoints inside tiles, then names leaves
// tampered with at the edges of chunks and tiles.
func TestVerifyChunks(t *testing.T) {
	ctx := context.Background()
	fill := func(t *testing.T, n int) *ledgertest.Env {
		e := newEnv(t)
		ledgertest.Fill(t, e, n/2, 997)
		if r := e.Accounts(t, "m", ledger.Account{ID: "d", Currency: "EUR"}); r[0].Code != ledger.OK {
			t.Fatal(r)
		}
		var ts []ledger.Transfer
		for i := range n / 2 {
			ts = append(ts, ledger.Transfer{ID: fmt.Sprintf("u%d", i), DebitAccountID: "d", CreditAccountID: "a", Amount: 1, Currency: "EUR"})
			if len(ts) == 1001 || i == n/2-1 {
				e.Transfers(t, "m", ts...)
				ts = ts[:0]
			}
		}
		return e
	}
	t.Run("large", func(t *testing.T) {
		if testing.Short() {
			t.Skip("fills 70,000 leaves")
		}
		e := fill(t, 70_000)
		sum := e.Verify(t)
		cp, err := e.Store.LatestCheckpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Leaves != 70_004 || sum.Root != cp.Hash || sum.Checkpoints < 70 {
			t.Fatalf("Verify = %+v, want 70,004 leaves and root %x", sum, cp.Hash)
		}
	})
	tests := []struct {
		name   string
		tamper func(s *memstore.Store)
		leaf   int64
	}{
		{"amount, last leaf of a chunk", func(s *memstore.Store) { s.SetTransferAmount(4095, 1000) }, 4095},
		{"amount, first leaf of a chunk", func(s *memstore.Store) { s.SetTransferAmount(4096, 1000) }, 4096},
		{"amount, last leaf", func(s *memstore.Store) { s.SetTransferAmount(9003, 1000) }, 9003},
		{"delete, first leaf of a tile", func(s *memstore.Store) { s.DeleteLeaf(4352) }, 4352},
		{"reorder across chunks", func(s *memstore.Store) { s.SwapLeaves(4000, 5000) }, 4000},
		{"account leaves", func(s *memstore.Store) { s.SetTransferAccounts(6000, 1, 0) }, 6000},
		{"account leaves, not an account", func(s *memstore.Store) { s.SetTransferAccounts(6001, 3, 1) }, 6001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := fill(t, 9_000)
			tt.tamper(e.Store.(*memstore.Store))
			_, err := ledger.Verify(ctx, e.Store, e.VerifierKey)
			var ve *ledger.VerifyError
			if !errors.As(err, &ve) || ve.LeafIndex != tt.leaf {
				t.Fatalf("Verify = %v, want a *VerifyError naming leaf %d", err, tt.leaf)
			}
			t.Log(err)
		})
	}
}
