package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/privacy/seal"
	"github.com/kassa/kassa/vault"
)

// Personal columns sealed per subject while live (docs/privacy.md,
// package privacy/seal). The stores seal them at write time and open them
// at read time through the helpers below; a DB without a Keyring
// (SetSealing not called: tools and tests that do not need it) writes
// them in clear and reads clear values as they are.

// SetSealing makes every store over db seal the personal columns under
// their subjects' keys.
func (db *DB) SetSealing(k *seal.Keyring) { db.sealing.Store(k) }

// Sealing returns the Keyring set by SetSealing, or nil.
func (db *DB) Sealing() *seal.Keyring { return db.sealing.Load() }

// subjectKeyForWrite returns subject's key, creating it in tx when it has
// none. Two transactions creating one subject's key at once end with one
// key: the insert does nothing on a conflict, and the row is read back.
// A key read or created here is not cached (tx may still roll back);
// the caller passes it to Remember after its commit if it wants.
func subjectKeyForWrite(ctx context.Context, tx *Tx, k *seal.Keyring, subject string, now time.Time) (seal.Key, error) {
	if key, ok := k.Cached(subject); ok {
		return key, nil
	}
	var stored []byte
	err := tx.QueryRowContext(ctx, `SELECT key_wrapped FROM privacy_keys WHERE id = ?`, subject).Scan(&stored)
	if err == nil {
		return k.OpenKey(subject, stored)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return seal.Key{}, fmt.Errorf("select subject key: %w", err)
	}
	key, sealed, err := k.NewKey(subject)
	if err != nil {
		return seal.Key{}, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO privacy_keys (id, key_wrapped, created_at, shred_at) VALUES (?, ?, ?, 0)
		ON CONFLICT (id) DO NOTHING`, subject, sealed, micros(now))
	if err != nil {
		return seal.Key{}, fmt.Errorf("insert subject key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return seal.Key{}, err
	} else if n == 1 {
		return key, nil
	}
	// Another transaction created it first: use that one.
	if err := tx.QueryRowContext(ctx, `SELECT key_wrapped FROM privacy_keys WHERE id = ?`, subject).Scan(&stored); err != nil {
		return seal.Key{}, fmt.Errorf("select subject key after a conflict: %w", err)
	}
	return k.OpenKey(subject, stored)
}

// subjectKeyForRead returns subject's committed key (cached), or false
// when it has none: never made, or destroyed by an erasure.
func subjectKeyForRead(ctx context.Context, q rowQuerier, k *seal.Keyring, subject string) (seal.Key, bool, error) {
	if key, ok := k.Cached(subject); ok {
		return key, true, nil
	}
	var stored []byte
	err := q.QueryRowContext(ctx, `SELECT key_wrapped FROM privacy_keys WHERE id = ?`, subject).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return seal.Key{}, false, nil
	} else if err != nil {
		return seal.Key{}, false, fmt.Errorf("select subject key: %w", err)
	}
	key, err := k.OpenKey(subject, stored)
	if err != nil {
		return seal.Key{}, false, err
	}
	k.Remember(key)
	return key, true, nil
}

// preloadKeys reads the keys of subjects not cached, in one query per
// 100, and caches them: a page of payments of many subjects (a list, the
// reconciliation) then opens without a query per row.
func (db *DB) preloadKeys(ctx context.Context, subjects []string) error {
	k := db.Sealing()
	if k == nil {
		return nil
	}
	var missing []string
	seen := map[string]bool{}
	for _, s := range subjects {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		if _, ok := k.Cached(s); !ok {
			missing = append(missing, s)
		}
	}
	for len(missing) > 0 {
		chunk := missing[:min(len(missing), 100)]
		missing = missing[len(chunk):]
		args := make([]any, len(chunk))
		for i, s := range chunk {
			args[i] = s
		}
		rows, err := db.QueryContext(ctx, `SELECT id, key_wrapped FROM privacy_keys WHERE id IN (?`+
			strings.Repeat(", ?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return fmt.Errorf("select subject keys: %w", err)
		}
		for rows.Next() {
			var id string
			var stored []byte
			if err := rows.Scan(&id, &stored); err != nil {
				rows.Close()
				return err
			}
			key, err := k.OpenKey(id, stored)
			if err != nil {
				rows.Close()
				return err
			}
			k.Remember(key)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// sealedField names a personal field of a row and where its value is.
type personalField struct {
	name  string
	value *string
}

// sealFields seals the fields in place under subject's key (created in
// tx if needed) and returns the subject to store with the row; without a
// Keyring it leaves them clear and returns "" (the row is unsealed, for
// the backfill). A row with no personal value makes no key.
func (db *DB) sealFields(ctx context.Context, tx *Tx, subject string, now time.Time, fields ...personalField) (string, seal.Key, error) {
	k := db.Sealing()
	if k == nil || subject == "" {
		return "", seal.Key{}, nil
	}
	if !anyValue(fields) {
		return subject, seal.Key{}, nil
	}
	key, err := subjectKeyForWrite(ctx, tx, k, subject, now)
	if err != nil {
		return "", seal.Key{}, err
	}
	for _, f := range fields {
		if *f.value, err = k.Seal(key, f.name, *f.value); err != nil {
			return "", seal.Key{}, fmt.Errorf("seal %s: %w", f.name, err)
		}
	}
	return subject, key, nil
}

func anyValue(fields []personalField) bool {
	for _, f := range fields {
		if *f.value != "" {
			return true
		}
	}
	return false
}

// openFields opens the fields in place. A subject whose key is gone (an
// erased person) reads as empty fields; so does a sealed value read by a
// DB without a Keyring (it cannot be opened and must not be shown as
// ciphertext).
func (db *DB) openFields(ctx context.Context, subject string, fields ...personalField) error {
	sealed := false
	for _, f := range fields {
		if seal.Sealed(*f.value) {
			sealed = true
		}
	}
	if !sealed {
		return nil
	}
	k := db.Sealing()
	var key seal.Key
	ok := false
	if k != nil && subject != "" {
		var err error
		if key, ok, err = subjectKeyForRead(ctx, db, k, subject); err != nil {
			return err
		}
	}
	for _, f := range fields {
		if !seal.Sealed(*f.value) {
			continue
		}
		if !ok {
			*f.value = ""
			continue
		}
		// A value that does not open was sealed under a key that is gone
		// (the subject's key was destroyed and a new one made since) or
		// was tampered with: either way there is nothing to show.
		v, err := seal.Open(key, f.name, *f.value)
		if err != nil {
			v = ""
		}
		*f.value = v
	}
	return nil
}

// blindIndex is the blind index of value of kind ("" without a Keyring).
func (db *DB) blindIndex(kind, value string) string {
	if k := db.Sealing(); k != nil {
		return k.Index(kind, value)
	}
	return ""
}

// SealBacklog seals the personal columns of up to limit rows written in
// clear (by a Kassa from before sealing, or while no Keyring was set):
// payments, payouts (with their IBAN's blind index) and payer accounts.
// It returns how many rows it sealed; the privacy job runs it until none
// is left.
func (s *Privacy) SealBacklog(ctx context.Context, now time.Time, limit int) (int, error) {
	if s.db.Sealing() == nil {
		return 0, nil
	}
	var n int
	err := s.db.Transact(ctx, func(tx *Tx) error {
		n = 0
		for _, step := range []func(context.Context, *Tx, time.Time, int) (int, error){
			s.sealPaymentsBacklog, s.sealPayoutsBacklog, s.sealCustomersBacklog} {
			k, err := step(ctx, tx, now, limit-n)
			if err != nil {
				return err
			}
			if n += k; n >= limit {
				break
			}
		}
		return nil
	})
	return n, err
}

func (s *Privacy) sealPaymentsBacklog(ctx context.Context, tx *Tx, now time.Time, limit int) (int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, merchant_id, customer_id, customer_email, customer_phone FROM payments
		WHERE seal_subject = '' ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return 0, fmt.Errorf("select unsealed payments: %w", err)
	}
	var ps []payment.Payment
	for rows.Next() {
		var p payment.Payment
		if err := rows.Scan(&p.ID, &p.MerchantID, &p.Customer.ID, &p.Customer.Email, &p.Customer.Phone); err != nil {
			rows.Close()
			return 0, err
		}
		ps = append(ps, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, p := range ps {
		subject, _, err := s.db.sealFields(ctx, tx, paymentSubject(p), now, paymentFields(&p)...)
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE payments SET customer_email = ?, customer_phone = ?, seal_subject = ?
			WHERE id = ? AND seal_subject = ''`, p.Customer.Email, p.Customer.Phone, subject, p.ID); err != nil {
			return 0, err
		}
	}
	return len(ps), nil
}

func (s *Privacy) sealPayoutsBacklog(ctx context.Context, tx *Tx, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, merchant_id, customer_id, iban, account_holder, customer_email,
		customer_first_name, customer_last_name FROM payouts WHERE seal_subject = '' ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return 0, fmt.Errorf("select unsealed payouts: %w", err)
	}
	var ps []payout.Payout
	for rows.Next() {
		var p payout.Payout
		if err := rows.Scan(&p.ID, &p.MerchantID, &p.Customer.ID, &p.Destination.IBAN, &p.Destination.AccountHolder,
			&p.Customer.Email, &p.Customer.FirstName, &p.Customer.LastName); err != nil {
			rows.Close()
			return 0, err
		}
		ps = append(ps, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, p := range ps {
		index := s.db.blindIndex(seal.IndexIBAN, p.Destination.IBAN)
		subject, _, err := s.db.sealFields(ctx, tx, payoutSubject(p), now, payoutFields(&p)...)
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE payouts SET iban = ?, account_holder = ?, customer_email = ?,
			customer_first_name = ?, customer_last_name = ?, seal_subject = ?, iban_index = ? WHERE id = ? AND seal_subject = ''`,
			p.Destination.IBAN, p.Destination.AccountHolder, p.Customer.Email, p.Customer.FirstName, p.Customer.LastName,
			subject, index, p.ID); err != nil {
			return 0, err
		}
	}
	return len(ps), nil
}

// sealCustomersBacklog seals payer accounts' profile fields still in
// clear (a value without seal.Prefix).
func (s *Privacy) sealCustomersBacklog(ctx context.Context, tx *Tx, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var conds []string
	var args []any
	var r identity.Record
	for _, f := range customerFields(&r) {
		conds = append(conds, fmt.Sprintf("(%[1]s <> '' AND substr(%[1]s, 1, %[2]d) <> ?)", f.name, len(seal.Prefix)))
		args = append(args, seal.Prefix)
	}
	// A closed account keeps its tombstone address in clear, without an
	// index: the real address is free for a new account.
	rows, err := tx.QueryContext(ctx, `SELECT id FROM customers WHERE closed_at = 0 AND (`+strings.Join(conds, " OR ")+`) ORDER BY id LIMIT ?`,
		append(args, limit)...)
	if err != nil {
		return 0, fmt.Errorf("select unsealed customers: %w", err)
	}
	ids, err := scanColumn[string](rows)
	if err != nil {
		return 0, err
	}
	id := NewIdentity(s.db)
	for _, cus := range ids {
		r, err := id.customerWhere(ctx, tx, `id = ?`, cus, "")
		if err != nil {
			return 0, err
		}
		index := s.db.blindIndex(seal.IndexEmail, r.Email)
		if _, _, err := s.db.sealFields(ctx, tx, r.ID, now, customerFields(&r)...); err != nil {
			return 0, err
		}
		k, a := r.KYC, r.KYC.Address
		if _, err := tx.ExecContext(ctx, `UPDATE customers SET email = ?, email_index = ?, phone = ?, given_name = ?,
			family_name = ?, address_line1 = ?, address_line2 = ?, address_city = ?, address_postal_code = ?, address_region = ?
			WHERE id = ?`, r.Email, index, r.Phone, k.GivenName, k.FamilyName, a.Line1, a.Line2, a.City, a.PostalCode, a.Region, r.ID); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// KeyVersions counts the subject keys per version of the privacy key
// file that wraps them.
func (s *Privacy) KeyVersions(ctx context.Context) (map[int]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT substr(key_wrapped, 1, 5), COUNT(*) FROM privacy_keys GROUP BY substr(key_wrapped, 1, 5)`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]int64{}
	for rows.Next() {
		var head []byte
		var n int64
		if err := rows.Scan(&head, &n); err != nil {
			return nil, err
		}
		if v, ok := envelopeVersion(head); ok {
			out[v] += n
		}
	}
	return out, rows.Err()
}

// RewrapKeys rewraps up to limit subject keys wrapped under a version
// below version with rewrap, and returns how many it changed.
func (s *Privacy) RewrapKeys(ctx context.Context, version, limit int, rewrap func(subject string, wrapped []byte) ([]byte, error)) (int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, key_wrapped FROM privacy_keys WHERE substr(key_wrapped, 2, 4) < ?
		ORDER BY id LIMIT ?`, vault.EnvelopeVersionBytes(version), limit)
	if err != nil {
		return 0, err
	}
	type stale struct {
		id       string
		old, new []byte
	}
	var ks []stale
	for rows.Next() {
		var k stale
		if err := rows.Scan(&k.id, &k.old); err != nil {
			rows.Close()
			return 0, err
		}
		ks = append(ks, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for i := range ks {
		if ks[i].new, err = rewrap(ks[i].id, ks[i].old); err != nil {
			return 0, fmt.Errorf("rewrap the key of %s: %w", ks[i].id, err)
		}
	}
	n := 0
	err = s.db.Transact(ctx, func(tx *Tx) error {
		n = 0
		for _, k := range ks {
			res, err := tx.ExecContext(ctx, `UPDATE privacy_keys SET key_wrapped = ? WHERE id = ? AND key_wrapped = ?`, k.new, k.id, k.old)
			if err != nil {
				return err
			}
			m, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += int(m)
		}
		return nil
	})
	return n, err
}
