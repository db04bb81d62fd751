package risk_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/internal/syncbuf"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/risk/model"
	"github.com/kassa/kassa/store/sqlstore"
)

// TestModelsLoadedLoggedOnChange: "risk: models loaded" is logged when the
// engine starts and when the active or shadow model changes, not at every
// periodic reload of the registry (every 5 s on every node).
func TestModelsLoadedLoggedOnChange(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	logs := &syncbuf.Buffer{}
	eng, err := risk.NewEngine(risk.Config{Store: sqlstore.NewRisk(db), Node: "n1", DefaultModel: risk.DefaultModel,
		IDs: id.Generator{}, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	if err := eng.Start(rctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); eng.Close() })
	loaded := func() int { return strings.Count(logs.String(), `"msg":"risk: models loaded"`) }
	refresh := func(n int) {
		t.Helper()
		for range n {
			if err := eng.RefreshModels(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := loaded(); got != 1 {
		t.Fatalf("after start: %d lines, want 1\n%s", got, logs)
	}
	refresh(3)
	if got := loaded(); got != 1 {
		t.Fatalf("3 reloads of an unchanged registry (built-in model) logged %d lines in all, want 1", got)
	}

	// A shadow model, then the same one active: one line each.
	m, err := model.Load(strings.NewReader(string(risk.DefaultModel)))
	if err != nil {
		t.Fatal(err)
	}
	m.Version = "test-shadow"
	var body strings.Builder
	if err := m.Save(&body); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.UploadModel(ctx, []byte(body.String())); err != nil {
		t.Fatal(err)
	}
	if err := eng.SetModelStatus(ctx, "test-shadow", risk.ModelShadow); err != nil {
		t.Fatal(err)
	}
	refresh(3)
	if got := loaded(); got != 2 {
		t.Fatalf("a shadow model and 3 reloads: %d lines in all, want 2", got)
	}
	if err := eng.SetModelStatus(ctx, "test-shadow", risk.ModelActive); err != nil {
		t.Fatal(err)
	}
	refresh(3)
	if got := loaded(); got != 3 {
		t.Fatalf("the model made active and 3 reloads: %d lines in all, want 3", got)
	}
	if a, s := eng.ActiveModel(); a != "test-shadow" || s != "" {
		t.Errorf("ActiveModel = %q, %q", a, s)
	}
}
