package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/kassa/kassa/money"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Balance indexes of acct.bal.
const (
	dPending = iota
	dPosted
	cPending
	cPosted
)

// acct is a cached account.
type acct struct {
	Account          // creation fields; balances live in bal
	bal     [4]int64 // debits pending, debits posted, credits pending, credits posted
	orig    [4]int64 // bal at the first touch in the current batch
	epoch   uint64   // batch in which it was last touched
	isNew   bool     // created in the current batch, not yet stored
}

// pend is a cached pending transfer.
type pend struct {
	Pending
	expires int64 // Unix nanoseconds, 0 = never
	epoch   uint64
	isNew   bool
	dead    bool // creation rolled back
}

type undoKind uint8

const (
	undoBalances undoKind = iota + 1
	undoNewAccount
	undoPending
	undoNewPending
	undoNewTransfer
)

type undo struct {
	kind   undoKind
	a      *acct
	p      *pend
	bal    [4]int64
	state  PendingState
	posted money.Amount
	key    Key
}

// seqState is the sequencer's memory: caches consistent with the store
// as of head, the Merkle tree, and the undo log of the batch in progress.
type seqState struct {
	loaded     bool
	head       Head
	accounts   map[Key]*acct
	pendings   map[Key]*pend
	tree       *tree
	nextExpiry int64 // 0 = no pending transfer with a timeout
	epoch      uint64
	cacheMax   int

	undo            []undo
	savedNextExpiry int64

	// shared counts down the batches after another writer last committed
	// in between two of ours: while it is positive, HeadSince is asked to
	// read the batch's accounts ahead, in case the head moved again.
	shared int
	read   HeadRead
	// checked holds the keys HeadSince looked up for the batch in
	// progress: prefetch need not look for those it did not find.
	checked map[Key]struct{}
	// catchUps and reloads count how the sequencer followed other
	// writers' commits (Ledger.Followed).
	catchUps, reloads atomic.Uint64

	b batch // reused between batches
}

// batch is the work of one commit attempt.
type batch struct {
	now       int64
	ts        int64 // timestamp of the last leaf
	size      int64 // leaves in the log including this batch's so far
	full      bool  // every transfer id was looked up
	leaves    int
	order     []leafRef
	accounts  []*acct
	transfers []Transfer
	refs      [][2]int64    // per transfer: LeafIndex of its debit and credit account
	newIDs    map[Key]int32 // transfer id → index in transfers
	known     map[Key]*Transfer
	// uncertain holds ids of transfers that were not looked up and were
	// not written (they failed, or their linked chain did): had the id
	// existed, the result would have been an exists code instead.
	uncertain []Key
	touched   []*acct
	touchedP  []*pend
	tree      *tree
	head      Head // the new head once sealed
	buf       []byte
}

type leafRef struct {
	account bool
	i       int32
}

func (s *seqState) init() {
	s.accounts = make(map[Key]*acct)
	s.pendings = make(map[Key]*pend)
	s.b.newIDs = make(map[Key]int32)
	s.b.known = make(map[Key]*Transfer)
	s.checked = make(map[Key]struct{})
}

// sharedBatches is how many of its batches a writer keeps reading ahead
// after it last saw another writer's commit.
const sharedBatches = 32

// lockHead locks the log head and brings the caches up to it: nothing to
// do when this writer committed last; otherwise a store that reads ahead
// (HeadReader) hands over, in the round trip that locked the head, the
// leaf hashes and the batch's accounts the caches need, and the tree is
// extended instead of reloaded.
func (s *seqState) lockHead(ctx context.Context, l *Ledger, tx Tx, subs []*submission) (Head, error) {
	clear(s.checked)
	hr, ok := tx.(HeadReader)
	if !ok || !s.loaded {
		head, err := tx.Head(ctx)
		if err != nil {
			return head, fmt.Errorf("read head: %w", err)
		}
		if !s.loaded || head != s.head {
			if s.loaded {
				s.reloads.Add(1)
			}
			return head, s.load(ctx, tx, head)
		}
		return head, nil
	}
	r := &s.read
	r.reset(s.head)
	if s.shared > 0 {
		s.readAheadKeys(r, subs)
	}
	head, err := hr.HeadSince(ctx, r)
	if err != nil {
		return head, fmt.Errorf("read head: %w", err)
	}
	if head == s.head {
		if s.shared > 0 {
			s.shared--
		}
		return head, nil
	}
	s.shared = sharedBatches
	if s.catchUp(r, head) {
		s.catchUps.Add(1)
		return head, nil
	}
	s.reloads.Add(1)
	return head, s.load(ctx, tx, head)
}

// readAheadKeys puts into r the accounts and pending transfers subs refer to.
func (s *seqState) readAheadKeys(r *HeadRead, subs []*submission) {
	seen := make(map[Key]bool)
	account := func(k Key) {
		if k.ID == "" || seen[k] {
			return
		}
		seen[k] = true
		r.Accounts = append(r.Accounts, k)
	}
	for _, sub := range subs {
		for i := range sub.accounts {
			account(Key{sub.owner, sub.accounts[i].ID})
		}
		for i := range sub.transfers {
			t := &sub.transfers[i]
			account(Key{sub.owner, t.DebitAccountID})
			account(Key{sub.owner, t.CreditAccountID})
			if t.PendingID != "" {
				r.Pendings = append(r.Pendings, Key{sub.owner, t.PendingID})
			}
		}
	}
}

// catchUp follows another writer's commits from what HeadSince read: the
// tree is extended by the leaf hashes appended since s.head and must then
// hash to the stored checkpoint; the account and pending caches are
// replaced by what was read for this batch. It returns false, changing
// nothing, when the answer does not suffice; the caller then reloads.
func (s *seqState) catchUp(r *HeadRead, head Head) bool {
	if !r.Moved || head.Size < s.head.Size || r.Checkpoint.Size != head.Size || s.tree == nil {
		return false
	}
	first := s.head.Size / tileWidthMax
	t := s.tree.clone()
	for i := s.head.Size; i < head.Size; i++ {
		k := int(i/tileWidthMax - first)
		if k >= len(r.Tiles) || r.Tiles[k].Tile.N != first+int64(k) {
			return false
		}
		off := int(i%tileWidthMax) * 32
		data := r.Tiles[k].Data
		if off+32 > len(data) {
			return false
		}
		t.append(tlog.Hash(data[off : off+32]))
	}
	if t.root() != r.Checkpoint.Hash {
		return false
	}
	// The other writer stored these tiles already.
	t.full = nil
	clear(t.dirty)
	// The other writer may have changed any cached account or pending
	// transfer: the caches start again from what was read for this batch.
	s.invalidate()
	s.tree, s.head, s.loaded = t, head, true
	s.nextExpiry = nanos(r.NextExpiry)
	for i := range r.FoundPendings {
		p := &r.FoundPendings[i]
		s.pendings[Key{p.Owner, p.ID}] = &pend{Pending: *p, expires: nanos(p.ExpiresAt)}
	}
	for i := range r.FoundAccounts {
		s.cacheAccount(&r.FoundAccounts[i])
	}
	for _, k := range r.Accounts {
		s.checked[k] = struct{}{}
	}
	return true
}

// cacheAccount puts a stored account into the cache.
func (s *seqState) cacheAccount(a *Account) {
	c := &acct{Account: *a}
	c.bal = [4]int64{int64(a.DebitsPending), int64(a.DebitsPosted), int64(a.CreditsPending), int64(a.CreditsPosted)}
	c.DebitsPending, c.DebitsPosted, c.CreditsPending, c.CreditsPosted = 0, 0, 0, 0
	s.accounts[Key{a.Owner, a.ID}] = c
}

func (s *seqState) invalidate() {
	s.loaded = false
	s.accounts = make(map[Key]*acct)
	s.pendings = make(map[Key]*pend)
	s.tree = nil
	s.undo = s.undo[:0]
}

func (s *seqState) expiryDue(now int64) bool {
	return s.loaded && s.nextExpiry != 0 && now >= s.nextExpiry
}

// rollback undoes every change of the batch in progress to the caches.
func (s *seqState) rollback() {
	s.rollbackTo(0)
	s.nextExpiry = s.savedNextExpiry
}

func (s *seqState) rollbackTo(mark int) {
	for i := len(s.undo) - 1; i >= mark; i-- {
		u := &s.undo[i]
		switch u.kind {
		case undoBalances:
			u.a.bal = u.bal
		case undoNewAccount:
			delete(s.accounts, u.key)
		case undoPending:
			u.p.State, u.p.AmountPosted = u.state, u.posted
		case undoNewPending:
			u.p.dead = true
			delete(s.pendings, u.key)
		case undoNewTransfer:
			delete(s.b.newIDs, u.key)
		}
		*u = undo{}
	}
	s.undo = s.undo[:mark]
}

// finish installs a committed batch.
func (s *seqState) finish(b *batch) {
	s.undo = s.undo[:0]
	if b == nil {
		return
	}
	for _, a := range b.accounts {
		a.isNew = false
	}
	for _, p := range b.touchedP {
		p.isNew = false
	}
	if b.leaves > 0 {
		s.tree = b.tree
		s.head = b.head
	}
	s.savedNextExpiry = s.nextExpiry
	s.evict()
}

// evict keeps the caches within bounds by dropping arbitrary entries.
func (s *seqState) evict() {
	// Go map iteration order is unspecified and varies, which makes this
	// a cheap random eviction.
	for len(s.accounts) > s.cacheMax {
		for k := range s.accounts {
			delete(s.accounts, k)
			if len(s.accounts) <= s.cacheMax*3/4 {
				break
			}
		}
	}
	for len(s.pendings) > s.cacheMax {
		for k := range s.pendings {
			delete(s.pendings, k)
			if len(s.pendings) <= s.cacheMax*3/4 {
				break
			}
		}
	}
}

// apply runs one commit attempt inside the store transaction.
func (s *seqState) apply(ctx context.Context, l *Ledger, tx Tx, subs []*submission, full bool) (*batch, error) {
	head, err := s.lockHead(ctx, l, tx, subs)
	if err != nil {
		return nil, err
	}
	s.savedNextExpiry = s.nextExpiry
	s.epoch++
	b := &s.b
	b.reset(s, l.clock().UnixNano(), full)

	var expired []Pending
	if s.nextExpiry != 0 && b.now >= s.nextExpiry {
		expired, err = tx.ExpiredPendings(ctx, time.Unix(0, b.now), l.cfg.ExpiryBatchMax)
		if err != nil {
			return nil, fmt.Errorf("read expired: %w", err)
		}
		if len(expired) < l.cfg.ExpiryBatchMax {
			next, ok, err := tx.NextExpiry(ctx, time.Unix(0, b.now))
			if err != nil {
				return nil, fmt.Errorf("read next expiry: %w", err)
			}
			s.nextExpiry = 0
			if ok {
				s.nextExpiry = nanos(next)
			}
		}
	}
	if err := s.prefetch(ctx, tx, subs, expired, full); err != nil {
		return nil, err
	}
	for i := range expired {
		p := s.pendings[Key{expired[i].Owner, expired[i].ID}]
		if p != nil && p.State == StatePending {
			s.expire(p)
		}
	}
	for _, sub := range subs {
		if sub.accounts != nil {
			for i := range sub.accounts {
				sub.results[i] = s.createAccount(sub.owner, &sub.accounts[i])
			}
		} else if sub.effect == nil {
			s.createTransfers(sub)
		} else {
			m := s.mark()
			s.createTransfers(sub)
			if !sub.effectFailed {
				// No savepoint: a failing effect may leave writes in tx,
				// so the whole attempt is rolled back and the batch runs
				// again without it (Ledger.commit); its error stands.
				if sub.effectErr = runEffect(context.WithValue(ctx, effectStateKey{}, s), tx, sub); sub.effectErr != nil {
					sub.effectFailed = true
					return nil, errEffectFailed
				}
			}
			if sub.effectErr != nil {
				s.rollbackToMark(m)
				for j, r := range sub.results {
					if r.Code == OK && !full {
						b.uncertain = append(b.uncertain, Key{sub.owner, sub.transfers[j].ID})
					}
				}
			}
		}
	}
	if len(b.uncertain) > 0 && !full {
		found, err := tx.LookupTransfers(ctx, b.uncertain)
		if err != nil {
			return nil, fmt.Errorf("look up transfers: %w", err)
		}
		if len(found) > 0 {
			return nil, fmt.Errorf("transfer %s/%s exists: %w", found[0].Owner, found[0].ID, ErrDuplicate)
		}
	}
	if b.leaves == 0 {
		return b, nil
	}
	s.checkBatch()
	batch, err := s.seal(l, head)
	if err != nil {
		return nil, err
	}
	if err := tx.Append(ctx, batch); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *batch) reset(s *seqState, now int64, full bool) {
	b.now = now
	b.ts = s.head.Timestamp
	b.size = s.head.Size
	b.full = full
	b.leaves = 0
	b.order = b.order[:0]
	clear(b.accounts)
	b.accounts = b.accounts[:0]
	clear(b.transfers)
	b.transfers = b.transfers[:0]
	b.refs = b.refs[:0]
	clear(b.newIDs)
	clear(b.known)
	clear(b.touched)
	b.touched = b.touched[:0]
	clear(b.touchedP)
	b.touchedP = b.touchedP[:0]
	clear(b.uncertain)
	b.uncertain = b.uncertain[:0]
	b.tree = s.tree.clone()
}

// load drops the caches and reloads what the sequencer keeps in memory
// from the store: another writer committed, or this is the first batch.
func (s *seqState) load(ctx context.Context, tx Tx, head Head) error {
	s.invalidate()
	t := &tree{}
	if head.Size > 0 {
		cp, err := tx.LatestCheckpoint(ctx)
		if err != nil {
			return fmt.Errorf("read checkpoint: %w", err)
		}
		if cp.Size != head.Size {
			return fmt.Errorf("ledger: head size %d but latest checkpoint size %d", head.Size, cp.Size)
		}
		read := func(tiles []tlog.Tile) ([][]byte, error) { return tx.ReadTiles(ctx, tiles) }
		r := tlog.TileHashReader(tlog.Tree{N: cp.Size, Hash: cp.Hash}, tileReader(read))
		t, err = loadTree(head.Size, r, read)
		if err != nil {
			return err
		}
		if t.root() != cp.Hash {
			return fmt.Errorf("ledger: stored tiles do not match checkpoint %d", cp.Size)
		}
	}
	next, ok, err := tx.NextExpiry(ctx, time.Time{})
	if err != nil {
		return fmt.Errorf("read next expiry: %w", err)
	}
	s.nextExpiry = 0
	if ok {
		s.nextExpiry = nanos(next)
	}
	s.tree, s.head, s.loaded = t, head, true
	return nil
}

// prefetch loads into the caches every account and pending transfer the
// batch refers to that is not cached, in a few set-wise lookups.
func (s *seqState) prefetch(ctx context.Context, tx Tx, subs []*submission, expired []Pending, full bool) error {
	var accKeys, pendKeys, trKeys []Key
	seen := make(map[Key]struct{})
	wantAccount := func(k Key) {
		if k.ID == "" {
			return
		}
		if _, ok := s.accounts[k]; ok {
			return
		}
		if _, ok := s.checked[k]; ok {
			return
		}
		if _, ok := seen[k]; ok {
			return
		}
		seen[k] = struct{}{}
		accKeys = append(accKeys, k)
	}
	for i := range expired {
		p := &expired[i]
		k := Key{p.Owner, p.ID}
		if _, ok := s.pendings[k]; !ok {
			s.pendings[k] = &pend{Pending: *p, expires: nanos(p.ExpiresAt)}
		}
		wantAccount(Key{p.Owner, p.DebitAccountID})
		wantAccount(Key{p.Owner, p.CreditAccountID})
	}
	for _, sub := range subs {
		for i := range sub.accounts {
			wantAccount(Key{sub.owner, sub.accounts[i].ID})
		}
		for i := range sub.transfers {
			t := &sub.transfers[i]
			wantAccount(Key{sub.owner, t.DebitAccountID})
			wantAccount(Key{sub.owner, t.CreditAccountID})
			if full {
				trKeys = append(trKeys, Key{sub.owner, t.ID})
			}
			if t.PendingID != "" {
				k := Key{sub.owner, t.PendingID}
				if p, ok := s.pendings[k]; ok {
					wantAccount(Key{p.Owner, p.DebitAccountID})
					wantAccount(Key{p.Owner, p.CreditAccountID})
				} else {
					pendKeys = append(pendKeys, k)
				}
			}
		}
	}
	if len(pendKeys) > 0 {
		ps, err := tx.LookupPendings(ctx, pendKeys)
		if err != nil {
			return fmt.Errorf("look up pending transfers: %w", err)
		}
		found := make(map[Key]bool, len(ps))
		for i := range ps {
			p := &ps[i]
			k := Key{p.Owner, p.ID}
			found[k] = true
			s.pendings[k] = &pend{Pending: *p, expires: nanos(p.ExpiresAt)}
			wantAccount(Key{p.Owner, p.DebitAccountID})
			wantAccount(Key{p.Owner, p.CreditAccountID})
		}
		// A pending_id that is no pending transfer may still name a
		// transfer (pending_transfer_not_pending).
		for _, k := range pendKeys {
			if !found[k] {
				trKeys = append(trKeys, k)
			}
		}
	}
	if len(accKeys) > 0 {
		as, err := tx.LookupAccounts(ctx, accKeys)
		if err != nil {
			return fmt.Errorf("look up accounts: %w", err)
		}
		for i := range as {
			s.cacheAccount(&as[i])
		}
	}
	if len(trKeys) > 0 {
		ts, err := tx.LookupTransfers(ctx, trKeys)
		if err != nil {
			return fmt.Errorf("look up transfers: %w", err)
		}
		for i := range ts {
			s.b.known[Key{ts[i].Owner, ts[i].ID}] = &ts[i]
		}
	}
	return nil
}

// nextTimestamp returns the timestamp the next leaf gets: the clock's time
// unless that would not be after the previous leaf.
func (b *batch) nextTimestamp() int64 {
	if b.now > b.ts {
		return b.now
	}
	return b.ts + 1
}

func (s *seqState) touch(a *acct) {
	if a.epoch != s.epoch {
		a.epoch = s.epoch
		a.orig = a.bal
		s.b.touched = append(s.b.touched, a)
	}
	s.undo = append(s.undo, undo{kind: undoBalances, a: a, bal: a.bal})
}

func (s *seqState) touchPending(p *pend) {
	if p.epoch != s.epoch {
		p.epoch = s.epoch
		s.b.touchedP = append(s.b.touchedP, p)
	}
	s.undo = append(s.undo, undo{kind: undoPending, p: p, state: p.State, posted: p.AmountPosted})
}

// addTransfer appends a committed transfer between dr and cr to the batch.
func (s *seqState) addTransfer(t *Transfer, dr, cr *acct, ts int64) Result {
	b := &s.b
	t.Timestamp = time.Unix(0, ts).UTC()
	t.LeafIndex = b.size
	b.ts, b.size = ts, b.size+1
	b.leaves++
	k := Key{t.Owner, t.ID}
	b.newIDs[k] = int32(len(b.transfers))
	s.undo = append(s.undo, undo{kind: undoNewTransfer, key: k})
	b.order = append(b.order, leafRef{false, int32(len(b.transfers))})
	b.transfers = append(b.transfers, *t)
	b.refs = append(b.refs, [2]int64{dr.LeafIndex, cr.LeafIndex})
	return Result{Code: OK, LeafIndex: t.LeafIndex, Timestamp: t.Timestamp}
}

// expire voids a timed-out pending transfer.
func (s *seqState) expire(p *pend) {
	dr := s.accounts[Key{p.Owner, p.DebitAccountID}]
	cr := s.accounts[Key{p.Owner, p.CreditAccountID}]
	if dr == nil || cr == nil {
		panic(fmt.Sprintf("ledger: accounts of pending transfer %s/%s missing", p.Owner, p.ID))
	}
	s.touch(dr)
	s.touch(cr)
	dr.bal[dPending] -= int64(p.Amount)
	cr.bal[cPending] -= int64(p.Amount)
	s.touchPending(p)
	p.State = StateExpired
	t := Transfer{
		Owner: p.Owner, ID: ExpiryIDPrefix + p.ID,
		DebitAccountID: p.DebitAccountID, CreditAccountID: p.CreditAccountID,
		Amount: p.Amount, Currency: p.Currency, Code: p.Code,
		Flags: FlagVoidPending, PendingID: p.ID,
	}
	s.addTransfer(&t, dr, cr, s.b.nextTimestamp())
}

func (s *seqState) createAccount(owner string, in *Account) Result {
	switch {
	case in.Owner != "" && in.Owner != owner:
		return Result{Code: OwnerMismatch}
	case !in.Timestamp.IsZero() || in.LeafIndex != 0:
		return Result{Code: TimestampMustBeZero}
	case !ValidID(in.ID):
		return Result{Code: IDInvalid}
	case in.Flags&^accountFlagsKnown != 0:
		return Result{Code: FlagsInvalid}
	case in.Flags == accountFlagsKnown:
		return Result{Code: FlagsAreMutuallyExclusive}
	case in.DebitsPending != 0 || in.DebitsPosted != 0 || in.CreditsPending != 0 || in.CreditsPosted != 0:
		return Result{Code: BalancesMustBeZero}
	case !in.Currency.Valid():
		return Result{Code: CurrencyInvalid}
	}
	if ok, tooLong := validMetadata(in.Metadata); !ok {
		if tooLong {
			return Result{Code: MetadataTooLong}
		}
		return Result{Code: MetadataInvalid}
	}
	k := Key{owner, in.ID}
	if e := s.accounts[k]; e != nil {
		code := Exists
		switch {
		case e.Flags != in.Flags:
			code = ExistsWithDifferentFlags
		case e.Code != in.Code:
			code = ExistsWithDifferentCode
		case e.Currency != in.Currency:
			code = ExistsWithDifferentCurrency
		case !bytes.Equal(e.Metadata, in.Metadata):
			code = ExistsWithDifferentMetadata
		}
		return Result{Code: code, LeafIndex: e.LeafIndex, Timestamp: e.Timestamp}
	}
	b := &s.b
	ts := b.nextTimestamp()
	a := &acct{Account: *in, isNew: true, epoch: s.epoch}
	a.Owner = owner
	a.Metadata = bytes.Clone(in.Metadata)
	a.Timestamp = time.Unix(0, ts).UTC()
	a.LeafIndex = b.size
	b.ts, b.size = ts, b.size+1
	b.leaves++
	s.accounts[k] = a
	s.undo = append(s.undo, undo{kind: undoNewAccount, key: k})
	b.touched = append(b.touched, a)
	b.order = append(b.order, leafRef{true, int32(len(b.accounts))})
	b.accounts = append(b.accounts, a)
	return Result{Code: OK, LeafIndex: a.LeafIndex, Timestamp: a.Timestamp}
}

// effectRunner is implemented by stores that check something of their
// own around an effect (store/sqlstore: a lease fence in the caller's
// context) in the batch's transaction.
type effectRunner interface {
	RunEffect(ctx context.Context, fn func() error) error
}

// errEffectFailed aborts a commit attempt in which an effect failed:
// effects run without savepoints (in SQLite a savepoint copies every page
// its effect changes into a sub-journal, on PostgreSQL it is two more
// round trips), so the failed effect's writes may be in the transaction.
// The batch runs again without it.
var errEffectFailed = errors.New("ledger: an effect failed")

// effectStateKey carries the sequencer's state into an effect's context,
// for EffectAccount.
type effectStateKey struct{}

// EffectAccount returns, inside an Effect, the account (owner, id) with
// the balances the batch in progress has given it so far: the stored
// balances plus every transfer applied before the effect, its own call's
// included. An effect uses it to refuse a call on a balance bound the
// account's flags do not express (e.g. a payout that would overdraw a
// merchant's balance); effects run one at a time, so the check cannot
// race. ok is false outside an effect or when the batch has not loaded
// the account (it loads every account its transfers touch).
func EffectAccount(ctx context.Context, owner, id string) (a Account, ok bool) {
	s, _ := ctx.Value(effectStateKey{}).(*seqState)
	if s == nil {
		return Account{}, false
	}
	x := s.accounts[Key{owner, id}]
	if x == nil {
		return Account{}, false
	}
	return x.withBalances(), true
}

func runEffect(ctx context.Context, tx Tx, sub *submission) error {
	if sub.values != nil {
		ctx = callerValues{ctx, sub.values}
	}
	if r, ok := tx.(effectRunner); ok {
		return r.RunEffect(ctx, func() error { return sub.effect(ctx, tx, sub.results) })
	}
	return sub.effect(ctx, tx, sub.results)
}

// callerValues is the sequencer's context (its deadline and cancellation)
// with the values of the caller's context first.
type callerValues struct {
	context.Context
	values context.Context
}

func (c callerValues) Value(key any) any {
	if v := c.values.Value(key); v != nil {
		return v
	}
	return c.Context.Value(key)
}

// batchMark is a point in the batch in progress to roll back to.
type batchMark struct {
	undo, order, transfers, leaves int
	ts, size                       int64
}

func (s *seqState) mark() batchMark {
	return batchMark{len(s.undo), len(s.b.order), len(s.b.transfers), s.b.leaves, s.b.ts, s.b.size}
}

// rollbackToMark undoes every change of the batch since m: caches,
// leaves and timestamps.
func (s *seqState) rollbackToMark(m batchMark) {
	s.rollbackTo(m.undo)
	s.b.order, s.b.leaves = s.b.order[:m.order], m.leaves
	clear(s.b.transfers[m.transfers:])
	s.b.transfers = s.b.transfers[:m.transfers]
	s.b.refs = s.b.refs[:m.transfers]
	s.b.ts, s.b.size = m.ts, m.size
}

// createTransfers applies one submission's transfers in order, rolling
// back linked chains that fail.
func (s *seqState) createTransfers(sub *submission) {
	n := len(sub.transfers)
	chainStart, chainFailed := -1, false
	var m batchMark
	for i := range sub.transfers {
		t := &sub.transfers[i]
		linked := t.Flags&FlagLinked != 0
		if chainStart < 0 && linked {
			chainStart, chainFailed = i, false
			m = s.mark()
		}
		var r Result
		switch {
		case linked && i == n-1:
			r = Result{Code: LinkedEventChainOpen}
		case chainFailed:
			r = Result{Code: LinkedEventFailed}
		default:
			r = s.createTransfer(sub.owner, t)
		}
		sub.results[i] = r
		if r.Code != OK && chainStart >= 0 && !chainFailed {
			chainFailed = true
			s.rollbackToMark(m)
			for j := chainStart; j < i; j++ {
				if sub.results[j].Code == OK && !s.b.full {
					s.b.uncertain = append(s.b.uncertain, Key{sub.owner, sub.transfers[j].ID})
				}
				sub.results[j] = Result{Code: LinkedEventFailed}
			}
		}
		if !linked {
			chainStart, chainFailed = -1, false
		}
	}
}

func (s *seqState) createTransfer(owner string, in *Transfer) Result {
	if code := checkTransfer(owner, in); code != OK {
		return Result{Code: code}
	}
	k := Key{owner, in.ID}
	if r, ok := s.existing(k, in); ok {
		return r
	}
	r := s.applyTransfer(owner, k, in)
	if r.Code != OK && !s.b.full {
		s.b.uncertain = append(s.b.uncertain, k)
	}
	return r
}

func (s *seqState) applyTransfer(owner string, k Key, in *Transfer) Result {
	if in.Flags&(FlagPostPending|FlagVoidPending) != 0 {
		return s.postOrVoid(owner, in)
	}
	dr := s.accounts[Key{owner, in.DebitAccountID}]
	cr := s.accounts[Key{owner, in.CreditAccountID}]
	switch {
	case dr == nil:
		return Result{Code: DebitAccountNotFound}
	case cr == nil:
		return Result{Code: CreditAccountNotFound}
	case dr.Currency != cr.Currency || in.Currency != dr.Currency:
		return Result{Code: CurrencyMismatch}
	}
	amount := int64(in.Amount)
	nd, nc := dr.bal, cr.bal
	pending := in.Flags&FlagPending != 0
	ts := s.b.nextTimestamp()
	var expires int64
	var ok bool
	if pending {
		if nd[dPending], ok = add(nd[dPending], amount); !ok {
			return Result{Code: OverflowDebitsPending}
		}
		if nc[cPending], ok = add(nc[cPending], amount); !ok {
			return Result{Code: OverflowCreditsPending}
		}
		if in.Timeout > 0 {
			if expires, ok = add(ts, int64(in.Timeout)); !ok {
				return Result{Code: OverflowTimeout}
			}
		}
	} else {
		if nd[dPosted], ok = add(nd[dPosted], amount); !ok {
			return Result{Code: OverflowDebitsPosted}
		}
		if nc[cPosted], ok = add(nc[cPosted], amount); !ok {
			return Result{Code: OverflowCreditsPosted}
		}
	}
	debits, ok := add(nd[dPending], nd[dPosted])
	if !ok {
		return Result{Code: OverflowDebits}
	}
	credits, ok := add(nc[cPending], nc[cPosted])
	if !ok {
		return Result{Code: OverflowCredits}
	}
	if dr.Flags&DebitsMustNotExceedCredits != 0 && debits > nd[cPosted] {
		return Result{Code: ExceedsCredits}
	}
	if cr.Flags&CreditsMustNotExceedDebits != 0 && credits > nc[dPosted] {
		return Result{Code: ExceedsDebits}
	}
	s.touch(dr)
	s.touch(cr)
	dr.bal, cr.bal = nd, nc
	t := *in
	t.Owner = owner
	t.Metadata = bytes.Clone(in.Metadata)
	if pending {
		p := &pend{
			Pending: Pending{
				Owner: owner, ID: in.ID, LeafIndex: s.b.size,
				DebitAccountID: in.DebitAccountID, CreditAccountID: in.CreditAccountID,
				Currency: in.Currency, Code: in.Code, Amount: in.Amount,
				State: StatePending, ExpiresAt: fromNanos(expires),
			},
			expires: expires, isNew: true, epoch: s.epoch,
		}
		s.pendings[k] = p
		s.undo = append(s.undo, undo{kind: undoNewPending, key: k, p: p})
		s.b.touchedP = append(s.b.touchedP, p)
		if expires != 0 && (s.nextExpiry == 0 || expires < s.nextExpiry) {
			s.nextExpiry = expires
		}
	}
	return s.addTransfer(&t, dr, cr, ts)
}

func add(a, b int64) (int64, bool) {
	c, ok := money.Amount(a).Add(money.Amount(b))
	return int64(c), ok
}

// checkTransfer validates what can be checked without state.
func checkTransfer(owner string, in *Transfer) ResultCode {
	switch {
	case in.Owner != "" && in.Owner != owner:
		return OwnerMismatch
	case !in.Timestamp.IsZero() || in.LeafIndex != 0:
		return TimestampMustBeZero
	case !ValidID(in.ID):
		return IDInvalid
	case in.Flags&^transferFlagsKnown != 0:
		return FlagsInvalid
	}
	kind := in.Flags & (FlagPending | FlagPostPending | FlagVoidPending)
	if kind&(kind-1) != 0 {
		return TransferFlagsAreMutuallyExclusive
	}
	pv := kind&(FlagPostPending|FlagVoidPending) != 0
	switch {
	case pv && in.PendingID == "":
		return PendingIDRequired
	case pv && !ValidID(in.PendingID):
		return PendingIDInvalid
	case pv && in.PendingID == in.ID:
		return PendingIDMustBeDifferent
	case !pv && in.PendingID != "":
		return PendingIDMustBeEmpty
	case in.Timeout != 0 && kind != FlagPending:
		return TimeoutReservedForPending
	case in.Timeout < 0:
		return TimeoutInvalid
	}
	if ok, tooLong := validMetadata(in.Metadata); !ok {
		if tooLong {
			return MetadataTooLong
		}
		return MetadataInvalid
	}
	if pv {
		switch {
		case in.DebitAccountID != "" && !ValidID(in.DebitAccountID):
			return DebitAccountIDInvalid
		case in.CreditAccountID != "" && !ValidID(in.CreditAccountID):
			return CreditAccountIDInvalid
		case in.DebitAccountID != "" && in.DebitAccountID == in.CreditAccountID:
			return AccountsMustBeDifferent
		case in.Amount < 0:
			return AmountMustBePositive
		case in.Currency != "" && !in.Currency.Valid():
			return CurrencyInvalid
		}
		return OK
	}
	switch {
	case !ValidID(in.DebitAccountID):
		return DebitAccountIDInvalid
	case !ValidID(in.CreditAccountID):
		return CreditAccountIDInvalid
	case in.DebitAccountID == in.CreditAccountID:
		return AccountsMustBeDifferent
	case in.Amount <= 0:
		return AmountMustBePositive
	case !in.Currency.Valid():
		return CurrencyInvalid
	}
	return OK
}

// existing reports whether a transfer with key k is committed or earlier
// in the batch, and the result for in if so.
func (s *seqState) existing(k Key, in *Transfer) (Result, bool) {
	var e *Transfer
	if i, ok := s.b.newIDs[k]; ok {
		e = &s.b.transfers[i]
	} else if e = s.b.known[k]; e == nil {
		return Result{}, false
	}
	pv := in.Flags&(FlagPostPending|FlagVoidPending) != 0
	code := Exists
	switch {
	case e.Flags != in.Flags:
		code = ExistsWithDifferentFlags
	case e.PendingID != in.PendingID:
		code = ExistsWithDifferentPendingID
	case e.Timeout != in.Timeout:
		code = ExistsWithDifferentTimeout
	case e.DebitAccountID != in.DebitAccountID && !(pv && in.DebitAccountID == ""):
		code = ExistsWithDifferentDebitAccountID
	case e.CreditAccountID != in.CreditAccountID && !(pv && in.CreditAccountID == ""):
		code = ExistsWithDifferentCreditAccountID
	case e.Amount != in.Amount && !(pv && in.Amount == 0):
		code = ExistsWithDifferentAmount
	case e.Currency != in.Currency && !(pv && in.Currency == ""):
		code = ExistsWithDifferentCurrency
	case e.Code != in.Code && !(pv && in.Code == 0):
		code = ExistsWithDifferentCode
	case !bytes.Equal(e.Metadata, in.Metadata):
		code = ExistsWithDifferentMetadata
	}
	return Result{Code: code, LeafIndex: e.LeafIndex, Timestamp: e.Timestamp}, true
}

func (s *seqState) postOrVoid(owner string, in *Transfer) Result {
	k := Key{owner, in.PendingID}
	p := s.pendings[k]
	if p == nil {
		if _, ok := s.b.newIDs[k]; ok {
			return Result{Code: PendingTransferNotPending}
		}
		if s.b.known[k] != nil {
			return Result{Code: PendingTransferNotPending}
		}
		return Result{Code: PendingTransferNotFound}
	}
	post := in.Flags&FlagPostPending != 0
	ts := s.b.nextTimestamp()
	switch {
	case in.DebitAccountID != "" && in.DebitAccountID != p.DebitAccountID,
		in.CreditAccountID != "" && in.CreditAccountID != p.CreditAccountID:
		return Result{Code: PendingTransferHasDifferentAccounts}
	case in.Currency != "" && in.Currency != p.Currency:
		return Result{Code: PendingTransferHasDifferentCurrency}
	case in.Code != 0 && in.Code != p.Code:
		return Result{Code: PendingTransferHasDifferentCode}
	case !post && in.Amount != 0 && in.Amount != p.Amount:
		return Result{Code: PendingTransferHasDifferentAmount}
	case post && in.Amount > p.Amount:
		return Result{Code: ExceedsPendingTransferAmount}
	case p.State == StatePosted:
		return Result{Code: PendingTransferAlreadyPosted}
	case p.State == StateVoided:
		return Result{Code: PendingTransferAlreadyVoided}
	case p.State == StateExpired:
		return Result{Code: PendingTransferExpired}
	case p.expires != 0 && ts >= p.expires:
		return Result{Code: PendingTransferExpired}
	}
	dr := s.accounts[Key{owner, p.DebitAccountID}]
	cr := s.accounts[Key{owner, p.CreditAccountID}]
	if dr == nil || cr == nil {
		panic(fmt.Sprintf("ledger: accounts of pending transfer %s/%s missing", owner, p.ID))
	}
	amount := in.Amount
	if amount == 0 {
		amount = p.Amount
	}
	nd, nc := dr.bal, cr.bal
	nd[dPending] -= int64(p.Amount)
	nc[cPending] -= int64(p.Amount)
	if post {
		var ok bool
		if nd[dPosted], ok = add(nd[dPosted], int64(amount)); !ok {
			return Result{Code: OverflowDebitsPosted}
		}
		if nc[cPosted], ok = add(nc[cPosted], int64(amount)); !ok {
			return Result{Code: OverflowCreditsPosted}
		}
	}
	s.touch(dr)
	s.touch(cr)
	dr.bal, cr.bal = nd, nc
	s.touchPending(p)
	if post {
		p.State, p.AmountPosted = StatePosted, amount
	} else {
		p.State = StateVoided
	}
	t := *in
	t.Owner = owner
	t.DebitAccountID, t.CreditAccountID = p.DebitAccountID, p.CreditAccountID
	t.Currency, t.Code, t.Amount = p.Currency, p.Code, amount
	t.Metadata = bytes.Clone(in.Metadata)
	return s.addTransfer(&t, dr, cr, ts)
}

// checkBatch asserts the ledger's invariants over the accounts the batch
// touched: per currency, the changes of debits and credits (pending and
// posted) are equal, and no account breaks its flags. A violation is a bug
// in this package, so it panics.
func (s *seqState) checkBatch() {
	type sums struct{ d [4]int64 }
	per := make(map[money.Currency]*sums, 2)
	for _, a := range s.b.touched {
		if a.isNew && s.accounts[Key{a.Owner, a.ID}] != a {
			continue // rolled back
		}
		x := per[a.Currency]
		if x == nil {
			x = &sums{}
			per[a.Currency] = x
		}
		for i := range a.bal {
			x.d[i] += a.bal[i] - a.orig[i]
		}
		if err := checkAccount(&a.Account, a.bal); err != nil {
			panic(err.Error())
		}
	}
	for c, x := range per {
		if x.d[dPending] != x.d[cPending] || x.d[dPosted] != x.d[cPosted] {
			panic(fmt.Sprintf("ledger: batch breaks double entry in %s: debits pending %+d posted %+d, credits pending %+d posted %+d",
				c, x.d[dPending], x.d[dPosted], x.d[cPending], x.d[cPosted]))
		}
	}
}

func checkAccount(a *Account, bal [4]int64) error {
	for i, v := range bal {
		if v < 0 {
			return fmt.Errorf("ledger: account %s/%s: balance %d is negative (%d)", a.Owner, a.ID, i, v)
		}
	}
	if a.Flags&DebitsMustNotExceedCredits != 0 && bal[dPending]+bal[dPosted] > bal[cPosted] {
		return fmt.Errorf("ledger: account %s/%s: debits exceed credits", a.Owner, a.ID)
	}
	if a.Flags&CreditsMustNotExceedDebits != 0 && bal[cPending]+bal[cPosted] > bal[dPosted] {
		return fmt.Errorf("ledger: account %s/%s: credits exceed debits", a.Owner, a.ID)
	}
	return nil
}

// CheckInvariants checks accounts (with their balances) against the
// ledger's invariants: per currency, the sum of debits_pending equals the
// sum of credits_pending and the sum of debits_posted the sum of
// credits_posted; no balance is negative; no account breaks its flags.
func CheckInvariants(accounts []Account) error {
	per := make(map[money.Currency]*[4]int64)
	for i := range accounts {
		a := &accounts[i]
		bal := [4]int64{int64(a.DebitsPending), int64(a.DebitsPosted), int64(a.CreditsPending), int64(a.CreditsPosted)}
		if err := checkAccount(a, bal); err != nil {
			return err
		}
		x := per[a.Currency]
		if x == nil {
			x = new([4]int64)
			per[a.Currency] = x
		}
		for j := range bal {
			var ok bool
			if x[j], ok = add(x[j], bal[j]); !ok {
				return fmt.Errorf("ledger: %s balance sums overflow", a.Currency)
			}
		}
	}
	for c, x := range per {
		if x[dPending] != x[cPending] || x[dPosted] != x[cPosted] {
			return fmt.Errorf("ledger: %s: debits pending %d / posted %d, credits pending %d / posted %d",
				c, x[dPending], x[dPosted], x[cPending], x[cPosted])
		}
	}
	return nil
}

// seal hashes the batch's leaves into the tree, signs the checkpoint and
// builds what the store writes.
func (s *seqState) seal(l *Ledger, prev Head) (*Batch, error) {
	b := &s.b
	out := &Batch{Transfers: b.transfers, TransferAccounts: b.refs}
	// Every leaf is encoded into one buffer; transfers' encodings are
	// handed to the store as slices of it.
	b.buf = b.buf[:0]
	spans := make([][2]int, len(b.transfers))
	for _, r := range b.order {
		start := len(b.buf)
		if r.account {
			a := b.accounts[r.i]
			b.buf = AppendAccountLeaf(b.buf, &a.Account)
		} else {
			b.buf = AppendTransferLeaf(b.buf, &b.transfers[r.i])
			spans[r.i] = [2]int{start, len(b.buf)}
		}
		b.tree.append(tlog.RecordHash(b.buf[start:]))
	}
	out.TransferLeaves = make([][]byte, len(b.transfers))
	for i, sp := range spans {
		out.TransferLeaves[i] = b.buf[sp[0]:sp[1]:sp[1]]
	}
	if b.tree.size != b.size {
		panic(fmt.Sprintf("ledger: tree size %d, batch size %d", b.tree.size, b.size))
	}
	for _, a := range b.accounts {
		out.NewAccounts = append(out.NewAccounts, a.withBalances())
	}
	for _, a := range b.touched {
		if !a.isNew {
			out.UpdatedAccounts = append(out.UpdatedAccounts, a.withBalances())
		}
	}
	for _, p := range b.touchedP {
		switch {
		case p.dead:
		case p.isNew:
			out.NewPendings = append(out.NewPendings, p.Pending)
		default:
			out.UpdatedPendings = append(out.UpdatedPendings, p.Pending)
		}
	}
	out.Tiles = b.tree.takeTiles()
	root := b.tree.root()
	msg, err := note.Sign(&note.Note{Text: CheckpointText(l.origin, b.size, root)}, l.signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	out.Checkpoint = Checkpoint{Size: b.size, Hash: root, Note: msg}
	out.Head = Head{Size: b.size, Timestamp: b.ts, Writer: l.token}
	b.head = out.Head
	return out, nil
}

func (a *acct) withBalances() Account {
	x := a.Account
	x.DebitsPending, x.DebitsPosted = money.Amount(a.bal[dPending]), money.Amount(a.bal[dPosted])
	x.CreditsPending, x.CreditsPosted = money.Amount(a.bal[cPending]), money.Amount(a.bal[cPosted])
	return x
}
