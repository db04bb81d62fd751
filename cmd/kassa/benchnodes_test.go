package main

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/kassa/kassa/internal/pgtest"
)

// Two nodes on one PostgreSQL under the ledger benchmark's HTTP load:
// every transfer either node acknowledged is in the database, and the
// ledger verifies. (Throughput is measured by kassa bench, not here.)
func TestBenchLedgerNodes(t *testing.T) {
	for _, hot := range []bool{false, true} {
		res, err := runLedgerBench(context.Background(), benchLedgerConfig{database: pgtest.URL(t), accounts: 100, hot: hot,
			batch: 1, concurrency: 8, duration: 2 * time.Second, http: true, verify: true, nodes: 2}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if res.Nodes != 2 || res.Transfers == 0 || res.Errors != 0 || res.Missing != 0 || res.Acknowledged != res.Transfers {
			t.Fatalf("hot %v: %+v", hot, res)
		}
		if res.VerifyLeaves < res.Transfers+100 {
			t.Errorf("hot %v: verify saw %d leaves, fewer than %d transfers and 100 accounts", hot, res.VerifyLeaves, res.Transfers)
		}
	}
}

// Two full Kassa nodes on one PostgreSQL under the payments benchmark:
// every payment answered captured is captured in the database, and the
// ledger verifies.
func TestBenchPaymentsNodes(t *testing.T) {
	res, err := runPayBench(context.Background(), benchPayConfig{database: pgtest.URL(t), concurrency: 4,
		duration: 2 * time.Second, baselineDuration: time.Second, idempotency: true, nodes: 2,
		rateLimit: benchPayRateLimit, cardShare: 0.25, payers: 100}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Nodes != 2 || res.Payments == 0 || res.Errors != 0 || res.Captured < res.Payments || res.VerifyLeaves == 0 {
		t.Fatalf("%+v", res)
	}
}
