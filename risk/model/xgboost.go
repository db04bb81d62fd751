package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// xgbModel is the part of XGBoost's JSON model (Booster.save_model with a
// .json name; the layout of XGBoost 1.7) that prediction needs.
type xgbModel struct {
	Learner struct {
		FeatureNames    []string `json:"feature_names"`
		GradientBooster struct {
			Name  string `json:"name"`
			Model struct {
				Param struct {
					NumParallelTree string `json:"num_parallel_tree"`
					NumTrees        string `json:"num_trees"`
				} `json:"gbtree_model_param"`
				TreeInfo []int     `json:"tree_info"`
				Trees    []xgbTree `json:"trees"`
			} `json:"model"`
		} `json:"gradient_booster"`
		Param struct {
			BaseScore  string `json:"base_score"`
			NumClass   string `json:"num_class"`
			NumFeature string `json:"num_feature"`
			NumTarget  string `json:"num_target"`
		} `json:"learner_model_param"`
		Objective struct {
			Name string `json:"name"`
		} `json:"objective"`
	} `json:"learner"`
	Version []int `json:"version"`
}

type xgbTree struct {
	LeftChildren    []int32   `json:"left_children"`
	RightChildren   []int32   `json:"right_children"`
	SplitIndices    []int32   `json:"split_indices"`
	SplitConditions []float32 `json:"split_conditions"`
	DefaultLeft     []xgbBool `json:"default_left"`
	SumHessian      []float64 `json:"sum_hessian"`
	SplitType       []int     `json:"split_type"`
	Categories      []int     `json:"categories"`
}

// xgbBool reads default_left entries, which XGBoost writes as 0/1 (and
// some versions as booleans).
type xgbBool bool

func (b *xgbBool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "1", "true":
		*b = true
	case "0", "false":
		*b = false
	default:
		return fmt.Errorf("default_left value %.20s is not 0, 1, true or false", data)
	}
	return nil
}

// LoadXGBoost reads a model XGBoost saved as JSON (Booster.save_model
// with a .json name) for objective binary:logistic and booster gbtree;
// other objectives, boosters, multi-class models and categorical splits
// are refused. featureNames name its columns in training order; nil takes
// the names saved in the model. The model is checked as strictly as Load
// checks files, and the result predicts what XGBoost predicts: margin =
// logit(base_score) + Σ leaves, a row going left when x < split_condition
// as float32, missing values by default_left. All trees are used, as
// Booster.predict does; a best_iteration attribute is ignored.
func LoadXGBoost(r io.Reader, featureNames []string) (*Model, error) {
	data, err := readLimited(r)
	if err != nil {
		return nil, fmt.Errorf("load xgboost model: %w", err)
	}
	m, err := parseXGBoost(data, featureNames)
	if err != nil {
		return nil, fmt.Errorf("load xgboost model: %w", err)
	}
	return m, nil
}

func parseXGBoost(data []byte, featureNames []string) (*Model, error) {
	var x xgbModel
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&x); err != nil {
		return nil, invalid("not an XGBoost JSON model: %v", err)
	}
	l := &x.Learner
	if len(x.Version) == 0 || l.Objective.Name == "" {
		return nil, invalid("not an XGBoost JSON model (no version or objective)")
	}
	if l.Objective.Name != "binary:logistic" {
		return nil, invalid("objective %.40q is not binary:logistic", l.Objective.Name)
	}
	if l.GradientBooster.Name != "gbtree" {
		return nil, invalid("booster %.40q is not gbtree", l.GradientBooster.Name)
	}
	if c := l.Param.NumClass; c != "0" && c != "1" {
		return nil, invalid("num_class %.20q: multi-class models are not supported", c)
	}
	if t := l.Param.NumTarget; t != "" && t != "1" {
		return nil, invalid("num_target %.20q: multi-target models are not supported", t)
	}
	// XGBoost 3.1 writes a list of one value per target ("[5E-1]").
	baseScore, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(l.Param.BaseScore, "["), "]"), 64)
	if err != nil || !(baseScore > 0 && baseScore < 1) {
		return nil, invalid("base_score %.40q is not a probability strictly between 0 and 1", l.Param.BaseScore)
	}
	nf, err := strconv.Atoi(l.Param.NumFeature)
	if err != nil || nf < 1 || nf > featuresMax {
		return nil, invalid("num_feature %.20q is not between 1 and %d", l.Param.NumFeature, featuresMax)
	}
	if featureNames == nil {
		if len(l.FeatureNames) == 0 {
			return nil, invalid("no feature names given and none saved in the model")
		}
		featureNames = l.FeatureNames
	} else if len(l.FeatureNames) > 0 && !slices.Equal(l.FeatureNames, featureNames) {
		return nil, invalid("the model was trained on features %.200q, not the ones given", l.FeatureNames)
	}
	if len(featureNames) != nf {
		return nil, invalid("the model has %d features, %d names were given", nf, len(featureNames))
	}
	if err := checkNames(featureNames); err != nil {
		return nil, invalid("%v", err)
	}
	trees, err := xgbTrees(l.GradientBooster.Model.Trees, l.GradientBooster.Model.TreeInfo)
	if err != nil {
		return nil, err
	}
	e, err := compile(trees, logit(baseScore), nf, true)
	if err != nil {
		return nil, invalid("%v", err)
	}
	m := &Model{
		Format:       Format,
		Algo:         AlgoXGBoost,
		FeatureNames: clone(featureNames),
		Created:      time.Now().UTC().Truncate(time.Second),
		trees:        e,
	}
	m.Params = map[string]any{
		"objective":       l.Objective.Name,
		"base_score":      json.Number(strconv.FormatFloat(baseScore, 'g', -1, 64)),
		"xgboost_version": joinVersion(x.Version),
	}
	sum, err := m.contentHash()
	if err != nil {
		return nil, err
	}
	m.Version = fmt.Sprintf("%s-%s-%s", m.Algo, m.Created.Format("20060102T150405"), sum[:8])
	return m, nil
}

func joinVersion(v []int) string {
	b := make([]byte, 0, 16)
	for i, n := range v[:min(len(v), 4)] {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendInt(b, int64(n), 10)
	}
	return string(b)
}

// xgbTrees converts XGBoost's trees to this package's form. Leaves carry
// their value in split_conditions.
func xgbTrees(in []xgbTree, info []int) ([]tree, error) {
	if len(in) > treesMax {
		return nil, invalid("%d trees, at most %d allowed", len(in), treesMax)
	}
	if len(info) != len(in) {
		return nil, invalid("%d trees but %d tree_info entries", len(in), len(info))
	}
	trees := make([]tree, len(in))
	for ti := range in {
		x := &in[ti]
		if info[ti] != 0 {
			return nil, invalid("tree %d belongs to output group %d; only one is supported", ti, info[ti])
		}
		n := len(x.LeftChildren)
		if n == 0 || n > treeNodesMax {
			return nil, invalid("tree %d: %d nodes, want 1 to %d", ti, n, treeNodesMax)
		}
		if len(x.RightChildren) != n || len(x.SplitIndices) != n || len(x.SplitConditions) != n ||
			len(x.DefaultLeft) != n || len(x.SumHessian) != n {
			return nil, invalid("tree %d: node arrays differ in length", ti)
		}
		if len(x.Categories) > 0 || slices.ContainsFunc(x.SplitType, func(t int) bool { return t != 0 }) {
			return nil, invalid("tree %d has categorical splits, which are not supported", ti)
		}
		t := tree{
			Left: clone(x.LeftChildren), Right: clone(x.RightChildren), Feature: clone(x.SplitIndices),
			Threshold: clone(x.SplitConditions), DefaultLeft: make([]bool, n),
			Value: make([]float64, n), Cover: clone(x.SumHessian),
		}
		for i := range n {
			t.DefaultLeft[i] = bool(x.DefaultLeft[i])
			if t.Left[i] == -1 {
				t.Feature[i] = -1
				t.Value[i] = float64(x.SplitConditions[i])
				t.Threshold[i] = 0
			}
		}
		trees[ti] = t
	}
	return trees, nil
}
