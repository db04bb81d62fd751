package invoice_test

import (
	"context"
	"testing"
)

// BenchmarkFinalize finalizes one merchant's drafts from parallel
// goroutines: every finalization takes the next number of the same
// sequence row in its own durable commit (SQLite).
//
//	go test -run '^$' -bench Finalize -benchtime 2000x ./invoice/
func BenchmarkFinalize(b *testing.B) {
	e := newSQLiteEnv(b)
	ctx := context.Background()
	ids := make(chan string, b.N)
	for range b.N {
		ids <- e.create(params()).ID
	}
	close(ids)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.svc.Finalize(ctx, e.merchant, <-ids); err != nil {
				b.Error(err)
			}
		}
	})
}
