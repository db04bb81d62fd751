package sqlstore

import (
	"context"
	"slices"
	"testing"
)

// TestSealedColumnsListed checks that the vault's rotation knows every
// sealed column of the schema: a column it does not list is destroyed
// by kassa keys retire. Sealed columns are named *_sealed.
func TestSealedColumnsListed(t *testing.T) {
	db, err := OpenSQLite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND p.name LIKE '%sealed%' ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n int
	for rows.Next() {
		var table, column string
		if err := rows.Scan(&table, &column); err != nil {
			t.Fatal(err)
		}
		n++
		if !slices.ContainsFunc(sealedColumns, func(c sealedColumn) bool { return c.table == table && c.column == column }) {
			t.Errorf("%s.%s holds sealed values but is not in sealedColumns: key rotation would strand them", table, column)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(sealedColumns) {
		t.Errorf("%d sealed columns in the schema, %d in sealedColumns", n, len(sealedColumns))
	}
}
