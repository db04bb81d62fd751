package model

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// setDefault sets *v to d when it is zero.
func setDefault[T cmp.Ordered](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// checkTrainingData validates the training set and the optional
// validation set, which must have the same features.
func checkTrainingData(ds, valid *Dataset) error {
	if ds == nil {
		return fmt.Errorf("no dataset")
	}
	if err := ds.check(); err != nil {
		return err
	}
	if valid == nil {
		return nil
	}
	if !slices.Equal(valid.Names, ds.Names) {
		return fmt.Errorf("validation set has other features than the training set")
	}
	if err := valid.check(); err != nil {
		return fmt.Errorf("validation set: %w", err)
	}
	return nil
}

// finish fills in a trained model's metadata: format, creation time,
// parameters (cfg's JSON fields and extra), metrics on valid, and the
// version algo-<UTC time>-<8 hex digits of the SHA-256 of its content>.
func (m *Model) finish(cfg any, extra map[string]any, valid *Dataset, threshold float64, clock func() time.Time) error {
	m.Format = Format
	m.Created = clock().UTC().Truncate(time.Second)
	params, err := toParams(cfg, extra)
	if err != nil {
		return err
	}
	m.Params = params
	if valid != nil {
		scores := make([]float64, valid.Rows())
		labels := make([]bool, valid.Rows())
		for i := range scores {
			scores[i] = m.Predict(valid.Row(i))
			labels[i] = valid.Y[i] == 1
		}
		metrics := Evaluate(scores, labels, threshold)
		m.Metrics = &metrics
	}
	sum, err := m.contentHash()
	if err != nil {
		return err
	}
	m.Version = fmt.Sprintf("%s-%s-%s", m.Algo, m.Created.Format("20060102T150405"), sum[:8])
	return nil
}

// toParams turns a configuration struct and extra values into Params:
// JSON values, with numbers as json.Number.
func toParams(cfg any, extra map[string]any) (map[string]any, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	var params map[string]any
	if err := json.Unmarshal(b, &params); err != nil {
		return nil, err
	}
	maps.Copy(params, extra)
	if b, err = json.Marshal(params); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	params = nil
	if err := dec.Decode(&params); err != nil {
		return nil, err
	}
	return params, nil
}

// contentHash returns the hex SHA-256 of what the model computes: its
// feature names and body as written to files.
func (m *Model) contentHash() (string, error) {
	b, err := json.Marshal(struct {
		Names []string `json:"feature_names"`
		body
	}{m.FeatureNames, m.content()})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
