package risk

import "context"

// RefreshModels runs the engine's periodic reload of the registry's
// models once, for tests that must not wait for its ticker.
func (e *Engine) RefreshModels(ctx context.Context) error { return e.refreshModels(ctx) }
