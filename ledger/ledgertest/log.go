package ledgertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Fill creates accounts a, b, c of owner "m" and n transfers between them,
// per transfers a call.
func Fill(t testing.TB, e *Env, n, per int) {
	t.Helper()
	if r := e.Accounts(t, "m", ledger.Account{ID: "a", Currency: "EUR"}, ledger.Account{ID: "b", Currency: "EUR"}, ledger.Account{ID: "c", Currency: "EUR"}); r[0].Code != ledger.OK {
		t.Fatal(r)
	}
	for i := 0; i < n; i += per {
		var ts []ledger.Transfer
		for j := i; j < min(n, i+per); j++ {
			tr := ledger.Transfer{ID: fmt.Sprintf("t%d", j), DebitAccountID: "a", CreditAccountID: "b", Amount: 1 + money.Amount(j%7), Currency: "EUR", Code: uint16(j % 3)}
			if j%5 == 0 {
				tr.CreditAccountID = "c"
			}
			ts = append(ts, tr)
		}
		for _, r := range e.Transfers(t, "m", ts...) {
			if r.Code != ledger.OK {
				t.Fatal(r.Code)
			}
		}
	}
}

func Proofs(t *testing.T, open Opener) {
	ctx := context.Background()
	e := NewEnv(t, open)
	var cps []ledger.Checkpoint
	for round := 0; round < 6; round++ {
		var ts []ledger.Transfer
		if round == 0 {
			Fill(t, e, 300, 77)
		} else {
			for j := 0; j < 100*round+13; j++ {
				ts = append(ts, ledger.Transfer{ID: fmt.Sprintf("r%d-%d", round, j), DebitAccountID: "b", CreditAccountID: "a", Amount: 1, Currency: "EUR"})
			}
			e.Transfers(t, "m", ts...)
		}
		cp, err := e.L.LatestCheckpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cps = append(cps, cp)
	}
	// The checkpoint is a C2SP signed note, opened with note.Open.
	v, err := note.NewVerifier(e.L.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if e.L.VerifierKey() != e.VerifierKey {
		t.Fatalf("VerifierKey() = %q, want %q", e.L.VerifierKey(), e.VerifierKey)
	}
	for _, cp := range cps {
		n, err := note.Open(cp.Note, note.VerifierList(v))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(n.Text, "\n")
		if len(lines) != 4 || lines[0] != "kassa.test/ledger" || lines[1] != fmt.Sprint(cp.Size) || lines[3] != "" {
			t.Fatalf("checkpoint text %q", n.Text)
		}
		tree, err := tlog.ParseTree([]byte("go.sum database tree\n" + lines[1] + "\n" + lines[2] + "\n"))
		if err != nil || tree.Hash != cp.Hash || tree.N != cp.Size {
			t.Fatalf("checkpoint %q: %v %v", n.Text, tree, err)
		}
	}
	// Tampered notes do not open.
	bad := bytes.Replace(cps[0].Note, []byte("\n"+fmt.Sprint(cps[0].Size)+"\n"), []byte("\n1\n"), 1)
	if _, err := note.Open(bad, note.VerifierList(v)); err == nil {
		t.Fatal("tampered checkpoint opened")
	}
	// Inclusion proofs of every transfer at every checkpoint that holds it.
	latest := cps[len(cps)-1]
	for i := 0; i < 300; i += 7 {
		tr, leaf, err := e.L.Transfer(ctx, "m", fmt.Sprintf("t%d", i))
		if err != nil {
			t.Fatal(err)
		}
		dec, err := ledger.DecodeLeaf(leaf)
		if err != nil || dec.Transfer.ID != tr.ID || dec.Transfer.Amount != tr.Amount {
			t.Fatalf("decode leaf: %+v %v", dec, err)
		}
		for _, cp := range cps {
			if cp.Size <= tr.LeafIndex {
				continue
			}
			p, err := e.L.InclusionProof(ctx, tr.LeafIndex, cp.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckRecord(p, cp.Size, cp.Hash, tr.LeafIndex, tlog.RecordHash(leaf)); err != nil {
				t.Fatalf("leaf %d in %d: %v", tr.LeafIndex, cp.Size, err)
			}
			if err := tlog.CheckRecord(p, cp.Size, cp.Hash, tr.LeafIndex, tlog.RecordHash(append(leaf, 0))); err == nil {
				t.Fatal("proof accepted a different leaf")
			}
		}
	}
	// Consistency proofs between every pair of checkpoints.
	for i, old := range cps {
		for _, cur := range cps[i:] {
			p, err := e.L.ConsistencyProof(ctx, old.Size, cur.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckTree(p, cur.Size, cur.Hash, old.Size, old.Hash); err != nil {
				t.Fatalf("%d → %d: %v", old.Size, cur.Size, err)
			}
		}
	}
	if _, err := e.L.InclusionProof(ctx, latest.Size, latest.Size); !errors.Is(err, ledger.ErrInvalid) {
		t.Fatalf("proof of a leaf beyond the tree: %v", err)
	}
	// The tree the sequencer keeps in memory equals the one tlog computes
	// from the stored tiles, and the root equals tlog.TreeHash.
	for _, cp := range cps {
		h, err := ledger.TreeHash(ctx, e.Store, cp.Size)
		if err != nil || h != cp.Hash {
			t.Fatalf("TreeHash(%d) = %v, %v; want %v", cp.Size, h, err, cp.Hash)
		}
	}
	// A fresh ledger over the same store reloads the tree from tiles and
	// extends it correctly.
	l2 := e.Open(t, e.Store)
	if _, err := l2.CreateTransfers(ctx, "m", []ledger.Transfer{{ID: "after", DebitAccountID: "a", CreditAccountID: "b", Amount: 1, Currency: "EUR"}}); err != nil {
		t.Fatal(err)
	}
	cp, _ := l2.LatestCheckpoint(ctx)
	p, err := l2.ConsistencyProof(ctx, latest.Size, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckTree(p, cp.Size, cp.Hash, latest.Size, latest.Hash); err != nil {
		t.Fatal(err)
	}
	e.Verify(t)
}

func TreeMatchesTlog(t *testing.T, open Opener) {
	// Build the tree through the ledger leaf by leaf and compare every
	// stored tile with the tiles tlog derives from tlog.StoredHashes.
	ctx := context.Background()
	e := NewEnv(t, open)
	Fill(t, e, 700, 1+700/9)
	cp, _ := e.L.LatestCheckpoint(ctx)
	var hashes []tlog.Hash // all stored hashes, computed independently
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	n := int64(0)
	for c, err := range e.Store.Leaves(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		for i, index := range c.Index {
			if index != n {
				t.Fatalf("leaf %d stored under index %d", n, index)
			}
			rec, err := ledger.DecodeLeaf(c.Leaf(i))
			if err != nil {
				t.Fatalf("leaf %d: %v", n, err)
			}
			hs, err := tlog.StoredHashes(n, ledger.EncodeLeaf(&rec), r)
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, hs...)
			n++
		}
	}
	root, err := tlog.TreeHash(n, r)
	if err != nil || root != cp.Hash || n != cp.Size {
		t.Fatalf("tlog root %v (%d leaves), checkpoint %v (%d)", root, n, cp.Hash, cp.Size)
	}
	for _, tile := range tlog.NewTiles(ledger.TileHeight, 0, n) {
		want, err := tlog.ReadTileData(tile, r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Store.ReadTiles(ctx, []tlog.Tile{tile})
		if err != nil || !bytes.Equal(got[0], want) {
			t.Fatalf("tile %s differs: %v", tile.Path(), err)
		}
	}
}

func ExpiryAndQueries(t *testing.T, open Opener) {
	ctx := context.Background()
	e := NewEnv(t, open)
	e.Accounts(t, "m", ledger.Account{ID: "a", Currency: "EUR"}, ledger.Account{ID: "b", Currency: "EUR"})
	e.Transfers(t, "m",
		ledger.Transfer{ID: "p1", DebitAccountID: "a", CreditAccountID: "b", Amount: 10, Currency: "EUR", Flags: ledger.FlagPending, Timeout: time.Minute},
		ledger.Transfer{ID: "p2", DebitAccountID: "a", CreditAccountID: "b", Amount: 20, Currency: "EUR", Flags: ledger.FlagPending},
		ledger.Transfer{ID: "x", PendingID: "p2", Amount: 5, Flags: ledger.FlagPostPending},
	)
	st, err := e.L.PendingStatus(ctx, "m", "p2")
	if err != nil || st.State != ledger.StatePosted || st.AmountPosted != 5 || st.Amount != 20 {
		t.Fatalf("p2: %+v %v", st, err)
	}
	e.Clock.Advance(2 * time.Minute)
	if st, _ := e.L.PendingStatus(ctx, "m", "p1"); st.State != ledger.StateExpired {
		t.Fatalf("p1 after its timeout: %v", st.State)
	}
	if err := e.L.ExpirePending(ctx); err != nil {
		t.Fatal(err)
	}
	void, _, err := e.L.Transfer(ctx, "m", ledger.ExpiryIDPrefix+"p1")
	if err != nil || void.Flags != ledger.FlagVoidPending || void.Amount != 10 || void.PendingID != "p1" {
		t.Fatalf("expiry void: %+v %v", void, err)
	}
	a, _ := e.L.Account(ctx, "m", "a")
	if a.DebitsPending != 0 || a.DebitsPosted != 5 {
		t.Fatalf("a after expiry: %+v", a)
	}
	if _, err := e.L.PendingStatus(ctx, "m", "x"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("status of a non-pending transfer: %v", err)
	}
	// Pagination over the account's transfers.
	var ids []string
	after := ""
	for {
		page, more, err := e.L.AccountTransfers(ctx, "m", "a", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range page {
			ids = append(ids, tr.ID)
		}
		if !more {
			break
		}
		after = page[len(page)-1].ID
	}
	if got := strings.Join(ids, ","); got != "p1,p2,x,~expired:p1" {
		t.Fatalf("transfers of a: %s", got)
	}
	if _, _, err := e.L.AccountTransfers(ctx, "m", "a", "", 101); !errors.Is(err, ledger.ErrInvalid) {
		t.Fatalf("limit 101: %v", err)
	}
	e.Verify(t)
}
