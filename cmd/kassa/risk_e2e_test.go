package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runPlain runs a command of the real binary that takes no data
// directory (simulate, model train/evaluate).
func runPlain(t *testing.T, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(kassaBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kassa %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

// The model workflow of the CLI: simulate (reproducibly), train both
// algorithms, evaluate on data held out by seed and time, then manage the
// registry (upload, shadow, promote, roll back) and see a running server
// score with the promoted model.
func TestE2EModelWorkflow(t *testing.T) {
	dir := t.TempDir()
	train, held, again := filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "held.jsonl"), filepath.Join(dir, "again.jsonl")
	runPlain(t, "simulate", "--seed", "3", "--payers", "300", "--days", "6", "--out", train)
	runPlain(t, "simulate", "--seed", "3", "--payers", "300", "--days", "6", "--out", again)
	runPlain(t, "simulate", "--seed", "4", "--payers", "300", "--days", "4", "--start", "2026-02-01", "--out", held)
	a, _ := os.ReadFile(train)
	b, _ := os.ReadFile(again)
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("the same seed gave different streams (%d and %d bytes)", len(a), len(b))
	}
	gbdt, logistic := filepath.Join(dir, "gbdt.json"), filepath.Join(dir, "logistic.json")
	vg, _ := runPlain(t, "model", "train", "--events", train, "--out", gbdt, "--trees", "40")
	vl, _ := runPlain(t, "model", "train", "--events", train, "--out", logistic, "--algo", "logistic")
	vg, vl = strings.TrimSpace(vg), strings.TrimSpace(vl)
	if !strings.HasPrefix(vg, "gbdt-") || !strings.HasPrefix(vl, "logistic-") {
		t.Fatalf("versions %q and %q", vg, vl)
	}
	for _, m := range []string{gbdt, logistic} {
		out, _ := runPlain(t, "model", "evaluate", "--events", held, "--model", m, "--json")
		var res map[string]any
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("evaluate --json printed %q", out)
		}
		for _, k := range []string{"auprc", "roc_auc", "recall_at_1pct_fpr", "precision_at_threshold"} {
			v, ok := res[k].(float64)
			if !ok || v < 0 || v > 1 {
				t.Errorf("%s: %s = %v", filepath.Base(m), k, res[k])
			}
		}
		if res["positives"].(float64) == 0 {
			t.Errorf("%s: no fraud in the held-out data", filepath.Base(m))
		}
		t.Logf("%s: auprc %.3f roc_auc %.3f", filepath.Base(m), res["auprc"], res["roc_auc"])
	}

	// Another world, judged by the built-in model (no --model), with
	// per-pattern and per-segment numbers, calibration and a score file.
	world := filepath.Join(dir, "world2.jsonl")
	runPlain(t, "simulate", "--world", "2", "--seed", "5", "--payers", "300", "--days", "4", "--fraud-rate", "0.02", "--out", world)
	scores := filepath.Join(dir, "scores.csv")
	out, _ := runPlain(t, "model", "evaluate", "--events", world, "--json", "--scores", scores)
	var res struct {
		Model       string
		Rows        int
		Positives   int
		Brier       *float64
		Reliability []map[string]float64
		Types       map[string]map[string]float64 `json:"recall_by_fraud_type"`
		Segments    map[string]map[string]float64 `json:"fpr_by_segment"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("evaluate --json printed %q", out)
	}
	if res.Model == "" || res.Positives == 0 || res.Brier == nil || len(res.Reliability) != 10 || len(res.Types) == 0 ||
		res.Segments["all_legit"]["count"] == 0 {
		t.Errorf("evaluate of the built-in model on world 2: %s", out)
	}
	csvBody, err := os.ReadFile(scores)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(csvBody)), "\n"); lines[0] != "id,label,fraud_type,score,segments" || len(lines) != res.Rows+1 {
		t.Errorf("scores.csv: %d lines for %d rows, header %q", len(lines), res.Rows, lines[0])
	}
	if text, _ := runPlain(t, "model", "evaluate", "--events", world); !strings.Contains(text, "recall at 1% FPR by fraud type") ||
		!strings.Contains(text, "first_time_customer") || !strings.Contains(text, "reliability") {
		t.Errorf("evaluate's report:\n%s", text)
	}

	forEachBackend(t, func(t *testing.T, be backend) {
		if _, err := runKassa(t, be, "model", "rollback"); err == nil {
			t.Error("rollback with no previous model succeeded")
		}
		for _, m := range []string{gbdt, logistic} {
			if _, err := runKassa(t, be, "model", "upload", m); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := runKassa(t, be, "model", "upload", gbdt); err == nil {
			t.Error("uploading a version twice succeeded")
		}
		mustRun := func(args ...string) string {
			t.Helper()
			out, err := runKassa(t, be, args...)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		mustRun("model", "promote", vg)
		mustRun("model", "shadow", vl)
		list := mustRun("model", "list")
		if !regexpLine(list, vg, "active") || !regexpLine(list, vl, "shadow") {
			t.Fatalf("model list:\n%s", list)
		}
		out, err := runKassa(t, be, "merchants", "create", "--name", "Risky", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ Secret_key string }
		json.Unmarshal([]byte(out), &m)
		s := startServe(t, be)
		resp, ev := s.request(t, "POST", "/v1/risk/evaluate", m.Secret_key, map[string]any{"amount": 1000, "currency": "EUR",
			"ip": "81.2.69.7", "customer_id": "cus_1"})
		if resp.StatusCode != 200 || ev["model_version"] != vg || ev["shadow_model_version"] != vl || ev["shadow_score"] == nil {
			t.Fatalf("evaluate = %d %v", resp.StatusCode, ev)
		}
		// Promote the logistic model; the server picks it up within seconds.
		mustRun("model", "promote", vl)
		mustRun("model", "rollback") // back to the gbdt model
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, ev = s.request(t, "POST", "/v1/risk/evaluate", m.Secret_key, map[string]any{"amount": 1000, "currency": "EUR"})
			if ev["model_version"] == vg && ev["shadow_model_version"] == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after promote and rollback the server scores with %v (shadow %v), want %s alone", ev["model_version"], ev["shadow_model_version"], vg)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})
}

// regexpLine reports whether a line of out holds both words.
func regexpLine(out, a, b string) bool {
	for l := range strings.Lines(out) {
		if strings.Contains(l, a) && strings.Contains(l, b) {
			return true
		}
	}
	return false
}

// kassa simulate --target drives a running server through the API.
func TestE2ESimulateTarget(t *testing.T) {
	be := backends(t)[0](t)
	out, err := runKassa(t, be, "merchants", "create", "--name", "Sim", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Secret_key string }
	json.Unmarshal([]byte(out), &m)
	s := startServe(t, be)
	stats, _ := runPlain(t, "simulate", "--seed", "5", "--payers", "40", "--days", "1", "--target", s.base, "--key", m.Secret_key,
		"--insecure", "--concurrency", "2")
	var st struct {
		Events int
		Fraud  map[string]int
		Legit  map[string]int
	}
	if err := json.Unmarshal([]byte(stats), &st); err != nil || st.Events == 0 {
		t.Fatalf("simulate --target printed %q (%v)", stats, err)
	}
	t.Logf("drove %d events: %s", st.Events, strings.TrimSpace(stats))
}
