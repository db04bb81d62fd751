package risk

import (
	"context"
	"time"
)

// Decisions, from the mildest to the hardest.
const (
	Allow     = "allow"
	Challenge = "challenge"
	Review    = "review"
	Block     = "block"
)

// Second factors a challenge may ask for.
const (
	FactorOTP     = "otp"
	FactorPasskey = "passkey"
)

// Risk levels of a score, as Stripe Radar names them.
const (
	LevelNormal   = "normal"
	LevelElevated = "elevated"
	LevelHighest  = "highest"
)

// Label sources.
const (
	SourceChargeback = "chargeback"
	SourceAnalyst    = "analyst"
	SourceCustomer   = "customer"
)

// Evaluation is one scored attempt: what was decided and why, with the
// features it was decided on (so a rule can be backtested on it later)
// and what happened afterwards.
type Evaluation struct {
	ID         string // rev_...
	MerchantID string
	Subject    string // the payment (pay_...) it was made for; "" standalone
	Node       string // the Kassa process that scored it
	Created    time.Time

	Score    int // 0–100
	Level    string
	Decision string
	Factor   string // of a challenge
	RuleID   string // the rule that decided, "" the default policy
	Reasons  []Reason

	ModelVersion  string
	ShadowVersion string
	ShadowScore   int // -1 when no shadow model ran

	FeatureSet string    // FeatureSetID() of Features
	Features   []float32 // in FeatureNames order
	Event      Event     // the attempt, as scored

	Outcome     string
	OutcomeNode string
	OutcomeAt   time.Time
	Label       string
	LabelSource string
	LabeledAt   time.Time
}

// Reason explains a decision: a feature that pushed the score (with its
// value and its contribution in log-odds), a rule, a list, a lock.
type Reason struct {
	Code         string  `json:"code"`              // feature:<name>, rule:<id>, list:<type>, lock:<type>, model:unavailable
	Feature      string  `json:"feature,omitempty"` // for feature reasons
	Value        float64 `json:"value,omitempty"`
	Contribution float64 `json:"contribution,omitempty"`
	Message      string  `json:"message"`
}

// Rule is an analyst's rule of a merchant, as stored.
type Rule struct {
	ID         string
	MerchantID string
	Name       string
	Expression string
	Action     string // allow | challenge | review | block
	Factor     string // otp | passkey | "" (challenge only)
	Position   int
	Enabled    bool
	Created    time.Time
	Updated    time.Time
	Version    int64
}

// Lists.
const (
	ListAllow = "allow"
	ListBlock = "block"
)

// List entry types: what a list entry matches.
const (
	EntryCardFingerprint = "card_fingerprint"
	EntryVoucherSerial   = "voucher_serial"
	EntryDevice          = "device"
	EntryIP              = "ip"
	EntryEmail           = "email"
	EntryCountry         = "country"
	EntryCustomer        = "customer"
)

// ListEntry is one value on a merchant's allow or block list. Entries of
// the platform (MerchantID "") apply to every merchant: automatic locks
// of vouchers live there, since a voucher is not a merchant's.
type ListEntry struct {
	MerchantID string
	List       string // allow | block
	Type       string
	Value      string
	Note       string
	Created    time.Time
	Expires    time.Time // zero: never
}

// Model registry statuses.
const (
	ModelCandidate = "candidate" // uploaded or trained, not scoring
	ModelShadow    = "shadow"    // scored and logged beside the active one, not acting
	ModelActive    = "active"    // the one whose score decides
	ModelRetired   = "retired"
)

// ModelRecord is a model file in the registry.
type ModelRecord struct {
	Version   string
	Algo      string
	Status    string
	Body      []byte // the model file
	Metrics   []byte // JSON, may be nil
	Created   time.Time
	Activated time.Time // when it last became active (zero never)
}

// Review statuses.
const (
	ReviewOpen     = "open"
	ReviewApproved = "approved"
	ReviewRejected = "rejected"
)

// ReviewCase is a payment held for an analyst.
type ReviewCase struct {
	ID           string // rvw_...
	MerchantID   string
	PaymentID    string
	EvaluationID string
	Status       string
	Reason       string // why it was opened (the rule or the score)
	Note         string // the analyst's, on closing
	Created      time.Time
	Closed       time.Time
}

// OutcomeUpdate is an outcome to record (Store.SetOutcomes).
type OutcomeUpdate struct {
	ID      string // the evaluation
	Outcome string
	Node    string // the node that recorded it
	At      time.Time
}

// Store keeps the risk engine's state. Every method is safe for concurrent
// use; kassa.ENotFound marks what is absent.
type Store interface {
	// InsertEvaluations stores evaluations (a batch from the writer).
	// An id already stored is left as it is.
	InsertEvaluations(ctx context.Context, evs []Evaluation) error
	// SetOutcome records an evaluation's outcome (once: a second, different
	// outcome is kassa.EConflict; the same one is a no-op).
	SetOutcome(ctx context.Context, id, outcome, node string, at time.Time) error
	// SetOutcomes records many outcomes in one transaction, each as
	// SetOutcome would. The ones it cannot record (the evaluation is not
	// stored, or has another outcome) are left out and named in the
	// returned error; the others are recorded all the same.
	SetOutcomes(ctx context.Context, outs []OutcomeUpdate) error
	// SetLabel labels an evaluation (a later label replaces an earlier one).
	SetLabel(ctx context.Context, id, label, source string, at time.Time) error
	// Evaluation returns one; merchantID "" means any merchant.
	Evaluation(ctx context.Context, merchantID, id string) (Evaluation, error)
	// EvaluationsBySubject returns the evaluations of a payment, oldest first.
	EvaluationsBySubject(ctx context.Context, subject string) ([]Evaluation, error)
	// Evaluations yields evaluations created in [from, to) in created
	// order, merchantID "" for all, up to limit (0: no limit) — for
	// replay at start-up, export and backtests.
	Evaluations(ctx context.Context, merchantID string, from, to time.Time, limit int, fn func(*Evaluation) error) error
	// Changes yields what other nodes did since: evaluations they created
	// at or after since, and outcomes they recorded at or after since.
	Changes(ctx context.Context, node string, since time.Time, limit int, fn func(ev *Evaluation, outcomeOnly bool) error) error

	Rules(ctx context.Context, merchantID string) ([]Rule, error)
	Rule(ctx context.Context, merchantID, id string) (Rule, error)
	// CreateRule inserts; UpdateRule writes r if the stored version is
	// r.Version-1 (else kassa.EConflict); DeleteRule removes.
	CreateRule(ctx context.Context, r Rule) error
	UpdateRule(ctx context.Context, r Rule) error
	DeleteRule(ctx context.Context, merchantID, id string) error

	// ListEntries returns a merchant's entries (with the platform's when
	// withPlatform), list "" for both lists.
	ListEntries(ctx context.Context, merchantID, list string, withPlatform bool) ([]ListEntry, error)
	// PutListEntry inserts or replaces an entry.
	PutListEntry(ctx context.Context, e ListEntry) error
	DeleteListEntry(ctx context.Context, merchantID, list, typ, value string) error
	// DeleteExpiredListEntries removes entries whose Expires is at or
	// before now (automatic locks end this way) and says how many.
	DeleteExpiredListEntries(ctx context.Context, now time.Time) (int, error)

	// Models lists the registry, newest first; Model returns one.
	Models(ctx context.Context) ([]ModelRecord, error)
	Model(ctx context.Context, version string) (ModelRecord, error)
	PutModel(ctx context.Context, m ModelRecord) error
	// SetModelStatus moves a model to status. Making one active retires
	// the active one; making one shadow moves the old shadow back to
	// candidate. All in one transaction.
	SetModelStatus(ctx context.Context, version, status string, at time.Time) error

	CreateReview(ctx context.Context, c ReviewCase) error
	Review(ctx context.Context, merchantID, id string) (ReviewCase, error)
	ReviewByPayment(ctx context.Context, paymentID string) (ReviewCase, error)
	// Reviews lists a merchant's cases with the status ("" any), oldest
	// first, after the id, up to limit; more says whether more follow.
	Reviews(ctx context.Context, merchantID, status, startingAfter string, limit int) ([]ReviewCase, bool, error)
	// CloseReview sets an open case's status; kassa.EConflict when it is
	// not open any more.
	CloseReview(ctx context.Context, id, status, note string, at time.Time) error
	// ReviewBacklog counts the open cases of every merchant, at most limit
	// of them, and returns when the oldest of those was opened (zero when
	// none).
	ReviewBacklog(ctx context.Context, limit int) (open int, oldest time.Time, err error)
}
