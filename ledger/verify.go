package ledger

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"slices"
	"sort"
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
	Kept        int64 // checkpoints kept outside the store that the log matched
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
// It hashes the leaf encodings exactly as stored and decodes each once
// into the state it derives. Only the canonical encoding of a record
// decodes (see DecodeLeaf), so this checks what re-encoding decoded
// records would. The reading goroutine, the hashing workers and the
// collector that applies the leaves in order run in parallel.
//
// Checks of the store alone cannot notice leaves removed from the end of
// the log together with their checkpoints (or a database restored from an
// older copy): what is left is a consistent, smaller log. kept are signed
// checkpoint notes saved earlier outside the store (by an auditor, from
// GET /v1/ledger/checkpoint): each must be signed by verifierKey, no
// larger than the log, and its root must equal the log's root at its size.
//
// Memory grows with the number of accounts and pending transfers, not with
// the number of transfers.
func Verify(ctx context.Context, s Store, verifierKey string, kept ...[]byte) (Summary, error) {
	sum := Summary{Posted: map[money.Currency]int64{}, Pending: map[money.Currency]int64{}}
	latest, err := s.LatestCheckpoint(ctx)
	empty := errors.Is(err, ErrNotFound)
	if err != nil && !empty {
		return sum, err
	}
	keptCPs, verr := openKept(kept, verifierKey, latest.Size)
	if verr != nil {
		return sum, verr
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
	// The kept checkpoints' roots are compared like the stored ones'.
	cps = append(cps, keptCPs...)
	slices.SortStableFunc(cps, func(a, b Checkpoint) int { return cmp.Compare(a.Size, b.Size) })

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
	sum.Leaves, sum.Accounts, sum.Transfers = v.n, int64(len(v.byLeaf)), v.transfers
	if v.n != latest.Size {
		return sum, &VerifyError{LeafIndex: v.n, Reason: fmt.Sprintf("log has %d leaves, latest checkpoint %d", v.n, latest.Size)}
	}
	sum.Root = v.root
	sum.Kept = int64(len(keptCPs))
	if err := v.checkAccounts(ctx, &sum); err != nil {
		return sum, err
	}
	return sum, nil
}

// openKept checks the signatures of the kept checkpoint notes and that
// none is larger than the log's latest checkpoint (size). Kept checkpoints
// of the empty tree say nothing and are dropped.
func openKept(kept [][]byte, verifierKey string, size int64) ([]Checkpoint, *VerifyError) {
	var cps []Checkpoint
	for i, msg := range kept {
		cp, err := OpenCheckpoint(msg, verifierKey)
		if err != nil {
			return nil, &VerifyError{LeafIndex: -1, Reason: fmt.Sprintf("kept checkpoint %d: %v", i+1, err)}
		}
		if cp.Size > size {
			return nil, &VerifyError{LeafIndex: -1, Reason: fmt.Sprintf(
				"the log has %d leaves, but kept checkpoint %d (signed) has %d: leaves were removed from the end of the log, or the database was restored from an older copy",
				size, i+1, cp.Size)}
		}
		if cp.Size > 0 {
			cps = append(cps, Checkpoint{Size: cp.Size, Hash: cp.Hash})
		}
	}
	return cps, nil
}

// vacct is an account as Verify derives it. The fields a transfer reads
// come first, so that applying one touches little memory.
type vacct struct {
	bal      [4]int64
	owner    *vowner
	id       string
	currency [3]byte
	flags    AccountFlags
	seen     bool
	a        Account // creation fields
}

// vowner holds the derived accounts of one owner.
type vowner struct {
	name  string
	accts map[string]*vacct // by id
}

// is reports whether d is the account id of owner o.
func (d *vacct) is(o *vowner, id []byte) bool {
	return d != nil && o != nil && d.owner == o && d.id == string(id)
}

type vpend struct {
	amount   int64
	expires  int64
	dr, cr   *vacct
	resolved bool
}

type verifier struct {
	s     Store
	size  int64 // of the latest checkpoint
	cps   []Checkpoint
	sizes []int64 // tree sizes whose root Verify computes: the checkpoints' and size

	// Read by run's goroutine.
	n        int64 // leaves read
	storeErr error // of the leaf stream

	// Derived by the collector, in leaf order.
	owners     map[string]*vowner
	byLeaf     map[int64]*vacct // the accounts by the leaf of their creation
	lastOwner  *vowner          // of the last transfer applied
	pendings   map[Key]*vpend
	transfers  int64
	lastTS     int64
	tree       *tree
	root       tlog.Hash // of the tree of size
	view       leafView
	collectErr error // of the tile reads
}

func newVerifier(s Store, size int64, cps []Checkpoint) *verifier {
	v := &verifier{s: s, size: size, cps: cps, owners: map[string]*vowner{}, byLeaf: map[int64]*vacct{}, pendings: map[Key]*vpend{}, tree: &tree{}}
	for _, cp := range cps {
		v.sizes = append(v.sizes, cp.Size)
	}
	v.sizes = append(v.sizes, size)
	slices.Sort(v.sizes)
	v.sizes = slices.Compact(v.sizes)
	return v
}

// chunkLeaves is the number of leaves the workers hash at a time: 16
// tiles, so that every chunk starts on a tile boundary.
const chunkLeaves = 16 * tileWidthMax

// chunk is a run of consecutive leaves starting at a multiple of
// chunkLeaves. A worker hashes it and compares the leaf hashes with the
// stored level-0 tiles; the collector then applies its leaves in order and
// folds its tiles' subtree hashes into the tree.
type chunk struct {
	first int64
	data  []byte // each leaf's encoding preceded by 0x00: the input of its leaf hash
	ends  []int
	refs  [][2]int64 // LeafChunk.Accounts

	// Set by the worker.
	bad    int         // the first leaf whose hash differs from the stored tile's, or -1
	blocks []tlog.Hash // tree hash of each complete tile of leaves before bad
	tails  []tailHash  // tree hash of the leaves of a tile up to each size in v.sizes inside it
	err    error       // of reading the tiles
	done   chan struct{}
}

type tailHash struct {
	size int64
	hash tlog.Hash
}

// hashInput returns 0x00 followed by leaf i's encoding.
func (c *chunk) hashInput(i int) []byte {
	start := 0
	if i > 0 {
		start = c.ends[i-1]
	}
	return c.data[start:c.ends[i]]
}

// leaf returns leaf i's encoding.
func (c *chunk) leaf(i int) []byte { return c.hashInput(i)[1:] }

// run streams the leaves: this goroutine reads them from the store into
// chunks, workers hash the chunks in parallel, and a collector applies the
// leaves in order and folds the hashes into the tree, comparing them with
// the stored tiles and checkpoints. It returns the bad record with the
// smallest leaf index, if any.
func (v *verifier) run(ctx context.Context) *VerifyError {
	const inFlightMax = 12 // chunks, bounding memory to a few MB
	work := make(chan *chunk, inFlightMax/2)
	ordered := make(chan *chunk, inFlightMax)
	free := make(chan *chunk, inFlightMax+4)
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			var hashes []tlog.Hash
			for c := range work {
				hashes = v.hashChunk(ctx, c, hashes)
				close(c.done)
			}
		})
	}
	collected := make(chan *VerifyError, 1)
	go func() { collected <- v.collect(ctx, ordered, free) }()

	var semErr *VerifyError
	c := newChunk(0, free)
	flush := func() {
		if len(c.ends) == 0 {
			return
		}
		work <- c
		ordered <- c
		c = newChunk(v.n, free)
	}
read:
	for lc, err := range v.s.Leaves(ctx, 0) {
		if err != nil {
			v.storeErr = err
			break
		}
		if len(lc.Ends) != len(lc.Index) || len(lc.Accounts) != len(lc.Index) {
			v.storeErr = fmt.Errorf("ledger verify: store yielded a chunk of %d leaves with %d ends and %d account pairs", len(lc.Index), len(lc.Ends), len(lc.Accounts))
			break
		}
		for i, index := range lc.Index {
			if index != v.n {
				semErr = &VerifyError{LeafIndex: v.n, Reason: fmt.Sprintf("missing or out of order: the next stored leaf is %d", index)}
				break read
			}
			c.data = append(append(c.data, 0), lc.Leaf(i)...)
			c.ends = append(c.ends, len(c.data))
			c.refs = append(c.refs, lc.Accounts[i])
			v.n++
			if len(c.ends) == chunkLeaves {
				flush()
			}
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

// newChunk takes a chunk from free, or makes one.
func newChunk(first int64, free chan *chunk) *chunk {
	var c *chunk
	select {
	case c = <-free:
		c.data, c.ends, c.refs, c.blocks, c.tails, c.err = c.data[:0], c.ends[:0], c.refs[:0], c.blocks[:0], c.tails[:0], nil
	default:
		c = &chunk{data: make([]byte, 0, chunkLeaves*128), ends: make([]int, 0, chunkLeaves), refs: make([][2]int64, 0, chunkLeaves)}
	}
	c.first, c.bad, c.done = first, -1, make(chan struct{})
	return c
}

// hashChunk computes c's leaf hashes, compares them with the stored
// level-0 tiles, and computes the tree hashes the collector needs: of each
// complete tile of leaves, and of the leaves of a tile up to each size in
// v.sizes that falls inside it. hashes is scratch space.
func (v *verifier) hashChunk(ctx context.Context, c *chunk, hashes []tlog.Hash) []tlog.Hash {
	tiles, err := v.readLeafTiles(ctx, c.first, len(c.ends))
	if err != nil {
		c.err = err
		return hashes
	}
	hashes = hashes[:0]
	next, _ := slices.BinarySearch(v.sizes, c.first+1)
	for i := range c.ends {
		// RFC 6962 leaf hash SHA-256(0x00 || data), as tlog.RecordHash
		// computes it, without allocating a hash.Hash per leaf.
		h := tlog.Hash(sha256.Sum256(c.hashInput(i)))
		tile, off := tiles[i/tileWidthMax], (i%tileWidthMax)*tlog.HashSize
		if off+tlog.HashSize > len(tile) || !bytes.Equal(tile[off:off+tlog.HashSize], h[:]) {
			c.bad = i
			return hashes
		}
		hashes = append(hashes, h)
		n := c.first + int64(i) + 1
		if n%tileWidthMax == 0 {
			c.blocks = append(c.blocks, subtreeHash(hashes))
			hashes = hashes[:0]
			continue
		}
		for ; next < len(v.sizes) && v.sizes[next] <= n; next++ {
			if v.sizes[next] == n {
				c.tails = append(c.tails, tailHash{n, subtreeHash(hashes)})
			}
		}
	}
	return hashes[:0]
}

// subtreeHash returns the RFC 6962 tree hash of the leaf hashes hs.
func subtreeHash(hs []tlog.Hash) tlog.Hash {
	var t tree
	t.frontier = make([]frontierNode, 0, 16)
	for _, h := range hs {
		t.frontier = append(t.frontier, frontierNode{0, h})
		for n := len(t.frontier); n >= 2 && t.frontier[n-1].level == t.frontier[n-2].level; n-- {
			l, r := t.frontier[n-2], t.frontier[n-1]
			t.frontier = append(t.frontier[:n-2], frontierNode{l.level + 1, tlog.NodeHash(l.hash, r.hash)})
		}
	}
	return t.root()
}

// readLeafTiles reads the stored level-0 tiles covering leaves
// first..first+n-1 (first a multiple of the tile width), as wide as the
// latest checkpoint says they are; a tile that is missing, or that no
// checkpoint covers, is nil, so that its leaves match nothing.
func (v *verifier) readLeafTiles(ctx context.Context, first int64, n int) ([][]byte, error) {
	out := make([][]byte, (n+tileWidthMax-1)/tileWidthMax)
	var want []tlog.Tile
	var at []int
	for i := range out {
		tn := first/tileWidthMax + int64(i)
		if w := min(int64(tileWidthMax), v.size-tn*tileWidthMax); w > 0 {
			want = append(want, tlog.Tile{H: TileHeight, L: 0, N: tn, W: int(w)})
			at = append(at, i)
		}
	}
	if len(want) == 0 {
		return out, nil
	}
	data, err := v.s.ReadTiles(ctx, want)
	if errors.Is(err, ErrNotFound) {
		// Some tile is missing: find which, one at a time.
		for j, t := range want {
			d, err := v.s.ReadTiles(ctx, []tlog.Tile{t})
			switch {
			case err == nil:
				out[at[j]] = d[0]
			case !errors.Is(err, ErrNotFound):
				return nil, err
			}
		}
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for j, d := range data {
		out[at[j]] = d
	}
	return out, nil
}

// collect consumes hashed chunks in order: it applies every leaf, reports
// the first leaf whose hash differs from the stored one, folds the tiles
// of leaves into the tree, and compares the stored tiles above level 0 and
// the checkpoints with the tree. free takes the chunks back.
func (v *verifier) collect(ctx context.Context, ordered <-chan *chunk, free chan<- *chunk) *VerifyError {
	var bad *VerifyError
	next := 0 // index into v.cps
	var n int64
	for c := range ordered {
		<-c.done
		if bad == nil && v.collectErr == nil {
			n, next, bad = v.collectChunk(ctx, c, n, next)
		}
		select {
		case free <- c:
		default:
		}
	}
	if bad != nil || v.collectErr != nil {
		return bad
	}
	if next < len(v.cps) && n == v.size {
		return &VerifyError{LeafIndex: -1, Reason: fmt.Sprintf("checkpoint of size %d is not a prefix of the log", v.cps[next].Size)}
	}
	if n == v.size && n > 0 {
		return v.checkTiles(ctx, n-1, Key{}, true)
	}
	return nil
}

// collectChunk is collect's work on one chunk; n is the number of leaves
// collected before it and next the first checkpoint not yet compared.
func (v *verifier) collectChunk(ctx context.Context, c *chunk, n int64, next int) (int64, int, *VerifyError) {
	if c.err != nil {
		v.collectErr = c.err
		return n, next, nil
	}
	blocks, tails := c.blocks, c.tails
	for i := range c.ends {
		leaf := c.first + int64(i)
		if reason := v.apply(c.leaf(i), leaf, c.refs[i]); reason != "" {
			return n, next, v.leafError(leaf, reason)
		}
		if i == c.bad {
			return n, next, v.leafError(leaf, "leaf hash does not match the stored log (record or log altered)")
		}
		n++
		var tail *tlog.Hash
		if len(tails) > 0 && tails[0].size == n {
			tail = &tails[0].hash
			tails = tails[1:]
		}
		if n%tileWidthMax == 0 {
			v.tree.appendNode(TileHeight, blocks[0])
			blocks = blocks[1:]
			if e := v.checkTiles(ctx, leaf, v.view.key(), false); e != nil || v.collectErr != nil {
				return n, next, e
			}
		}
		if n != v.size && (next == len(v.cps) || v.cps[next].Size != n) {
			continue // no root to compare
		}
		var root tlog.Hash
		switch {
		case tail != nil:
			root = v.tree.rootWith(*tail)
		case n%tileWidthMax == 0:
			root = v.tree.root()
		default:
			panic("ledger: verify: no tail hash at a checkpoint inside a tile")
		}
		for ; next < len(v.cps) && v.cps[next].Size == n; next++ {
			if root != v.cps[next].Hash {
				return n, next, v.leafError(leaf, fmt.Sprintf("root of tree size %d differs from its checkpoint", n))
			}
		}
		if n == v.size {
			v.root = root
		}
	}
	return n, next, nil
}

// leafError names the leaf v.view was decoded from (if it was).
func (v *verifier) leafError(leaf int64, reason string) *VerifyError {
	k := v.view.key()
	return &VerifyError{LeafIndex: leaf, Owner: k.Owner, ID: k.ID, Reason: reason}
}

func (lv *leafView) key() Key { return Key{string(lv.owner), string(lv.id)} }

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

// apply decodes leaf data and re-applies it to the derived state; refs
// are the account leaves the store keeps a transfer under. It returns why
// the leaf is invalid, or "".
func (v *verifier) apply(data []byte, leaf int64, refs [2]int64) string {
	t := &v.view
	if err := t.parse(data); err != nil {
		*t = leafView{}
		return "undecodable leaf: " + err.Error()
	}
	if t.timestamp <= v.lastTS {
		return "timestamp not after the previous leaf's"
	}
	v.lastTS = t.timestamp
	if t.typ == leafTypeAccount {
		return v.applyAccount(leaf)
	}
	v.transfers++
	o := v.lastOwner
	if o == nil || o.name != string(t.owner) {
		o = v.owners[string(t.owner)]
		v.lastOwner = o
	}
	// The accounts by the leaves the store keeps the transfer under; they
	// must be the accounts it names.
	dr, cr := v.byLeaf[refs[0]], v.byLeaf[refs[1]]
	if !dr.is(o, t.debit) || !cr.is(o, t.credit) {
		switch {
		case o == nil || o.accts[string(t.debit)] == nil:
			return "debit account not created before"
		case o.accts[string(t.credit)] == nil:
			return "credit account not created before"
		}
		return fmt.Sprintf("stored under account leaves %d and %d, which are not the accounts in its data (record altered)", refs[0], refs[1])
	}
	switch {
	case dr == cr:
		return "debit and credit account are the same"
	case t.amount <= 0:
		return "amount not positive"
	case len(t.currency) != len(dr.currency) || [3]byte(t.currency) != dr.currency || dr.currency != cr.currency:
		return "currency differs from the accounts'"
	}
	amount := t.amount
	kind := TransferFlags(t.flags) & (FlagPending | FlagPostPending | FlagVoidPending)
	var ok1, ok2 bool
	switch kind {
	case 0:
		dr.bal[dPosted], ok1 = add(dr.bal[dPosted], amount)
		cr.bal[cPosted], ok2 = add(cr.bal[cPosted], amount)
	case FlagPending:
		dr.bal[dPending], ok1 = add(dr.bal[dPending], amount)
		cr.bal[cPending], ok2 = add(cr.bal[cPending], amount)
		p := &vpend{amount: amount, dr: dr, cr: cr}
		if t.timeout > 0 {
			p.expires = t.timestamp + t.timeout
		}
		v.pendings[Key{string(t.owner), string(t.id)}] = p
	case FlagPostPending, FlagVoidPending:
		p := v.pendings[Key{string(t.owner), string(t.pendingID)}]
		switch {
		case p == nil:
			return "pending transfer not found before"
		case p.resolved:
			return "pending transfer resolved twice"
		case p.dr != dr || p.cr != cr:
			return "accounts differ from the pending transfer's"
		case kind == FlagVoidPending && amount != p.amount, amount > p.amount:
			return "amount does not match the pending transfer's"
		case bytes.HasPrefix(t.id, []byte(ExpiryIDPrefix)) != (p.expires != 0 && t.timestamp >= p.expires):
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
	if reason := dr.check(); reason != "" {
		return reason
	}
	return cr.check()
}

// check returns why d's balances break its flags, or "".
func (d *vacct) check() string {
	// Only a negative balance or a flag can fail checkAccount.
	if d.bal[0]|d.bal[1]|d.bal[2]|d.bal[3] >= 0 && d.flags == 0 {
		return ""
	}
	if err := checkAccount(&d.a, d.bal); err != nil {
		return err.Error()
	}
	return ""
}

// applyAccount applies the account creation in v.view at leaf.
func (v *verifier) applyAccount(leaf int64) string {
	r := v.view.record()
	a := r.Account
	if v.account(a.Owner, a.ID) != nil {
		return "account created twice"
	}
	if !ValidOwner(a.Owner) || !ValidID(a.ID) || !a.Currency.Valid() || a.Flags&^accountFlagsKnown != 0 || a.Flags == accountFlagsKnown {
		return "invalid account fields"
	}
	a.LeafIndex = leaf
	o := v.owners[a.Owner]
	if o == nil {
		o = &vowner{name: a.Owner, accts: map[string]*vacct{}}
		v.owners[a.Owner] = o
	}
	d := &vacct{owner: o, id: a.ID, currency: [3]byte([]byte(a.Currency)), flags: a.Flags, a: *a}
	o.accts[a.ID] = d
	v.byLeaf[leaf] = d
	return ""
}

// allAccounts yields every derived account.
func (v *verifier) allAccounts() iter.Seq[*vacct] {
	return func(yield func(*vacct) bool) {
		for _, d := range v.byLeaf {
			if !yield(d) {
				return
			}
		}
	}
}

// account returns the derived account (owner, id), or nil.
func (v *verifier) account(owner, id string) *vacct {
	if o := v.owners[owner]; o != nil {
		return o.accts[id]
	}
	return nil
}

// checkAccounts compares the stored accounts with the derived ones and
// checks double entry per currency.
func (v *verifier) checkAccounts(ctx context.Context, sum *Summary) error {
	for a, err := range v.s.Accounts(ctx) {
		if err != nil {
			return err
		}
		d := v.account(a.Owner, a.ID)
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
	for d := range v.allAccounts() {
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
