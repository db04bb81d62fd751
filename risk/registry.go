package risk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/risk/model"
)

// ModelBodyMax bounds an uploaded model file.
const ModelBodyMax = 64 << 20

// refreshModels loads the registry's active and shadow models when they
// changed (another node or an operator promoted one), and logs the change.
func (e *Engine) refreshModels(ctx context.Context) error {
	_, err := e.loadModels(ctx)
	return err
}

// logModels logs the models in use.
func (e *Engine) logModels() {
	active, shadow := e.ActiveModel()
	e.log.Info("risk: models loaded", "active", active, "shadow", shadow)
}

// loadModels is refreshModels, reporting whether anything changed.
func (e *Engine) loadModels(ctx context.Context) (bool, error) {
	recs, err := e.store.Models(ctx)
	if err != nil {
		return false, fmt.Errorf("risk: models: %w", err)
	}
	var activeV, shadowV string
	for _, r := range recs {
		switch r.Status {
		case ModelActive:
			activeV = r.Version
		case ModelShadow:
			shadowV = r.Version
		}
	}
	cur := e.models.Load()
	next := &modelSet{active: cur.active, shadow: cur.shadow, builtin: cur.builtin}
	changed := false
	if activeV != "" && (cur.active == nil || cur.builtin || cur.active.version != activeV) {
		bm, err := e.loadModel(ctx, activeV)
		if err != nil {
			return false, err
		}
		next.active, next.builtin, changed = bm, false, true
	}
	if activeV == "" && cur.active != nil && !cur.builtin && len(e.cfg.DefaultModel) > 0 {
		// The registry has no active model any more: back to the built-in
		// one. (Its version is the file's own, not "default": comparing
		// versions reloaded and logged it at every refresh.)
		m, err := model.Load(bytes.NewReader(e.cfg.DefaultModel))
		if err != nil {
			return false, err
		}
		next.active, next.builtin, changed = newBoundModel(m, "default"), true, true
	}
	switch {
	case shadowV == "" && cur.shadow != nil:
		next.shadow, changed = nil, true
	case shadowV != "" && (cur.shadow == nil || cur.shadow.version != shadowV):
		bm, err := e.loadModel(ctx, shadowV)
		if err != nil {
			return false, err
		}
		next.shadow, changed = bm, true
	}
	if changed {
		e.models.Store(next)
		e.logModels()
	}
	return changed, nil
}

func (e *Engine) loadModel(ctx context.Context, version string) (*boundModel, error) {
	rec, err := e.store.Model(ctx, version)
	if err != nil {
		return nil, fmt.Errorf("risk: model %s: %w", version, err)
	}
	m, err := model.Load(bytes.NewReader(rec.Body))
	if err != nil {
		return nil, fmt.Errorf("risk: model %s: %w", version, err)
	}
	return newBoundModel(m, version), nil
}

// ActiveModel returns the version of the model whose score decides and
// of the shadow model ("" none).
func (e *Engine) ActiveModel() (active, shadow string) {
	ms := e.models.Load()
	if ms.shadow != nil {
		shadow = ms.shadow.version
	}
	return ms.activeVersion(), shadow
}

// UploadModel adds a model file (kassa-model/1 JSON) to the registry as a
// candidate. Its features must be ones Kassa computes.
func (e *Engine) UploadModel(ctx context.Context, body []byte) (ModelRecord, error) {
	if len(body) > ModelBodyMax {
		return ModelRecord{}, kassa.Errorf(kassa.ETooLarge, "model_too_large", "a model file may be at most %d bytes", ModelBodyMax)
	}
	m, err := model.Load(bytes.NewReader(body))
	if err != nil {
		return ModelRecord{}, kassa.Errorf(kassa.EUnprocessable, "model_invalid", "%s", err.Error())
	}
	var unknown []string
	for _, n := range m.FeatureNames {
		if _, ok := FeatureIndex(n); !ok {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return ModelRecord{}, kassa.Errorf(kassa.EUnprocessable, "model_features_unknown",
			"the model uses features Kassa does not compute: %s", strings.Join(unknown, ", "))
	}
	if m.Version == "" {
		return ModelRecord{}, kassa.Errorf(kassa.EUnprocessable, "model_invalid", "the model file has no version")
	}
	if _, err := e.store.Model(ctx, m.Version); err == nil {
		return ModelRecord{}, kassa.Errorf(kassa.EConflict, "model_exists", "model %s is in the registry already", m.Version)
	}
	var metrics []byte
	if m.Metrics != nil {
		metrics, _ = json.Marshal(m.Metrics)
	}
	rec := ModelRecord{Version: m.Version, Algo: m.Algo, Status: ModelCandidate, Body: body, Metrics: metrics, Created: e.now().UTC()}
	if err := e.store.PutModel(ctx, rec); err != nil {
		return ModelRecord{}, err
	}
	return rec, nil
}

// SetModelStatus promotes a model (active), runs it in shadow, or retires
// it, then reloads.
func (e *Engine) SetModelStatus(ctx context.Context, version, status string) error {
	switch status {
	case ModelActive, ModelShadow, ModelRetired, ModelCandidate:
	default:
		return kassa.Invalid("status", "status_invalid", "status must be active, shadow, candidate or retired")
	}
	if _, err := e.store.Model(ctx, version); err != nil {
		return err
	}
	if err := e.store.SetModelStatus(ctx, version, status, e.now().UTC()); err != nil {
		return err
	}
	return e.refreshModels(ctx)
}

// Rollback makes the model that was active before the current one active
// again and returns its version.
func (e *Engine) Rollback(ctx context.Context) (string, error) {
	recs, err := e.store.Models(ctx)
	if err != nil {
		return "", err
	}
	var prev *ModelRecord
	for i := range recs {
		r := &recs[i]
		if r.Status == ModelRetired && !r.Activated.IsZero() && (prev == nil || r.Activated.After(prev.Activated)) {
			prev = r
		}
	}
	if prev == nil {
		return "", kassa.Errorf(kassa.EConflict, "no_previous_model", "no model was active before the current one")
	}
	return prev.Version, e.SetModelStatus(ctx, prev.Version, ModelActive)
}

// Models lists the registry.
func (e *Engine) Models(ctx context.Context) ([]ModelRecord, error) { return e.store.Models(ctx) }

// Model returns one model of the registry with its file.
func (e *Engine) Model(ctx context.Context, version string) (ModelRecord, error) {
	return e.store.Model(ctx, version)
}

// Limits of list entries.
const (
	listValueMax   = 255
	listNoteMax    = 500
	listEntriesMax = 100_000 // per merchant
)

// PutListEntry validates and stores an allow or block list entry of a
// merchant.
func (e *Engine) PutListEntry(ctx context.Context, en ListEntry) (ListEntry, error) {
	if en.List != ListAllow && en.List != ListBlock {
		return ListEntry{}, kassa.Invalid("list", "list_invalid", "list must be allow or block")
	}
	if en.MerchantID == "" && (en.List != ListBlock || en.Expires.IsZero()) {
		// The platform's list holds locks only, and they expire.
		return ListEntry{}, kassa.Invalid("expires_at", "lock_duration_invalid", "a platform-wide entry is a lock that expires")
	}
	if len(en.Note) > listNoteMax || !utf8.ValidString(en.Note) {
		return ListEntry{}, kassa.Invalid("note", "note_invalid", "note may be at most %d bytes of UTF-8", listNoteMax)
	}
	v, err := normalizeEntry(en.Type, en.Value)
	if err != nil {
		return ListEntry{}, err
	}
	en.Value = v
	existing, err := e.store.ListEntries(ctx, en.MerchantID, "", false)
	if err != nil {
		return ListEntry{}, err
	}
	if len(existing) >= listEntriesMax {
		return ListEntry{}, kassa.Errorf(kassa.EUnprocessable, "list_full", "a merchant may have at most %d list entries", listEntriesMax)
	}
	en.Created = e.now().UTC()
	if err := e.store.PutListEntry(ctx, en); err != nil {
		return ListEntry{}, err
	}
	e.lists.invalidate(en.MerchantID)
	return en, nil
}

// normalizeEntry checks a list entry's type and puts its value in the
// form the engine matches (lower-case email, canonical IP, upper-case
// country).
func normalizeEntry(typ, value string) (string, error) {
	value = strings.TrimSpace(value)
	if value == "" || len(value) > listValueMax || !utf8.ValidString(value) {
		return "", kassa.Invalid("value", "value_invalid", "value must be 1 to %d bytes of UTF-8", listValueMax)
	}
	switch typ {
	case EntryCardFingerprint, EntryVoucherSerial, EntryDevice, EntryCustomer:
	case EntryEmail:
		value = strings.ToLower(value)
		if !strings.Contains(value, "@") {
			return "", kassa.Invalid("value", "value_invalid", "an email entry must be an email address")
		}
	case EntryIP:
		addr, err := netip.ParseAddr(value)
		if err != nil {
			return "", kassa.Invalid("value", "value_invalid", "an ip entry must be an IP address")
		}
		value = addr.Unmap().String()
	case EntryCountry:
		value = strings.ToUpper(value)
		if len(value) != 2 || value[0] < 'A' || value[0] > 'Z' || value[1] < 'A' || value[1] > 'Z' {
			return "", kassa.Invalid("value", "value_invalid", "a country entry must be an ISO 3166-1 alpha-2 code")
		}
	default:
		return "", kassa.Invalid("type", "type_invalid",
			"type must be card_fingerprint, voucher_serial, device, ip, email, country or customer")
	}
	return value, nil
}

// DeleteListEntry removes an entry.
func (e *Engine) DeleteListEntry(ctx context.Context, merchantID, list, typ, value string) error {
	if err := e.store.DeleteListEntry(ctx, merchantID, list, typ, value); err != nil {
		return err
	}
	e.lists.invalidate(merchantID)
	return nil
}

// ListEntries returns a merchant's entries ("" list: both).
func (e *Engine) ListEntries(ctx context.Context, merchantID, list string) ([]ListEntry, error) {
	return e.store.ListEntries(ctx, merchantID, list, false)
}

// Evaluation returns a stored evaluation of the merchant.
func (e *Engine) Evaluation(ctx context.Context, merchantID, id string) (Evaluation, error) {
	if err := e.writer.flush(ctx); err != nil {
		return Evaluation{}, err
	}
	return e.store.Evaluation(ctx, merchantID, id)
}

// Platform-wide locks act for every merchant. They come only from the
// policy on real payment attempts (lockOnFailures) and from the operator
// (LockPlatform, kassa risk locks add), and they always expire: a
// merchant's labels, lists and standalone attempts act within that
// merchant.

// PlatformLockMax is the longest an operator's platform-wide lock lasts.
const PlatformLockMax = 90 * 24 * time.Hour

// PlatformLocks returns the platform-wide block list entries, expired
// ones (not yet deleted) included.
func (e *Engine) PlatformLocks(ctx context.Context) ([]ListEntry, error) {
	return e.store.ListEntries(ctx, "", ListBlock, false)
}

// LockPlatform is the operator's lock: value goes on the platform's block
// list for d (more than 0, at most PlatformLockMax).
func (e *Engine) LockPlatform(ctx context.Context, typ, value, note string, d time.Duration) (ListEntry, error) {
	if d <= 0 || d > PlatformLockMax {
		return ListEntry{}, kassa.Invalid("for", "lock_duration_invalid", "a platform-wide lock lasts more than 0 and at most %s", PlatformLockMax)
	}
	en := ListEntry{List: ListBlock, Type: typ, Value: value, Note: note, Expires: e.now().UTC().Add(d)}
	en, err := e.PutListEntry(ctx, en)
	if err != nil {
		return ListEntry{}, err
	}
	e.lists.invalidateAll()
	return en, nil
}

// LiftPlatformLock removes a platform-wide lock (kassa.ENotFound when
// there is none). Other nodes stop applying it within their list cache's
// lifetime (seconds).
func (e *Engine) LiftPlatformLock(ctx context.Context, typ, value string) error {
	value, err := normalizeEntry(typ, value)
	if err != nil {
		return err
	}
	if err := e.store.DeleteListEntry(ctx, "", ListBlock, typ, value); err != nil {
		return err
	}
	e.lists.invalidateAll()
	return nil
}
