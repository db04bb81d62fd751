package console

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/audit"
	members "github.com/kassa/kassa/console"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/risk/model"
)

// shadowScanMax bounds the evaluations the models page compares the
// shadow on (every merchant's: the registry is the platform's).
const shadowScanMax = 100_000

// The model registry is platform-wide (risk's store keeps one registry,
// no merchant in it), so its page and its changes are the operator's.

type modelRow struct {
	risk.ModelRecord
	Metrics *model.Metrics // at training time, from the file
}

type modelsData struct {
	Active, Shadow string
	Models         []modelRow
	Days           string
	Report         *risk.ShadowReport
	Charts         []Chart
	Confirm        *modelConfirm
}

// modelConfirm is the confirmation step a change shows before it is made.
type modelConfirm struct {
	Op, Version, Text string
}

func (h *Handler) models(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewModels) {
		return
	}
	h.showModels(v, http.StatusOK, r.URL.Query().Get("days"), nil, "")
}

func (h *Handler) showModels(v *visit, status int, days string, confirm *modelConfirm, notice string) {
	if h.cfg.Risk == nil {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "model_not_found", "no models here"))
		return
	}
	if _, ok := backtestDays[days]; !ok {
		days = "30"
	}
	ctx := v.r.Context()
	recs, err := h.cfg.Risk.Models(ctx)
	if err != nil {
		h.fail(v, err)
		return
	}
	d := modelsData{Days: days, Confirm: confirm}
	d.Active, d.Shadow = h.cfg.Risk.ActiveModel()
	for _, rec := range recs {
		row := modelRow{ModelRecord: rec}
		row.Body = nil
		if m, err := model.Load(bytes.NewReader(rec.Body)); err == nil {
			row.Metrics = m.Metrics
		}
		d.Models = append(d.Models, row)
	}
	if d.Shadow != "" {
		to := h.cfg.Clock().UTC()
		rep, err := h.cfg.Risk.Shadow(ctx, d.Shadow, to.AddDate(0, 0, -backtestDays[days]), to.Add(time.Minute), shadowScanMax)
		if err != nil {
			h.fail(v, err)
			return
		}
		d.Report = &rep
		d.Charts = shadowCharts(rep)
	}
	h.render(v, status, page{Template: "models", Title: "Risk models", Notice: notice, Data: d})
}

// shadowCharts draws the two models' score distributions on the same
// evaluations.
func shadowCharts(rep risk.ShadowReport) []Chart {
	labels := make([]string, risk.ShadowBuckets)
	for i := range labels {
		labels[i] = strconv.Itoa(i*100/risk.ShadowBuckets) + "–" + strconv.Itoa((i+1)*100/risk.ShadowBuckets-1)
	}
	labels[len(labels)-1] = strconv.Itoa((risk.ShadowBuckets-1)*100/risk.ShadowBuckets) + "–100"
	count := func(x float64) string { return strconv.Itoa(int(x)) }
	hist := func(h [risk.ShadowBuckets]int) []float64 {
		out := make([]float64, len(h))
		for i, n := range h {
			out[i] = float64(n)
		}
		return out
	}
	return []Chart{
		barChart("active-scores", "Active model", "scores of the attempts the shadow scored too", labels, hist(rep.ActiveHist), count),
		barChart("shadow-scores", "Shadow model", "its scores of the same attempts", labels, hist(rep.ShadowHist), count),
	}
}

// modelOps are the changes of the registry, what the confirmation says
// and the audit action.
var modelOps = map[string]struct{ text, action string }{
	"shadow":   {"Run %s in shadow: it scores every attempt beside the active model, stored but not acting. The current shadow, if any, stops.", "risk_model.shadow"},
	"promote":  {"Make %s the active model: its score decides for every merchant from now on (every node within seconds). The active model is retired and can be rolled back to.", "risk_model.promote"},
	"rollback": {"Roll back: the model active before the current one decides again, for every merchant. The current one is retired.", "risk_model.rollback"},
}

// changeModel shadows, promotes or rolls back, in two steps: the first
// POST shows what will happen and a Confirm button; only the second,
// carrying confirm=yes, changes the registry.
func (h *Handler) changeModel(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.ManageModels) {
		return
	}
	if h.cfg.Risk == nil {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "model_not_found", "no models here"))
		return
	}
	op, ok := modelOps[r.PathValue("op")]
	version := v.input("version")
	if !ok {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "route_not_found", "no such change"))
		return
	}
	ctx := v.ctx()
	if r.PathValue("op") != "rollback" {
		if _, err := h.cfg.Risk.Model(ctx, version); err != nil {
			h.fail(v, kassa.Errorf(kassa.ENotFound, "model_not_found", "no model %q in the registry", version))
			return
		}
	}
	if active, _ := h.cfg.Risk.ActiveModel(); r.PathValue("op") != "rollback" && version == active {
		// Shadowing the active model would leave none deciding; promoting
		// it again changes nothing.
		h.fail(v, kassa.Errorf(kassa.EConflict, "model_active", "%s is the active model already", version))
		return
	}
	if v.input("confirm") != "yes" {
		text := op.text
		if r.PathValue("op") != "rollback" {
			text = fmt.Sprintf(text, version)
		}
		h.showModels(v, http.StatusOK, "", &modelConfirm{Op: r.PathValue("op"), Version: version, Text: text}, "")
		return
	}
	active, shadow := h.cfg.Risk.ActiveModel()
	before := map[string]string{"active": active, "shadow": shadow}
	var err error
	switch r.PathValue("op") {
	case "shadow":
		err = h.cfg.Risk.SetModelStatus(ctx, version, risk.ModelShadow)
	case "promote":
		err = h.cfg.Risk.SetModelStatus(ctx, version, risk.ModelActive)
	case "rollback":
		version, err = h.cfg.Risk.Rollback(ctx)
	}
	if err != nil {
		h.fail(v, err)
		return
	}
	active, shadow = h.cfg.Risk.ActiveModel()
	if err := h.cfg.Audit.Record(ctx, audit.Platform, op.action, version, before,
		map[string]string{"active": active, "shadow": shadow}); err != nil {
		h.fail(v, err)
		return
	}
	h.showModels(v, http.StatusOK, "", nil, "Done: the active model is "+active+
		map[bool]string{true: ", no shadow.", false: ", the shadow " + shadow + "."}[shadow == ""])
}
