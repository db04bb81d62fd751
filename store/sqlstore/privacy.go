package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/privacy"
)

// Privacy implements privacy.Store.
type Privacy struct{ db *DB }

// NewPrivacy returns the personal-data store over db.
func NewPrivacy(db *DB) *Privacy { return &Privacy{db: db} }

var _ privacy.Store = (*Privacy)(nil)

// privacyTable is a table that holds personal data, and how the export
// and the erasure find a subject's rows in it. account and merchant are
// WHERE clauses for a Kassa account and for a merchant's customer ("": the
// table holds nothing on such a subject); {cus}, {email}, {phone}, {mer}
// and {cust} are the subject's values (an empty one matches nothing),
// {payments} the subject's payments, {payouts} its payouts. omit names the
// columns never exported: secrets, and sealed values the export opens
// itself.
type privacyTable struct {
	name              string
	account, merchant string
	omit              []string
}

// privacyTables are the tables the GDPR export reads and the erasure
// scrubs (privacyScrub), in the export's order. TestPrivacyTablesCovered
// fails for a table of the schema with a customer, payer, email or phone
// column that is neither here nor in privacyExempt: a new table holding
// personal data must be added here (and to the scrub) when it is created.
var privacyTables = []privacyTable{
	{name: "customers", account: "id = {cus}",
		omit: []string{"password_hash", "birth_date_sealed", "document_number_sealed", "totp_secret_sealed", "totp_pending_sealed"}},
	{name: "identity_signups", account: "customer_id = {cus} OR email = {email}", omit: []string{"token_hash"}},
	{name: "identity_sessions", account: "customer_id = {cus}", omit: []string{"token_hash"}},
	{name: "identity_devices", account: "customer_id = {cus}", omit: []string{"fingerprint_hash"}},
	{name: "identity_recovery_codes", account: "customer_id = {cus}", omit: []string{"code_hash"}},
	{name: "identity_codes", account: "owner = {cus} OR destination IN ({email}, {phone})", omit: []string{"code_hash"}},
	{name: "identity_outbox", account: "recipient IN ({email}, {phone})", omit: []string{"body", "body_sealed"}},
	{name: "passkey_users", account: "customer_id = {cus}"},
	{name: "passkey_credentials", account: "customer_id = {cus}", omit: []string{"attestation_object", "client_data_json"}},
	{name: "passkey_ceremonies", account: "customer_id = {cus}", omit: []string{"session"}},
	{name: "payments", account: "id IN ({payments})", merchant: "id IN ({payments})", omit: []string{"client_secret"}},
	{name: "refunds", account: "payment_id IN ({payments})", merchant: "payment_id IN ({payments})"},
	{name: "payouts", account: "id IN ({payouts})", merchant: "id IN ({payouts})", omit: []string{"request_key"}},
	{name: "vault_cards", account: "customer_id = {cus}", merchant: "merchant_id = {mer} AND customer_id = {cust}"},
	{name: "vault_tokens", account: "id IN (SELECT token_id FROM vault_cards WHERE customer_id = {cus})",
		merchant: "id IN (SELECT token_id FROM vault_cards WHERE merchant_id = {mer} AND customer_id = {cust})",
		omit:     []string{"pan_key", "pan_ct", "cvc_key", "cvc_ct", "fingerprint", "kek_version"}},
	{name: "risk_evaluations",
		account: privacyEvaluationsAccount, merchant: privacyEvaluations, omit: []string{"features"}},
	{name: "ledger_accounts", account: privacyWallets},
	// A merchant's invoices to its customer: exported; the erasure keeps
	// them, because tax law binds the merchant to keep invoices (in
	// Germany 10 years, §147 AO, §14b UStG) — docs/privacy.md.
	{name: "invoices", merchant: "merchant_id = {mer} AND customer_id <> '' AND customer_id = {cust}", omit: []string{"page_key"}},
	// Pay later plans (a Kassa account's only): exported; an erasure
	// waits until none is open, and keeps the closed ones (terms and
	// instalments hold amounts and dates, no personal data).
	{name: "credit_plans", account: "customer_id = {cus}"},
	// Deposit limits, self-exclusion and cool-off, and the deposits
	// counted against them: exported; an erasure keeps them, because a
	// self-exclusion must outlive the account (responsible-gambling
	// rules, docs/compliance.md). They hold the subject's id, no name.
	{name: "compliance_limits", account: "subject = {subject}", merchant: "subject = {subject}"},
	{name: "compliance_deposits", account: "subject = {subject}", merchant: "subject = {subject}"},
	{name: "privacy_erasures", account: "subject = {subject}", merchant: "subject = {subject}", omit: []string{"key_sealed", "archive_ct"}},
}

// privacyExempt are tables with a customer, payer, email or phone column
// that hold nothing personal beyond what privacyTables covers, with why.
var privacyExempt = map[string]string{
	"console_members": "the console's members are staff of a merchant or of the operator, not payers; " +
		"their organisation adds and removes them (kassa members remove, docs/console.md)",
}

// The subject's payments and payouts, as subqueries.
const (
	privacyPaymentsAccount  = "SELECT id FROM payments WHERE payer_id <> '' AND payer_id = {cus}"
	privacyPaymentsMerchant = "SELECT id FROM payments WHERE merchant_id = {mer} AND customer_id <> '' AND customer_id = {cust}"
	privacyPayoutsAccount   = "SELECT id FROM payouts WHERE customer_id = {cus}"
	privacyPayoutsMerchant  = "SELECT id FROM payouts WHERE merchant_id = {mer} AND customer_id = {cust}"
)

// privacyWallets are a Kassa account's wallet accounts, wallet:<cus>:<CUR>
// (a range of the ledger's (owner, id) index: ';' follows ':').
const privacyWallets = "owner = '' AND id >= {walletprefix} AND id < {walletend}"

// The subject's risk evaluations: those of its payments and payouts
// (each found through the subject index, which holds no standalone
// evaluation), and for a Kassa account its logins and sign-up, which
// are standalone (no subject) and name it in the stored attempt.
const (
	privacyEvaluations        = "subject <> '' AND subject IN ({payments} UNION ALL {payouts})"
	privacyEvaluationsAccount = "(" + privacyEvaluations + ") OR (merchant_id = '' AND subject = '' AND " +
		"(event LIKE {cuslike} ESCAPE '\\' OR event LIKE {emaillike} ESCAPE '\\'))"
)

// privacySubject is a subject's values the clauses name.
type privacySubject struct {
	sub          privacy.Subject
	email, phone string // a Kassa account's, "" otherwise
}

// clause expands a table's WHERE clause into SQL and its arguments.
func (p privacySubject) clause(where string) (string, []any) {
	if p.sub.Account() {
		where = strings.ReplaceAll(where, "{payments}", privacyPaymentsAccount)
		where = strings.ReplaceAll(where, "{payouts}", privacyPayoutsAccount)
	} else {
		where = strings.ReplaceAll(where, "{payments}", privacyPaymentsMerchant)
		where = strings.ReplaceAll(where, "{payouts}", privacyPayoutsMerchant)
	}
	wallet := "wallet:" + p.sub.CustomerID + ":"
	values := map[string]any{"cus": p.sub.CustomerID, "email": p.email, "phone": p.phone, "mer": p.sub.MerchantID,
		"cust": p.sub.CustomerID, "subject": p.sub.Key(), "walletprefix": wallet, "walletend": strings.TrimSuffix(wallet, ":") + ";",
		"cuslike": `%"customer_id":"` + likeEscape(p.sub.CustomerID) + `"%`, "emaillike": ""}
	if p.email != "" {
		values["emaillike"] = `%"email":"` + likeEscape(p.email) + `"%`
	}
	var b strings.Builder
	var args []any
	for {
		i := strings.IndexByte(where, '{')
		if i < 0 {
			b.WriteString(where)
			break
		}
		j := strings.IndexByte(where[i:], '}')
		name := where[i+1 : i+j]
		v, ok := values[name]
		if !ok {
			panic("sqlstore: privacy clause names unknown value " + name)
		}
		b.WriteString(where[:i])
		if s, isText := v.(string); isText && s == "" {
			b.WriteString("NULL") // matches nothing
		} else {
			b.WriteString("?")
			args = append(args, v)
		}
		where = where[i+j+1:]
	}
	return b.String(), args
}

// likeEscape escapes s for a LIKE pattern with ESCAPE '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// privacyQuerier is a *DB or a *Tx.
type privacyQuerier interface {
	querier
	rowQuerier
}

func (s *Privacy) subject(ctx context.Context, q privacyQuerier, sub privacy.Subject) (privacySubject, error) {
	p := privacySubject{sub: sub}
	if !sub.Account() {
		return p, nil
	}
	err := q.QueryRowContext(ctx, `SELECT email, phone, closed_at FROM customers WHERE id = ?`, sub.CustomerID).Scan(&p.email, &p.phone, new(int64))
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil
	} else if err != nil {
		return p, err
	}
	return p, s.db.openFields(ctx, sub.CustomerID, personalField{"email", &p.email}, personalField{"phone", &p.phone})
}

// privacySealed are the columns sealed per subject (personal.go) of the
// tables the export reads, and how a row names its subject: the export
// and the archive hold them opened.
var privacySealed = map[string]struct {
	subjectColumn string
	columns       []string
}{
	"customers": {"id", []string{"email", "phone", "given_name", "family_name", "address_line1", "address_line2", "address_city",
		"address_postal_code", "address_region"}},
	"payments": {"seal_subject", []string{"customer_email", "customer_phone"}},
	"payouts":  {"seal_subject", []string{"iban", "account_holder", "customer_email", "customer_first_name", "customer_last_name"}},
}

// openRows opens the sealed columns of a table's exported rows in place.
func (s *Privacy) openRows(ctx context.Context, table string, rows []map[string]any) error {
	ps, ok := privacySealed[table]
	if !ok {
		return nil
	}
	for _, r := range rows {
		subject, _ := r[ps.subjectColumn].(string)
		vals := make([]string, len(ps.columns))
		fields := make([]personalField, len(ps.columns))
		for i, c := range ps.columns {
			switch v := r[c].(type) {
			case string:
				vals[i] = v
			case []byte: // a sealed value: not text (isText)
				vals[i] = string(v)
			}
			fields[i] = personalField{c, &vals[i]}
		}
		if err := s.db.openFields(ctx, subject, fields...); err != nil {
			return err
		}
		for i, c := range ps.columns {
			if _, ok := r[c]; ok {
				r[c] = vals[i]
			}
		}
	}
	return nil
}

func (s *Privacy) Collect(ctx context.Context, sub privacy.Subject) ([]privacy.Table, error) {
	return s.collect(ctx, s.db, sub)
}

func (s *Privacy) collect(ctx context.Context, q privacyQuerier, sub privacy.Subject) ([]privacy.Table, error) {
	p, err := s.subject(ctx, q, sub)
	if err != nil {
		return nil, err
	}
	var out []privacy.Table
	for _, t := range privacyTables {
		where := t.account
		if !sub.Account() {
			where = t.merchant
		}
		if where == "" {
			continue
		}
		rows, err := collectRows(ctx, q, t, p, where)
		if err != nil {
			return nil, fmt.Errorf("collect %s: %w", t.name, err)
		}
		if err := s.openRows(ctx, t.name, rows); err != nil {
			return nil, fmt.Errorf("collect %s: %w", t.name, err)
		}
		out = append(out, privacy.Table{Name: t.name, Rows: rows})
	}
	return out, nil
}

// privacyRowsMax bounds the rows one table gives an export.
const privacyRowsMax = 100_000

func collectRows(ctx context.Context, q privacyQuerier, t privacyTable, p privacySubject, where string) ([]map[string]any, error) {
	w, args := p.clause(where)
	rows, err := q.QueryContext(ctx, fmt.Sprintf("SELECT * FROM %s WHERE %s", t.name, w), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for rows.Next() {
		if len(out) == privacyRowsMax {
			return nil, fmt.Errorf("more than %d rows", privacyRowsMax)
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make(map[string]any, len(cols))
		for i, c := range cols {
			c = strings.ToLower(c)
			if slices.Contains(t.omit, c) {
				continue
			}
			if b, ok := vals[i].([]byte); ok && isText(b) {
				vals[i] = string(b)
			}
			row[c] = vals[i]
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// isText reports whether b reads as text (JSON keeps it as a string;
// other bytes become base64).
func isText(b []byte) bool {
	for _, r := range string(b) {
		if r == 0xFFFD || (r < 0x20 && r != '\n' && r != '\t' && r != '\r') {
			return false
		}
	}
	return true
}

func (s *Privacy) Erasure(ctx context.Context, subject string) (privacy.Erasure, error) {
	var e privacy.Erasure
	var req, shred, done int64
	err := s.db.QueryRowContext(ctx, `SELECT id, subject, merchant_id, customer_id, requested_by, requested_at, shred_at,
		shredded_at, key_sealed, archive_ct FROM privacy_erasures WHERE subject = ?`, subject).Scan(&e.ID, &e.Subject,
		&e.MerchantID, &e.CustomerID, &e.RequestedBy, &req, &shred, &done, &e.KeySealed, &e.Archive)
	if errors.Is(err, sql.ErrNoRows) {
		return privacy.Erasure{}, privacy.ErrNotFound
	}
	if err != nil {
		return privacy.Erasure{}, err
	}
	e.RequestedAt, e.ShredAt, e.ShreddedAt = fromMicros(req), fromMicros(shred), timeOrZero(done)
	return e, nil
}

func (s *Privacy) Erase(ctx context.Context, e privacy.Erasure, seal func([]privacy.Table) ([]byte, []byte, error), now time.Time) error {
	sub := privacy.Subject{MerchantID: e.MerchantID, CustomerID: e.CustomerID}
	err := s.db.Transact(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM privacy_erasures WHERE subject = ?`, e.Subject).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return privacy.ErrExists
		}
		p, err := s.subject(ctx, tx, sub)
		if err != nil {
			return err
		}
		if err := privacyBlocked(ctx, tx, p); err != nil {
			return err
		}
		tables, err := s.collect(ctx, tx, sub)
		if err != nil {
			return err
		}
		key, archive, err := seal(tables)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO privacy_erasures (id, subject, merchant_id, customer_id, requested_by,
			requested_at, shred_at, shredded_at, key_sealed, archive_ct) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
			e.ID, e.Subject, e.MerchantID, e.CustomerID, e.RequestedBy, micros(e.RequestedAt), micros(e.ShredAt), key, archive); err != nil {
			return err
		}
		if err := scheduleKeyShred(ctx, tx, p, e.ShredAt); err != nil {
			return err
		}
		return privacyScrub(ctx, tx, p, tables, now)
	})
	if err != nil && s.db.IsUniqueViolation(err) {
		return privacy.ErrExists
	}
	return err
}

// scheduleKeyShred sets when the subject's data keys are destroyed: its
// own, the keys of its payments that are subjects of their own (no
// customer id: a Kassa account's payments made as a guest of the
// merchant), and the keys of its payouts. A payment that names a
// merchant's customer stays under that customer's key: the merchant, as
// controller, erases its customer on its own (the live row is scrubbed
// here all the same).
func scheduleKeyShred(ctx context.Context, tx *Tx, p privacySubject, at time.Time) error {
	q, args := p.clause(`UPDATE privacy_keys SET shred_at = ? WHERE shred_at = 0 AND (id = {subject}
		OR id IN (SELECT seal_subject FROM payments WHERE id IN ({payments}) AND seal_subject = id)
		OR id IN (SELECT seal_subject FROM payouts WHERE id IN ({payouts}) AND seal_subject <> ''))`)
	if _, err := tx.ExecContext(ctx, q, append([]any{micros(at)}, args...)...); err != nil {
		return fmt.Errorf("schedule the subject's keys' destruction: %w", err)
	}
	return nil
}

// privacyBlocked refuses an erasure while the subject's money is moving:
// a wallet with a balance or a pending amount, a payment awaiting the
// payer or its capture, a payout not yet paid out.
func privacyBlocked(ctx context.Context, tx *Tx, p privacySubject) error {
	checks := []struct{ what, q string }{
		{"a payment is still in flight", "SELECT COUNT(*) FROM payments WHERE id IN ({payments}) AND status IN ('requires_action', 'authorized')"},
		{"a payout is still in flight", "SELECT COUNT(*) FROM payouts WHERE id IN ({payouts}) AND status IN ('pending', 'requires_review', 'in_transit')"},
	}
	if p.sub.Account() {
		checks = append(checks, struct{ what, q string }{"a pay later plan is still open: pay it first",
			"SELECT COUNT(*) FROM credit_plans WHERE customer_id = {cus} AND status IN ('active', 'overdue', 'in_collection')"})
		checks = append(checks, struct{ what, q string }{"the wallet holds money: withdraw it first",
			`SELECT COUNT(*) FROM ledger_accounts WHERE ` + privacyWallets + `
				AND (credits_posted <> debits_posted OR debits_pending <> 0 OR credits_pending <> 0)`})
	}
	for _, c := range checks {
		q, args := p.clause(c.q)
		var n int
		if err := tx.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return kassa.Errorf(kassa.EConflict, privacy.CodeErasureBlocked, "the data cannot be erased yet: %s", c.what)
		}
	}
	return nil
}

// privacyScrub empties the subject's personal data from the live rows,
// after collect put them in the archive. What stays is pseudonymous
// (ids, amounts, states, times): what the ledger, reconciliation and the
// merchants' reports need.
func privacyScrub(ctx context.Context, tx *Tx, p privacySubject, tables []privacy.Table, now time.Time) error {
	var stmts []string
	if p.sub.Account() {
		stmts = append(stmts,
			`UPDATE customers SET email = id || '@erased.invalid', email_index = '', phone = '', email_verified_at = 0, phone_verified_at = 0,
				password_hash = '', level = 'unverified', given_name = '', family_name = '', address_line1 = '', address_line2 = '',
				address_city = '', address_postal_code = '', address_region = '', address_country = '', document_type = '',
				document_country = '', kyc_submitted_at = 0, kyc_verified_at = 0, birth_date_sealed = NULL, document_number_sealed = NULL, totp_secret_sealed = NULL,
				totp_pending_sealed = NULL, totp_enabled_at = 0, closed_at = {now}, updated_at = {now} WHERE id = {cus}`,
			`DELETE FROM identity_sessions WHERE customer_id = {cus}`,
			`DELETE FROM identity_devices WHERE customer_id = {cus}`,
			`DELETE FROM identity_recovery_codes WHERE customer_id = {cus}`,
			`DELETE FROM identity_signups WHERE customer_id = {cus} OR email = {email}`,
			`DELETE FROM identity_codes WHERE owner = {cus} OR destination IN ({email}, {phone})`,
			`DELETE FROM identity_outbox WHERE recipient IN ({email}, {phone})`,
			`DELETE FROM identity_throttles WHERE subject IN ({cus}, {email}, {phone})`,
			`DELETE FROM identity_rates WHERE rate_key IN ({email:send}, {email:step}, {phone:send}, {phone:step})`,
			`DELETE FROM passkey_credentials WHERE customer_id = {cus}`,
			`DELETE FROM passkey_ceremonies WHERE customer_id = {cus}`,
			`DELETE FROM passkey_users WHERE customer_id = {cus}`,
			`UPDATE vault_tokens SET name = '' WHERE id IN (SELECT token_id FROM vault_cards WHERE customer_id = {cus})`,
		)
	} else {
		stmts = append(stmts,
			`UPDATE vault_tokens SET name = '' WHERE id IN (SELECT token_id FROM vault_cards WHERE merchant_id = {mer} AND customer_id = {cust})`)
	}
	stmts = append(stmts,
		`UPDATE payments SET customer_email = '', customer_phone = '', version = version + 1 WHERE id IN ({payments})`,
		`UPDATE payouts SET customer_email = '', customer_first_name = '', customer_last_name = '', account_holder = '',
			iban = '' WHERE id IN ({payouts})`,
	)
	for _, q := range stmts {
		q = strings.ReplaceAll(q, "{now}", fmt.Sprint(micros(now)))
		q = expandRateKeys(q, p)
		w, args := p.clause(q)
		if _, err := tx.ExecContext(ctx, w, args...); err != nil {
			return fmt.Errorf("scrub: %w", err)
		}
	}
	words := personalWords(p, tables)
	if err := scrubRiskEvaluations(ctx, tx, p, now); err != nil {
		return err
	}
	if err := scrubWebhookEvents(ctx, tx, tables, words); err != nil {
		return err
	}
	return scrubAudit(ctx, tx, auditWords(p, tables), now)
}

// auditErased replaces an erased person's strings in the audit log.
const auditErased = "[erased]"

// auditWords are the strings of the subject the audit log may hold in
// an entry's target or before/after (a lifted lock of an email address,
// a payer's details in a changed state): email addresses, phone numbers,
// IBANs and full names. A given or family name alone is not among them:
// it could stand in a member's own entries (members' names and emails
// are the staff's, and stay).
func auditWords(p privacySubject, tables []privacy.Table) []string {
	var words []string
	add := func(s string) {
		if len(s) >= 5 && !slices.Contains(words, s) {
			words = append(words, s)
		}
	}
	add(p.email)
	add(p.phone)
	str := func(r map[string]any, c string) string { s, _ := r[c].(string); return s }
	for _, t := range tables {
		for _, r := range t.Rows {
			switch t.Name {
			case "customers":
				add(str(r, "email"))
				add(str(r, "phone"))
				add(strings.TrimSpace(str(r, "given_name") + " " + str(r, "family_name")))
			case "payments":
				add(str(r, "customer_email"))
				add(str(r, "customer_phone"))
			case "payouts":
				add(str(r, "customer_email"))
				add(str(r, "iban"))
				add(str(r, "account_holder"))
				add(strings.TrimSpace(str(r, "customer_first_name") + " " + str(r, "customer_last_name")))
			}
		}
	}
	return words
}

// scrubAudit replaces words in the audit entries that hold them (target,
// before and after; who acted, where and when stay) and marks them
// scrubbed_at: the only change the log's triggers let through.
func scrubAudit(ctx context.Context, tx *Tx, words []string, now time.Time) error {
	if len(words) == 0 {
		return nil
	}
	repl := make([]string, 0, 4*len(words))
	for _, w := range words {
		j, _ := json.Marshal(w)
		repl = append(repl, string(j[1:len(j)-1]), auditErased)
		if string(j[1:len(j)-1]) != w {
			repl = append(repl, w, auditErased)
		}
	}
	r := strings.NewReplacer(repl...)
	for chunk := range slices.Chunk(words, 20) {
		var like []string
		var args []any
		for _, w := range chunk {
			pat := "%" + likeEscape(w) + "%"
			like = append(like, `target LIKE ? ESCAPE '\' OR before_json LIKE ? ESCAPE '\' OR after_json LIKE ? ESCAPE '\'`)
			args = append(args, pat, pat, pat)
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, target, COALESCE(before_json, ''), COALESCE(after_json, '') FROM audit_events WHERE `+
			strings.Join(like, " OR "), args...)
		if err != nil {
			return fmt.Errorf("scrub audit: %w", err)
		}
		type entry struct{ id, target, before, after string }
		var changed []entry
		for rows.Next() {
			var e entry
			if err := rows.Scan(&e.id, &e.target, &e.before, &e.after); err != nil {
				rows.Close()
				return err
			}
			n := entry{e.id, r.Replace(e.target), r.Replace(e.before), r.Replace(e.after)}
			if n != e {
				changed = append(changed, n)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range changed {
			if _, err := tx.ExecContext(ctx, `UPDATE audit_events SET target = ?, before_json = NULLIF(?, ''), after_json = NULLIF(?, ''),
				scrubbed_at = ? WHERE id = ?`, e.target, e.before, e.after, micros(now), e.id); err != nil {
				return fmt.Errorf("scrub audit entry: %w", err)
			}
		}
	}
	return nil
}

// expandRateKeys writes identity's send-rate keys of the account's email
// and phone (identity/codes.go, takeSend) as literal arguments.
func expandRateKeys(q string, p privacySubject) string {
	for _, k := range []struct{ token, v, prefix string }{
		{"{email:send}", p.email, "send:"}, {"{email:step}", p.email, "send:step_up:"},
		{"{phone:send}", p.phone, "send:"}, {"{phone:step}", p.phone, "send:step_up:"},
	} {
		lit := "NULL"
		if k.v != "" {
			lit = "'" + strings.ReplaceAll(k.prefix+k.v, "'", "''") + "'"
		}
		q = strings.ReplaceAll(q, k.token, lit)
	}
	return q
}

// personalWords are the strings the archive holds on the subject that
// may also sit inside stored JSON: emails, phones, names, IBANs.
func personalWords(p privacySubject, tables []privacy.Table) []string {
	var words []string
	add := func(v any) {
		if s, ok := v.(string); ok && len(s) >= 3 && !slices.Contains(words, s) {
			words = append(words, s)
		}
	}
	add(p.email)
	add(p.phone)
	for _, t := range tables {
		cols := map[string][]string{
			"customers": {"email", "phone", "given_name", "family_name", "address_line1", "address_line2"},
			"payments":  {"customer_email", "customer_phone"},
			"payouts":   {"customer_email", "customer_first_name", "customer_last_name", "account_holder", "iban"},
		}[t.Name]
		for _, r := range t.Rows {
			for _, c := range cols {
				add(r[c])
			}
		}
	}
	return words
}

// scrubRiskEvaluations removes the email, client address, user agent,
// device and location from the stored attempts of the subject's risk
// evaluations; the scores, reasons and features stay (they explain the
// decisions and train models, and name nobody).
func scrubRiskEvaluations(ctx context.Context, tx *Tx, p privacySubject, now time.Time) error {
	where := privacyEvaluations
	if p.sub.Account() {
		where = privacyEvaluationsAccount
	}
	w, args := p.clause(where)
	rows, err := tx.QueryContext(ctx, "SELECT id, event FROM risk_evaluations WHERE "+w, args...)
	if err != nil {
		return fmt.Errorf("scrub risk evaluations: %w", err)
	}
	type ev struct{ id, event string }
	var evs []ev
	for rows.Next() {
		var e ev
		if err := rows.Scan(&e.id, &e.event); err != nil {
			rows.Close()
			return err
		}
		evs = append(evs, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, e := range evs {
		var m map[string]any
		if err := json.Unmarshal([]byte(e.event), &m); err != nil {
			m = map[string]any{} // unreadable: keep nothing of it
		}
		for _, k := range []string{"email", "ip", "user_agent", "device_id", "geo", "client_signals"} {
			delete(m, k)
		}
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE risk_evaluations SET event = ?, ip_truncated_at = ? WHERE id = ?`,
			string(b), micros(now), e.id); err != nil {
			return err
		}
	}
	return nil
}

// scrubWebhookEvents replaces the subject's personal strings in the
// stored events about its payments and payouts (their data is the
// object as it was sent; a delivery retried later sends the scrubbed
// one).
func scrubWebhookEvents(ctx context.Context, tx *Tx, tables []privacy.Table, words []string) error {
	if len(words) == 0 {
		return nil
	}
	ids := map[string][]string{} // merchant -> payment and payout ids
	for _, t := range tables {
		if t.Name != "payments" && t.Name != "payouts" {
			continue
		}
		for _, r := range t.Rows {
			m, _ := r["merchant_id"].(string)
			id, _ := r["id"].(string)
			ids[m] = append(ids[m], id)
		}
	}
	repl := make([]string, 0, 4*len(words))
	for _, w := range words {
		j, _ := json.Marshal(w)
		repl = append(repl, string(j[1:len(j)-1]), "")
	}
	r := strings.NewReplacer(repl...)
	for m, list := range ids {
		for chunk := range slices.Chunk(list, 100) {
			var like []string
			args := []any{m}
			for _, id := range chunk {
				like = append(like, `data LIKE ? ESCAPE '\'`)
				args = append(args, `%"`+likeEscape(id)+`"%`)
			}
			rows, err := tx.QueryContext(ctx, `SELECT id, data FROM webhook_events WHERE merchant_id = ? AND (`+
				strings.Join(like, " OR ")+`)`, args...)
			if err != nil {
				return fmt.Errorf("scrub webhook events: %w", err)
			}
			changed := map[string]string{}
			for rows.Next() {
				var id, data string
				if err := rows.Scan(&id, &data); err != nil {
					rows.Close()
					return err
				}
				if d := r.Replace(data); d != data {
					changed[id] = d
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for id, d := range changed {
				if _, err := tx.ExecContext(ctx, `UPDATE webhook_events SET data = ? WHERE id = ?`, d, id); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (s *Privacy) ShredDue(ctx context.Context, now time.Time, limit int) (int, error) {
	var n int64
	var keys []string
	err := s.db.Transact(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE privacy_erasures SET key_sealed = NULL, archive_ct = NULL, shredded_at = ?
			WHERE id IN (SELECT id FROM privacy_erasures WHERE shredded_at = 0 AND shred_at <= ? ORDER BY shred_at LIMIT ?)`,
			micros(now), micros(now), limit)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		// The subjects' data keys: every sealed copy of their fields, in
		// this database and in its backups, stops opening.
		if keys, err = dueKeys(ctx, tx, now, limit); err != nil {
			return err
		}
		for chunk := range slices.Chunk(keys, 100) {
			args := []any{micros(now)}
			for _, k := range chunk {
				args = append(args, k)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM privacy_keys WHERE shred_at > 0 AND shred_at <= ? AND id IN (?`+
				strings.Repeat(", ?", len(chunk)-1)+`)`, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		if k := s.db.Sealing(); k != nil {
			k.Forget(keys...)
		}
	}
	n = max(n, int64(len(keys)))
	if err != nil || n == 0 {
		return int(n), err
	}
	// The destroyed keys must not survive in the write-ahead log either:
	// secure_delete zeroes them in the database file; a checkpoint that
	// truncates the log drops the frames that held them (it may find
	// readers and do less; the log is recycled soon after anyway).
	if s.db.Dialect() == SQLite {
		_, _ = s.db.Writer().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	return int(n), nil
}

// dueKeys lists up to limit subject keys whose destruction is due.
func dueKeys(ctx context.Context, tx *Tx, now time.Time, limit int) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id FROM privacy_keys WHERE shred_at > 0 AND shred_at <= ? ORDER BY shred_at, id LIMIT ?`,
		micros(now), limit)
	if err != nil {
		return nil, err
	}
	return scanColumn[string](rows)
}

func (s *Privacy) TruncateIPs(ctx context.Context, before, now time.Time, limit int) (int, error) {
	var n int
	err := s.db.Transact(ctx, func(tx *Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, `SELECT id, event FROM risk_evaluations WHERE ip_truncated_at = 0 AND created_at < ?
			ORDER BY created_at LIMIT ?`, micros(before), limit)
		if err != nil {
			return err
		}
		type ev struct{ id, event string }
		var evs []ev
		for rows.Next() {
			var e ev
			if err := rows.Scan(&e.id, &e.event); err != nil {
				rows.Close()
				return err
			}
			evs = append(evs, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range evs {
			event := truncateEventIP(e.event)
			if _, err := tx.ExecContext(ctx, `UPDATE risk_evaluations SET event = ?, ip_truncated_at = ? WHERE id = ?`,
				event, micros(now), e.id); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// truncateEventIP truncates the "ip" of a stored attempt: an IPv4 address
// to its /24, an IPv6 address to its /48 (what is left locates a network,
// not a person's line); an address that does not parse is removed.
func truncateEventIP(event string) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(event), &m); err != nil {
		return event
	}
	raw, ok := m["ip"]
	if !ok {
		return event
	}
	var ip string
	_ = json.Unmarshal(raw, &ip)
	delete(m, "ip")
	if a, err := netip.ParseAddr(ip); err == nil {
		bits := 48
		if a.Unmap().Is4() {
			a, bits = a.Unmap(), 24
		}
		if pfx, err := a.Prefix(bits); err == nil {
			m["ip"], _ = json.Marshal(pfx.Addr().String())
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return event
	}
	return string(b)
}

func (s *Privacy) DeleteIdleDevices(ctx context.Context, before time.Time) (int, error) {
	b := micros(before)
	return s.db.prune(ctx, []sqlStatement{
		{`DELETE FROM identity_devices WHERE last_seen_at < ?`, []any{b}},
	})
}
