package reqlog

import (
	"strconv"
	"sync"
	"testing"
)

// TestRing: a merchant's ring keeps the newest PerMerchant requests,
// newest first, and never another merchant's; writers at once lose
// nothing and overrun nothing.
func TestRing(t *testing.T) {
	l := New()
	for i := range PerMerchant + 7 {
		l.Record("mer_a", Entry{Method: "POST", Route: "/v1/payments", Status: 200 + i, RequestID: "req_" + strconv.Itoa(i)})
	}
	l.Record("mer_b", Entry{Method: "GET", Route: "/v1/balance", Status: 200})
	got := l.Recent("mer_a")
	if len(got) != PerMerchant || got[0].Status != 200+PerMerchant+6 || got[len(got)-1].Status != 207 {
		t.Fatalf("ring: %d entries, newest %d, oldest %d", len(got), got[0].Status, got[len(got)-1].Status)
	}
	for _, e := range got {
		if e.Route == "/v1/balance" {
			t.Fatal("B's request in A's ring")
		}
	}
	if len(l.Recent("mer_c")) != 0 || len((*Log)(nil).Recent("mer_a")) != 0 {
		t.Error("an unknown merchant has requests")
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				l.Record("mer_"+strconv.Itoa(w%2), Entry{Status: i})
				_ = l.Recent("mer_0")
			}
		}()
	}
	wg.Wait()
	if n := len(l.Recent("mer_0")); n != PerMerchant {
		t.Errorf("after concurrent writers: %d", n)
	}
}

func BenchmarkRecord(b *testing.B) {
	l := New()
	e := Entry{Method: "POST", Route: "/v1/payments/{id}/confirm", Status: 200}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Record("mer_a", e)
		}
	})
}
