package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Environment variables read by the tests.
const (
	// envRequire lists test dependencies whose absence fails tests rather
	// than skipping them; "xgboost" is this package's (Debian's
	// python3-xgboost and python3-sklearn).
	envRequire = "KASSA_TEST_REQUIRE"
	// envPython overrides the Python interpreter, by default Debian's
	// (the one python3-xgboost installs into).
	envPython = "KASSA_TEST_PYTHON"
)

func python() string {
	if p := os.Getenv(envPython); p != "" {
		return p
	}
	return "/usr/bin/python3"
}

// needXGBoost skips t (fails it when KASSA_TEST_REQUIRE names xgboost)
// unless Python with XGBoost and scikit-learn is installed.
func needXGBoost(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python(), "-c", "import xgboost, sklearn; print(xgboost.__version__)").CombinedOutput()
	if err == nil {
		t.Logf("XGBoost %s", bytes.TrimSpace(out))
		return
	}
	msg := fmt.Sprintf("%s with xgboost and sklearn not available "+
		"(apt-get install -y --no-install-recommends python3-xgboost python3-sklearn, or set %s): %v %s",
		python(), envPython, err, bytes.TrimSpace(out))
	for _, s := range strings.Split(os.Getenv(envRequire), ",") {
		if strings.TrimSpace(s) == "xgboost" {
			t.Fatalf("%s; %s=%q requires it", msg, envRequire, os.Getenv(envRequire))
		}
	}
	t.Skip("SKIPPING XGBoost comparison: " + msg)
}

// TestXGBoostReference checks LoadXGBoost against XGBoost itself
// (predictions, margins, SHAP and Saabas contributions) and Evaluate
// against scikit-learn, on data with missing values and tied scores.
func TestXGBoostReference(t *testing.T) {
	needXGBoost(t)
	dir := t.TempDir()
	ds := synthetic(3000, 6, 31, 0.15, interaction)
	const trainRows = 2000
	writeFloats(t, filepath.Join(dir, "x.f32"), ds.X)
	writeFloats(t, filepath.Join(dir, "y.f32"), ds.Y)

	scoreSets, labelSets := referenceScores(ds)
	for k := range scoreSets {
		writeFloats(t, filepath.Join(dir, fmt.Sprintf("scores_%d.f64", k)), scoreSets[k])
		labels := make([]byte, len(labelSets[k]))
		for i, l := range labelSets[k] {
			if l {
				labels[i] = 1
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("labels_%d.u8", k)), labels, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	meta, _ := json.Marshal(map[string]any{"rows": ds.Rows(), "cols": len(ds.Names), "train_rows": trainRows, "names": ds.Names, "score_sets": len(scoreSets)})
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), meta, 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("testdata/xgboost_reference.py")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(python(), script, dir).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}

	for _, name := range []string{"hist", "exact"} {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			m, err := LoadXGBoost(f, ds.Names)
			if err != nil {
				t.Fatalf("LoadXGBoost: %v", err)
			}
			// Through a kassa model file and back, it must still agree.
			m = mustLoad(t, saved(t, m))
			nf := len(ds.Names)
			pred, margin := readFloats(t, dir, name+"_pred"), readFloats(t, dir, name+"_margin")
			shap, saabas := readFloats(t, dir, name+"_shap"), readFloats(t, dir, name+"_saabas")
			var contrib, exact []float64
			var worstPred, worstShap, worstSaabas float64
			for i := range ds.Rows() {
				x := ds.Row(i)
				worstPred = max(worstPred, math.Abs(m.Predict(x)-pred[i]))
				if d := math.Abs(m.Margin(x) - margin[i]); d > 1e-4 {
					t.Fatalf("row %d: margin %v, XGBoost's %v", i, m.Margin(x), margin[i])
				}
				contrib = m.Contributions(x, contrib)
				exact = m.ExactContributions(x, exact)
				for j := range nf + 1 {
					worstSaabas = max(worstSaabas, math.Abs(contrib[j]-saabas[i*(nf+1)+j]))
					worstShap = max(worstShap, math.Abs(exact[j]-shap[i*(nf+1)+j]))
				}
				if d := math.Abs(sum(contrib) - m.Margin(x)); d > 1e-6 {
					t.Fatalf("row %d: contributions sum to %v, margin %v", i, sum(contrib), m.Margin(x))
				}
			}
			t.Logf("largest differences from XGBoost: probability %.2g, Saabas %.2g, TreeSHAP %.2g", worstPred, worstSaabas, worstShap)
			if worstPred > 1e-5 {
				t.Errorf("probabilities differ from XGBoost's by up to %g, want ≤ 1e-5", worstPred)
			}
			if worstSaabas > 1e-4 || worstShap > 1e-4 {
				t.Errorf("contributions differ from XGBoost's by up to %g (Saabas) and %g (SHAP), want ≤ 1e-4", worstSaabas, worstShap)
			}
		})
	}

	t.Run("metrics", func(t *testing.T) {
		var want []struct {
			AUPRC  float64 `json:"auprc"`
			ROCAUC float64 `json:"roc_auc"`
		}
		b, err := os.ReadFile(filepath.Join(dir, "metrics.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		for k := range scoreSets {
			got := Evaluate(scoreSets[k], labelSets[k], 0.5)
			if math.Abs(got.AUPRC-want[k].AUPRC) > 1e-9 || math.Abs(got.ROCAUC-want[k].ROCAUC) > 1e-9 {
				t.Errorf("score set %d: AUPRC %v ROC AUC %v, scikit-learn %v and %v", k, got.AUPRC, got.ROCAUC, want[k].AUPRC, want[k].ROCAUC)
			}
		}
	})
}

// referenceScores returns score sets for comparing Evaluate with
// scikit-learn: continuous, coarse (many ties), all tied, and few
// positives.
func referenceScores(ds *Dataset) ([][]float64, [][]bool) {
	rng := rand.New(rand.NewPCG(5, 5))
	n := ds.Rows()
	var scoreSets [][]float64
	var labelSets [][]bool
	labels := make([]bool, n)
	for i := range labels {
		labels[i] = ds.Y[i] == 1
	}
	continuous, coarse, tied := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		continuous[i] = sigmoid(interaction(ds.Row(i)) + rng.NormFloat64())
		coarse[i] = math.Round(continuous[i]*8) / 8
		tied[i] = 0.25
	}
	rare := make([]bool, n)
	for i := range rare {
		rare[i] = labels[i] && i%50 == 0
	}
	scoreSets = append(scoreSets, continuous, coarse, tied, coarse)
	labelSets = append(labelSets, labels, labels, labels, rare)
	return scoreSets, labelSets
}

func writeFloats[T float32 | float64](t *testing.T, path string, values []T) {
	t.Helper()
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, values); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFloats(t *testing.T, dir, name string) []float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+".f64"))
	if err != nil {
		t.Fatal(err)
	}
	values := make([]float64, len(b)/8)
	if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, values); err != nil {
		t.Fatal(err)
	}
	return values
}

func sum(values []float64) float64 {
	var s float64
	for _, v := range values {
		s += v
	}
	return s
}

// xgbJSON is a small XGBoost 1.7 model file: one tree splitting feature 0
// at 0.5 (missing values go left), leaves −0.4 and 0.6.
const xgbJSON = `{"learner": {"attributes": {}, "feature_names": [], "feature_types": [],
 "gradient_booster": {"model": {"gbtree_model_param": {"num_parallel_tree": "1", "num_trees": "1", "size_leaf_vector": "0"},
  "tree_info": [0], "trees": [{"base_weights": [0.1, -0.4, 0.6], "categories": [], "categories_nodes": [],
  "categories_segments": [], "categories_sizes": [], "default_left": [1, 0, 0], "id": 0,
  "left_children": [1, -1, -1], "loss_changes": [1.0, 0.0, 0.0], "parents": [2147483647, 0, 0],
  "right_children": [2, -1, -1], "split_conditions": [0.5, -0.4, 0.6], "split_indices": [0, 0, 0],
  "split_type": [0, 0, 0], "sum_hessian": [10.0, 6.0, 4.0],
  "tree_param": {"num_deleted": "0", "num_feature": "2", "num_nodes": "3", "size_leaf_vector": "0"}}]}, "name": "gbtree"},
 "learner_model_param": {"base_score": "5E-1", "boost_from_average": "1", "num_class": "0", "num_feature": "2", "num_target": "1"},
 "objective": {"name": "binary:logistic", "reg_loss_param": {"scale_pos_weight": "1"}}}, "version": [1, 7, 4]}`

func TestLoadXGBoostHandmade(t *testing.T) {
	m, err := LoadXGBoost(strings.NewReader(xgbJSON), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	tests := []struct {
		x    []float32
		want float64 // margin
	}{
		{[]float32{0.49, 9}, -0.4},
		{[]float32{0.5, 9}, 0.6}, // not < 0.5
		{[]float32{nan, 9}, -0.4},
	}
	for _, tt := range tests {
		if got := m.Margin(tt.x); math.Abs(got-tt.want) > 1e-7 {
			t.Errorf("Margin(%v) = %v, want %v", tt.x, got, tt.want)
		}
	}
	// Expected value of the tree: (6·−0.4 + 4·0.6)/10 = 0.
	c := m.Contributions([]float32{1, 0}, nil)
	if math.Abs(c[0]-0.6) > 1e-7 || c[1] != 0 || math.Abs(c[2]) > 1e-7 {
		t.Errorf("Contributions = %v, want [0.6 0 0]", c)
	}
	if m.Algo != AlgoXGBoost || m.Params["xgboost_version"] != "1.7.4" {
		t.Errorf("Algo %q, Params %v", m.Algo, m.Params)
	}
	// XGBoost 3.1 writes the base score as a list; 0.25 is log-odds −ln 3.
	m, err = LoadXGBoost(strings.NewReader(strings.Replace(xgbJSON, `"5E-1"`, `"[2.5E-1]"`, 1)), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Margin([]float32{1, 0}), float64(float32(0.6))-math.Log(3); math.Abs(got-want) > 1e-12 {
		t.Errorf("with base score [2.5E-1]: margin %v, want %v", got, want)
	}
}

func TestLoadXGBoostRefuses(t *testing.T) {
	names := []string{"a", "b"}
	tests := []struct {
		name  string
		old   string
		new   string
		names []string
		want  string
	}{
		{"objective", `"binary:logistic"`, `"reg:squarederror"`, names, "objective"},
		{"booster", `"name": "gbtree"`, `"name": "dart"`, names, "booster"},
		{"multi-class", `"num_class": "0"`, `"num_class": "3"`, names, "multi-class"},
		{"base score", `"5E-1"`, `"1.5"`, names, "base_score"},
		{"base scores", `"5E-1"`, `"[5E-1,5E-1]"`, names, "base_score"},
		{"names", ``, ``, []string{"a"}, "2 features"},
		{"no names", ``, ``, nil, "no feature names"},
		{"categorical", `"split_type": [0, 0, 0]`, `"split_type": [1, 0, 0]`, names, "categorical"},
		{"feature index", `"split_indices": [0, 0, 0]`, `"split_indices": [2, 0, 0]`, names, "feature 2 out of range"},
		{"child index", `"left_children": [1, -1, -1]`, `"left_children": [7, -1, -1]`, names, "out of range"},
		{"cycle", `"left_children": [1, -1, -1]`, `"left_children": [0, -1, -1]`, names, "reached twice"},
		{"lengths", `"sum_hessian": [10.0, 6.0, 4.0]`, `"sum_hessian": [10.0, 6.0]`, names, "differ in length"},
		{"negative cover", `"sum_hessian": [10.0, 6.0, 4.0]`, `"sum_hessian": [10.0, -6.0, 4.0]`, names, "cover"},
		{"default_left", `"default_left": [1, 0, 0]`, `"default_left": [2, 0, 0]`, names, "default_left"},
		{"not xgboost", `{"learner"`, `{"format": "kassa-model/1", "x"`, names, "not an XGBoost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(xgbJSON, tt.old) {
				t.Fatalf("%q not in the model", tt.old)
			}
			_, err := LoadXGBoost(strings.NewReader(strings.Replace(xgbJSON, tt.old, tt.new, 1)), tt.names)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}
