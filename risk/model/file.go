package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// ErrInvalid is in the chain of the errors Load and LoadXGBoost return for
// files they refuse, as opposed to files they could not read.
var ErrInvalid = errors.New("invalid model file")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// body is what a model computes, as files hold it.
type body struct {
	BaseMargin *float64    `json:"base_margin,omitempty"` // trees
	Trees      []tree      `json:"trees,omitempty"`       // trees
	Linear     *linearFile `json:"linear,omitempty"`      // logistic
}

type linearFile struct {
	Intercept float64   `json:"intercept"`
	Weights   []float64 `json:"weights"`
	Means     []float64 `json:"means"`
	Scales    []float64 `json:"scales"`
}

// file is a whole model file: the metadata, then the body.
type file struct {
	Model
	body
}

func (m *Model) content() body {
	switch {
	case m.trees != nil:
		base := m.trees.base
		return body{BaseMargin: &base, Trees: m.trees.export()}
	case m.linear != nil:
		l := m.linear
		return body{Linear: &linearFile{Intercept: l.intercept, Weights: l.weights, Means: l.means, Scales: l.scales}}
	}
	panic("model: Model was not made by Train*, Load or LoadXGBoost")
}

// Save writes m as a kassa-model/1 JSON file. It refuses metadata that
// Load would refuse (a Version or Params set by hand, say).
func (m *Model) Save(w io.Writer) error {
	f := file{Model: *m, body: m.content()}
	f.Format = Format
	if err := f.checkMeta(); err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	if len(f.FeatureNames) != m.features() {
		return fmt.Errorf("save model: %d feature names for %d features", len(f.FeatureNames), m.features())
	}
	b, err := json.Marshal(&f)
	if err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	if len(b)+1 > fileSizeMax {
		return fmt.Errorf("save model: %d bytes, Load reads at most %d", len(b), fileSizeMax)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func (m *Model) features() int {
	if m.trees != nil {
		return m.trees.features
	}
	return len(m.linear.weights)
}

// Load reads a model file that Save wrote. It validates everything (see
// the package documentation); errors about the content wrap ErrInvalid.
func Load(r io.Reader) (*Model, error) {
	data, err := readLimited(r)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	m, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("load model: %w", err)
	}
	return m, nil
}

// readLimited reads all of r, refusing more than fileSizeMax bytes.
func readLimited(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, fileSizeMax+1))
	if err != nil {
		return nil, err
	}
	if len(data) > fileSizeMax {
		return nil, invalid("larger than %d bytes", fileSizeMax)
	}
	return data, nil
}

func parse(data []byte) (*Model, error) {
	// The format comes first, so that a file of another format or version
	// is named as such rather than refused for fields it may contain.
	var head struct {
		Format *string `json:"format"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, invalid("not JSON: %v", err)
	}
	if head.Format == nil {
		return nil, invalid("no format field; is it an XGBoost model (use LoadXGBoost)?")
	}
	if *head.Format != Format {
		return nil, invalid("format %.40q is not %q", *head.Format, Format)
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, invalid("%v", err)
	}
	if err := f.checkMeta(); err != nil {
		return nil, invalid("%v", err)
	}
	m := &f.Model
	switch f.Algo {
	case AlgoGBDT, AlgoXGBoost:
		if f.Linear != nil || f.BaseMargin == nil {
			return nil, invalid("a %s model has base_margin and trees, no linear", f.Algo)
		}
		e, err := compile(f.Trees, *f.BaseMargin, len(f.FeatureNames), false)
		if err != nil {
			return nil, invalid("%v", err)
		}
		m.trees = e
	case AlgoLogistic:
		if f.Linear == nil || f.Trees != nil || f.BaseMargin != nil {
			return nil, invalid("a logistic model has linear, no base_margin or trees")
		}
		lin, err := f.Linear.compile(len(f.FeatureNames))
		if err != nil {
			return nil, invalid("linear: %v", err)
		}
		m.linear = lin
	}
	return m, nil
}

func (l *linearFile) compile(features int) (*linear, error) {
	if len(l.Weights) != features || len(l.Means) != features || len(l.Scales) != features {
		return nil, fmt.Errorf("weights, means and scales need %d values each", features)
	}
	if !within(l.Intercept, logOddsMax) {
		return nil, fmt.Errorf("intercept is not within ±%g", logOddsMax)
	}
	for j := range features {
		if !within(l.Weights[j], logOddsMax) || !within(l.Means[j], scaleMax) || !(l.Scales[j] >= scaleMin && l.Scales[j] <= scaleMax) {
			return nil, fmt.Errorf("feature %d: want |weight| ≤ %g, |mean| ≤ %g and scale between %g and %g",
				j, logOddsMax, scaleMax, scaleMin, scaleMax)
		}
	}
	return newLinear(l.Intercept, l.Weights, l.Means, l.Scales), nil
}

// checkMeta validates the metadata of a model file.
func (m *Model) checkMeta() error {
	if m.Format != Format {
		return fmt.Errorf("format %q is not %q", m.Format, Format)
	}
	if err := checkVersion(m.Version); err != nil {
		return err
	}
	switch m.Algo {
	case AlgoGBDT, AlgoLogistic, AlgoXGBoost:
	default:
		return fmt.Errorf("algo %.40q is not gbdt, logistic or xgboost", m.Algo)
	}
	if err := checkNames(m.FeatureNames); err != nil {
		return err
	}
	if m.TrainedOn < 0 {
		return fmt.Errorf("trained_on %d is negative", m.TrainedOn)
	}
	if y := m.Created.Year(); y < 1 || y > 9999 {
		return fmt.Errorf("created %v is out of range", m.Created)
	}
	if err := checkParams(m.Params); err != nil {
		return err
	}
	if m.Metrics != nil {
		return m.Metrics.check()
	}
	return nil
}

// checkVersion accepts 1 to versionMax letters, digits and . _ - + :
func checkVersion(v string) error {
	if v == "" || len(v) > versionMax {
		return fmt.Errorf("version must have 1 to %d bytes", versionMax)
	}
	for _, c := range []byte(v) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '_' || c == '-' || c == '+' || c == ':'
		if !ok {
			return fmt.Errorf("version %.40q may only contain letters, digits and . _ - + :", v)
		}
	}
	return nil
}

// checkParams accepts at most paramsMax scalar values (numbers, short
// strings, booleans, null) under short keys.
func checkParams(params map[string]any) error {
	if len(params) > paramsMax {
		return fmt.Errorf("%d params, at most %d allowed", len(params), paramsMax)
	}
	for k, v := range params {
		if k == "" || len(k) > 64 || !utf8.ValidString(k) {
			return fmt.Errorf("param name %.40q is empty, longer than 64 bytes or not UTF-8", k)
		}
		switch v := v.(type) {
		case nil, bool:
		case json.Number:
			if len(v) > 64 {
				return fmt.Errorf("param %q: number too long", k)
			}
		case float64:
			if !finite(v) {
				return fmt.Errorf("param %q is not finite", k)
			}
		case int, int64, uint64:
		case string:
			if len(v) > paramValueMax || !utf8.ValidString(v) {
				return fmt.Errorf("param %q: longer than %d bytes or not UTF-8", k, paramValueMax)
			}
		default:
			return fmt.Errorf("param %q is a %T, not a number, string, boolean or null", k, v)
		}
	}
	return nil
}

func (mt *Metrics) check() error {
	for _, v := range []float64{mt.AUPRC, mt.ROCAUC, mt.RecallAt1PctFPR, mt.PrecisionAtThreshold, mt.RecallAtThreshold} {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("metrics: rates must be between 0 and 1")
		}
	}
	if !finite(mt.Threshold) || mt.Positives < 0 || mt.Negatives < 0 {
		return fmt.Errorf("metrics: threshold must be finite and counts ≥ 0")
	}
	return nil
}
