package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/risk"
)

// Risk implements risk.Store: evaluations, rules, lists, the model
// registry and review cases.
type Risk struct {
	db *DB
}

// NewRisk returns the risk store over db.
func NewRisk(db *DB) *Risk { return &Risk{db: db} }

var _ risk.Store = (*Risk)(nil)

// Limits of the risk store.
const (
	// riskPageRows bounds the evaluations Evaluations and Changes hold in
	// memory at once: they read a page, close the query, then call back.
	riskPageRows = 1000
	// evaluationsTxRowsMax bounds the rows one InsertEvaluations
	// transaction writes, and so how long it holds SQLite's one writer.
	evaluationsTxRowsMax = 512
)

var (
	errEvaluationNotFound = kassa.Errorf(kassa.ENotFound, "risk_evaluation_not_found", "no such risk evaluation")
	errRuleNotFound       = kassa.Errorf(kassa.ENotFound, "risk_rule_not_found", "no such risk rule")
	errListEntryNotFound  = kassa.Errorf(kassa.ENotFound, "risk_list_entry_not_found", "no such list entry")
	errModelNotFound      = kassa.Errorf(kassa.ENotFound, "risk_model_not_found", "no such risk model")
	errReviewNotFound     = kassa.Errorf(kassa.ENotFound, "risk_review_not_found", "no such review case")
)

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) sql.NullInt64 {
	return sql.NullInt64{Int64: microsOrZero(t), Valid: !t.IsZero()}
}

func fromNullTime(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMicros(n.Int64)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Evaluations

const (
	evaluationColumns = `id, merchant_id, subject, node, created_at, score, level, decision, factor, rule_id, reasons,
	model_version, shadow_version, shadow_score, feature_set, features, event,
	outcome, outcome_node, outcome_at, label, label_source, labeled_at`
	evaluationColumnCount = 23
)

// evaluationInsertRows are the row counts of the multi-row INSERTs,
// largest first; the last must be 1. Few sizes keep few statements in the
// cache; 128 rows × 23 parameters is within both backends' limits.
var evaluationInsertRows = []int{128, 32, 8, 1}

// encodeFeatures packs a feature vector as little-endian float32s.
func encodeFeatures(fs []float32) []byte {
	b := make([]byte, 0, 4*len(fs))
	for _, f := range fs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

func decodeFeatures(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("features of %d bytes are not float32s", len(b))
	}
	if len(b) == 0 {
		return nil, nil
	}
	fs := make([]float32, len(b)/4)
	for i := range fs {
		fs[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return fs, nil
}

// appendEvaluation appends the INSERT arguments of ev, in
// evaluationColumns order. Empty reasons are stored as [].
func appendEvaluation(args []any, ev *risk.Evaluation) ([]any, error) {
	reasons := []byte("[]")
	if len(ev.Reasons) > 0 {
		var err error
		if reasons, err = json.Marshal(ev.Reasons); err != nil {
			return nil, fmt.Errorf("evaluation %s reasons: %w", ev.ID, err)
		}
	}
	event, err := json.Marshal(ev.Event)
	if err != nil {
		return nil, fmt.Errorf("evaluation %s event: %w", ev.ID, err)
	}
	return append(args, ev.ID, ev.MerchantID, ev.Subject, ev.Node, micros(ev.Created), ev.Score, ev.Level,
		ev.Decision, ev.Factor, ev.RuleID, string(reasons), ev.ModelVersion, ev.ShadowVersion, ev.ShadowScore,
		ev.FeatureSet, encodeFeatures(ev.Features), string(event),
		ev.Outcome, ev.OutcomeNode, nullTime(ev.OutcomeAt), ev.Label, ev.LabelSource, nullTime(ev.LabeledAt)), nil
}

func scanEvaluation(row interface{ Scan(...any) error }, extra ...any) (risk.Evaluation, error) {
	var ev risk.Evaluation
	var created int64
	var outcomeAt, labeledAt sql.NullInt64
	var reasons, features, event []byte
	dest := []any{&ev.ID, &ev.MerchantID, &ev.Subject, &ev.Node, &created, &ev.Score, &ev.Level,
		&ev.Decision, &ev.Factor, &ev.RuleID, &reasons, &ev.ModelVersion, &ev.ShadowVersion, &ev.ShadowScore,
		&ev.FeatureSet, &features, &event, &ev.Outcome, &ev.OutcomeNode, &outcomeAt, &ev.Label, &ev.LabelSource, &labeledAt}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return ev, err
	}
	ev.Created, ev.OutcomeAt, ev.LabeledAt = fromMicros(created), fromNullTime(outcomeAt), fromNullTime(labeledAt)
	if err := json.Unmarshal(reasons, &ev.Reasons); err != nil {
		return ev, fmt.Errorf("evaluation %s reasons: %w", ev.ID, err)
	}
	if len(ev.Reasons) == 0 {
		ev.Reasons = nil
	}
	var err error
	if ev.Features, err = decodeFeatures(features); err != nil {
		return ev, fmt.Errorf("evaluation %s: %w", ev.ID, err)
	}
	if err := json.Unmarshal(event, &ev.Event); err != nil {
		return ev, fmt.Errorf("evaluation %s event: %w", ev.ID, err)
	}
	return ev, nil
}

// evaluationInserts holds the INSERT of each size in evaluationInsertRows.
var evaluationInserts = func() map[int]string {
	qs := make(map[int]string, len(evaluationInsertRows))
	row := "(" + placeholders(evaluationColumnCount) + ")"
	for _, n := range evaluationInsertRows {
		qs[n] = `INSERT INTO risk_evaluations (` + evaluationColumns + `) VALUES ` +
			strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") + ` ON CONFLICT (id) DO NOTHING`
	}
	return qs
}()

// InsertEvaluations writes evs in multi-row INSERTs of a few fixed sizes
// (prepared once, on SQLite by the statement cache). The rows are encoded
// before the transaction begins, so that SQLite's one writer is held only
// for the INSERTs. A batch of more than evaluationsTxRowsMax is written in
// several transactions; when one fails the ones before stay written,
// which is harmless since the writer's retry skips the ids already stored.
func (s *Risk) InsertEvaluations(ctx context.Context, evs []risk.Evaluation) error {
	if s.db.Dialect() == Postgres {
		return s.insertEvaluationsPostgres(ctx, evs)
	}
	args := make([]any, 0, evaluationColumnCount*min(len(evs), evaluationsTxRowsMax))
	for lo := 0; lo < len(evs); lo += evaluationsTxRowsMax {
		part := evs[lo:min(len(evs), lo+evaluationsTxRowsMax)]
		args = args[:0]
		for i := range part {
			var err error
			if args, err = appendEvaluation(args, &part[i]); err != nil {
				return err
			}
		}
		err := s.db.Transact(ctx, func(tx *Tx) error {
			for rest := args; len(rest) > 0; {
				n := 1
				for _, size := range evaluationInsertRows {
					if size*evaluationColumnCount <= len(rest) {
						n = size
						break
					}
				}
				k := n * evaluationColumnCount
				if _, err := tx.ExecContext(ctx, evaluationInserts[n], rest[:k]...); err != nil {
					return fmt.Errorf("insert evaluations: %w", err)
				}
				rest = rest[k:]
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// insertEvaluationsPostgres writes a batch of evaluations in one statement
// (one round trip): each column travels as an array the server unnests,
// so the statement text is the same for every batch and stays prepared.
func (s *Risk) insertEvaluationsPostgres(ctx context.Context, evs []risk.Evaluation) error {
	if len(evs) == 0 {
		return nil
	}
	n := len(evs)
	var (
		ids, merchants, subjects, nodes, levels, decisions, factors, ruleIDs = make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		reasons, models, shadows, featureSets, events, outcomes, outcomeNodes, labels, labelSources = make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n)
		created, scores, shadowScores = make([]int64, n), make([]int64, n), make([]int64, n)
		outcomeAt, labeledAt          = make([]*int64, n), make([]*int64, n)
		features                      = make([][]byte, n)
	)
	for i := range evs {
		ev := &evs[i]
		args, err := appendEvaluation(nil, ev)
		if err != nil {
			return err
		}
		ids[i], merchants[i], subjects[i], nodes[i] = ev.ID, ev.MerchantID, ev.Subject, ev.Node
		created[i], scores[i], levels[i], decisions[i] = micros(ev.Created), int64(ev.Score), ev.Level, ev.Decision
		factors[i], ruleIDs[i], reasons[i], models[i] = ev.Factor, ev.RuleID, args[10].(string), ev.ModelVersion
		shadows[i], shadowScores[i], featureSets[i], features[i] = ev.ShadowVersion, int64(ev.ShadowScore), ev.FeatureSet, args[15].([]byte)
		events[i], outcomes[i], outcomeNodes[i], labels[i], labelSources[i] = args[16].(string), ev.Outcome, ev.OutcomeNode, ev.Label, ev.LabelSource
		if !ev.OutcomeAt.IsZero() {
			outcomeAt[i] = new(micros(ev.OutcomeAt))
		}
		if !ev.LabeledAt.IsZero() {
			labeledAt[i] = new(micros(ev.LabeledAt))
		}
	}
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.Tx.ExecContext(ctx, `INSERT INTO risk_evaluations (`+evaluationColumns+`)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[],
				$8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[], $15::text[],
				$16::bytea[], $17::text[], $18::text[], $19::text[], $20::bigint[], $21::text[], $22::text[], $23::bigint[])
			ON CONFLICT (id) DO NOTHING`,
			ids, merchants, subjects, nodes, created, scores, levels, decisions, factors, ruleIDs, reasons, models,
			shadows, shadowScores, featureSets, features, events, outcomes, outcomeNodes, outcomeAt, labels, labelSources, labeledAt)
		if err != nil {
			return fmt.Errorf("insert evaluations: %w", err)
		}
		return nil
	})
}

func (s *Risk) SetOutcome(ctx context.Context, id, outcome, node string, at time.Time) error {
	if outcome == "" {
		return kassa.Invalid("outcome", "outcome_missing", "an outcome is required")
	}
	return s.db.Transact(ctx, func(tx *Tx) error {
		stored, err := setOutcome(ctx, tx, risk.OutcomeUpdate{ID: id, Outcome: outcome, Node: node, At: at})
		switch {
		case err != nil:
			return err
		case stored == "":
			return errEvaluationNotFound
		case stored != outcome:
			return kassa.Errorf(kassa.EConflict, "risk_outcome_recorded", "the evaluation's outcome is %s already", stored)
		}
		return nil // recorded, or the same outcome again
	})
}

// setOutcome records o unless the evaluation has an outcome already; it
// returns the outcome stored in the end ("" when the evaluation is not).
func setOutcome(ctx context.Context, tx *Tx, o risk.OutcomeUpdate) (string, error) {
	res, err := tx.ExecContext(ctx, `UPDATE risk_evaluations SET outcome = ?, outcome_node = ?, outcome_at = ?
		WHERE id = ? AND outcome = ''`, o.Outcome, o.Node, micros(o.At), o.ID)
	if err != nil {
		return "", fmt.Errorf("set outcome: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", err
	} else if n > 0 {
		return o.Outcome, nil
	}
	var stored string
	err = tx.QueryRowContext(ctx, `SELECT outcome FROM risk_evaluations WHERE id = ?`, o.ID).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("select outcome: %w", err)
	}
	return stored, nil
}

// SetOutcomes implements risk.Store.
func (s *Risk) SetOutcomes(ctx context.Context, outs []risk.OutcomeUpdate) error {
	if s.db.Dialect() == Postgres && distinctOutcomes(outs) {
		return s.setOutcomesPostgres(ctx, outs)
	}
	var refused []error
	err := s.db.Transact(ctx, func(tx *Tx) error {
		refused = refused[:0]
		for _, o := range outs {
			if o.Outcome == "" {
				refused = append(refused, fmt.Errorf("evaluation %s: no outcome", o.ID))
				continue
			}
			stored, err := setOutcome(ctx, tx, o)
			switch {
			case err != nil:
				return err
			case stored == "":
				refused = append(refused, fmt.Errorf("evaluation %s: not stored", o.ID))
			case stored != o.Outcome:
				refused = append(refused, fmt.Errorf("evaluation %s: outcome is %s already, not %s", o.ID, stored, o.Outcome))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return errors.Join(refused...)
}

// distinctOutcomes reports whether outs name each evaluation once, with
// an outcome: what one statement can record.
func distinctOutcomes(outs []risk.OutcomeUpdate) bool {
	seen := make(map[string]bool, len(outs))
	for _, o := range outs {
		if seen[o.ID] || o.Outcome == "" {
			return false
		}
		seen[o.ID] = true
	}
	return true
}

// setOutcomesPostgres records outs in one statement (one round trip): the
// outcomes travel as arrays; each row says whether it was recorded, and
// else the outcome stored before (the statement's snapshot) or none.
func (s *Risk) setOutcomesPostgres(ctx context.Context, outs []risk.OutcomeUpdate) error {
	n := len(outs)
	ids, outcomes, nodes, at := make([]string, n), make([]string, n), make([]string, n), make([]int64, n)
	for i, o := range outs {
		ids[i], outcomes[i], nodes[i], at[i] = o.ID, o.Outcome, o.Node, micros(o.At)
	}
	var refused []error
	err := s.db.Transact(ctx, func(tx *Tx) error {
		refused = refused[:0]
		rows, err := tx.Tx.QueryContext(ctx, `WITH
v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY AS v(id, outcome, node, at, ord)),
up AS (UPDATE risk_evaluations e SET outcome = v.outcome, outcome_node = v.node, outcome_at = v.at
	FROM v WHERE e.id = v.id AND e.outcome = '' RETURNING e.id)
SELECT v.ord, up.id IS NOT NULL, COALESCE(e.outcome, ''), e.id IS NOT NULL
FROM v LEFT JOIN up ON up.id = v.id LEFT JOIN risk_evaluations e ON e.id = v.id`, ids, outcomes, nodes, at)
		if err != nil {
			return fmt.Errorf("set outcomes: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var ord int64
			var updated, exists bool
			var stored string
			if err := rows.Scan(&ord, &updated, &stored, &exists); err != nil {
				return err
			}
			o := outs[ord-1]
			switch {
			case updated || stored == o.Outcome:
			case !exists:
				refused = append(refused, fmt.Errorf("evaluation %s: not stored", o.ID))
			default:
				refused = append(refused, fmt.Errorf("evaluation %s: outcome is %s already, not %s", o.ID, stored, o.Outcome))
			}
		}
		return rows.Err()
	})
	if err != nil {
		return err
	}
	return errors.Join(refused...)
}

func (s *Risk) SetLabel(ctx context.Context, id, label, source string, at time.Time) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE risk_evaluations SET label = ?, label_source = ?, labeled_at = ?
			WHERE id = ?`, label, source, nullTime(at), id)
		if err != nil {
			return fmt.Errorf("set label: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errEvaluationNotFound
		}
		return nil
	})
}

// Evaluation returns one evaluation; merchantID "" means any merchant.
func (s *Risk) Evaluation(ctx context.Context, merchantID, id string) (risk.Evaluation, error) {
	ev, err := scanEvaluation(s.db.QueryRowContext(ctx, `SELECT `+evaluationColumns+` FROM risk_evaluations
		WHERE id = ? AND (merchant_id = ? OR ? = '')`, id, merchantID, merchantID))
	if errors.Is(err, sql.ErrNoRows) {
		return ev, errEvaluationNotFound
	} else if err != nil {
		return ev, fmt.Errorf("select evaluation: %w", err)
	}
	return ev, nil
}

// EvaluationsBySubject returns a payment's evaluations, oldest first (a
// payment is scored a few times at most). Subject "" names none.
func (s *Risk) EvaluationsBySubject(ctx context.Context, subject string) ([]risk.Evaluation, error) {
	// subject <> '' lets both engines use the partial index.
	return s.queryEvaluations(ctx, `SELECT `+evaluationColumns+` FROM risk_evaluations
		WHERE subject = ? AND subject <> '' ORDER BY created_at, id`, subject)
}

func (s *Risk) queryEvaluations(ctx context.Context, query string, args ...any) ([]risk.Evaluation, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("select evaluations: %w", err)
	}
	defer rows.Close()
	var evs []risk.Evaluation
	for rows.Next() {
		ev, err := scanEvaluation(rows)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	return evs, rows.Err()
}

// Evaluations yields the evaluations created in [from, to) (to zero: no
// end) in (created_at, id) order. It reads riskPageRows at a time and
// closes each page's query before calling fn, so fn may write (on SQLite
// nothing is held open between pages) and memory stays bounded.
func (s *Risk) Evaluations(ctx context.Context, merchantID string, from, to time.Time, limit int, fn func(*risk.Evaluation) error) error {
	end := int64(math.MaxInt64)
	if !to.IsZero() {
		end = micros(to)
	}
	base := `SELECT ` + evaluationColumns + ` FROM risk_evaluations WHERE created_at >= ? AND created_at < ?`
	baseArgs := []any{micros(from), end}
	if merchantID != "" {
		base += ` AND merchant_id = ?`
		baseArgs = append(baseArgs, merchantID)
	}
	var after *risk.Evaluation
	for yielded := 0; limit <= 0 || yielded < limit; {
		page := riskPageRows
		if limit > 0 {
			page = min(page, limit-yielded)
		}
		q, args := base, append([]any(nil), baseArgs...)
		if after != nil {
			c := micros(after.Created)
			q += ` AND (created_at > ? OR (created_at = ? AND id > ?))`
			args = append(args, c, c, after.ID)
		}
		evs, err := s.queryEvaluations(ctx, q+` ORDER BY created_at, id LIMIT ?`, append(args, page)...)
		if err != nil {
			return err
		}
		for i := range evs {
			if err := fn(&evs[i]); err != nil {
				return err
			}
		}
		if len(evs) < page {
			return nil
		}
		yielded += len(evs)
		after = &evs[len(evs)-1]
	}
	return nil
}

// riskChange is one row of Changes: an evaluation another node created, or
// an outcome another node recorded.
type riskChange struct {
	ev          risk.Evaluation
	outcomeOnly bool
	at          int64
}

// Changes yields, in time order, the evaluations other nodes created at
// or after since (outcomeOnly false, with whatever outcome they have) and
// the outcomes other nodes recorded at or after since (outcomeOnly true).
// An evaluation another node created and resolved since comes in both.
// Like Evaluations it reads page by page and holds nothing open across fn.
func (s *Risk) Changes(ctx context.Context, node string, since time.Time, limit int, fn func(ev *risk.Evaluation, outcomeOnly bool) error) error {
	var last *riskChange // where the previous page ended
	for yielded := 0; limit <= 0 || yielded < limit; {
		page := riskPageRows
		if limit > 0 {
			page = min(page, limit-yielded)
		}
		cs, err := s.changesPage(ctx, node, micros(since), last, page)
		if err != nil {
			return err
		}
		for i := range cs {
			if err := fn(&cs[i].ev, cs[i].outcomeOnly); err != nil {
				return err
			}
		}
		if len(cs) < page {
			return nil
		}
		yielded += len(cs)
		last = &cs[len(cs)-1]
	}
	return nil
}

// changesPage reads the changes after last (nil: from since on) in the
// order (time, creation before outcome, id).
func (s *Risk) changesPage(ctx context.Context, node string, since int64, last *riskChange, page int) ([]riskChange, error) {
	created, outcomes := `created_at >= ?`, `outcome_at >= ?`
	createdArgs, outcomeArgs := []any{node, since}, []any{node, since}
	switch {
	case last == nil:
	case !last.outcomeOnly: // after a creation: later creations, outcomes from the same time on
		created = `(created_at > ? OR (created_at = ? AND id > ?))`
		createdArgs = []any{node, last.at, last.at, last.ev.ID}
		outcomeArgs = []any{node, last.at}
	default: // after an outcome: creations after it, later outcomes
		created, outcomes = `created_at > ?`, `(outcome_at > ? OR (outcome_at = ? AND id > ?))`
		createdArgs = []any{node, last.at}
		outcomeArgs = []any{node, last.at, last.at, last.ev.ID}
	}
	q := `SELECT ` + evaluationColumns + `, 0 AS outcome_only, created_at AS change_at FROM risk_evaluations
		WHERE node <> ? AND ` + created + `
		UNION ALL
		SELECT ` + evaluationColumns + `, 1, outcome_at FROM risk_evaluations
		WHERE outcome_node <> ? AND ` + outcomes + `
		ORDER BY change_at, outcome_only, id LIMIT ?`
	rows, err := s.db.QueryContext(ctx, q, append(append(createdArgs, outcomeArgs...), page)...)
	if err != nil {
		return nil, fmt.Errorf("select changes: %w", err)
	}
	defer rows.Close()
	var cs []riskChange
	for rows.Next() {
		var c riskChange
		var outcomeOnly int
		if c.ev, err = scanEvaluation(rows, &outcomeOnly, &c.at); err != nil {
			return nil, err
		}
		c.outcomeOnly = outcomeOnly == 1
		cs = append(cs, c)
	}
	return cs, rows.Err()
}

// Rules

const ruleColumns = `id, merchant_id, name, expression, action, factor, position, enabled, created_at, updated_at, version`

func scanRule(row interface{ Scan(...any) error }) (risk.Rule, error) {
	var r risk.Rule
	var enabled, created, updated int64
	err := row.Scan(&r.ID, &r.MerchantID, &r.Name, &r.Expression, &r.Action, &r.Factor, &r.Position,
		&enabled, &created, &updated, &r.Version)
	r.Enabled, r.Created, r.Updated = enabled != 0, fromMicros(created), fromMicros(updated)
	return r, err
}

// Rules returns a merchant's rules in position order.
func (s *Risk) Rules(ctx context.Context, merchantID string) ([]risk.Rule, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+ruleColumns+` FROM risk_rules WHERE merchant_id = ?
		ORDER BY position, id`, merchantID)
	if err != nil {
		return nil, fmt.Errorf("select rules: %w", err)
	}
	defer rows.Close()
	var rs []risk.Rule
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, rows.Err()
}

func (s *Risk) Rule(ctx context.Context, merchantID, id string) (risk.Rule, error) {
	r, err := scanRule(s.db.QueryRowContext(ctx, `SELECT `+ruleColumns+` FROM risk_rules
		WHERE id = ? AND merchant_id = ?`, id, merchantID))
	if errors.Is(err, sql.ErrNoRows) {
		return r, errRuleNotFound
	} else if err != nil {
		return r, fmt.Errorf("select rule: %w", err)
	}
	return r, nil
}

func (s *Risk) CreateRule(ctx context.Context, r risk.Rule) error {
	err := s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO risk_rules (`+ruleColumns+`) VALUES (`+placeholders(11)+`)`,
			r.ID, r.MerchantID, r.Name, r.Expression, r.Action, r.Factor, r.Position, boolInt(r.Enabled),
			micros(r.Created), micros(r.Updated), r.Version)
		return err
	})
	if s.db.IsUniqueViolation(err) {
		return kassa.Errorf(kassa.EConflict, "risk_rule_exists", "a rule with id %s exists", r.ID)
	} else if err != nil {
		return fmt.Errorf("insert rule: %w", err)
	}
	return nil
}

// UpdateRule writes r if the stored version is r.Version-1. The rule's
// creation time stays as stored.
func (s *Risk) UpdateRule(ctx context.Context, r risk.Rule) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE risk_rules SET name = ?, expression = ?, action = ?, factor = ?,
			position = ?, enabled = ?, updated_at = ?, version = ? WHERE id = ? AND merchant_id = ? AND version = ?`,
			r.Name, r.Expression, r.Action, r.Factor, r.Position, boolInt(r.Enabled), micros(r.Updated), r.Version,
			r.ID, r.MerchantID, r.Version-1)
		if err != nil {
			return fmt.Errorf("update rule: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		var version int64
		err = tx.QueryRowContext(ctx, `SELECT version FROM risk_rules WHERE id = ? AND merchant_id = ?`,
			r.ID, r.MerchantID).Scan(&version)
		if errors.Is(err, sql.ErrNoRows) {
			return errRuleNotFound
		} else if err != nil {
			return fmt.Errorf("select rule version: %w", err)
		}
		return kassa.Errorf(kassa.EConflict, "risk_rule_changed",
			"the rule is at version %d, not %d; fetch it and retry", version, r.Version-1)
	})
}

func (s *Risk) DeleteRule(ctx context.Context, merchantID, id string) error {
	return s.deleteOne(ctx, errRuleNotFound, `DELETE FROM risk_rules WHERE id = ? AND merchant_id = ?`, id, merchantID)
}

// deleteOne runs a DELETE and returns notFound when it removed nothing.
func (s *Risk) deleteOne(ctx context.Context, notFound error, query string, args ...any) error {
	return s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound
		}
		return nil
	})
}

// Lists

const listEntryColumns = `merchant_id, list, type, value, note, created_at, expires_at`

// ListEntries returns a merchant's entries, with the platform's first
// when withPlatform, ordered by (merchant, list, type, value). Expired
// entries are returned too, with Expires set: the engine skips them.
func (s *Risk) ListEntries(ctx context.Context, merchantID, list string, withPlatform bool) ([]risk.ListEntry, error) {
	q := `SELECT ` + listEntryColumns + ` FROM risk_list_entries WHERE merchant_id = ?`
	args := []any{merchantID}
	if withPlatform && merchantID != "" {
		q = `SELECT ` + listEntryColumns + ` FROM risk_list_entries WHERE merchant_id IN (?, '')`
	}
	if list != "" {
		q += ` AND list = ?`
		args = append(args, list)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY merchant_id, list, type, value`, args...)
	if err != nil {
		return nil, fmt.Errorf("select list entries: %w", err)
	}
	defer rows.Close()
	var es []risk.ListEntry
	for rows.Next() {
		var e risk.ListEntry
		var created int64
		var expires sql.NullInt64
		if err := rows.Scan(&e.MerchantID, &e.List, &e.Type, &e.Value, &e.Note, &created, &expires); err != nil {
			return nil, err
		}
		e.Created, e.Expires = fromMicros(created), fromNullTime(expires)
		es = append(es, e)
	}
	return es, rows.Err()
}

func (s *Risk) PutListEntry(ctx context.Context, e risk.ListEntry) error {
	if e.List != risk.ListAllow && e.List != risk.ListBlock {
		return kassa.Invalid("list", "risk_list_invalid", "list must be allow or block")
	}
	return s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO risk_list_entries (`+listEntryColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (merchant_id, list, type, value) DO UPDATE SET note = excluded.note,
			created_at = excluded.created_at, expires_at = excluded.expires_at`,
			e.MerchantID, e.List, e.Type, e.Value, e.Note, micros(e.Created), nullTime(e.Expires))
		if err != nil {
			return fmt.Errorf("put list entry: %w", err)
		}
		return nil
	})
}

func (s *Risk) DeleteListEntry(ctx context.Context, merchantID, list, typ, value string) error {
	return s.deleteOne(ctx, errListEntryNotFound, `DELETE FROM risk_list_entries
		WHERE merchant_id = ? AND list = ? AND type = ? AND value = ?`, merchantID, list, typ, value)
}

// DeleteExpiredListEntries removes entries whose expiry passed.
func (s *Risk) DeleteExpiredListEntries(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM risk_list_entries WHERE expires_at IS NOT NULL AND expires_at <= ?`, micros(now))
		if err != nil {
			return fmt.Errorf("delete expired list entries: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// Models

const modelColumns = `version, algo, status, metrics, created_at, activated_at`

func scanModel(row interface{ Scan(...any) error }, extra ...any) (risk.ModelRecord, error) {
	var m risk.ModelRecord
	var created int64
	var activated sql.NullInt64
	if err := row.Scan(append([]any{&m.Version, &m.Algo, &m.Status, &m.Metrics, &created, &activated}, extra...)...); err != nil {
		return m, err
	}
	m.Created, m.Activated = fromMicros(created), fromNullTime(activated)
	return m, nil
}

// Models lists the registry, newest first, without the model files: a
// body can be megabytes, so only Model loads it (Body is nil here).
func (s *Risk) Models(ctx context.Context) ([]risk.ModelRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+modelColumns+` FROM risk_models ORDER BY created_at DESC, version DESC`)
	if err != nil {
		return nil, fmt.Errorf("select models: %w", err)
	}
	defer rows.Close()
	var ms []risk.ModelRecord
	for rows.Next() {
		m, err := scanModel(rows)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

// Model returns one model with its body.
func (s *Risk) Model(ctx context.Context, version string) (risk.ModelRecord, error) {
	var body []byte
	m, err := scanModel(s.db.QueryRowContext(ctx, `SELECT `+modelColumns+`, body FROM risk_models WHERE version = ?`, version), &body)
	if errors.Is(err, sql.ErrNoRows) {
		return m, errModelNotFound
	} else if err != nil {
		return m, fmt.Errorf("select model: %w", err)
	}
	m.Body = body
	return m, nil
}

func validModelStatus(status string) error {
	switch status {
	case risk.ModelCandidate, risk.ModelShadow, risk.ModelActive, risk.ModelRetired:
		return nil
	}
	return kassa.Invalid("status", "risk_model_status_invalid", "status must be candidate, shadow, active or retired")
}

// PutModel adds a version to the registry. Versions are immutable: an
// existing one is kassa.EConflict, as is a second active or shadow model
// (use SetModelStatus to move one).
func (s *Risk) PutModel(ctx context.Context, m risk.ModelRecord) error {
	if err := validModelStatus(m.Status); err != nil {
		return err
	}
	body := m.Body
	if body == nil {
		body = []byte{} // NOT NULL
	}
	var metrics sql.NullString
	if m.Metrics != nil {
		metrics = sql.NullString{String: string(m.Metrics), Valid: true}
	}
	err := s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO risk_models (`+modelColumns+`, body) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			m.Version, m.Algo, m.Status, metrics, micros(m.Created), nullTime(m.Activated), body)
		return err
	})
	if s.db.IsUniqueViolation(err) {
		return kassa.Errorf(kassa.EConflict, "risk_model_exists",
			"model %s exists, or another model is %s already", m.Version, m.Status)
	} else if err != nil {
		return fmt.Errorf("insert model: %w", err)
	}
	return nil
}

// SetModelStatus moves a model to status in one transaction. A model
// that another one takes the active (shadow) place from becomes retired
// (candidate); the model made active gets activated_at = at.
func (s *Risk) SetModelStatus(ctx context.Context, version, status string, at time.Time) error {
	if err := validModelStatus(status); err != nil {
		return err
	}
	err := s.db.Transact(ctx, func(tx *Tx) error { return s.setModelStatus(ctx, tx, version, status, at) })
	if s.db.IsUniqueViolation(err) { // a concurrent PutModel took the place
		return kassa.Errorf(kassa.EConflict, "risk_model_status_changed", "another model became %s meanwhile; retry", status)
	}
	return err
}

func (s *Risk) setModelStatus(ctx context.Context, tx *Tx, version, status string, at time.Time) error {
	if s.db.Dialect() == Postgres {
		// One registry change at a time (SQLite's one writer does this by
		// itself). Locking the target and the active model would not do:
		// a concurrent change's new active model is not in this
		// statement's snapshot, and would then collide on the one-active
		// index. The registry is small: tens of rows.
		rows, err := tx.QueryContext(ctx, `SELECT version FROM risk_models ORDER BY version FOR UPDATE`)
		if err != nil {
			return fmt.Errorf("lock the model registry: %w", err)
		}
		if _, err := scanColumn[string](rows); err != nil {
			return fmt.Errorf("lock the model registry: %w", err)
		}
	}
	var old string
	err := tx.QueryRowContext(ctx, `SELECT status FROM risk_models WHERE version = ?`, version).Scan(&old)
	if errors.Is(err, sql.ErrNoRows) {
		return errModelNotFound
	} else if err != nil {
		return fmt.Errorf("select model: %w", err)
	}
	// Free the place first: the unique indexes are checked row by row.
	switch status {
	case risk.ModelActive:
		_, err = tx.ExecContext(ctx, `UPDATE risk_models SET status = 'retired' WHERE status = 'active' AND version <> ?`, version)
	case risk.ModelShadow:
		_, err = tx.ExecContext(ctx, `UPDATE risk_models SET status = 'candidate' WHERE status = 'shadow' AND version <> ?`, version)
	}
	if err != nil {
		return fmt.Errorf("free the %s place: %w", status, err)
	}
	q := `UPDATE risk_models SET status = ? WHERE version = ?`
	args := []any{status, version}
	if status == risk.ModelActive && old != risk.ModelActive {
		q = `UPDATE risk_models SET status = ?, activated_at = ? WHERE version = ?`
		args = []any{status, micros(at), version}
	}
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("set model status: %w", err)
	}
	return nil
}

// Reviews

const reviewColumns = `id, merchant_id, payment_id, evaluation_id, status, reason, note, created_at, closed_at`

func scanReview(row interface{ Scan(...any) error }) (risk.ReviewCase, error) {
	var c risk.ReviewCase
	var created int64
	var closed sql.NullInt64
	err := row.Scan(&c.ID, &c.MerchantID, &c.PaymentID, &c.EvaluationID, &c.Status, &c.Reason, &c.Note, &created, &closed)
	c.Created, c.Closed = fromMicros(created), fromNullTime(closed)
	return c, err
}

// CreateReview opens a case; a payment has at most one (a second is
// kassa.EConflict).
func (s *Risk) CreateReview(ctx context.Context, c risk.ReviewCase) error {
	err := s.db.Transact(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO risk_reviews (`+reviewColumns+`) VALUES (`+placeholders(9)+`)`,
			c.ID, c.MerchantID, c.PaymentID, c.EvaluationID, c.Status, c.Reason, c.Note, micros(c.Created), nullTime(c.Closed))
		return err
	})
	if s.db.IsUniqueViolation(err) {
		return kassa.Errorf(kassa.EConflict, "risk_review_exists", "payment %s has a review case already", c.PaymentID)
	} else if err != nil {
		return fmt.Errorf("insert review: %w", err)
	}
	return nil
}

// Review returns one case; merchantID "" means any merchant.
func (s *Risk) Review(ctx context.Context, merchantID, id string) (risk.ReviewCase, error) {
	return s.review(ctx, `SELECT `+reviewColumns+` FROM risk_reviews WHERE id = ? AND (merchant_id = ? OR ? = '')`,
		id, merchantID, merchantID)
}

func (s *Risk) ReviewByPayment(ctx context.Context, paymentID string) (risk.ReviewCase, error) {
	return s.review(ctx, `SELECT `+reviewColumns+` FROM risk_reviews WHERE payment_id = ?`, paymentID)
}

func (s *Risk) review(ctx context.Context, query string, args ...any) (risk.ReviewCase, error) {
	c, err := scanReview(s.db.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return c, errReviewNotFound
	} else if err != nil {
		return c, fmt.Errorf("select review: %w", err)
	}
	return c, nil
}

// Reviews pages through a merchant's cases oldest first; startingAfter
// must name one of them.
// ReviewBacklog counts the open cases of every merchant (at most limit,
// oldest first).
func (s *Risk) ReviewBacklog(ctx context.Context, limit int) (int, time.Time, error) {
	var n int
	var oldest sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT count(*), min(created_at) FROM (
			SELECT created_at FROM risk_reviews WHERE status = 'open' ORDER BY created_at LIMIT ?) open_cases`,
		limit).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count open reviews: %w", err)
	}
	if !oldest.Valid {
		return n, time.Time{}, nil
	}
	return n, fromMicros(oldest.Int64), nil
}

func (s *Risk) Reviews(ctx context.Context, merchantID, status, startingAfter string, limit int) ([]risk.ReviewCase, bool, error) {
	q := `SELECT ` + reviewColumns + ` FROM risk_reviews WHERE merchant_id = ?`
	args := []any{merchantID}
	if status != "" {
		q += ` AND status = ?`
		args = append(args, status)
	}
	if startingAfter != "" {
		var c int64
		err := s.db.QueryRowContext(ctx, `SELECT created_at FROM risk_reviews WHERE id = ? AND merchant_id = ?`,
			startingAfter, merchantID).Scan(&c)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, errCursor
		} else if err != nil {
			return nil, false, fmt.Errorf("select cursor: %w", err)
		}
		q += ` AND (created_at > ? OR (created_at = ? AND id > ?))`
		args = append(args, c, c, startingAfter)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at, id LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, false, fmt.Errorf("select reviews: %w", err)
	}
	defer rows.Close()
	var cs []risk.ReviewCase
	for rows.Next() {
		c, err := scanReview(rows)
		if err != nil {
			return nil, false, err
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(cs) > limit {
		return cs[:limit], true, nil
	}
	return cs, false, nil
}

// CloseReview approves or rejects an open case.
func (s *Risk) CloseReview(ctx context.Context, id, status, note string, at time.Time) error {
	if status != risk.ReviewApproved && status != risk.ReviewRejected {
		return kassa.Invalid("status", "risk_review_status_invalid", "a review is closed as approved or rejected")
	}
	return s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE risk_reviews SET status = ?, note = ?, closed_at = ?
			WHERE id = ? AND status = 'open'`, status, note, micros(at), id)
		if err != nil {
			return fmt.Errorf("close review: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		var stored string
		err = tx.QueryRowContext(ctx, `SELECT status FROM risk_reviews WHERE id = ?`, id).Scan(&stored)
		if errors.Is(err, sql.ErrNoRows) {
			return errReviewNotFound
		} else if err != nil {
			return fmt.Errorf("select review: %w", err)
		}
		return kassa.Errorf(kassa.EConflict, "risk_review_closed", "the review was %s already", stored)
	})
}
