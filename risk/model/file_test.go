package model

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// kassaJSON is a small hand-written model file: a tree that splits fa at
// 1 (missing left), then fb at 2 on the left (missing right).
const kassaJSON = `{"format":"kassa-model/1","version":"gbdt-20260102T150405-0123abcd","algo":"gbdt",
"feature_names":["fa","fb"],"created":"2026-01-02T15:04:05Z","trained_on":100,"params":{"trees":1},
"metrics":{"auprc":0.5,"roc_auc":0.7,"recall_at_1pct_fpr":0.1,"precision_at_threshold":0.4,"recall_at_threshold":0.3,"threshold":0.5,"positives":10,"negatives":90},
"base_margin":-1,
"trees":[{"left":[1,3,-1,-1,-1],"right":[2,4,-1,-1,-1],"feature":[0,1,-1,-1,-1],"threshold":[1,2,0,0,0],
"default_left":[true,false,false,false,false],"value":[0,0,0.5,-0.25,0.75],"cover":[100,60,40,30,30]}]}`

func TestLoadHandmade(t *testing.T) {
	m, err := Load(strings.NewReader(kassaJSON))
	if err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	tests := []struct {
		x    []float32
		want float64
	}{
		{[]float32{0, 1}, -1.25},
		{[]float32{0, 2}, -0.25},
		{[]float32{1, 0}, -0.5},
		{[]float32{nan, nan}, -0.25},
		{[]float32{5, nan}, -0.5},
	}
	for _, tt := range tests {
		if got := m.Margin(tt.x); got != tt.want {
			t.Errorf("Margin(%v) = %v, want %v", tt.x, got, tt.want)
		}
	}
	// The root expects (30·−0.25 + 30·0.75 + 40·0.5)/100 = 0.35, its left
	// child 0.25: fa moves 0.35 → 0.25, fb 0.25 → −0.25.
	got := m.Contributions([]float32{0, 1}, nil)
	want := []float64{-0.1, -0.5, -1 + 0.35}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("Contributions = %v, want %v", got, want)
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	gbdt, ds := smallGBDT(t)
	valid := synthetic(500, 5, 8, 0.1, interaction)
	logistic, err := TrainLogistic(ds, LogisticConfig{Valid: valid, Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	xgb, err := LoadXGBoost(strings.NewReader(xgbJSON), []string{"fa", "fb"})
	if err != nil {
		t.Fatal(err)
	}
	hand := mustLoad(t, []byte(kassaJSON))
	for _, m := range []*Model{gbdt, logistic, xgb, hand} {
		t.Run(m.Algo, func(t *testing.T) {
			b := saved(t, m)
			got := mustLoad(t, b)
			if !bytes.Equal(saved(t, got), b) {
				t.Errorf("saving the loaded model gives other bytes")
			}
			if got.Version != m.Version || !got.Created.Equal(m.Created) || got.TrainedOn != m.TrainedOn ||
				!reflect.DeepEqual(got.FeatureNames, m.FeatureNames) || !reflect.DeepEqual(got.Metrics, m.Metrics) ||
				fmt.Sprint(got.Params) != fmt.Sprint(m.Params) {
				t.Errorf("metadata changed:\n got %+v\nwant %+v", got, m)
			}
			for i := range ds.Rows() {
				x := ds.Row(i)[:len(m.FeatureNames)]
				if a, b := got.Predict(x), m.Predict(x); a != b {
					t.Fatalf("row %d: Predict %v after the round trip, %v before", i, a, b)
				}
			}
		})
	}
	if logistic.Metrics == nil || logistic.Params["l2"] == nil {
		t.Errorf("logistic model lacks Metrics or Params: %+v", logistic)
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     string
	}{
		{"format", `"kassa-model/1"`, `"kassa-model/2"`, `is not "kassa-model/1"`},
		{"no format", `"format":"kassa-model/1",`, ``, "no format"},
		{"not JSON", `{`, `[`, "not JSON"},
		{"child out of range", `"left":[1,3,`, `"left":[1,5,`, "out of range"},
		{"negative child", `"left":[1,3,`, `"left":[1,-2,`, "out of range"},
		{"cycle", `"left":[1,3,`, `"left":[1,0,`, "reached twice"},
		{"shared child", `"right":[2,4,`, `"right":[2,2,`, "reached twice"},
		{"unreachable", `"left":[1,3,`, `"left":[-1,3,`, "must have right and feature -1"},
		{"orphans", `"left":[1,3,-1,-1,-1],"right":[2,4,`, `"left":[1,-1,-1,-1,-1],"right":[2,-1,`, "feature -1"},
		{"feature out of range", `"feature":[0,1,`, `"feature":[0,2,`, "feature 2 out of range"},
		{"leaf with a feature", `"feature":[0,1,-1,`, `"feature":[0,1,0,`, "feature -1"},
		{"array lengths", `"cover":[100,60,40,30,30]`, `"cover":[100,60,40,30]`, "differ in length"},
		{"NaN", `"value":[0,0,0.5,`, `"value":[0,0,NaN,`, "not JSON"},
		{"infinite", `"value":[0,0,0.5,`, `"value":[0,0,1e999,`, "1e999"},
		{"float32 overflow", `"threshold":[1,`, `"threshold":[1e39,`, "float32"},
		{"negative cover", `"cover":[100,60,40,30,30]`, `"cover":[100,60,-40,30,30]`, "cover"},
		{"unknown field", `"base_margin":-1,`, `"base_margin":-1,"extra":1,`, "unknown field"},
		{"trailing data", `"cover":[100,60,40,30,30]}]}`, `"cover":[100,60,40,30,30]}]} {}`, "after top-level value"},
		{"algo", `"algo":"gbdt"`, `"algo":"forest"`, "algo"},
		{"algo and body", `"algo":"gbdt"`, `"algo":"logistic"`, "linear"},
		{"no base margin", `"base_margin":-1,`, ``, "base_margin"},
		{"version", `"gbdt-20260102T150405-0123abcd"`, `"a b"`, "version"},
		{"duplicate name", `["fa","fb"]`, `["fa","fa"]`, "twice"},
		{"nested param", `{"trees":1}`, `{"trees":{"a":1}}`, "param"},
		{"metric range", `"auprc":0.5`, `"auprc":1.5`, "metrics"},
		{"negative count", `"positives":10`, `"positives":-1`, "metrics"},
		{"trained_on", `"trained_on":100`, `"trained_on":-1`, "trained_on"},
		{"huge leaf", `"value":[0,0,0.5,`, `"value":[0,0,1e7,`, "value"},
		{"huge cover", `"cover":[100,`, `"cover":[1e19,`, "cover"},
		{"huge base margin", `"base_margin":-1`, `"base_margin":-1e7`, "base margin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(kassaJSON, tt.old) {
				t.Fatalf("%q not in the model", tt.old)
			}
			loadFails(t, strings.Replace(kassaJSON, tt.old, tt.new, 1), tt.want)
		})
	}
}

// linearJSON is a small hand-written logistic regression.
const linearJSON = `{"format":"kassa-model/1","version":"logistic-1","algo":"logistic","feature_names":["fa","fb"],
"created":"2026-01-02T15:04:05Z","trained_on":100,
"linear":{"intercept":-2,"weights":[1,-0.5],"means":[10,0],"scales":[2,1]}}`

func TestLoadLinear(t *testing.T) {
	m, err := Load(strings.NewReader(linearJSON))
	if err != nil {
		t.Fatal(err)
	}
	// −2 + 1·(14−10)/2 − 0.5·(missing: 0) = 0.
	x := []float32{14, float32(math.NaN())}
	if got := m.Margin(x); got != 0 {
		t.Errorf("Margin(%v) = %v, want 0", x, got)
	}
	if got := m.Contributions(x, nil); !slices.Equal(got, []float64{2, 0, -2}) {
		t.Errorf("Contributions(%v) = %v, want [2 0 -2]", x, got)
	}
	tests := []struct {
		name     string
		old, new string
		want     string
	}{
		{"zero scale", `"scales":[2,1]`, `"scales":[2,0]`, "scale"},
		{"lengths", `"weights":[1,-0.5]`, `"weights":[1]`, "2 values each"},
		{"huge weight", `"weights":[1,-0.5]`, `"weights":[1,-5e6]`, "weight"},
		{"trees too", `"trained_on":100,`, `"trained_on":100,"trees":[],`, "no base_margin or trees"},
		{"no linear", `,
"linear":{"intercept":-2,"weights":[1,-0.5],"means":[10,0],"scales":[2,1]}`, ``, "has linear"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(linearJSON, tt.old) {
				t.Fatalf("%q not in the model", tt.old)
			}
			_, err := Load(strings.NewReader(strings.Replace(linearJSON, tt.old, tt.new, 1)))
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}

func TestLoadRefusesLarge(t *testing.T) {
	t.Run("file size", func(t *testing.T) {
		_, err := Load(io.MultiReader(strings.NewReader(kassaJSON), io.LimitReader(spaces{}, fileSizeMax)))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("error %v, want ErrInvalid saying the file is too large", err)
		}
	})
	leaf := `{"left":[-1],"right":[-1],"feature":[-1],"threshold":[0],"default_left":[false],"value":[0.1],"cover":[1]}`
	t.Run("trees", func(t *testing.T) {
		trees := strings.Repeat(leaf+",", treesMax) + leaf
		loadFails(t, withTrees(trees), "5001 trees")
	})
	t.Run("depth", func(t *testing.T) {
		// A chain of splits, each with a leaf on the left.
		var l, r, f, th, dl, v, c []string
		n := 2*(treeDepthMax+1) + 1
		for i := 0; i < n; i++ {
			if i%2 == 0 && i+2 < n {
				l, r, f = append(l, fmt.Sprint(i+1)), append(r, fmt.Sprint(i+2)), append(f, "0")
			} else {
				l, r, f = append(l, "-1"), append(r, "-1"), append(f, "-1")
			}
			th, dl, v, c = append(th, "0"), append(dl, "false"), append(v, "0"), append(c, "1")
		}
		j := func(s []string) string { return "[" + strings.Join(s, ",") + "]" }
		tree := fmt.Sprintf(`{"left":%s,"right":%s,"feature":%s,"threshold":%s,"default_left":%s,"value":%s,"cover":%s}`,
			j(l), j(r), j(f), j(th), j(dl), j(v), j(c))
		loadFails(t, withTrees(tree), "deeper than 64")
	})
	t.Run("features", func(t *testing.T) {
		names := make([]string, featuresMax+1)
		for i := range names {
			names[i] = fmt.Sprintf(`"f%d"`, i)
		}
		loadFails(t, strings.Replace(kassaJSON, `["fa","fb"]`, "["+strings.Join(names, ",")+"]", 1), "1001 features")
	})
}

func withTrees(trees string) string {
	i := strings.LastIndex(kassaJSON, `"trees":`)
	return kassaJSON[:i] + `"trees":[` + trees + "]}"
}

func loadFails(t *testing.T, file, want string) {
	t.Helper()
	_, err := Load(strings.NewReader(file))
	if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
		t.Errorf("Load error %v, want ErrInvalid mentioning %q", err, want)
	}
}

type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

func TestSaveRefusesWhatLoadWould(t *testing.T) {
	m := mustLoad(t, []byte(kassaJSON))
	m.Version = "has spaces"
	if err := m.Save(io.Discard); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("Save error %v, want one about the version", err)
	}
}

// FuzzLoad feeds Load arbitrary bytes: it must return an error or a model
// that predicts without panicking, explains consistently and saves to a
// file that loads back the same.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(kassaJSON))
	f.Add([]byte(linearJSON))
	f.Add([]byte(xgbJSON))
	f.Add([]byte(strings.Replace(kassaJSON, `"left":[1,3,`, `"left":[1,0,`, 1)))
	gbdt, ds := smallGBDT(f)
	f.Add(saved(f, gbdt))
	logistic, err := TrainLogistic(ds, LogisticConfig{Clock: fixedClock})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(saved(f, logistic))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Load(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		nf := len(m.FeatureNames)
		nan := float32(math.NaN())
		for _, v := range []float32{0, nan, 1e30, -1e30} {
			x := make([]float32, nf)
			for j := range x {
				x[j] = v
			}
			margin := m.Margin(x)
			for _, c := range [][]float64{m.Contributions(x, nil), m.ExactContributions(x, nil)} {
				// Large opposite terms cancel differently in another order.
				if s := sum(c); math.Abs(s-margin) > 1e-9*max(1, sum(absAll(c))) {
					t.Fatalf("contributions sum to %v, margin %v", s, margin)
				}
			}
		}
		var buf bytes.Buffer
		if err := m.Save(&buf); err != nil {
			t.Fatalf("Save of a loaded model: %v", err)
		}
		again, err := Load(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("Load of a saved model: %v", err)
		}
		if !bytes.Equal(saved(t, again), buf.Bytes()) {
			t.Fatalf("save, load, save is not stable")
		}
	})
}
