package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/vault"
	"github.com/kassa/kassa/webhook"
)

// sealedColumn is a column of values sealed with vault.Envelope outside
// the card records. Every such column is listed in sealedColumns: the
// vault's key status, rewrap and retirement see only what is listed (a
// test checks that every *_sealed column of the schema is).
type sealedColumn struct {
	table, column string
	// aadColumn holds what the value is bound to; aad makes the
	// associated data of it.
	aadColumn string
	domain    string
	aad       func(v string) []byte
	// clearColumn, when set, is where an older Kassa kept the value in
	// clear (column NULL): the rewrap seals it and empties clearColumn.
	clearColumn string
}

// sealedField binds a column to identity.SealAAD(id, field).
func sealedField(table, column, field string) sealedColumn {
	return sealedColumn{table: table, column: column, aadColumn: "id", domain: identity.SealDomain,
		aad: func(id string) []byte { return identity.SealAAD(id, field) }}
}

var sealedColumns = []sealedColumn{
	sealedField("customers", "birth_date_sealed", "birth_date"),
	sealedField("customers", "document_number_sealed", "document_number"),
	sealedField("customers", "totp_secret_sealed", "totp"),
	sealedField("customers", "totp_pending_sealed", "totp_pending"),
	sealedField("identity_outbox", "body_sealed", "body"),
	sealedField("privacy_erasures", "key_sealed", "privacy_key"), // privacy.KeyAAD
	sealedField("console_members", "totp_secret_sealed", "totp"),
	sealedField("console_members", "totp_pending_sealed", "totp_pending"),
	{table: "webhook_secrets", column: "secret_sealed", aadColumn: "endpoint_id", domain: webhook.SealDomain,
		aad: webhook.SecretAAD, clearColumn: "secret"},
}

// sealedRef is a value's place: its column's index in sealedColumns and
// its row id; refs sort in the order StaleSealed walks.
func sealedRef(col int, id string) string { return fmt.Sprintf("%03d:%s", col, id) }

func parseSealedRef(ref string) (int, string, bool) {
	c, id, ok := strings.Cut(ref, ":")
	n, err := strconv.Atoi(c)
	if !ok || err != nil || n < 0 || n >= len(sealedColumns) {
		return 0, "", false
	}
	return n, id, true
}

// envelopeVersion reads the version of substr(value, 1, 5); false for a
// value that is no envelope (one kept in clear from before sealing).
func envelopeVersion(head []byte) (int, bool) {
	if len(head) != 5 || head[0] != 1 {
		return 0, false
	}
	return int(uint32(head[1])<<24 | uint32(head[2])<<16 | uint32(head[3])<<8 | uint32(head[4])), true
}

func (s *Vault) SealedKeyUsage(ctx context.Context) (map[int]int64, error) {
	usage := map[int]int64{}
	for _, c := range sealedColumns {
		rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT substr(%[2]s, 1, 5), COUNT(*) FROM %[1]s
			WHERE %[2]s IS NOT NULL GROUP BY substr(%[2]s, 1, 5)`, c.table, c.column))
		if err != nil {
			return nil, fmt.Errorf("count %s.%s per key version: %w", c.table, c.column, err)
		}
		for rows.Next() {
			var head []byte
			var n int64
			if err := rows.Scan(&head, &n); err != nil {
				rows.Close()
				return nil, err
			}
			if v, ok := envelopeVersion(head); ok {
				usage[v] += n
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return usage, nil
}

func (s *Vault) StaleSealed(ctx context.Context, version int, after string, limit int) ([]vault.SealedValue, error) {
	first, afterID := 0, ""
	if after != "" {
		var ok bool
		if first, afterID, ok = parseSealedRef(after); !ok {
			return nil, fmt.Errorf("bad sealed value cursor %q", after)
		}
	}
	cur := vault.EnvelopeVersionBytes(version)
	var out []vault.SealedValue
	for i := first; i < len(sealedColumns) && len(out) < limit; i++ {
		c := sealedColumns[i]
		if i > first {
			afterID = ""
		}
		// Values still in clear come along, to be sealed.
		clearCol, stale := "NULL", "%[2]s IS NOT NULL AND substr(%[2]s, 2, 4) < ?"
		if c.clearColumn != "" {
			clearCol = c.clearColumn
			stale = "((" + stale + ") OR (%[2]s IS NULL AND length(%[4]s) > 0))"
		}
		rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT id, %[3]s, %[2]s, %[4]s FROM %[1]s
			WHERE `+stale+` AND id > ? ORDER BY id LIMIT ?`,
			c.table, c.column, c.aadColumn, clearCol), cur, afterID, limit-len(out))
		if err != nil {
			return nil, fmt.Errorf("select stale %s.%s: %w", c.table, c.column, err)
		}
		out, err = scanSealed(rows, i, c, out)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func scanSealed(rows *sql.Rows, i int, c sealedColumn, out []vault.SealedValue) ([]vault.SealedValue, error) {
	defer rows.Close()
	for rows.Next() {
		var id, aadValue string
		var b, clear []byte
		if err := rows.Scan(&id, &aadValue, &b, &clear); err != nil {
			return nil, err
		}
		v := vault.SealedValue{Ref: sealedRef(i, id), Domain: c.domain, AAD: c.aad(aadValue), Sealed: b}
		if b == nil {
			v.Clear = clear
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (s *Vault) ReplaceSealed(ctx context.Context, vs []vault.Resealed) (int, error) {
	var n int
	err := s.db.Transact(ctx, func(tx *Tx) error {
		n = 0
		for _, v := range vs {
			i, id, ok := parseSealedRef(v.Ref)
			if !ok {
				return fmt.Errorf("bad sealed value ref %q", v.Ref)
			}
			c := sealedColumns[i]
			q, args := fmt.Sprintf(`UPDATE %s SET %[2]s = ? WHERE id = ? AND %[2]s = ?`, c.table, c.column), []any{v.New, id, v.Old}
			if c.clearColumn != "" {
				q = fmt.Sprintf(`UPDATE %s SET %[2]s = ?, %[3]s = ? WHERE id = ? AND (%[2]s = ? OR (%[2]s IS NULL AND %[3]s = ?))`,
					c.table, c.column, c.clearColumn)
				args = []any{v.New, []byte{}, id, v.Old, v.Old}
			}
			res, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return fmt.Errorf("update %s.%s: %w", c.table, c.column, err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += int(k)
		}
		return nil
	})
	return n, err
}
