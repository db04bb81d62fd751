package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kassa/kassa/internal/pgtest"
)

// TestBenchSmoke runs every kassa bench subcommand for about a second, on
// SQLite and PostgreSQL, and asserts that none of its work failed. It
// asserts nothing about speed: that is what the benchmarks themselves
// report.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the bench smoke test takes about half a minute")
	}
	type errorsOf struct {
		Errors   *int64           `json:"errors"`
		Refused  *int64           `json:"refused"`
		Payments int64            `json:"payments"`
		Outcomes map[string]int64 `json:"outcomes"`
		// bench score has no errors field: a failed decision fails the run.
		Decisions int   `json:"decisions"`
		Tokenized int64 `json:"tokenized"`
		Transfers int64 `json:"transfers"`
	}
	tests := []struct {
		name string
		args []string
		pg   bool // also against PostgreSQL
	}{
		{"ledger", []string{"bench", "ledger", "--duration", "3s", "--json"}, true}, // 3 s: a loaded machine may finish no batch in 1 s
		{"ledger-http", []string{"bench", "ledger", "--http", "--duration", "3s", "--json"}, true},
		{"payments", []string{"bench", "payments", "--duration", "1s", "--baseline-duration", "1s", "--concurrency", "8", "--json"}, true},
		{"vault", []string{"bench", "vault", "--duration", "1s", "--json"}, true},
		{"score", []string{"bench", "score", "--decisions", "5000", "--warm-payers", "300", "--json"}, false},
	}
	// The list above is every subcommand kassa bench has.
	var usage bytes.Buffer
	_ = run(context.Background(), []string{"bench", "--help"}, func(string) string { return "" }, &usage, &usage)
	for _, line := range strings.Split(usage.String(), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(line, "  ") {
			continue
		}
		found := false
		for _, tt := range tests {
			found = found || tt.args[1] == f[0]
		}
		if !found {
			t.Errorf("kassa bench %s has no smoke test", f[0])
		}
	}
	for _, tt := range tests {
		for _, backend := range []string{"sqlite", "postgres"} {
			if backend == "postgres" && !tt.pg {
				continue
			}
			t.Run(tt.name+"/"+backend, func(t *testing.T) {
				args := tt.args
				if backend == "postgres" {
					args = append(append([]string(nil), args...), "--database", pgtest.URL(t))
				}
				var stdout, stderr bytes.Buffer
				if err := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr); err != nil {
					t.Fatalf("kassa %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
				}
				var got errorsOf
				if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
					t.Fatalf("kassa %s printed %q: %v", strings.Join(args, " "), stdout.String(), err)
				}
				if got.Errors != nil && *got.Errors != 0 {
					t.Errorf("%d errors\n%s", *got.Errors, stderr.String())
				}
				if got.Refused != nil && *got.Refused != 0 {
					t.Errorf("%d refused", *got.Refused)
				}
				if got.Payments+int64(got.Decisions)+got.Tokenized+got.Transfers == 0 {
					t.Errorf("no work done: %s", stdout.String())
				}
				if tt.name == "payments" && got.Outcomes["captured"] != got.Payments {
					t.Errorf("outcomes %v, %d payments", got.Outcomes, got.Payments)
				}
			})
		}
	}
}
