package storetest

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/store/sqlstore"
)

func init() { Register("Idempotency", testIdempotency) }

func testIdempotency(t *testing.T, open Opener) {
	db := open(t)
	s := sqlstore.NewIdempotency(db)
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rec := httpapi.IdempotencyRecord{MerchantID: "mer_a", Key: "k", RequestHash: []byte("h1"),
		LockedUntil: now.Add(time.Minute), ExpiresAt: now.Add(24 * time.Hour)}

	// Concurrent first requests: exactly one wins.
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, ok, err := s.BeginIdempotent(ctx, rec, now)
			if err != nil {
				t.Errorf("BeginIdempotent: %v", err)
			}
			if ok {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if fresh.Load() != 1 {
		t.Fatalf("%d concurrent begins won, want 1", fresh.Load())
	}
	done := rec
	done.Done, done.Status, done.ContentType, done.Body = true, 201, "application/json", []byte(`{"id":"x"}`)
	if err := s.FinishIdempotent(ctx, done); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.BeginIdempotent(ctx, rec, now.Add(time.Hour))
	if err != nil || ok || !got.Done || got.Status != 201 || !bytes.Equal(got.Body, done.Body) || !bytes.Equal(got.RequestHash, rec.RequestHash) {
		t.Errorf("replay lookup = %+v, %v, %v", got, ok, err)
	}
	// After 24 hours the key is forgotten.
	if _, ok, _ := s.BeginIdempotent(ctx, rec, now.Add(25*time.Hour)); !ok {
		t.Error("an expired key was not reusable")
	}
	// An in-flight key whose lease passed (its process died) is taken over.
	rec2 := rec
	rec2.Key = "k2"
	if _, ok, _ := s.BeginIdempotent(ctx, rec2, now); !ok {
		t.Fatal("k2 not fresh")
	}
	if _, ok, _ := s.BeginIdempotent(ctx, rec2, now.Add(30*time.Second)); ok {
		t.Error("an in-flight key was taken over inside its lease")
	}
	rec2.LockedUntil = now.Add(3 * time.Minute)
	if _, ok, _ := s.BeginIdempotent(ctx, rec2, now.Add(2*time.Minute)); !ok {
		t.Error("a stale in-flight key was not taken over")
	}
	// Release frees an in-flight key, never a finished one.
	if err := s.ReleaseIdempotent(ctx, "mer_a", "k2"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.BeginIdempotent(ctx, rec2, now.Add(2*time.Minute)); !ok {
		t.Error("a released key was not reusable")
	}
	n, err := s.DeleteExpiredIdempotency(ctx, now.Add(48*time.Hour))
	if err != nil || n == 0 {
		t.Errorf("DeleteExpiredIdempotency = %d, %v", n, err)
	}
}
