package risk

import _ "embed"

// DefaultModel is the model a fresh installation scores with until the
// registry has an active one: gradient-boosted trees trained on the
// simulator's data (docs/benchmarks.md says how it was made and how well
// it does). It knows the patterns the simulator plays; a platform with
// real traffic should train on its own labels (kassa risk export, kassa
// model train) and promote that model.
//
//go:embed default_model.json
var DefaultModel []byte
