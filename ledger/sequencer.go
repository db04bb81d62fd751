package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Config configures a Ledger.
type Config struct {
	// Store holds the ledger. Required.
	Store Store
	// SignerKey is the note signer key (note.GenerateKey's skey,
	// "PRIVATE+KEY+name+hash+base64") that signs checkpoints. Required.
	SignerKey string
	// Origin is the first line of every checkpoint, identifying the log
	// (e.g. "kassa.example.com/ledger"). Default: the key's name.
	Origin string
	// Clock returns the current time. Default time.Now. Tests inject a
	// fake clock to drive timeouts.
	Clock func() time.Time
	// BatchEventsMax caps the events (accounts, transfers, expiry voids)
	// of one commit. Default BatchEventsMaxDefault.
	BatchEventsMax int
	// QueueLengthMax bounds the submissions one owner may have waiting
	// for the sequencer, and an eighth of all waiting submissions; that
	// owner's callers beyond it block until there is room or their
	// context ends. Batches are shared fairly among the owners waiting
	// (see fairQueue). Default 1024.
	QueueLengthMax int
	// ExpiryInterval is how often the sequencer checks for timed-out
	// pending transfers when idle (it also checks before every batch).
	// Default 1s; negative disables the idle check (ExpirePending still
	// works).
	ExpiryInterval time.Duration
	// ExpiryBatchMax caps the expiry voids written in one batch. Default 1024.
	ExpiryBatchMax int
	// CacheAccountsMax bounds the in-memory account and pending caches;
	// beyond it entries are evicted. Default 1,000,000.
	CacheAccountsMax int
	// CommitTimeout bounds one store transaction. Default 30s.
	CommitTimeout time.Duration
	// Logger receives commit errors. Default slog.Default().
	Logger *slog.Logger
	// OnCommit, if set, is called after every commit with the number of
	// leaves written and the time the store transaction took (for metrics).
	OnCommit func(leaves int, d time.Duration)
}

// Ledger applies accounts and transfers through one sequencer goroutine
// (group commit) and answers queries and proofs from the store. It is safe
// for concurrent use. Several Ledgers (in several processes) may share one
// database.
type Ledger struct {
	cfg      Config
	store    Store
	signer   note.Signer
	verifier string
	origin   string
	clock    func() time.Time
	token    string

	queue   *fairQueue
	closing chan struct{}
	stopped chan struct{}
	once    sync.Once

	st seqState // owned by the sequencer goroutine
}

type submission struct {
	owner     string
	accounts  []Account
	transfers []Transfer
	results   []Result
	effect    Effect
	effectErr error // set by the sequencer when effect refused
	// effectFailed: the effect failed in an earlier attempt at this
	// batch; later attempts keep effectErr without running it again.
	effectFailed bool
	// values is the caller's context without its cancellation: the
	// effect sees its values (a lease fence the store checks, say).
	values context.Context
	done   chan error
}

func (s *submission) events() int { return len(s.accounts) + len(s.transfers) }

// New checks cfg and starts the sequencer. Call Close to stop it.
func New(cfg Config) (*Ledger, error) {
	if cfg.Store == nil {
		return nil, errors.New("ledger: Config.Store is required")
	}
	signer, err := note.NewSigner(cfg.SignerKey)
	if err != nil {
		return nil, fmt.Errorf("ledger: signer key: %w", err)
	}
	vkey, err := verifierKeyOf(cfg.SignerKey)
	if err != nil {
		return nil, err
	}
	if cfg.Origin == "" {
		cfg.Origin = signer.Name()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.BatchEventsMax <= 0 {
		cfg.BatchEventsMax = BatchEventsMaxDefault
	}
	if cfg.BatchEventsMax < TransfersPerCallMax {
		return nil, fmt.Errorf("ledger: BatchEventsMax %d is below TransfersPerCallMax", cfg.BatchEventsMax)
	}
	if cfg.QueueLengthMax <= 0 {
		cfg.QueueLengthMax = 1024
	}
	if cfg.ExpiryInterval == 0 {
		cfg.ExpiryInterval = time.Second
	}
	if cfg.ExpiryBatchMax <= 0 {
		cfg.ExpiryBatchMax = 1024
	}
	if cfg.CacheAccountsMax <= 0 {
		cfg.CacheAccountsMax = 1_000_000
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var tok [16]byte
	rand.Read(tok[:])
	l := &Ledger{
		cfg:      cfg,
		store:    cfg.Store,
		signer:   signer,
		verifier: vkey,
		origin:   cfg.Origin,
		clock:    cfg.Clock,
		token:    hex.EncodeToString(tok[:]),
		queue:    newFairQueue(cfg.QueueLengthMax, cfg.BatchEventsMax),
		closing:  make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	l.st.init()
	l.st.cacheMax = cfg.CacheAccountsMax
	go l.run()
	return l, nil
}

// verifierKeyOf derives the verifier key from a note signer key.
func verifierKeyOf(skey string) (string, error) {
	// skey = "PRIVATE+KEY+" name "+" hash "+" base64(alg || private key).
	// note has no exported derivation, so sign and rebuild through
	// note.NewEd25519VerifierKey from the private key's public half.
	return ed25519VerifierKey(skey)
}

// VerifierKey returns the note verifier key of the checkpoint signer
// ("name+hash+base64"), to publish to auditors.
func (l *Ledger) VerifierKey() string { return l.verifier }

// Origin returns the checkpoint origin line.
func (l *Ledger) Origin() string { return l.origin }

// Waiting returns the number of calls queued behind the batch in
// progress. Calls that keep waiting while no batch commits mean a stalled
// commit (kassa_ledger_queued_submissions).
func (l *Ledger) Waiting() int { return l.queue.waiting() }

// Followed returns how often the sequencer found another writer's commits
// (a process sharing the database) before one of its batches and followed
// them: by extending its tree from what the store read with the head lock
// (catchUps, HeadReader) or by reloading from the store (reloads).
func (l *Ledger) Followed() (catchUps, reloads uint64) {
	return l.st.catchUps.Load(), l.st.reloads.Load()
}

// Close stops the sequencer after the batch in progress; queued calls get
// ErrClosed.
func (l *Ledger) Close() error {
	l.once.Do(func() { close(l.closing) })
	<-l.stopped
	return nil
}

// CreateAccounts creates accounts of owner, all in one commit, and returns
// one Result per account in order. The returned error is for the call as a
// whole (bad arguments, store failure, ctx); on a store failure the outcome
// is unknown and the call may be retried (creation is idempotent).
func (l *Ledger) CreateAccounts(ctx context.Context, owner string, accounts []Account) ([]Result, error) {
	if err := checkCall(owner, len(accounts)); err != nil {
		return nil, err
	}
	return l.submit(ctx, &submission{owner: owner, accounts: accounts})
}

// CreateTransfers applies transfers of owner in order, all in one commit,
// and returns one Result per transfer. Results are exactly those of
// applying the transfers one by one after everything submitted before.
// The caller must not modify transfers until the call returns. Errors are
// as for CreateAccounts.
func (l *Ledger) CreateTransfers(ctx context.Context, owner string, transfers []Transfer) ([]Result, error) {
	if err := checkCall(owner, len(transfers)); err != nil {
		return nil, err
	}
	return l.submit(ctx, &submission{owner: owner, transfers: transfers})
}

// Effect is work another module does in the same store transaction as a
// call's transfers, e.g. a payment's state change and its event. It runs
// in the sequencer after the call's transfers were applied (results holds
// their outcome, which the effect may inspect) and before anything is
// written. tx is the store's transaction; a store may offer its native
// handle on it (store/sqlstore: LedgerSQLTx). An effect must be quick.
// A failing effect leaves none of its writes behind: effects run without
// savepoints, and when one fails the batch is rolled back and applied
// again without it (its neighbours' effects run again).
//
// When the effect returns an error, the call's transfers are undone, the
// rest of the batch commits without them, and the caller gets the error.
// The effect may run more than once (the store transaction may be
// retried); only the last run's writes commit. Its context is the
// sequencer's, carrying the values of the caller's (the request the
// effect belongs to, such as its pending idempotent answer).
type Effect func(ctx context.Context, tx Tx, results []Result) error

// CreateTransfersWith is CreateTransfers with an effect that commits or
// fails together with the transfers.
func (l *Ledger) CreateTransfersWith(ctx context.Context, owner string, transfers []Transfer, effect Effect) ([]Result, error) {
	if err := checkCall(owner, len(transfers)); err != nil {
		return nil, err
	}
	return l.submit(ctx, &submission{owner: owner, transfers: transfers, effect: effect})
}

// ExpirePending makes the sequencer void timed-out pending transfers now
// (up to Config.ExpiryBatchMax of them) and waits for the commit.
func (l *Ledger) ExpirePending(ctx context.Context) error {
	_, err := l.submit(ctx, &submission{})
	return err
}

func checkCall(owner string, n int) error {
	if !ValidOwner(owner) {
		return fmt.Errorf("%w: owner %q", ErrInvalid, owner)
	}
	if n > TransfersPerCallMax {
		return fmt.Errorf("%w: %d events in one call, at most %d", ErrInvalid, n, TransfersPerCallMax)
	}
	return nil
}

func (l *Ledger) submit(ctx context.Context, s *submission) ([]Result, error) {
	s.done = make(chan error, 1)
	s.results = make([]Result, s.events())
	if s.effect != nil {
		s.values = context.WithoutCancel(ctx)
	}
	select {
	case <-l.closing:
		return nil, ErrClosed
	default:
	}
	if err := l.queue.push(ctx, s, l.closing); err != nil {
		return nil, err
	}
	select {
	case err := <-s.done:
		if err == nil {
			err = s.effectErr
		}
		if err != nil {
			return nil, err
		}
		return s.results, nil
	case <-l.stopped:
		select {
		case err := <-s.done:
			if err == nil {
				err = s.effectErr
			}
			if err != nil {
				return nil, err
			}
			return s.results, nil
		default:
			return nil, ErrClosed
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run is the sequencer: it takes batches of at most BatchEventsMax events
// off the queue, shared fairly among owners, and commits each.
func (l *Ledger) run() {
	defer close(l.stopped)
	var tick <-chan time.Time
	if l.cfg.ExpiryInterval > 0 {
		t := time.NewTicker(l.cfg.ExpiryInterval)
		defer t.Stop()
		tick = t.C
	}
	var subs []*submission
	for {
		select {
		case <-l.closing:
			l.drain()
			return
		default:
		}
		subs = l.queue.take(subs[:0], l.cfg.BatchEventsMax)
		if len(subs) == 0 {
			select {
			case <-l.queue.ready:
				continue
			case <-tick:
				if !l.st.expiryDue(l.clock().UnixNano()) {
					continue
				}
			case <-l.closing:
				l.drain()
				return
			}
		}
		err := l.commit(subs)
		for _, s := range subs {
			s.done <- err
		}
		clear(subs)
	}
}

func (l *Ledger) drain() {
	for _, s := range l.queue.close() {
		s.done <- ErrClosed
	}
}

// commit applies and writes one batch. A duplicate id unknown to the cache
// makes the store refuse the batch; it is then applied again with every
// transfer id looked up.
func (l *Ledger) commit(subs []*submission) error {
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.CommitTimeout)
	defer cancel()
	full := false
	for attempt := 0; ; attempt++ {
		start := time.Now()
		var b *batch
		err := l.store.Update(ctx, func(ctx context.Context, tx Tx) error {
			l.st.rollback()
			var err error
			b, err = l.st.apply(ctx, l, tx, subs, full)
			return err
		})
		if err == nil {
			l.st.finish(b)
			if l.cfg.OnCommit != nil && b != nil {
				l.cfg.OnCommit(b.leaves, time.Since(start))
			}
			return nil
		}
		l.st.rollback()
		// Each failed effect costs one attempt (the next leaves it out);
		// a duplicate's full retry may be one more.
		if errors.Is(err, errEffectFailed) && attempt <= len(subs) {
			continue
		}
		if errors.Is(err, ErrDuplicate) && !full {
			full = true
			continue
		}
		// The outcome is unknown (the commit may have happened): start
		// from the store next time.
		l.st.invalidate()
		l.cfg.Logger.Error("ledger commit", "err", err)
		return fmt.Errorf("ledger: commit: %w", err)
	}
}
