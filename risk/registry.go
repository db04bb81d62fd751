package risk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/risk/model"
)

// ModelBodyMax bounds an uploaded model file.
const ModelBodyMax = 64 << 20

// refreshModels loads the registry's active and shadow models when they
// changed (another node or an operator promoted one).
func (e *Engine) refreshModels(ctx context.Context) error {
	recs, err := e.store.Models(ctx)
	if err != nil {
		return fmt.Errorf("risk: models: %w", err)
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
	next := &modelSet{active: cur.active, shadow: cur.shadow}
	changed := false
	if activeV != "" && (cur.active == nil || cur.active.version != activeV) {
		bm, err := e.loadModel(ctx, activeV)
		if err != nil {
			return err
		}
		next.active, changed = bm, true
	}
	if activeV == "" && cur.active != nil && cur.active.version != "default" && len(e.cfg.DefaultModel) > 0 {
		// The registry has no active model any more: back to the built-in one.
		m, err := model.Load(bytes.NewReader(e.cfg.DefaultModel))
		if err != nil {
			return err
		}
		next.active, changed = newBoundModel(m, "default"), true
	}
	switch {
	case shadowV == "" && cur.shadow != nil:
		next.shadow, changed = nil, true
	case shadowV != "" && (cur.shadow == nil || cur.shadow.version != shadowV):
		bm, err := e.loadModel(ctx, shadowV)
		if err != nil {
			return err
		}
		next.shadow, changed = bm, true
	}
	if changed {
		e.models.Store(next)
		e.log.Info("risk: models loaded", "active", next.activeVersion(), "shadow", shadowV)
	}
	return nil
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
	en.Value = strings.TrimSpace(en.Value)
	if en.Value == "" || len(en.Value) > listValueMax || !utf8.ValidString(en.Value) {
		return ListEntry{}, kassa.Invalid("value", "value_invalid", "value must be 1 to %d bytes of UTF-8", listValueMax)
	}
	if len(en.Note) > listNoteMax || !utf8.ValidString(en.Note) {
		return ListEntry{}, kassa.Invalid("note", "note_invalid", "note may be at most %d bytes of UTF-8", listNoteMax)
	}
	switch en.Type {
	case EntryCardFingerprint, EntryVoucherSerial, EntryDevice, EntryCustomer:
	case EntryEmail:
		en.Value = strings.ToLower(en.Value)
		if !strings.Contains(en.Value, "@") {
			return ListEntry{}, kassa.Invalid("value", "value_invalid", "an email entry must be an email address")
		}
	case EntryIP:
		addr, err := netip.ParseAddr(en.Value)
		if err != nil {
			return ListEntry{}, kassa.Invalid("value", "value_invalid", "an ip entry must be an IP address")
		}
		en.Value = addr.Unmap().String()
	case EntryCountry:
		en.Value = strings.ToUpper(en.Value)
		if len(en.Value) != 2 || en.Value[0] < 'A' || en.Value[0] > 'Z' || en.Value[1] < 'A' || en.Value[1] > 'Z' {
			return ListEntry{}, kassa.Invalid("value", "value_invalid", "a country entry must be an ISO 3166-1 alpha-2 code")
		}
	default:
		return ListEntry{}, kassa.Invalid("type", "type_invalid",
			"type must be card_fingerprint, voucher_serial, device, ip, email, country or customer")
	}
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
