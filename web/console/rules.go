package console

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/kassa/kassa"
	members "github.com/kassa/kassa/console"
	"github.com/kassa/kassa/risk"
)

// Rules limits.
const (
	// backtestLimit bounds the evaluations one backtest replays.
	backtestLimit = 50_000
)

var backtestDays = map[string]int{"7": 7, "30": 30, "90": 90}

type rulesData struct {
	Rules    []risk.Rule
	Draft    ruleDraft
	Backtest *backtestView
}

// ruleDraft is the rule being written (kept across a refused form).
type ruleDraft struct {
	Name, Expression, Action, Factor, Days string
}

type backtestView struct {
	Result risk.BacktestResult
	Chart  Chart
	Error  string
}

func (h *Handler) rules(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewRules) {
		return
	}
	h.showRules(v, http.StatusOK, ruleDraft{Action: risk.Review, Days: "30"}, nil, "", "")
}

func (h *Handler) showRules(v *visit, status int, d ruleDraft, bt *backtestView, notice, errText string) {
	if h.cfg.Risk == nil || v.org() == "" {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "rule_not_found", "no rules here"))
		return
	}
	rs, err := h.cfg.Risk.Rules(v.r.Context(), v.org())
	if err != nil {
		h.fail(v, err)
		return
	}
	h.render(v, status, page{Template: "rules", Title: "Risk rules", Notice: notice, Error: errText,
		Data: rulesData{Rules: rs, Draft: d, Backtest: bt}})
}

func (v *visit) draft() ruleDraft {
	d := ruleDraft{Name: v.input("name"), Expression: v.input("expression"), Action: v.input("action"),
		Factor: v.input("factor"), Days: v.input("days")}
	if _, ok := backtestDays[d.Days]; !ok {
		d.Days = "30"
	}
	return d
}

func (d ruleDraft) params() risk.RuleParams {
	p := risk.RuleParams{Name: &d.Name, Expression: &d.Expression, Action: &d.Action}
	if d.Factor != "" {
		p.Factor = &d.Factor
	}
	return p
}

// backtest replays the draft over the merchant's evaluations of the
// chosen days: a compile error (with its line and column) or what the
// rule would have matched, fraud caught against legitimate payments hit.
func (h *Handler) backtest(v *visit, d ruleDraft) (*backtestView, error) {
	to := h.cfg.Clock().UTC()
	from := to.AddDate(0, 0, -backtestDays[d.Days])
	res, err := h.cfg.Risk.Backtest(v.r.Context(), v.org(), "", d.params(), from, to, backtestLimit)
	if err != nil {
		if e := kassa.AsError(err); e != nil && e.Kind != kassa.EInternal {
			msg := e.Message
			if line, ok := e.Details["line"]; ok {
				msg += " (line " + toString(line) + ", column " + toString(e.Details["column"]) + ")"
			}
			return &backtestView{Error: msg}, nil
		}
		return nil, err
	}
	bt := &backtestView{Result: res}
	bt.Chart = barChart("backtest", "Backtest", "what the rule matched over "+d.Days+" days",
		[]string{"fraud caught", "legitimate hit", "unlabelled hit", "not matched"},
		[]float64{float64(res.MatchedFraud), float64(res.MatchedLegit), float64(res.MatchedUnlabeled), float64(res.Evaluated - res.Matched)},
		func(x float64) string { return strconv.Itoa(int(x)) })
	return bt, nil
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// checkRule validates and backtests a draft. The page's script calls it
// as the analyst types (Accept: application/json) and shows the answer;
// without the script the form posts here and the page shows it.
func (h *Handler) checkRule(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.ViewRules) {
		return
	}
	if h.cfg.Risk == nil || v.org() == "" {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "rule_not_found", "no rules here"))
		return
	}
	d := v.draft()
	bt, err := h.backtest(v, d)
	if err != nil {
		h.fail(v, err)
		return
	}
	if r.Header.Get("Accept") == "application/json" {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		out := map[string]any{"ok": bt.Error == ""}
		if bt.Error != "" {
			out["error"] = bt.Error
		} else {
			res := bt.Result
			out["text"] = "Compiles. Over " + d.Days + " days it matches " + strconv.Itoa(res.Matched) + " of " +
				strconv.Itoa(res.Evaluated) + " payments: " + strconv.Itoa(res.MatchedFraud) + " fraud, " +
				strconv.Itoa(res.MatchedLegit) + " legitimate, " + strconv.Itoa(res.MatchedUnlabeled) + " unlabelled."
		}
		json.NewEncoder(w).Encode(out)
		return
	}
	h.showRules(v, http.StatusOK, d, bt, "", "")
}

func (h *Handler) createRule(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.ManageRules) {
		return
	}
	if h.cfg.Risk == nil || v.org() == "" {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "rule_not_found", "no rules here"))
		return
	}
	d := v.draft()
	rule, err := h.cfg.Risk.CreateRule(v.ctx(), v.org(), d.params())
	if err != nil {
		if e := kassa.AsError(err); e != nil && e.Kind != kassa.EInternal {
			bt, _ := h.backtest(v, d)
			h.showRules(v, http.StatusBadRequest, d, bt, "", e.Message+".")
			return
		}
		h.fail(v, err)
		return
	}
	if err := h.cfg.Audit.Record(v.ctx(), v.org(), "risk_rule.create", rule.ID, nil, ruleState(rule)); err != nil {
		h.fail(v, err)
		return
	}
	h.showRules(v, http.StatusOK, ruleDraft{Action: risk.Review, Days: d.Days}, nil, "Added "+rule.Name+".", "")
}

type ruleJSON struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
	Action     string `json:"action"`
	Factor     string `json:"factor,omitempty"`
	Position   int    `json:"position"`
	Enabled    bool   `json:"enabled"`
}

func ruleState(r risk.Rule) ruleJSON {
	return ruleJSON{Name: r.Name, Expression: r.Expression, Action: r.Action, Factor: r.Factor, Position: r.Position, Enabled: r.Enabled}
}

// changeRule enables, disables or moves a rule (up: before the rule
// above it, by swapping their positions), with an audit entry each.
func (h *Handler) changeRule(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.ManageRules) {
		return
	}
	if h.cfg.Risk == nil || v.org() == "" {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "rule_not_found", "no such rule"))
		return
	}
	ctx := v.ctx()
	rule, err := h.cfg.Risk.Rule(ctx, v.org(), r.PathValue("id"))
	if err != nil {
		h.fail(v, err)
		return
	}
	var changed []risk.Rule
	switch op := r.PathValue("op"); op {
	case "enable", "disable":
		on := op == "enable"
		x, err := h.cfg.Risk.UpdateRule(ctx, v.org(), rule.ID, risk.RuleParams{Enabled: &on})
		if err != nil {
			h.fail(v, err)
			return
		}
		changed = append(changed, x)
	case "up", "down":
		rs, err := h.cfg.Risk.Rules(ctx, v.org())
		if err != nil {
			h.fail(v, err)
			return
		}
		i := indexRule(rs, rule.ID)
		j := i - 1
		if op == "down" {
			j = i + 1
		}
		if i < 0 || j < 0 || j >= len(rs) {
			h.showRules(v, http.StatusOK, ruleDraft{Action: risk.Review, Days: "30"}, nil, "Nothing to move.", "")
			return
		}
		a, b := rs[i].Position, rs[j].Position
		if a == b {
			b = a - 1
			if op == "down" {
				b = a + 1
			}
		}
		for _, x := range []struct {
			id  string
			pos int
		}{{rs[i].ID, b}, {rs[j].ID, a}} {
			u, err := h.cfg.Risk.UpdateRule(ctx, v.org(), x.id, risk.RuleParams{Position: &x.pos})
			if err != nil {
				h.fail(v, err)
				return
			}
			changed = append(changed, u)
		}
	default:
		h.fail(v, kassa.Errorf(kassa.ENotFound, "route_not_found", "no such change"))
		return
	}
	before := ruleState(rule)
	after := ruleState(changed[0])
	if err := h.cfg.Audit.Record(ctx, v.org(), "risk_rule."+r.PathValue("op"), rule.ID, before, after); err != nil {
		h.fail(v, err)
		return
	}
	h.showRules(v, http.StatusOK, ruleDraft{Action: risk.Review, Days: "30"}, nil, "Changed "+rule.Name+".", "")
}

func indexRule(rs []risk.Rule, id string) int {
	for i, r := range rs {
		if r.ID == id {
			return i
		}
	}
	return -1
}
