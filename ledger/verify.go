package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/kassa/kassa/money"
	"golang.org/x/mod/sumdb/tlog"
)

// Summary describes a verified ledger.
type Summary struct {
	Leaves      int64
	Accounts    int64
	Transfers   int64
	Checkpoints int64
	Root        tlog.Hash
	// Posted and Pending are the per-currency sums of debits (which equal
	// the sums of credits).
	Posted  map[money.Currency]int64
	Pending map[money.Currency]int64
}

// VerifyError names the first bad record Verify found.
type VerifyError struct {
	LeafIndex int64  // -1 when the problem is not one record's
	Owner, ID string // of the account or transfer, when known
	Reason    string
}

func (e *VerifyError) Error() string {
	if e.LeafIndex < 0 {
		return "ledger verify: " + e.Reason
	}
	return fmt.Sprintf("ledger verify: leaf %d (%q/%q): %s", e.LeafIndex, e.Owner, e.ID, e.Reason)
}

// Verify checks a ledger offline from its store alone: it streams every
// leaf in order, re-derives every balance from the transfers, checks
// double entry per currency and every account's flags, compares the stored
// account balances with the derived ones, recomputes every leaf hash and
// compares it with the stored tiles, recomputes the root at every stored
// checkpoint (which proves each is consistent with the latest, a stronger
// check than a consistency proof), and checks the latest checkpoint's
// signature with verifierKey. The error is a *VerifyError naming the first
// bad record, or a store error.
//
// Memory grows with the number of accounts and pending transfers, not with
// the number of transfers.
func Verify(ctx context.Context, s Store, verifierKey string) (Summary, error) {
	sum := Summary{Posted: map[money.Currency]int64{}, Pending: map[money.Currency]int64{}}
	latest, err := s.LatestCheckpoint(ctx)
	empty := errors.Is(err, ErrNotFound)
	if err != nil && !empty {
		return sum, err
	}
	if !empty {
		signed, err := OpenCheckpoint(latest.Note, verifierKey)
		if err != nil {
			return sum, &VerifyError{LeafIndex: -1, Reason: err.Error()}
		}
		if signed.Size != latest.Size || signed.Hash != latest.Hash {
			return sum, &VerifyError{LeafIndex: -1, Reason: "latest checkpoint fields differ from its signed note"}
		}
	}
	var cps []Checkpoint
	for cp, err := range s.Checkpoints(ctx) {
		if err != nil {
			return sum, err
		}
		parsed, err := parseCheckpointNote(cp.Note)
		if err != nil || parsed.Size != cp.Size || parsed.Hash != cp.Hash {
			return sum, &VerifyError{LeafIndex: -1, Reason: fmt.Sprintf("checkpoint %d: note does not match its fields", cp.Size)}
		}
		cps = append(cps, Checkpoint{Size: cp.Size, Hash: cp.Hash})
	}
	sum.Checkpoints = int64(len(cps))
	if !sort.SliceIsSorted(cps, func(i, j int) bool { return cps[i].Size < cps[j].Size }) {
		return sum, &VerifyError{LeafIndex: -1, Reason: "checkpoints are not in size order"}
	}

	v := newVerifier(s, latest.Size, cps)
	badLeaf := v.run(ctx)
	if v.storeErr != nil {
		return sum, v.storeErr
	}
	if v.collectErr != nil {
		return sum, v.collectErr
	}
	if badLeaf != nil {
		return sum, badLeaf
	}
	sum.Leaves, sum.Accounts, sum.Transfers = v.n, int64(len(v.accounts)), v.transfers
	if v.n != latest.Size {
		return sum, &VerifyError{LeafIndex: v.n, Reason: fmt.Sprintf("log has %d leaves, latest checkpoint %d", v.n, latest.Size)}
	}
	sum.Root = v.tree.root()
	if err := v.checkAccounts(ctx, &sum); err != nil {
		return sum, err
	}
	return sum, nil
}

// vacct is an account as Verify derives it.
type vacct struct {
	a    Account // creation fields
	bal  [4]int64
	seen bool
}

type vpend struct {
	amount   int64
	expires  int64
	dr, cr   *vacct
	resolved bool
}

type verifier struct {
	s          Store
	size       int64 // of the latest checkpoint
	cps        []Checkpoint
	accounts   map[Key]*vacct
	pendings   map[Key]*vpend
	n          int64 // leaves read
	transfers  int64
	lastTS     int64
	tree       *tree
	storeErr   error // of the leaf stream
	collectErr error // of the collector's tile reads
}

func newVerifier(s Store, size int64, cps []Checkpoint) *verifier {
	return &verifier{s: s, size: size, cps: cps, accounts: map[Key]*vacct{}, pendings: map[Key]*vpend{}, tree: &tree{}}
}

// chunk is a run of consecutive leaves, hashed by a worker.
type chunk struct {
	first  int64
	data   []byte
	ends   []int
	keys   []Key
	hashes []tlog.Hash
	done   chan struct{}
}

const chunkLeaves = 4096

// run streams the leaves: this goroutine decodes and re-applies them,
// workers hash chunks in parallel, and a collector folds the hashes into
// the tree in order, comparing them with the stored tiles and checkpoints.
// It returns the bad record with the smallest leaf index, if any.
func (v *verifier) run(ctx context.Context) *VerifyError {
	work := make(chan *chunk, 8)
	ordered := make(chan *chunk, 16)
	var wg sync.WaitGroup
	workers := max(1, runtime.GOMAXPROCS(0)-1)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				c.hashes = c.hashes[:0]
				start := 0
				for _, end := range c.ends {
					c.hashes = append(c.hashes, tlog.RecordHash(c.data[start:end]))
					start = end
				}
				close(c.done)
			}
		}()
	}
	collected := make(chan *VerifyError, 1)
	go func() { collected <- v.collect(ctx, ordered) }()

	var semErr *VerifyError
	c := newChunk(0)
	flush := func() {
		if len(c.ends) == 0 {
			return
		}
		work <- c
		ordered <- c
		c = newChunk(v.n)
	}
	for r, err := range v.s.Leaves(ctx, 0) {
		if err != nil {
			v.storeErr = err
			break
		}
		if r.LeafIndex != v.n {
			semErr = &VerifyError{LeafIndex: v.n, Reason: fmt.Sprintf("missing or out of order: the next stored leaf is %d", r.LeafIndex)}
			break
		}
		if reason := v.apply(r); reason != "" {
			k := r.Key()
			semErr = &VerifyError{LeafIndex: r.LeafIndex, Owner: k.Owner, ID: k.ID, Reason: reason}
			break
		}
		c.data = AppendLeaf(c.data, r)
		c.ends = append(c.ends, len(c.data))
		c.keys = append(c.keys, r.Key())
		v.n++
		if len(c.ends) == chunkLeaves {
			flush()
		}
	}
	flush()
	close(work)
	close(ordered)
	wg.Wait()
	hashErr := <-collected
	if hashErr != nil && (semErr == nil || hashErr.LeafIndex <= semErr.LeafIndex) {
		return hashErr
	}
	return semErr
}

func newChunk(first int64) *chunk {
	return &chunk{first: first, data: make([]byte, 0, chunkLeaves*128), done: make(chan struct{})}
}

// collect consumes hashed chunks in order.
func (v *verifier) collect(ctx context.Context, ordered <-chan *chunk) *VerifyError {
	var bad *VerifyError
	var tile []byte // stored level-0 tile covering the current leaves
	tileN := int64(-1)
	next := 0 // index into v.cps
	var n int64
	for c := range ordered {
		<-c.done
		if bad != nil {
			continue
		}
		for i, h := range c.hashes {
			leaf := c.first + int64(i)
			if tn := leaf / tileWidthMax; tn != tileN {
				tileN = tn
				w := min(int64(tileWidthMax), v.size-tn*tileWidthMax)
				tile = nil
				if w > 0 {
					data, err := v.s.ReadTiles(ctx, []tlog.Tile{{H: TileHeight, L: 0, N: tn, W: int(w)}})
					switch {
					case err == nil:
						tile = data[0]
					case !errors.Is(err, ErrNotFound):
						v.collectErr = err
						return nil
					}
				}
			}
			off := int(leaf%tileWidthMax) * tlog.HashSize
			if off+tlog.HashSize > len(tile) || !bytes.Equal(tile[off:off+tlog.HashSize], h[:]) {
				bad = &VerifyError{LeafIndex: leaf, Owner: c.keys[i].Owner, ID: c.keys[i].ID, Reason: "leaf hash does not match the stored log (record or log altered)"}
				break
			}
			v.tree.append(h)
			n++
			if e := v.checkTiles(ctx, leaf, c.keys[i], false); e != nil {
				bad = e
				break
			}
			for next < len(v.cps) && v.cps[next].Size == n {
				if v.tree.root() != v.cps[next].Hash {
					bad = &VerifyError{LeafIndex: leaf, Owner: c.keys[i].Owner, ID: c.keys[i].ID,
						Reason: fmt.Sprintf("root of tree size %d differs from its checkpoint", n)}
					break
				}
				next++
			}
			if bad != nil {
				break
			}
		}
	}
	if bad == nil && next < len(v.cps) && n == v.size {
		bad = &VerifyError{LeafIndex: -1, Reason: fmt.Sprintf("checkpoint of size %d is not a prefix of the log", v.cps[next].Size)}
	}
	if bad == nil && n == v.size && n > 0 {
		bad = v.checkTiles(ctx, n-1, Key{}, true)
	}
	return bad
}

// checkTiles compares the tiles above level 0 that the verifier's tree has
// completed (all of them when final) with the stored ones.
func (v *verifier) checkTiles(ctx context.Context, leaf int64, k Key, final bool) *VerifyError {
	if len(v.tree.full) == 0 && !final {
		return nil
	}
	var tiles []TileData
	if final {
		tiles = v.tree.takeTiles()
	} else {
		tiles, v.tree.full = v.tree.full, nil
	}
	for _, t := range tiles {
		if t.Tile.L == 0 {
			continue // compared leaf by leaf
		}
		data, err := v.s.ReadTiles(ctx, []tlog.Tile{t.Tile})
		if err != nil && !errors.Is(err, ErrNotFound) {
			v.collectErr = err
			return nil
		}
		if err != nil || !bytes.Equal(data[0], t.Data) {
			return &VerifyError{LeafIndex: leaf, Owner: k.Owner, ID: k.ID, Reason: fmt.Sprintf("stored tile %s differs from the recomputed one", t.Tile.Path())}
		}
	}
	return nil
}

// apply re-applies one record to the derived state and returns why it is
// invalid, or "".
func (v *verifier) apply(r *Record) string {
	if r.Account != nil {
		a := r.Account
		ts := nanos(a.Timestamp)
		if ts <= v.lastTS {
			return "timestamp not after the previous leaf's"
		}
		v.lastTS = ts
		k := Key{a.Owner, a.ID}
		if v.accounts[k] != nil {
			return "account created twice"
		}
		if !ValidOwner(a.Owner) || !ValidID(a.ID) || !a.Currency.Valid() || a.Flags&^accountFlagsKnown != 0 || a.Flags == accountFlagsKnown {
			return "invalid account fields"
		}
		c := *a
		c.Metadata = bytes.Clone(a.Metadata)
		v.accounts[k] = &vacct{a: c}
		return ""
	}
	t := r.Transfer
	v.transfers++
	ts := nanos(t.Timestamp)
	if ts <= v.lastTS {
		return "timestamp not after the previous leaf's"
	}
	v.lastTS = ts
	dr, cr := v.accounts[Key{t.Owner, t.DebitAccountID}], v.accounts[Key{t.Owner, t.CreditAccountID}]
	switch {
	case dr == nil:
		return "debit account not created before"
	case cr == nil:
		return "credit account not created before"
	case dr == cr:
		return "debit and credit account are the same"
	case t.Amount <= 0:
		return "amount not positive"
	case dr.a.Currency != t.Currency || cr.a.Currency != t.Currency:
		return "currency differs from the accounts'"
	}
	amount := int64(t.Amount)
	kind := t.Flags & (FlagPending | FlagPostPending | FlagVoidPending)
	var ok1, ok2 bool
	switch kind {
	case 0:
		dr.bal[dPosted], ok1 = add(dr.bal[dPosted], amount)
		cr.bal[cPosted], ok2 = add(cr.bal[cPosted], amount)
	case FlagPending:
		dr.bal[dPending], ok1 = add(dr.bal[dPending], amount)
		cr.bal[cPending], ok2 = add(cr.bal[cPending], amount)
		p := &vpend{amount: amount, dr: dr, cr: cr}
		if t.Timeout > 0 {
			p.expires = ts + int64(t.Timeout)
		}
		v.pendings[Key{t.Owner, t.ID}] = p
	case FlagPostPending, FlagVoidPending:
		p := v.pendings[Key{t.Owner, t.PendingID}]
		switch {
		case p == nil:
			return "pending transfer not found before"
		case p.resolved:
			return "pending transfer resolved twice"
		case p.dr != dr || p.cr != cr:
			return "accounts differ from the pending transfer's"
		case kind == FlagVoidPending && amount != p.amount, amount > p.amount:
			return "amount does not match the pending transfer's"
		case strings.HasPrefix(t.ID, ExpiryIDPrefix) != (p.expires != 0 && ts >= p.expires):
			return "pending transfer resolved before its timeout by the ledger, or after it by a client"
		}
		p.resolved = true
		dr.bal[dPending] -= p.amount
		cr.bal[cPending] -= p.amount
		ok1, ok2 = true, true
		if kind == FlagPostPending {
			dr.bal[dPosted], ok1 = add(dr.bal[dPosted], amount)
			cr.bal[cPosted], ok2 = add(cr.bal[cPosted], amount)
		}
	default:
		return "invalid flags"
	}
	if !ok1 || !ok2 {
		return "balance overflow"
	}
	if err := checkAccount(&dr.a, dr.bal); err != nil {
		return err.Error()
	}
	if err := checkAccount(&cr.a, cr.bal); err != nil {
		return err.Error()
	}
	return ""
}

// checkAccounts compares the stored accounts with the derived ones and
// checks double entry per currency.
func (v *verifier) checkAccounts(ctx context.Context, sum *Summary) error {
	for a, err := range v.s.Accounts(ctx) {
		if err != nil {
			return err
		}
		d := v.accounts[Key{a.Owner, a.ID}]
		if d == nil {
			return &VerifyError{LeafIndex: a.LeafIndex, Owner: a.Owner, ID: a.ID, Reason: "stored account is not in the log"}
		}
		d.seen = true
		switch {
		case a.LeafIndex != d.a.LeafIndex || a.Currency != d.a.Currency || a.Flags != d.a.Flags || a.Code != d.a.Code ||
			!a.Timestamp.Equal(d.a.Timestamp) || !bytes.Equal(a.Metadata, d.a.Metadata):
			return &VerifyError{LeafIndex: d.a.LeafIndex, Owner: a.Owner, ID: a.ID, Reason: "stored account differs from its creation in the log"}
		case int64(a.DebitsPending) != d.bal[dPending] || int64(a.DebitsPosted) != d.bal[dPosted] ||
			int64(a.CreditsPending) != d.bal[cPending] || int64(a.CreditsPosted) != d.bal[cPosted]:
			return &VerifyError{LeafIndex: d.a.LeafIndex, Owner: a.Owner, ID: a.ID, Reason: fmt.Sprintf(
				"stored balances (dp %d, dpost %d, cp %d, cpost %d) differ from the log's (%d, %d, %d, %d)",
				a.DebitsPending, a.DebitsPosted, a.CreditsPending, a.CreditsPosted, d.bal[0], d.bal[1], d.bal[2], d.bal[3])}
		}
	}
	var missing *vacct
	totals := map[money.Currency]*[4]int64{}
	for _, d := range v.accounts {
		if !d.seen && (missing == nil || d.a.LeafIndex < missing.a.LeafIndex) {
			missing = d
		}
		x := totals[d.a.Currency]
		if x == nil {
			x = new([4]int64)
			totals[d.a.Currency] = x
		}
		for i := range x {
			var ok bool
			if x[i], ok = add(x[i], d.bal[i]); !ok {
				return &VerifyError{LeafIndex: -1, Reason: fmt.Sprintf("%s: balance sums overflow", d.a.Currency)}
			}
		}
	}
	if missing != nil {
		return &VerifyError{LeafIndex: missing.a.LeafIndex, Owner: missing.a.Owner, ID: missing.a.ID, Reason: "account is missing from the stored accounts"}
	}
	for c, x := range totals {
		if x[dPending] != x[cPending] || x[dPosted] != x[cPosted] {
			return &VerifyError{LeafIndex: -1, Reason: fmt.Sprintf("%s: debits (pending %d, posted %d) differ from credits (pending %d, posted %d)", c, x[0], x[1], x[2], x[3])}
		}
		sum.Pending[c], sum.Posted[c] = x[dPending], x[dPosted]
	}
	return nil
}
