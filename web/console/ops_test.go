package console_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	members "github.com/kassa/kassa/console"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/risk/model"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/webhook"
)

// TestConsoleLists: an analyst adds a value to the block list with a
// reason, finds it, and removes it with a reason, both audited; a form
// without a reason adds nothing; a developer reads the lists but gets no
// button and 403 for the forms; another merchant's entry is none.
func TestConsoleLists(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	an := f.join(t, f.merchant.ID, "an@example.com", members.Analyst)
	dev := f.join(t, f.merchant.ID, "dev@example.com", members.Developer)
	c := f.newClient()
	c.login(t, an)
	if _, err := f.risk.PutListEntry(ctx, risk.ListEntry{MerchantID: f.other.ID, List: risk.ListBlock, Type: risk.EntryEmail,
		Value: "theirs@example.com", Note: "B's"}); err != nil {
		t.Fatal(err)
	}
	if st, body := c.do(t, "/console/lists", url.Values{"list": {"block"}, "type": {"email"}, "value": {"Mule@Example.com"}}); st != http.StatusBadRequest ||
		!strings.Contains(body, "reason") {
		t.Errorf("no reason: %d", st)
	}
	if st, _ := c.do(t, "/console/lists", url.Values{"list": {"block"}, "type": {"ip"}, "value": {"not an ip"}, "reason": {"x"}}); st != http.StatusBadRequest {
		t.Errorf("a bad IP: %d", st)
	}
	st, body := c.do(t, "/console/lists", url.Values{"list": {"block"}, "type": {"email"}, "value": {"Mule@Example.com"},
		"reason": {"money mule, case 17"}, "days": {"30"}})
	if st != http.StatusOK || !strings.Contains(body, "mule@example.com") {
		t.Fatalf("add = %d\n%s", st, body)
	}
	es, _ := f.risk.ListEntries(ctx, f.merchant.ID, risk.ListBlock)
	if len(es) != 1 || es[0].Value != "mule@example.com" || es[0].Note != "money mule, case 17" || es[0].Expires.IsZero() {
		t.Fatalf("entries %+v", es)
	}
	if _, body := c.get(t, "/console/lists?q=mule"); !strings.Contains(body, "mule@example.com") || strings.Contains(body, "theirs@example.com") {
		t.Error("search: the entry missing or B's shown")
	}
	if _, body := c.get(t, "/console/lists?q=nobody"); strings.Contains(body, "mule@example.com") {
		t.Error("search for another value shows the entry")
	}
	// B's entry, named by its values, is none of A's.
	if st, _ := c.do(t, "/console/lists/remove", url.Values{"list": {"block"}, "type": {"email"}, "value": {"theirs@example.com"},
		"reason": {"x"}}); st != http.StatusNotFound {
		t.Errorf("removing B's entry: %d", st)
	}
	if es, _ := f.risk.ListEntries(ctx, f.other.ID, ""); len(es) != 1 {
		t.Error("B's entry is gone")
	}
	// The developer reads, without buttons, and may not change.
	d := f.newClient()
	d.login(t, dev)
	if st, body := d.get(t, "/console/lists"); st != http.StatusOK || strings.Contains(body, `id="list-add"`) ||
		strings.Contains(body, `action="/console/lists/remove"`) {
		t.Errorf("developer's lists page: %d, with buttons", st)
	}
	if st, _ := d.do(t, "/console/lists/remove", url.Values{"list": {"block"}, "type": {"email"}, "value": {"mule@example.com"},
		"reason": {"x"}}); st != http.StatusForbidden {
		t.Errorf("developer removes: %d", st)
	}
	if st, _ := d.do(t, "/console/lists", url.Values{"list": {"block"}, "type": {"email"}, "value": {"a@example.com"},
		"reason": {"x"}}); st != http.StatusForbidden {
		t.Errorf("developer adds: %d", st)
	}
	if st, _ := c.do(t, "/console/lists/remove", url.Values{"list": {"block"}, "type": {"email"}, "value": {"mule@example.com"}}); st != http.StatusBadRequest {
		t.Errorf("remove without a reason: %d", st)
	}
	if st, body := c.do(t, "/console/lists/remove", url.Values{"list": {"block"}, "type": {"email"}, "value": {"mule@example.com"},
		"reason": {"cleared by the bank"}}); st != http.StatusOK {
		t.Fatalf("remove = %d\n%s", st, body)
	}
	if es, _ := f.risk.ListEntries(ctx, f.merchant.ID, ""); len(es) != 0 {
		t.Errorf("entries after removal: %+v", es)
	}
	var added, removed bool
	for _, e := range f.auditActions(t, f.merchant.ID) {
		added = added || (e.Action == "risk_list.add" && e.Actor.ID == an.ID && strings.Contains(string(e.After), "money mule"))
		removed = removed || (e.Action == "risk_list.remove" && strings.Contains(string(e.After), "cleared by the bank") &&
			strings.Contains(string(e.Before), "mule@example.com"))
	}
	if !added || !removed {
		t.Errorf("audit: added %v, removed %v", added, removed)
	}
}

// TestConsoleLabels: an analyst labels a payment fraud, legit or friendly
// fraud and undoes a label; the label is the one training reads; a fraud
// label locks the voucher, a friendly fraud nothing; another merchant's
// payment cannot be labelled; a developer sees the labels, not the forms.
func TestConsoleLabels(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	an := f.join(t, f.merchant.ID, "an@example.com", members.Analyst)
	c := f.newClient()
	c.login(t, an)
	p1 := f.pay(t, f.merchant.ID, 1200, payment.CaptureAutomatic)
	p2 := f.pay(t, f.merchant.ID, 1300, payment.CaptureAutomatic)
	theirs := f.pay(t, f.other.ID, 1400, payment.CaptureAutomatic)
	label := func(evs []risk.Evaluation) string {
		if len(evs) == 0 {
			return "none"
		}
		return evs[len(evs)-1].Label
	}
	st, body := c.do(t, "/console/labels", url.Values{"payment": {p1.ID}, "label": {risk.LabelFriendlyFraud}})
	if st != http.StatusOK || !strings.Contains(body, p1.ID) {
		t.Fatalf("friendly fraud = %d\n%s", st, body)
	}
	evs, _, _ := f.risk.Labelled(ctx, f.merchant.ID, p1.Created.AddDate(0, 0, -1), p1.Created.AddDate(0, 0, 1), 1000, 10)
	if label(evs) != risk.LabelFriendlyFraud || evs[0].LabelSource != risk.SourceAnalyst {
		t.Errorf("labels %+v", evs)
	}
	if es, _ := f.risk.ListEntries(ctx, f.merchant.ID, risk.ListBlock); len(es) != 0 {
		t.Errorf("a friendly fraud locked %+v", es)
	}
	if st, _ := c.do(t, "/console/labels", url.Values{"payment": {p2.ID}, "label": {risk.LabelFraud}}); st != http.StatusOK {
		t.Fatalf("fraud = %d", st)
	}
	if es, _ := f.risk.ListEntries(ctx, f.merchant.ID, risk.ListBlock); len(es) == 0 {
		t.Error("a fraud label locked nothing")
	}
	if st, _ := c.do(t, "/console/labels", url.Values{"payment": {p2.ID}, "label": {"maybe"}}); st != http.StatusBadRequest {
		t.Errorf("an unknown label: %d", st)
	}
	for _, path := range []string{"/console/labels", "/console/labels/undo"} {
		if st, _ := c.do(t, path, url.Values{"payment": {theirs.ID}, "label": {risk.LabelFraud}}); st != http.StatusNotFound {
			t.Errorf("%s on B's payment: %d", path, st)
		}
	}
	if evs, _, _ := f.risk.Labelled(ctx, f.other.ID, theirs.Created.AddDate(0, 0, -1), theirs.Created.AddDate(0, 0, 1), 1000, 10); len(evs) != 0 {
		t.Errorf("B's payment labelled: %+v", evs)
	}
	_, page := c.get(t, "/console/labels")
	if !strings.Contains(page, `aria-label="Undo the label of `+p1.ID+`"`) || strings.Contains(page, theirs.ID) {
		t.Error("the labels page lacks A's label or shows B's")
	}
	if st, _ := c.do(t, "/console/labels/undo", url.Values{"payment": {p1.ID}}); st != http.StatusOK {
		t.Fatalf("undo = %d", st)
	}
	evs, _, _ = f.risk.Labelled(ctx, f.merchant.ID, p1.Created.AddDate(0, 0, -1), p1.Created.AddDate(0, 0, 1), 1000, 10)
	if len(evs) != 1 || evs[0].Subject != p2.ID {
		t.Errorf("labels after the undo: %+v", evs)
	}
	if st, _ := c.do(t, "/console/labels/undo", url.Values{"payment": {p1.ID}}); st != http.StatusNotFound {
		t.Errorf("undo twice: %d", st)
	}
	dev := f.join(t, f.merchant.ID, "dev@example.com", members.Developer)
	d := f.newClient()
	d.login(t, dev)
	if st, body := d.get(t, "/console/labels"); st != http.StatusOK || strings.Contains(body, `id="label-form"`) || strings.Contains(body, "/console/labels/undo") {
		t.Errorf("developer's labels page: %d, with forms", st)
	}
	if st, _ := d.do(t, "/console/labels", url.Values{"payment": {p1.ID}, "label": {risk.LabelFraud}}); st != http.StatusForbidden {
		t.Errorf("developer labels: %d", st)
	}
	var set, undone bool
	for _, e := range f.auditActions(t, f.merchant.ID) {
		set = set || (e.Action == "risk_label.set" && e.Target == p2.ID)
		undone = undone || (e.Action == "risk_label.undo" && e.Target == p1.ID && strings.Contains(string(e.Before), risk.LabelFriendlyFraud))
	}
	if !set || !undone {
		t.Errorf("audit: set %v, undone %v", set, undone)
	}
}

// uploadModel puts the built-in model into the registry as version.
func (f *fixture) uploadModel(t *testing.T, version string) {
	t.Helper()
	m, err := model.Load(bytes.NewReader(risk.DefaultModel))
	if err != nil {
		t.Fatal(err)
	}
	m.Version = version
	var body bytes.Buffer
	if err := m.Save(&body); err != nil {
		t.Fatal(err)
	}
	if _, err := f.risk.UploadModel(context.Background(), body.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// TestConsoleModels: the operator runs a model in shadow, reads its
// metrics against the active one on the same labelled attempts, promotes
// it and rolls back, each only after a confirmation step and audited; a
// merchant's owner or analyst has no models page and may not change one.
func TestConsoleModels(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.uploadModel(t, "m-one")
	f.uploadModel(t, "m-two")
	if err := f.risk.SetModelStatus(ctx, "m-one", risk.ModelActive); err != nil {
		t.Fatal(err)
	}
	op := f.join(t, members.Platform, "ops@example.com", members.Operator)
	c := f.newClient()
	c.login(t, op)
	st, body := c.do(t, "/console/models/shadow", url.Values{"version": {"m-two"}})
	if st != http.StatusOK || !strings.Contains(body, `id="confirm"`) {
		t.Fatalf("shadow, first step = %d\n%s", st, body)
	}
	if _, shadow := f.risk.ActiveModel(); shadow != "" {
		t.Fatalf("the shadow runs before the confirmation: %s", shadow)
	}
	if st, _ := c.do(t, "/console/models/shadow", url.Values{"version": {"m-two"}, "confirm": {"yes"}}); st != http.StatusOK {
		t.Fatalf("shadow confirmed = %d", st)
	}
	if _, shadow := f.risk.ActiveModel(); shadow != "m-two" {
		t.Fatalf("shadow %q", shadow)
	}
	var ps []payment.Payment
	for i := range 4 {
		ps = append(ps, f.pay(t, f.merchant.ID, money.Amount(1000+i*100), payment.CaptureAutomatic))
	}
	for i, p := range ps[:3] {
		l := risk.LabelLegit
		if i == 0 {
			l = risk.LabelFraud
		}
		if _, err := f.risk.Label(ctx, f.merchant.ID, p.ID, l, risk.SourceAnalyst); err != nil {
			t.Fatal(err)
		}
	}
	st, body = c.get(t, "/console/models")
	if st != http.StatusOK || !strings.Contains(body, `id="shadow-metrics"`) || !strings.Contains(body, `id="shadow-scores-h"`) ||
		!strings.Contains(body, "4 attempts scored by both") || !strings.Contains(body, "3 of them labelled") {
		t.Fatalf("models page = %d\n%s", st, body)
	}
	if st, _ := c.do(t, "/console/models/shadow", url.Values{"version": {"m-one"}, "confirm": {"yes"}}); st != http.StatusConflict {
		t.Errorf("shadow the active model: %d", st)
	}
	if active, _ := f.risk.ActiveModel(); active != "m-one" {
		t.Fatalf("active %q after shadowing it was refused", active)
	}
	if st, _ := c.do(t, "/console/models/promote", url.Values{"version": {"m-nope"}, "confirm": {"yes"}}); st != http.StatusNotFound {
		t.Errorf("promote an unknown version: %d", st)
	}
	if st, _ := c.do(t, "/console/models/promote", url.Values{"version": {"m-two"}, "confirm": {"yes"}}); st != http.StatusOK {
		t.Fatalf("promote = %d", st)
	}
	if active, _ := f.risk.ActiveModel(); active != "m-two" {
		t.Fatalf("active %q", active)
	}
	if st, body := c.do(t, "/console/models/rollback", nil); st != http.StatusOK || !strings.Contains(body, `id="confirm"`) {
		t.Fatalf("rollback, first step = %d", st)
	}
	if active, _ := f.risk.ActiveModel(); active != "m-two" {
		t.Fatalf("rolled back before the confirmation: %q", active)
	}
	if st, _ := c.do(t, "/console/models/rollback", url.Values{"confirm": {"yes"}}); st != http.StatusOK {
		t.Fatalf("rollback = %d", st)
	}
	if active, _ := f.risk.ActiveModel(); active != "m-one" {
		t.Fatalf("after the rollback, active %q", active)
	}
	got := map[string]bool{}
	for _, e := range f.auditActions(t, members.Platform) {
		if e.Actor.ID == op.ID {
			got[e.Action+" "+e.Target] = true
		}
	}
	for _, want := range []string{"risk_model.shadow m-two", "risk_model.promote m-two", "risk_model.rollback m-one"} {
		if !got[want] {
			t.Errorf("no audit entry %s in %v", want, got)
		}
	}
	for _, role := range []members.Role{members.Owner, members.Analyst, members.Developer} {
		m := f.join(t, f.merchant.ID, string(role)+"@example.com", role)
		mc := f.newClient()
		mc.login(t, m)
		if st, body := mc.get(t, "/console/models"); st != http.StatusForbidden || strings.Contains(body, "/console/models/promote") {
			t.Errorf("%s: models page %d", role, st)
		}
		if _, body := mc.get(t, "/console/"); strings.Contains(body, `href="/console/models"`) {
			t.Errorf("%s is offered the models page", role)
		}
		if st, _ := mc.do(t, "/console/models/promote", url.Values{"version": {"m-two"}, "confirm": {"yes"}}); st != http.StatusForbidden {
			t.Errorf("%s promotes: %d", role, st)
		}
	}
	if active, _ := f.risk.ActiveModel(); active != "m-one" {
		t.Errorf("a merchant's member changed the active model: %q", active)
	}
}

// TestConsoleRecentRequests: a developer reads the merchant's recent API
// requests — method, route pattern, status, latency, request id — never
// a query string or the ids in the path, and never another merchant's
// requests or a stranger's without a key.
func TestConsoleRecentRequests(t *testing.T) {
	f := newFixture(t)
	dev := f.join(t, f.merchant.ID, "dev@example.com", members.Developer)
	an := f.join(t, f.merchant.ID, "an@example.com", members.Analyst)
	call := func(key, method, path, reqID string) int {
		req, _ := http.NewRequest(method, f.origin+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		req.Header.Set("X-Request-Id", reqID)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	p := f.pay(t, f.merchant.ID, 1200, payment.CaptureAutomatic)
	if st := call(f.merchant.SecretKey, "GET", "/v1/payments/"+p.ID+"?expand=secret_thing_123", "req-mine-1"); st != 200 {
		t.Fatalf("GET payment = %d", st)
	}
	call(f.merchant.SecretKey, "GET", "/v1/payments/pay_nope", "req-mine-404")
	call(f.other.SecretKey, "GET", "/v1/payments?limit=3", "req-theirs")
	call("", "GET", "/v1/payments", "req-stranger")
	call("sk_test_wrong", "GET", "/v1/payments", "req-wrong-key")
	c := f.newClient()
	c.login(t, dev)
	if _, body := c.get(t, "/console/developers"); !strings.Contains(body, `href="/console/developers/requests"`) {
		t.Error("no link to the recent requests")
	}
	st, body := c.get(t, "/console/developers/requests")
	if st != 200 {
		t.Fatalf("requests page = %d", st)
	}
	for _, want := range []string{"req-mine-1", "req-mine-404", "/v1/payments/{id}", ">404<"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, not := range []string{"req-theirs", "req-stranger", "req-wrong-key", "secret_thing_123", p.ID, "?expand"} {
		if strings.Contains(body, not) {
			t.Errorf("the page shows %q", not)
		}
	}
	if _, body := c.get(t, "/console/developers/requests?status=4"); strings.Contains(body, "req-mine-1") || !strings.Contains(body, "req-mine-404") {
		t.Error("the 4xx filter")
	}
	a := f.newClient()
	a.login(t, an)
	if st, body := a.get(t, "/console/developers/requests"); st != http.StatusForbidden || strings.Contains(body, "req-mine-1") {
		t.Errorf("an analyst reads the requests: %d", st)
	}
}

// TestConsoleOperatorLocksHealth: the operator adds a platform-wide lock
// with an expiry and reads the queue depths and the leased jobs with
// their holders; a merchant's owner may not add a lock.
func TestConsoleOperatorLocksHealth(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	op := f.join(t, members.Platform, "ops@example.com", members.Operator)
	owner := f.join(t, f.merchant.ID, "owner@example.com", members.Owner)
	if _, err := f.webhooks.CreateEndpoint(ctx, f.merchant.ID, webhook.EndpointParams{URL: "http://127.0.0.1:9/hook", Events: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	f.pay(t, f.merchant.ID, 1200, payment.CaptureAutomatic) // events, deliveries due
	if _, ok, err := sqlstore.NewLeases(f.db).Acquire(ctx, "payouts", "node-a", 0, time.Hour); err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	c := f.newClient()
	c.login(t, op)
	for _, bad := range []url.Values{
		{"type": {"voucher_serial"}, "value": {"123456789012"}, "hours": {"0"}, "reason": {"stolen"}},
		{"type": {"voucher_serial"}, "value": {"123456789012"}, "hours": {"2161"}, "reason": {"stolen"}},
		{"type": {"voucher_serial"}, "value": {"123456789012"}, "hours": {"24"}},
		{"type": {"ip"}, "value": {"not an address"}, "hours": {"24"}, "reason": {"x"}},
	} {
		if st, _ := c.do(t, "/console/operator/locks", bad); st != http.StatusBadRequest {
			t.Errorf("%v: %d", bad, st)
		}
	}
	o := f.newClient()
	o.login(t, owner)
	if st, _ := o.do(t, "/console/operator/locks", url.Values{"type": {"voucher_serial"}, "value": {"123456789012"}, "hours": {"24"},
		"reason": {"x"}}); st != http.StatusForbidden {
		t.Errorf("an owner adds a platform lock: %d", st)
	}
	if ls, _ := f.risk.PlatformLocks(ctx); len(ls) != 0 {
		t.Fatalf("locks after refused forms: %+v", ls)
	}
	st, body := c.do(t, "/console/operator/locks", url.Values{"type": {"voucher_serial"}, "value": {"123456789012"}, "hours": {"48"},
		"reason": {"stolen batch"}})
	if st != http.StatusOK || !strings.Contains(body, "Locked voucher_serial 123456789012") {
		t.Fatalf("lock = %d\n%s", st, body)
	}
	ls, _ := f.risk.PlatformLocks(ctx)
	if len(ls) != 1 || ls[0].Note != "stolen batch" || ls[0].Expires.Sub(f.clock.Now()) < 47*time.Hour {
		t.Fatalf("locks %+v", ls)
	}
	_, body = c.get(t, "/console/operator")
	i := strings.Index(body, `id="queue-depths"`)
	if i < 0 {
		t.Fatal("no queue depths")
	}
	for _, want := range []string{"Webhook deliveries due", "Payouts pending or in transit", "Risk writer backlog", "node-a", "payouts"} {
		if !strings.Contains(body[i:], want) {
			t.Errorf("the health panel lacks %q", want)
		}
	}
	if regexp.MustCompile(`Webhook deliveries due</th><td class="num">0<`).MatchString(body) {
		t.Error("no due delivery counted")
	}
	var found bool
	for _, e := range f.auditActions(t, members.Platform) {
		found = found || (e.Action == "risk_lock.add" && e.Target == "voucher_serial:123456789012" && e.Actor.ID == op.ID)
	}
	if !found {
		t.Error("the lock is not in the audit log")
	}
}

// TestConsoleMemberRole: an owner changes a member's role on the Team
// page; an admin may not make an owner; the last owner cannot be
// demoted; a member of another merchant is none; a developer has no form.
func TestConsoleMemberRole(t *testing.T) {
	f := newFixture(t)
	owner := f.join(t, f.merchant.ID, "owner@example.com", members.Owner)
	admin := f.join(t, f.merchant.ID, "admin@example.com", members.Admin)
	sup := f.join(t, f.merchant.ID, "sup@example.com", members.Support)
	theirs := f.join(t, f.other.ID, "theirs@example.com", members.Support)
	c := f.newClient()
	c.login(t, owner)
	if _, body := c.get(t, "/console/members"); !strings.Contains(body, `action="/console/members/`+sup.ID+`/role"`) {
		t.Fatal("no role form on the team page")
	}
	if st, body := c.do(t, "/console/members/"+sup.ID+"/role", url.Values{"role": {"analyst"}}); st != http.StatusOK ||
		!strings.Contains(body, "sup@example.com is analyst") {
		t.Fatalf("owner changes a role: %d", st)
	}
	if st, _ := c.do(t, "/console/members/"+owner.ID+"/role", url.Values{"role": {"admin"}}); st != http.StatusConflict {
		t.Errorf("the last owner demoted: %d", st)
	}
	if st, _ := c.do(t, "/console/members/"+theirs.ID+"/role", url.Values{"role": {"admin"}}); st != http.StatusNotFound {
		t.Errorf("another merchant's member: %d", st)
	}
	a := f.newClient()
	a.login(t, admin)
	if st, _ := a.do(t, "/console/members/"+sup.ID+"/role", url.Values{"role": {"owner"}}); st != http.StatusForbidden {
		t.Errorf("an admin makes an owner: %d", st)
	}
	s := f.newClient()
	s.login(t, sup) // now an analyst
	if st, _ := s.get(t, "/console/reviews"); st != http.StatusOK {
		t.Errorf("the new analyst's reviews: %d", st)
	}
	if st, _ := s.do(t, "/console/members/"+sup.ID+"/role", url.Values{"role": {"admin"}}); st != http.StatusForbidden {
		t.Errorf("an analyst changes roles: %d", st)
	}
	ms, _ := f.members.Members(context.Background(), f.merchant.ID)
	for _, m := range ms {
		if want := map[string]members.Role{owner.ID: members.Owner, admin.ID: members.Admin, sup.ID: members.Analyst}[m.ID]; m.Role != want {
			t.Errorf("%s is %s, want %s", m.Email, m.Role, want)
		}
	}
}

// TestConsoleSuspendMerchant: the operator suspends a merchant with a
// reason; its keys get 403 merchant_suspended for creating, confirming
// and capturing payments, its team cannot capture in the console, its
// authorized payment and its balance stay as they were; another
// merchant works on; lifted, the key works again. Both are audited for
// the platform and for the merchant; an owner cannot suspend.
func TestConsoleSuspendMerchant(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	op := f.join(t, members.Platform, "ops@example.com", members.Operator)
	owner := f.join(t, f.merchant.ID, "owner@example.com", members.Owner)
	held := f.pay(t, f.merchant.ID, 1500, payment.CaptureManual)
	open, err := f.payments.Create(ctx, f.merchant.ID, payment.CreateRequest{Amount: 900, Currency: "EUR", Description: "Deposit"})
	if err != nil {
		t.Fatal(err)
	}
	api := func(key, method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, f.origin+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		if method == "POST" {
			req.Header.Set("Idempotency-Key", "k-"+strings.ReplaceAll(path, "/", "-")+body)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	c := f.newClient()
	c.login(t, op)
	if st, _ := c.do(t, "/console/operator/merchants/"+f.merchant.ID+"/suspend", nil); st != http.StatusBadRequest {
		t.Errorf("suspend without a reason: %d", st)
	}
	o := f.newClient()
	o.login(t, owner)
	if st, _ := o.do(t, "/console/operator/merchants/"+f.other.ID+"/suspend", url.Values{"reason": {"x"}}); st != http.StatusForbidden {
		t.Errorf("an owner suspends: %d", st)
	}
	if st, body := c.do(t, "/console/operator/merchants/"+f.merchant.ID+"/suspend", url.Values{"reason": {"chargeback ratio 4%"}}); st != http.StatusOK ||
		!strings.Contains(body, "chargeback ratio 4%") {
		t.Fatalf("suspend = %d\n%s", st, body)
	}
	pin := f.issue(t, 900)
	for _, call := range []struct{ method, path, body string }{
		{"POST", "/v1/payments", `{"amount":700,"currency":"EUR","description":"Deposit"}`},
		{"POST", "/v1/payments/" + open.ID + "/confirm", `{"client_secret":"` + open.ClientSecret + `","pins":["` + pin + `"]}`},
		{"POST", "/v1/payments/" + held.ID + "/capture", `{}`},
		{"GET", "/v1/payments/" + held.ID, ""},
	} {
		st, body := api(f.merchant.SecretKey, call.method, call.path, call.body)
		if st != http.StatusForbidden || !strings.Contains(body, `"merchant_suspended"`) {
			t.Errorf("%s %s = %d %s", call.method, call.path, st, body)
		}
	}
	if st, _ := api(f.merchant.PublishableKey, "GET", "/v1/payments/"+open.ID+"?client_secret="+open.ClientSecret, ""); st != http.StatusForbidden {
		t.Errorf("the publishable key: %d", st)
	}
	if st, body := api(f.other.SecretKey, "POST", "/v1/payments", `{"amount":700,"currency":"EUR","description":"Deposit"}`); st != http.StatusCreated && st != http.StatusOK {
		t.Errorf("another merchant during the suspension: %d %s", st, body)
	}
	if st, _ := o.do(t, "/console/payments/"+held.ID+"/capture", nil); st != http.StatusForbidden {
		t.Errorf("console capture of a suspended merchant: %d", st)
	}
	if got, _ := f.payments.Get(ctx, f.merchant.ID, held.ID); got.Status != payment.StatusAuthorized {
		t.Errorf("the authorized payment is %s", got.Status)
	}
	if got, _ := f.payments.Get(ctx, f.merchant.ID, open.ID); got.Status != payment.StatusRequiresAction {
		t.Errorf("the open payment is %s", got.Status)
	}
	if _, body := c.get(t, "/console/operator"); !strings.Contains(body, `aria-label="Unsuspend `) {
		t.Error("no unsuspend button")
	}
	if st, _ := c.do(t, "/console/operator/merchants/"+f.merchant.ID+"/unsuspend", nil); st != http.StatusOK {
		t.Fatalf("unsuspend = %d", st)
	}
	if st, body := api(f.merchant.SecretKey, "POST", "/v1/payments/"+held.ID+"/capture", `{}`); st != http.StatusOK {
		t.Errorf("capture after the suspension: %d %s", st, body)
	}
	for _, org := range []string{members.Platform, f.merchant.ID} {
		var s, u bool
		for _, e := range f.auditActions(t, org) {
			s = s || (e.Action == "merchant.suspend" && e.Target == f.merchant.ID && strings.Contains(string(e.After), "chargeback ratio"))
			u = u || (e.Action == "merchant.unsuspend" && e.Target == f.merchant.ID)
		}
		if !s || !u {
			t.Errorf("%s's audit: suspend %v, unsuspend %v", org, s, u)
		}
	}
}
