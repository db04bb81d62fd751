package console

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kassa/kassa"
	members "github.com/kassa/kassa/console"
	"github.com/kassa/kassa/risk"
)

// Limits of the lists and labels pages.
const (
	// listShownMax bounds the entries the lists page shows (a merchant
	// may have risk's 100,000; the search narrows them).
	listShownMax = 200
	// labelsScanMax bounds the evaluations the labels page looks through;
	// labelsShownMax the labels it shows.
	labelsScanMax  = 50_000
	labelsShownMax = 200
	// listExpiryDaysMax is the longest an entry added here may last
	// before it expires (0: never).
	listExpiryDaysMax = 3650
	reasonMax         = 200
)

// listTypes are the entry types an analyst may add, in the form's order.
var listTypes = []string{risk.EntryEmail, risk.EntryCardFingerprint, risk.EntryVoucherSerial, risk.EntryDevice,
	risk.EntryIP, risk.EntryCountry, risk.EntryCustomer}

type listsData struct {
	Query, List string
	Entries     []risk.ListEntry
	Total       int // matching entries; Entries holds the first listShownMax
	Types       []string
}

// lists shows the merchant's allow and block lists, searchable by value,
// type or reason. Values are as risk keeps them: a card is its keyed
// fingerprint, never a number.
func (h *Handler) lists(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewLists) {
		return
	}
	q := r.URL.Query()
	h.showLists(v, http.StatusOK, q.Get("q"), q.Get("list"), "", "")
}

func (h *Handler) showLists(v *visit, status int, query, list, notice, errText string) {
	if h.cfg.Risk == nil || v.org() == "" {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "list_not_found", "no lists here"))
		return
	}
	query = strings.TrimSpace(query)
	if len(query) > inputBytesMax {
		query = ""
	}
	if list != risk.ListAllow && list != risk.ListBlock {
		list = ""
	}
	es, err := h.cfg.Risk.ListEntries(v.r.Context(), v.org(), list)
	if err != nil {
		h.fail(v, err)
		return
	}
	d := listsData{Query: query, List: list, Types: listTypes}
	needle := strings.ToLower(query)
	for _, e := range es {
		if needle != "" && !strings.Contains(strings.ToLower(e.Value), needle) && !strings.Contains(strings.ToLower(e.Note), needle) &&
			e.Type != needle {
			continue
		}
		d.Total++
		if len(d.Entries) < listShownMax {
			d.Entries = append(d.Entries, e)
		}
	}
	h.render(v, status, page{Template: "lists", Title: "Risk lists", Notice: notice, Error: errText, Data: d})
}

type listEntryJSON struct {
	List    string     `json:"list"`
	Type    string     `json:"type"`
	Value   string     `json:"value"`
	Note    string     `json:"note"`
	Expires *time.Time `json:"expires_at,omitempty"`
}

func entryState(e risk.ListEntry) listEntryJSON {
	s := listEntryJSON{List: e.List, Type: e.Type, Value: e.Value, Note: e.Note}
	if !e.Expires.IsZero() {
		s.Expires = &e.Expires
	}
	return s
}

// reason is a form's required reason, within bounds.
func (v *visit) reason() (string, error) {
	s := v.input("reason")
	if s == "" || len(s) > reasonMax {
		return "", kassa.Invalid("reason", "reason_required", "give a reason of 1 to %d characters", reasonMax)
	}
	return s, nil
}

// addListEntry puts a value on the merchant's allow or block list with
// the reason as its note, for good or for a number of days.
func (h *Handler) addListEntry(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.ManageLists) {
		return
	}
	if h.cfg.Risk == nil || v.org() == "" {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "list_not_found", "no lists here"))
		return
	}
	reason, err := v.reason()
	if err != nil {
		h.showLists(v, http.StatusBadRequest, "", "", "", kassa.AsError(err).Message+".")
		return
	}
	en := risk.ListEntry{MerchantID: v.org(), List: v.input("list"), Type: v.input("type"), Value: v.input("value"), Note: reason}
	if days := v.input("days"); days != "" && days != "0" {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > listExpiryDaysMax {
			h.showLists(v, http.StatusBadRequest, "", "", "", "The days must be 0 (for good) to "+strconv.Itoa(listExpiryDaysMax)+".")
			return
		}
		en.Expires = h.cfg.Clock().UTC().AddDate(0, 0, n)
	}
	en, err = h.cfg.Risk.PutListEntry(v.ctx(), en)
	if err != nil {
		if e := kassa.AsError(err); e != nil && e.Kind != kassa.EInternal {
			h.showLists(v, http.StatusBadRequest, "", "", "", e.Message+".")
			return
		}
		h.fail(v, err)
		return
	}
	if err := h.cfg.Audit.Record(v.ctx(), v.org(), "risk_list.add", en.List+":"+en.Type+":"+en.Value, nil, entryState(en)); err != nil {
		h.fail(v, err)
		return
	}
	h.showLists(v, http.StatusOK, "", "", "Added "+en.Value+" to the "+en.List+" list.", "")
}

// removeListEntry takes a value off a list; the reason goes to the audit
// log beside the entry as it was.
func (h *Handler) removeListEntry(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.ManageLists) {
		return
	}
	if h.cfg.Risk == nil || v.org() == "" {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "list_not_found", "no lists here"))
		return
	}
	reason, err := v.reason()
	if err != nil {
		h.showLists(v, http.StatusBadRequest, "", "", "", kassa.AsError(err).Message+".")
		return
	}
	list, typ, value := v.input("list"), v.input("type"), v.input("value")
	es, err := h.cfg.Risk.ListEntries(v.r.Context(), v.org(), list)
	if err != nil {
		h.fail(v, err)
		return
	}
	var found *risk.ListEntry
	for i := range es {
		if es[i].Type == typ && es[i].Value == value {
			found = &es[i]
		}
	}
	if found == nil || list == "" { // another merchant's entry is none of this one's
		h.fail(v, kassa.Errorf(kassa.ENotFound, "list_entry_not_found", "no such list entry"))
		return
	}
	if err := h.cfg.Risk.DeleteListEntry(v.ctx(), v.org(), list, typ, value); err != nil {
		h.fail(v, err)
		return
	}
	if err := h.cfg.Audit.Record(v.ctx(), v.org(), "risk_list.remove", list+":"+typ+":"+value, entryState(*found),
		map[string]string{"reason": reason}); err != nil {
		h.fail(v, err)
		return
	}
	h.showLists(v, http.StatusOK, "", "", "Removed "+value+" from the "+list+" list.", "")
}

// --- Labels ---

// labelChoices are the labels the page offers, with their words.
var labelChoices = []struct{ Value, Text string }{
	{risk.LabelFraud, "fraud"},
	{risk.LabelLegit, "legitimate"},
	{risk.LabelFriendlyFraud, "friendly fraud (the payer's own payment disputed)"},
}

type labelsData struct {
	Days    string
	Labels  []risk.Evaluation
	Cut     bool
	Choices []struct{ Value, Text string }
	Payment string
}

func (h *Handler) labels(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.auth(v, members.ViewLists) {
		return
	}
	q := r.URL.Query()
	h.showLabels(v, http.StatusOK, q.Get("days"), q.Get("payment"), "", "")
}

// showLabels lists the labels of the merchant's evaluations of the last
// days, the most recently labelled first.
func (h *Handler) showLabels(v *visit, status int, days, paymentID, notice, errText string) {
	if h.cfg.Risk == nil || v.org() == "" {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "label_not_found", "no labels here"))
		return
	}
	if _, ok := backtestDays[days]; !ok {
		days = "30"
	}
	if !strings.HasPrefix(paymentID, "pay_") || len(paymentID) > inputBytesMax {
		paymentID = ""
	}
	to := h.cfg.Clock().UTC()
	evs, cut, err := h.cfg.Risk.Labelled(v.r.Context(), v.org(), to.AddDate(0, 0, -backtestDays[days]), to.Add(time.Minute),
		labelsScanMax, labelsShownMax)
	if err != nil {
		h.fail(v, err)
		return
	}
	h.render(v, status, page{Template: "labels", Title: "Labels", Notice: notice, Error: errText,
		Data: labelsData{Days: days, Labels: evs, Cut: cut, Choices: labelChoices, Payment: paymentID}})
}

// labelPayment labels every evaluation of a payment; training reads the
// labels as kassa risk export writes them (a friendly fraud as fraud of
// that pattern).
func (h *Handler) labelPayment(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.ManageLabels) {
		return
	}
	if h.cfg.Risk == nil || v.org() == "" {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "label_not_found", "no labels here"))
		return
	}
	pid, label := v.input("payment"), v.input("label")
	if !strings.HasPrefix(pid, "pay_") {
		h.showLabels(v, http.StatusBadRequest, "", pid, "", "Name a payment by its id (pay_...).")
		return
	}
	// The payment must be the merchant's: another's answers as none.
	if _, err := h.cfg.Payments.Get(v.r.Context(), v.org(), pid); err != nil {
		h.fail(v, err)
		return
	}
	evs, err := h.cfg.Risk.Label(v.ctx(), v.org(), pid, label, risk.SourceAnalyst)
	if err != nil {
		if e := kassa.AsError(err); e != nil && e.Kind != kassa.EInternal {
			h.showLabels(v, http.StatusBadRequest, "", pid, "", e.Message+".")
			return
		}
		h.fail(v, err)
		return
	}
	if err := h.cfg.Audit.Record(v.ctx(), v.org(), "risk_label.set", pid, nil,
		map[string]any{"label": label, "source": risk.SourceAnalyst, "evaluations": len(evs)}); err != nil {
		h.fail(v, err)
		return
	}
	h.showLabels(v, http.StatusOK, "", "", "Labelled "+pid+" "+label+".", "")
}

// unlabelPayment undoes a payment's labels.
func (h *Handler) unlabelPayment(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) || !h.auth(v, members.ManageLabels) {
		return
	}
	if h.cfg.Risk == nil || v.org() == "" {
		h.fail(v, kassa.Errorf(kassa.ENotFound, "label_not_found", "no labels here"))
		return
	}
	pid := v.input("payment")
	evs, err := h.cfg.Risk.Unlabel(v.ctx(), v.org(), pid)
	if err != nil {
		h.fail(v, err)
		return
	}
	last := evs[len(evs)-1]
	if err := h.cfg.Audit.Record(v.ctx(), v.org(), "risk_label.undo", pid,
		map[string]any{"label": last.Label, "source": last.LabelSource}, map[string]any{"label": ""}); err != nil {
		h.fail(v, err)
		return
	}
	h.showLabels(v, http.StatusOK, "", "", "The label of "+pid+" is undone.", "")
}
