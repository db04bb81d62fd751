package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/risk/model"
	"github.com/kassa/kassa/risk/sim"
	"github.com/kassa/kassa/store/sqlstore"
)

func runModel(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	sub := map[string]func(context.Context, []string, env, io.Writer, io.Writer) error{
		"train":          runModelTrain,
		"evaluate":       runModelEvaluate,
		"import-xgboost": runModelImportXGBoost,
		"upload":         runModelUpload,
		"list":           runModelList,
		"promote":        runModelStatus(risk.ModelActive),
		"shadow":         runModelStatus(risk.ModelShadow),
		"retire":         runModelStatus(risk.ModelRetired),
		"rollback":       runModelRollback,
	}
	usage := "usage: kassa model <command> [flags]\n\n" +
		"  train --events FILE[,FILE...] --out MODEL [--algo gbdt|logistic]   train a model on labelled event files\n" +
		"  evaluate --events FILE [--model MODEL] [--json] [--scores FILE.csv]  metrics on events the model never saw (default: the built-in model)\n" +
		"  import-xgboost --in m.json --out MODEL [--features FILE] convert an XGBoost JSON model\n" +
		"  upload MODEL            add a model file to the registry (a candidate)\n" +
		"  list                    the registry\n" +
		"  promote VERSION         make a model the one whose score decides\n" +
		"  shadow VERSION          score and log with a model beside the active one, without acting\n" +
		"  retire VERSION          stop using a model\n" +
		"  rollback                make the previously active model active again\n"
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return usagef("model needs a command")
		}
		return nil
	}
	fn, ok := sub[args[0]]
	if !ok {
		return usagef("unknown model command %q", args[0])
	}
	return fn(ctx, args[1:], getenv, stdout, stderr)
}

// readTrainingSet reads labelled event files into one dataset of the
// features Kassa trains on. Each file is replayed with its own feature
// state: files are separate worlds or exports, not one stream.
func readTrainingSet(paths []string) (*model.Dataset, error) {
	ds := &model.Dataset{Names: append([]string(nil), risk.ModelFeatureNames...)}
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		part, _, err := risk.ReadLabelled(bufio.NewReaderSize(f, 1<<20), ds.Names)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if part.Rows() == 0 {
			return nil, fmt.Errorf("%s: no labelled events (label fraud or legit)", path)
		}
		ds.X = append(ds.X, part.X...)
		ds.Y = append(ds.Y, part.Y...)
	}
	return ds, nil
}

func positives(ds *model.Dataset) int {
	n := 0
	for _, y := range ds.Y {
		if y > 0 {
			n++
		}
	}
	return n
}

func runModelTrain(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("model train", "model train --events FILE[,FILE...] --out MODEL [--algo gbdt|logistic]", stderr)
	events := fs.String("events", "", "labelled event `files` (JSONL, time order), comma-separated; each is replayed on its own")
	out := fs.String("out", "", "model `file` to write")
	algo := fs.String("algo", "gbdt", "gbdt (gradient-boosted trees) or logistic (the baseline)")
	cfg := risk.TrainDefaults
	fs.IntVar(&cfg.Trees, "trees", cfg.Trees, "gbdt: number of trees")
	fs.IntVar(&cfg.MaxDepth, "depth", cfg.MaxDepth, "gbdt: maximum depth")
	fs.Float64Var(&cfg.LearningRate, "learning-rate", cfg.LearningRate, "gbdt: shrinkage of every tree")
	fs.Float64Var(&cfg.MinChildWeight, "min-child-weight", cfg.MinChildWeight, "gbdt: least hessian in a leaf")
	fs.Float64Var(&cfg.Lambda, "lambda", cfg.Lambda, "gbdt: L2 penalty on leaf values")
	fs.Float64Var(&cfg.Subsample, "subsample", cfg.Subsample, "gbdt: share of rows each tree sees")
	fs.Float64Var(&cfg.ColSample, "colsample", cfg.ColSample, "gbdt: share of features each tree may split on")
	monotone := fs.Bool("monotone", true, "gbdt: constrain the direction of failure counts, distinct counts and familiarity (docs/risk-features.md)")
	seed := fs.Uint64("seed", 1, "random seed (row sampling)")
	if err := parseFlags(fs, interleaved(args), getenv); err != nil {
		return err
	}
	if *events == "" || *out == "" {
		return usagef("model train needs --events and --out")
	}
	start := time.Now()
	ds, err := readTrainingSet(strings.Split(*events, ","))
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "features: %d rows (%d fraud), %d features, %s\n", ds.Rows(), positives(ds), len(ds.Names), time.Since(start).Round(time.Millisecond))
	start = time.Now()
	var m *model.Model
	switch *algo {
	case "gbdt":
		cfg.Seed = *seed
		if !*monotone {
			cfg.Monotone = nil
		}
		m, err = model.TrainGBDT(ds, cfg)
	case "logistic":
		m, err = model.TrainLogistic(ds, model.LogisticConfig{})
	default:
		return usagef("--algo must be gbdt or logistic")
	}
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	fmt.Fprintf(stderr, "trained %s in %s\n", m.Version, time.Since(start).Round(time.Millisecond))
	if err := writeModel(m, *out); err != nil {
		return err
	}
	fmt.Fprintln(stdout, m.Version)
	return nil
}

func writeModel(m *model.Model, path string) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := m.Save(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readModel(path string) (*model.Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := model.Load(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// EvaluateResult is what kassa model evaluate prints.
type EvaluateResult struct {
	risk.Assessment
	Model  string `json:"model"`
	Algo   string `json:"algo"`
	Events string `json:"events"`
	Rows   int    `json:"rows"`
}

// scoreFile featurizes a labelled event file and scores every labelled
// attempt with m, as the engine would have in time order.
func scoreFile(path string, m *model.Model) ([]risk.Scored, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ds, rows, err := risk.ReadLabelled(bufio.NewReaderSize(f, 1<<20), risk.FeatureNames)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no labelled events (label fraud or legit)", path)
	}
	bm := risk.BindModel(m)
	for i := range rows {
		rows[i].Score = bm.Probability(ds.Row(i))
	}
	return rows, nil
}

func runModelEvaluate(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("model evaluate", "model evaluate --events FILE [--model MODEL] [--json] [--threshold P] [--scores FILE.csv]", stderr)
	events := fs.String("events", "", "labelled event `file` the model never saw")
	path := fs.String("model", "", "model `file` (default: the built-in model)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	threshold := fs.Float64("threshold", 0.5, "probability at or above which an attempt counts as flagged (precision_at_threshold, recall_at_threshold)")
	scoresOut := fs.String("scores", "", "write every labelled attempt's score to this CSV `file` (id,label,fraud_type,score,segments)")
	if err := parseFlags(fs, interleaved(args), getenv); err != nil {
		return err
	}
	if *events == "" {
		return usagef("model evaluate needs --events")
	}
	if *threshold <= 0 || *threshold >= 1 {
		return usagef("--threshold must be between 0 and 1")
	}
	var m *model.Model
	var err error
	if *path == "" {
		m, err = model.Load(bytes.NewReader(risk.DefaultModel))
	} else {
		m, err = readModel(*path)
	}
	if err != nil {
		return err
	}
	rows, err := scoreFile(*events, m)
	if err != nil {
		return err
	}
	if *scoresOut != "" {
		if err := writeScores(*scoresOut, rows); err != nil {
			return err
		}
	}
	res := EvaluateResult{Assessment: risk.Assess(rows, *threshold), Model: m.Version, Algo: m.Algo,
		Events: *events, Rows: len(rows)}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	return printAssessment(stdout, res)
}

// writeScores writes one CSV row per scored attempt.
func writeScores(path string, rows []risk.Scored) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := csv.NewWriter(bw)
	_ = w.Write([]string{"id", "label", "fraud_type", "score", "segments"})
	for _, r := range rows {
		label := risk.LabelLegit
		if r.Fraud {
			label = risk.LabelFraud
		}
		_ = w.Write([]string{r.ID, label, r.FraudType, strconv.FormatFloat(r.Score, 'g', 6, 64), strings.Join(r.Segments, ";")})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func printAssessment(stdout io.Writer, res EvaluateResult) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s (%s)\nevents\t%s: %d (%d fraud)\nauprc\t%.4f\nroc_auc\t%.4f\nrecall_at_1pct_fpr\t%.4f (threshold %.4f)\nprecision_at_threshold\t%.4f (threshold %.2f)\nrecall_at_threshold\t%.4f\nbrier\t%.5f\n",
		res.Model, res.Algo, res.Events, res.Rows, res.Positives, res.AUPRC, res.ROCAUC, res.RecallAt1PctFPR, res.ThresholdAt1PctFPR,
		res.PrecisionAtThreshold, res.Threshold, res.RecallAtThreshold, res.Brier)
	fmt.Fprintf(tw, "\nrecall at 1%% FPR by fraud type\tcount\tcaught\trecall\n")
	for _, k := range slices.Sorted(maps.Keys(res.FraudTypes)) {
		r := res.FraudTypes[k]
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%.3f\n", k, r.Count, r.Flagged, r.Rate)
	}
	fmt.Fprintf(tw, "\nFPR at 1%% FPR by legit segment\tcount\tflagged\tfpr\n")
	for _, k := range append([]string{"all_legit"}, risk.Segments...) {
		r := res.Segments[k]
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%.4f\n", k, r.Count, r.Flagged, r.Rate)
	}
	fmt.Fprintf(tw, "\nreliability: score\tcount\tmean score\tfraud rate\n")
	for _, b := range res.Reliability {
		fmt.Fprintf(tw, "  [%.1f, %.1f)\t%d\t%.4f\t%.4f\n", b.Lo, b.Hi, b.Count, b.MeanScore, b.FraudRate)
	}
	return tw.Flush()
}

func runModelImportXGBoost(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("model import-xgboost", "model import-xgboost --in m.json --out MODEL [--features FILE]", stderr)
	in := fs.String("in", "", "XGBoost JSON model `file` (Booster.save_model('m.json'), objective binary:logistic)")
	out := fs.String("out", "", "Kassa model `file` to write")
	features := fs.String("features", "", "`file` with the model's feature names, one per line, in the order it was trained with (default: Kassa's feature list)")
	if err := parseFlags(fs, interleaved(args), getenv); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return usagef("model import-xgboost needs --in and --out")
	}
	names := risk.FeatureNames
	if *features != "" {
		b, err := os.ReadFile(*features)
		if err != nil {
			return err
		}
		names = nil
		for l := range strings.Lines(string(b)) {
			if l = strings.TrimSpace(l); l != "" {
				names = append(names, l)
			}
		}
	}
	for _, n := range names {
		if _, ok := risk.FeatureIndex(n); !ok {
			return fmt.Errorf("feature %q is not one Kassa computes (docs/risk-features.md)", n)
		}
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := model.LoadXGBoost(bufio.NewReader(f), names)
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	if err := writeModel(m, *out); err != nil {
		return err
	}
	fmt.Fprintln(stdout, m.Version)
	return nil
}

// openRiskAdmin opens the database for registry commands.
func openRiskAdmin(ctx context.Context, name, usage string, args []string, getenv env, stderr io.Writer, nargs int) (*risk.Engine, *sqlstore.DB, []string, error) {
	fs := newFlagSet(name, usage, stderr)
	var sf storeFlags
	sf.register(fs)
	if err := parseFlags(fs, interleaved(args), getenv); err != nil {
		return nil, nil, nil, err
	}
	if fs.NArg() != nargs {
		return nil, nil, nil, usagef("usage: kassa %s", usage)
	}
	db, err := sf.open(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	eng, err := risk.NewEngine(risk.Config{Store: sqlstore.NewRisk(db), DefaultModel: risk.DefaultModel,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return eng, db, fs.Args(), nil
}

func runModelUpload(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	eng, db, rest, err := openRiskAdmin(ctx, "model upload", "model upload [--data DIR | --database URL] MODEL", args, getenv, stderr, 1)
	if err != nil {
		return err
	}
	defer db.Close()
	body, err := os.ReadFile(rest[0])
	if err != nil {
		return err
	}
	rec, err := eng.UploadModel(ctx, body)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\t%s\t%s\n", rec.Version, rec.Algo, rec.Status)
	return nil
}

func runModelList(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	eng, db, _, err := openRiskAdmin(ctx, "model list", "model list [--data DIR | --database URL]", args, getenv, stderr, 0)
	if err != nil {
		return err
	}
	defer db.Close()
	recs, err := eng.Models(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tALGO\tSTATUS\tCREATED\tACTIVATED")
	for _, r := range recs {
		act := ""
		if !r.Activated.IsZero() {
			act = r.Activated.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Version, r.Algo, r.Status, r.Created.UTC().Format(time.RFC3339), act)
	}
	return tw.Flush()
}

func runModelStatus(status string) func(context.Context, []string, env, io.Writer, io.Writer) error {
	verb := map[string]string{risk.ModelActive: "promote", risk.ModelShadow: "shadow", risk.ModelRetired: "retire"}[status]
	return func(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
		eng, db, rest, err := openRiskAdmin(ctx, "model "+verb, "model "+verb+" [--data DIR | --database URL] VERSION", args, getenv, stderr, 1)
		if err != nil {
			return err
		}
		defer db.Close()
		if err := eng.SetModelStatus(ctx, rest[0], status); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\t%s\n", rest[0], status)
		return nil
	}
}

func runModelRollback(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	eng, db, _, err := openRiskAdmin(ctx, "model rollback", "model rollback [--data DIR | --database URL]", args, getenv, stderr, 0)
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := eng.Rollback(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\t%s\n", v, risk.ModelActive)
	return nil
}

func runSimulate(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate", "simulate [--world N] --seed S --payers N --days D (--out FILE | --target URL --key sk_...)", stderr)
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same stream")
	worldN := fs.Int("world", 0, "independent world: 0 the classic simulator, 1 and up each with its own fraud mix, behaviour, adaptive fraud, look-alikes and label noise")
	fraudRate := fs.Float64("fraud-rate", 0, "share of fraudulent attempts (0: the world's own)")
	payers := fs.Int("payers", 1000, "legitimate payers")
	days := fs.Int("days", 7, "days of activity")
	startAt := fs.String("start", "", "first day, YYYY-MM-DD (default 2026-01-01); a later start makes data held out by time")
	out := fs.String("out", "", "JSONL `file` to write (- for stdout)")
	target := fs.String("target", "", "base `URL` of a running Kassa to drive through POST /v1/risk/evaluate instead")
	key := fs.String("key", "", "secret key (sk_...) for --target")
	insecure := fs.Bool("insecure", false, "with --target: accept the server's self-signed certificate")
	concurrency := fs.Int("concurrency", 4, "with --target: concurrent requests")
	if err := parseFlags(fs, interleaved(args), getenv); err != nil {
		return err
	}
	if *payers <= 0 || *payers > 10_000_000 || *days <= 0 || *days > 3650 {
		return usagef("--payers must be 1..10000000 and --days 1..3650")
	}
	if *worldN < 0 || *worldN > sim.WorldsMax {
		return usagef("--world must be 0..%d", sim.WorldsMax)
	}
	if *fraudRate < 0 || *fraudRate > 0.5 {
		return usagef("--fraud-rate must be between 0 and 0.5")
	}
	cfg := sim.Config{Seed: *seed, Payers: *payers, Days: *days, World: *worldN, FraudRate: *fraudRate}
	if *startAt != "" {
		t, err := time.Parse(time.DateOnly, *startAt)
		if err != nil {
			return usagef("--start must be a date such as 2026-02-01")
		}
		cfg.Start = t
	}
	if *target != "" {
		if *key == "" || !strings.HasPrefix(*key, "sk_") {
			return usagef("--target needs --key sk_...")
		}
		st, err := sim.Drive(ctx, sim.DriveConfig{BaseURL: strings.TrimRight(*target, "/"), SecretKey: *key,
			Client: driveClient(*insecure), Concurrency: *concurrency}, cfg)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(st)
	}
	if *out == "" {
		return usagef("simulate needs --out FILE or --target URL")
	}
	w := stdout
	var f *os.File
	if *out != "-" {
		var err error
		if f, err = os.Create(*out); err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	st, err := sim.WriteJSONL(ctx, cfg, bw)
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return err
		}
	}
	b, _ := json.Marshal(st)
	fmt.Fprintf(stderr, "%s\n", b)
	return nil
}

func runRisk(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "locks" {
		return runRiskLocks(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "export" {
		fmt.Fprint(stderr, "usage: kassa risk export|locks ...\n\n"+
			"  export   write stored evaluations (with outcomes and labels) as a JSONL event file for kassa model train:\n"+
			"           kassa risk export [--data DIR | --database URL] [--since DURATION] --out FILE\n"+
			"  locks    list, add and lift platform-wide locks: kassa risk locks list|add|lift\n")
		return usagef("risk needs a command: export or locks")
	}
	fs := newFlagSet("risk export", "risk export [--data DIR | --database URL] [--since DURATION] --out FILE", stderr)
	var sf storeFlags
	sf.register(fs)
	out := fs.String("out", "", "JSONL `file` to write")
	since := fs.Duration("since", 90*24*time.Hour, "export evaluations of this long ago until now")
	legitAfter := fs.Duration("unlabelled-legit-after", 0, "label approved, unlabelled attempts older than this legit (e.g. 2160h: no chargeback in 90 days); 0 leaves them unlabelled")
	if err := parseFlags(fs, interleaved(args[1:]), getenv); err != nil {
		return err
	}
	if *out == "" {
		return usagef("risk export needs --out")
	}
	db, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(bw)
	now := time.Now().UTC()
	n := 0
	err = sqlstore.NewRisk(db).Evaluations(ctx, "", now.Add(-*since), now.Add(time.Minute), 0, func(ev *risk.Evaluation) error {
		e := ev.Event
		e.Outcome, e.Label = ev.Outcome, ev.Label
		if e.Label == risk.LabelFriendlyFraud { // trained on as the simulator writes it
			e.Label, e.FraudType = risk.LabelFraud, risk.FraudTypeFriendly
		}
		if e.Label == "" && *legitAfter > 0 && ev.Outcome == risk.OutcomeApproved && now.Sub(ev.Created) >= *legitAfter {
			e.Label = risk.LabelLegit
		}
		n++
		return enc.Encode(&e)
	})
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "exported %d events\n", n)
	return f.Close()
}

// driveClient is the HTTP client of kassa simulate --target.
func driveClient(insecure bool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	if insecure {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true} // #nosec G402 -- asked for with --insecure, for a local self-signed server
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}
