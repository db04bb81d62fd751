package storetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa/kassa/idempotency"
	"github.com/kassa/kassa/store/sqlstore"
)

func init() { Register("Idempotency", testIdempotency) }

func testIdempotency(t *testing.T, open Opener) {
	db := open(t)
	s := sqlstore.NewIdempotency(db)
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rec := idempotency.Record{MerchantID: "mer_a", Key: "k", RequestHash: []byte("h1"), Done: true,
		Status: 201, ContentType: "application/json", Body: []byte(`{"id":"x"}`),
		LockedUntil: now, ExpiresAt: now.Add(24 * time.Hour)}

	if _, found, err := s.LookupIdempotent(ctx, "mer_a", "k", now); found || err != nil {
		t.Fatalf("lookup of a new key = %v, %v", found, err)
	}
	// Concurrent answers for one key (two nodes): exactly one is stored,
	// the others lose on the key.
	var won, lost atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			r := rec
			r.Body = []byte{byte('0' + i)}
			switch err := s.InsertIdempotent(ctx, r, now); {
			case err == nil:
				won.Add(1)
			case errors.Is(err, idempotency.ErrKeyTaken):
				lost.Add(1)
			default:
				t.Errorf("InsertIdempotent: %v", err)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 || lost.Load() != 7 {
		t.Fatalf("%d concurrent inserts won, %d lost; want 1 and 7", won.Load(), lost.Load())
	}
	got, found, err := s.LookupIdempotent(ctx, "mer_a", "k", now.Add(time.Hour))
	if err != nil || !found || !got.Done || got.Status != 201 || len(got.Body) != 1 || !bytes.Equal(got.RequestHash, rec.RequestHash) {
		t.Errorf("lookup = %+v, %v, %v", got, found, err)
	}
	// Replace overwrites the answer of the same request only.
	re := rec
	re.Status, re.Body = 200, []byte(`{"id":"y"}`)
	if err := s.ReplaceIdempotent(ctx, re); err != nil {
		t.Fatal(err)
	}
	other := re
	other.RequestHash, other.Body = []byte("h2"), []byte(`{"id":"z"}`)
	if err := s.ReplaceIdempotent(ctx, other); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := s.LookupIdempotent(ctx, "mer_a", "k", now); got.Status != 200 || string(got.Body) != `{"id":"y"}` {
		t.Errorf("after replace: %d %s", got.Status, got.Body)
	}
	// After 24 hours the key is forgotten, and may be stored again.
	if _, found, _ := s.LookupIdempotent(ctx, "mer_a", "k", now.Add(25*time.Hour)); found {
		t.Error("an expired key was found")
	}
	later := rec
	later.ExpiresAt = now.Add(49 * time.Hour)
	if err := s.InsertIdempotent(ctx, later, now.Add(25*time.Hour)); err != nil {
		t.Errorf("an expired key was not reusable: %v", err)
	}
	// A row an older Kassa stored in flight holds its key for its lease,
	// and is taken over after it.
	err = db.Transact(ctx, func(tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys
			(merchant_id, key, request_hash, done, status, content_type, body, locked_until, expires_at)
			VALUES ('mer_a', 'k2', ?, 0, 0, '', ?, ?, ?)`, []byte("h1"), []byte{},
			now.Add(time.Minute).UnixMicro(), now.Add(24*time.Hour).UnixMicro())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	rec2 := rec
	rec2.Key = "k2"
	if got, found, _ := s.LookupIdempotent(ctx, "mer_a", "k2", now.Add(30*time.Second)); !found || got.Done {
		t.Errorf("an old in-flight row inside its lease: found %v done %v", found, got.Done)
	}
	if err := s.InsertIdempotent(ctx, rec2, now.Add(30*time.Second)); !errors.Is(err, idempotency.ErrKeyTaken) {
		t.Errorf("insert over an old in-flight row inside its lease = %v", err)
	}
	if err := s.InsertIdempotent(ctx, rec2, now.Add(2*time.Minute)); err != nil {
		t.Errorf("a stale in-flight row was not taken over: %v", err)
	}
	n, err := s.DeleteExpiredIdempotency(ctx, now.Add(48*time.Hour))
	if err != nil || n != 1 {
		t.Errorf("DeleteExpiredIdempotency = %d, %v; want 1 (k2)", n, err)
	}
}
