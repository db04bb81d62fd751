package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/store/sqlstore"
)

// copyDir copies a stopped kassa's data directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestE2ELedgerTamper changes the stored ledger behind kassa's back — an
// amount, a deleted transfer, two leaves swapped, a balance — and expects
// kassa ledger verify to fail and name the record.
func TestE2ELedgerTamper(t *testing.T) { forEachBackend(t, testE2ELedgerTamper) }

func testE2ELedgerTamper(t *testing.T, b backend) {
	key := createMerchant(t, b)
	s := startServe(t, b)
	for _, acct := range []string{"a", "b"} {
		resp, body := s.request(t, "POST", "/v1/ledger/accounts", key, map[string]any{"id": acct, "currency": "EUR"})
		mustStatus(t, resp, body, 201)
	}
	var ts []map[string]any
	for i := 1; i <= 5; i++ {
		ts = append(ts, map[string]any{"id": fmt.Sprintf("t%d", i), "debit_account_id": "a", "credit_account_id": "b", "amount": 100 * i, "currency": "EUR"})
	}
	resp, body := s.request(t, "POST", "/v1/ledger/transfers", key, map[string]any{"transfers": ts})
	mustStatus(t, resp, body, 200)
	if err := s.stop(t, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if out, err := runKassa(t, b, "ledger", "verify"); err != nil {
		t.Fatalf("clean ledger does not verify: %v\n%s", err, out)
	}

	tests := []struct {
		name   string
		tamper func(ctx context.Context, tx *sqlstore.Tx) error
		want   string // in the verify output
	}{
		{"amount changed", func(ctx context.Context, tx *sqlstore.Tx) error {
			var data []byte
			if err := tx.QueryRowContext(ctx, `SELECT data FROM ledger_transfers WHERE id = 't3'`).Scan(&data); err != nil {
				return err
			}
			rec, err := ledger.DecodeLeaf(data)
			if err != nil {
				return err
			}
			rec.Transfer.Amount++
			_, err = tx.ExecContext(ctx, `UPDATE ledger_transfers SET data = ? WHERE id = 't3'`, ledger.EncodeLeaf(&rec))
			return err
		}, `"t3"`},
		{"transfer deleted", func(ctx context.Context, tx *sqlstore.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM ledger_transfers WHERE id = 't2'`)
			return err
		}, "leaf 3 "},
		{"leaves reordered", func(ctx context.Context, tx *sqlstore.Tx) error {
			var d2, d4 []byte
			if err := tx.QueryRowContext(ctx, `SELECT data FROM ledger_transfers WHERE id = 't2'`).Scan(&d2); err != nil {
				return err
			}
			if err := tx.QueryRowContext(ctx, `SELECT data FROM ledger_transfers WHERE id = 't4'`).Scan(&d4); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE ledger_transfers SET id = 'tmp', data = ? WHERE id = 't2'`, d4); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE ledger_transfers SET id = 't2', data = ? WHERE id = 't4'`, d2); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE ledger_transfers SET id = 't4' WHERE id = 'tmp'`)
			return err
		}, "leaf 3 "},
		{"balance changed", func(ctx context.Context, tx *sqlstore.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE ledger_accounts SET credits_posted = credits_posted + 1 WHERE id = 'b'`)
			return err
		}, `"b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := b.clone(t)
			db := openStore(t, c)
			err := db.Transact(context.Background(), func(tx *sqlstore.Tx) error { return tt.tamper(context.Background(), tx) })
			db.Close()
			if err != nil {
				t.Fatalf("tamper: %v", err)
			}
			cmd := exec.Command(kassaBin, append([]string{"ledger", "verify"}, c.args...)...)
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != 3 {
				t.Errorf("verify exited %d, want 3 (a check failed)\n%s", code, out)
			}
			if !strings.Contains(string(out), "FAILED") || !strings.Contains(string(out), tt.want) {
				t.Errorf("verify output does not name the record (%q):\n%s", tt.want, out)
			}
			t.Logf("%s", strings.TrimSpace(string(out)))
		})
	}
}
