package vault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kassa/kassa"
)

// Rewrap re-wraps the data keys of up to batch records that are not under
// the current KEK version, without touching their ciphertexts, and says
// how many it moved. Records that do not open are logged and left alone
// (and reported in the error); KeyStatus keeps counting them.
func (s *Service) Rewrap(ctx context.Context, batch int) (int, error) {
	n, _, _, err := s.rewrap(ctx, "", batch)
	return n, err
}

// rewrap rewraps a batch of records after the id after; it returns how
// many it moved, the last id it saw and whether the batch was full.
func (s *Service) rewrap(ctx context.Context, after string, batch int) (n int, last string, full bool, err error) {
	if batch <= 0 {
		batch = RewrapBatchDefault
	}
	to := s.wrapper.CurrentVersion()
	recs, err := s.store.StaleKeys(ctx, to, after, batch)
	if err != nil {
		return 0, after, false, fmt.Errorf("select records to rewrap: %w", err)
	}
	if len(recs) > 0 {
		last = recs[len(recs)-1].ID
	}
	rws := make([]Rewrapped, 0, len(recs))
	var failed int
	for _, r := range recs {
		rw, err := s.rewrapRecord(r, to)
		if err != nil {
			failed++
			s.log.Error("vault: cannot rewrap record", "record", r.ID, "kek_version", r.KEKVersion, "err", err)
			continue
		}
		rws = append(rws, rw)
	}
	if len(rws) > 0 {
		if n, err = s.store.Rewrap(ctx, rws); err != nil {
			return 0, last, false, fmt.Errorf("store rewrapped keys: %w", err)
		}
	}
	if failed > 0 {
		err = fmt.Errorf("%d records could not be rewrapped: %w", failed, ErrDecrypt)
	}
	return n, last, len(recs) == batch, err
}

func (s *Service) rewrapRecord(r Record, to int) (Rewrapped, error) {
	rw := Rewrapped{ID: r.ID, From: r.KEKVersion, To: to}
	var err error
	if rw.PANKey, err = rewrapField(s.wrapper, r.ID, "pan", r.KEKVersion, to, r.PAN.WrappedKey); err != nil {
		return rw, err
	}
	if !r.CVC.IsZero() {
		if rw.CVCKey, err = rewrapField(s.wrapper, r.ID, "cvc", r.KEKVersion, to, r.CVC.WrappedKey); err != nil {
			return rw, err
		}
	}
	return rw, nil
}

// rewrapSealed rewraps a batch of the store's other sealed values (and
// seals values an older Kassa kept in clear) after the Ref after; it
// returns how many it moved, the last Ref it saw and whether the batch
// was full.
func (s *Service) rewrapSealed(ctx context.Context, after string, batch int) (n int, last string, full bool, err error) {
	if batch <= 0 {
		batch = RewrapBatchDefault
	}
	vs, err := s.store.StaleSealed(ctx, s.wrapper.CurrentVersion(), after, batch)
	if err != nil {
		return 0, after, false, fmt.Errorf("select sealed values to rewrap: %w", err)
	}
	if len(vs) > 0 {
		last = vs[len(vs)-1].Ref
	}
	rs := make([]Resealed, 0, len(vs))
	var failed int
	for _, v := range vs {
		e := Envelope{Wrapper: s.wrapper, Domain: v.Domain}
		r := Resealed{Ref: v.Ref, Old: v.Sealed}
		var err error
		if v.Sealed == nil {
			r.Old = v.Clear
			r.New, err = e.Seal(v.Clear, v.AAD)
		} else {
			r.New, _, err = e.Rewrap(v.Sealed, v.AAD)
		}
		if err != nil {
			failed++
			s.log.Error("vault: cannot rewrap sealed value", "ref", v.Ref, "err", err)
			continue
		}
		rs = append(rs, r)
	}
	if len(rs) > 0 {
		if n, err = s.store.ReplaceSealed(ctx, rs); err != nil {
			return 0, last, false, fmt.Errorf("store rewrapped values: %w", err)
		}
	}
	if failed > 0 {
		err = fmt.Errorf("%d sealed values could not be rewrapped: %w", failed, ErrDecrypt)
	}
	return n, last, len(vs) == batch, err
}

// RewrapAll walks every card record and every other sealed value under
// an old KEK version once, in batches (at most rewrapBatchesMax per call
// of each), and rewraps it; values an older Kassa kept in clear are
// sealed. Values that do not open are skipped and reported in the error.
func (s *Service) RewrapAll(ctx context.Context, batch int) (int, error) {
	total := 0
	var errs []error
	for _, step := range []func(context.Context, string, int) (int, string, bool, error){s.rewrap, s.rewrapSealed} {
		after := ""
		for range rewrapBatchesMax {
			n, last, full, err := step(ctx, after, batch)
			total += n
			if err != nil {
				errs = append(errs, err)
				if !errors.Is(err, ErrDecrypt) {
					return total, errors.Join(errs...)
				}
			}
			if !full {
				break
			}
			after = last
		}
	}
	return total, errors.Join(errs...)
}

// KeyVersion is one KEK version's state.
type KeyVersion struct {
	Version int
	Current bool
	// Available is false for a version records use but the provider no
	// longer holds: those records cannot be read.
	Available bool
	// Records counts everything whose data keys it wraps: card records
	// and, of those, Sealed other sealed values (KYC fields, TOTP and
	// webhook secrets, outbox messages).
	Records int64
	Sealed  int64
}

// usage counts card records and other sealed values per KEK version.
func (s *Service) usage(ctx context.Context) (records, sealed map[int]int64, err error) {
	if records, err = s.store.KeyUsage(ctx); err != nil {
		return nil, nil, fmt.Errorf("count records per key version: %w", err)
	}
	if sealed, err = s.store.SealedKeyUsage(ctx); err != nil {
		return nil, nil, fmt.Errorf("count sealed values per key version: %w", err)
	}
	return records, sealed, nil
}

// KeyStatus lists every KEK version the provider holds or a record or
// sealed value uses.
func (s *Service) KeyStatus(ctx context.Context) ([]KeyVersion, error) {
	records, sealed, err := s.usage(ctx)
	if err != nil {
		return nil, err
	}
	cur := s.wrapper.CurrentVersion()
	byVersion := map[int]*KeyVersion{}
	if s.keys != nil {
		for _, v := range s.keys.Versions() {
			byVersion[v] = &KeyVersion{Version: v, Available: true}
		}
	} else {
		byVersion[cur] = &KeyVersion{Version: cur, Available: true}
	}
	get := func(v int) *KeyVersion {
		kv, ok := byVersion[v]
		if !ok {
			kv = &KeyVersion{Version: v}
			byVersion[v] = kv
		}
		return kv
	}
	for v, n := range records {
		get(v).Records += n
	}
	for v, n := range sealed {
		kv := get(v)
		kv.Records += n
		kv.Sealed += n
	}
	out := make([]KeyVersion, 0, len(byVersion))
	for _, kv := range byVersion {
		kv.Current = kv.Version == cur
		out = append(out, *kv)
	}
	slices.SortFunc(out, func(a, b KeyVersion) int { return a.Version - b.Version })
	return out, nil
}

// RotateKey adds a KEK version; data keys wrapped from now on use it,
// and Rewrap moves the older ones over.
func (s *Service) RotateKey(ctx context.Context) (int, error) {
	if s.keys == nil {
		return 0, ErrReadOnly
	}
	return s.keys.Add()
}

// RetireKey removes a KEK version from the provider. It refuses
// (key_version_in_use) while any card record or other sealed value is
// still wrapped under it, and refuses the current version.
func (s *Service) RetireKey(ctx context.Context, version int) error {
	if s.keys == nil {
		return ErrReadOnly
	}
	if _, err := s.keys.Key(version); err != nil {
		return kassa.Errorf(kassa.ENotFound, "key_version_not_found", "there is no key-encryption key version %d", version)
	}
	if cur, _ := s.keys.Current(); cur == version {
		return kassa.Errorf(kassa.EConflict, "key_version_current", "version %d is the current key-encryption key; rotate first", version)
	}
	records, sealed, err := s.usage(ctx)
	if err != nil {
		return err
	}
	if n, m := records[version], sealed[version]; n+m > 0 {
		return kassa.Errorf(kassa.EConflict, "key_version_in_use",
			"key-encryption key version %d still protects %d card records and %d other sealed values (KYC data, "+
				"TOTP and webhook secrets, outbox messages); nothing was removed. Run kassa keys rewrap (kassa serve "+
				"also rewraps in the background), check kassa keys status, then retire again", version, n, m)
	}
	if err := s.keys.Remove(version); err != nil {
		return err
	}
	if lw, ok := s.wrapper.(*LocalWrapper); ok {
		lw.forget(version)
	}
	return nil
}

// Reloader is a KeyProvider whose keys can change outside the process.
type Reloader interface{ Reload() error }

// Run does the vault's background work every interval until ctx ends:
// picks up KEK versions added by another process, destroys expired CVCs
// and rewraps data keys still under old KEK versions.
func (s *Service) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// RunOnce is one round of Run's work: ReloadKeys, then Maintain.
func (s *Service) RunOnce(ctx context.Context) {
	s.ReloadKeys()
	s.Maintain(ctx)
}

// ReloadKeys picks up KEK versions added by another process. Every node
// does it: each seals and opens with the keys.
func (s *Service) ReloadKeys() {
	if r, ok := s.keys.(Reloader); ok {
		if err := r.Reload(); err != nil {
			s.log.Warn("vault: reload key-encryption keys", "err", err)
		}
	}
}

// Maintain destroys expired CVCs and rewraps data keys still under old
// KEK versions: work on the shared database that one node at a time
// does (kassa serve runs it under a lease).
func (s *Service) Maintain(ctx context.Context) {
	if n, err := s.SweepCVCs(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("vault: destroy expired CVCs", "err", err)
	} else if n > 0 {
		s.log.Info("vault: destroyed expired CVCs", "count", n)
	}
	n, err := s.RewrapAll(ctx, RewrapBatchDefault)
	if err != nil && ctx.Err() == nil && !errors.Is(err, ErrDecrypt) {
		s.log.Warn("vault: rewrap", "err", err)
	}
	if n > 0 {
		s.log.Info("vault: rewrapped data keys", "records", n, "kek_version", s.wrapper.CurrentVersion())
	}
}
