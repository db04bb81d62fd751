// Package grafana defines Kassa's Grafana dashboards and writes them as
// the JSON files beside it (overview.json, payments.json, ledger.json,
// risk.json, webhooks.json, infrastructure.json), which Grafana imports
// (Dashboards → New → Import) or provisions from a directory.
//
// The dashboards are Go values so that their queries can be tested: `go
// test ./deploy/grafana` checks that the files are what this package
// writes (`-update` rewrites them) and that every query names only metrics
// Kassa registers; cmd/kassa's TestE2EDashboards evaluates every panel's
// query through a real Prometheus scraping a loaded Kassa.
package grafana

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Dashboard is one dashboard file.
type Dashboard struct {
	File, UID, Title, Description string
	Panels                        []Panel
}

// Panel is one graph or figure; its queries are PromQL with Grafana's
// variables $job, $instance and $__rate_interval.
type Panel struct {
	Title, Description string
	Type               string // timeseries (default), stat, heatmap
	Unit               string // Grafana unit: reqps, s, percentunit, short, bytes, dateTimeFromNow ...
	Width              int    // of 24 columns; 12 by default
	Queries            []Query
}

// Query is one target of a panel.
type Query struct {
	Expr, Legend string
	// Quiet marks a query that is empty while nothing goes wrong (no
	// declines, no locks, no failed webhook endpoints): the test does not
	// ask it for data, only that it evaluates.
	Quiet bool
}

// sel is the label matcher every query starts from: the job and the
// instances chosen on the dashboard.
const sel = `job=~"$job",instance=~"$instance"`

// m returns metric{sel,extra}.
func m(metric string, extra ...string) string {
	return metric + "{" + strings.Join(append([]string{sel}, extra...), ",") + "}"
}

// rate returns sum by (by) (rate(metric{sel,extra}[$__rate_interval])).
func rate(by, metric string, extra ...string) string {
	s := "sum"
	if by != "" {
		s += " by (" + by + ")"
	}
	return s + " (rate(" + m(metric, extra...) + "[$__rate_interval]))"
}

// quantile returns the q quantile of a histogram, by the labels in by.
func quantile(q, by, metric string, extra ...string) string {
	le := "le"
	if by != "" {
		le += ", " + by
	}
	return fmt.Sprintf("histogram_quantile(%s, sum by (%s) (rate(%s[$__rate_interval])))", q, le, m(metric+"_bucket", extra...))
}

// Routes of the API, as kassa_http_requests_total names them.
const (
	routesPayments = `route=~"/v1/payments.*|/v1/refunds.*|/pay/.*"`
	routesLedger   = `route=~"/v1/ledger/.*"`
)

// Dashboards returns Kassa's dashboards.
func Dashboards() []Dashboard {
	return []Dashboard{overview(), payments(), ledgerBoard(), risk(), webhooks(), infrastructure()}
}

func overview() Dashboard {
	return Dashboard{File: "overview.json", UID: "kassa-overview", Title: "Kassa / Overview",
		Description: "The signals that say whether Kassa takes payments: traffic, errors, latency, money moving, risk, background work.",
		Panels: []Panel{
			{Title: "Requests by status", Unit: "reqps", Queries: []Query{{Expr: rate("status", "kassa_http_requests_total"), Legend: "{{status}}"}}},
			{Title: "Server errors (5xx share)", Unit: "percentunit", Description: "KassaAPIErrorRateHigh pages above 5%.",
				Queries: []Query{{Expr: "(" + rate("", "kassa_http_requests_total", `status=~"5.."`) + " or vector(0)) / " + rate("", "kassa_http_requests_total"), Legend: "5xx share"}}},
			{Title: "API latency", Unit: "s", Description: "Over all routes; the payments and ledger dashboards split it by route.",
				Queries: []Query{
					{Expr: quantile("0.5", "", "kassa_http_request_duration_seconds"), Legend: "p50"},
					{Expr: quantile("0.99", "", "kassa_http_request_duration_seconds"), Legend: "p99"}}},
			{Title: "Payment steps answered 2xx", Unit: "reqps",
				Queries: []Query{{Expr: rate("route", "kassa_http_requests_total", `method="POST"`, `route=~"/v1/payments|/v1/payments/.+/(confirm|capture|cancel)|/v1/refunds"`, `status=~"2.."`), Legend: "{{route}}"}}},
			{Title: "Ledger leaves committed", Unit: "short", Description: "Accounts and transfers written to the ledger per second (all callers: payments and /v1/ledger).",
				Queries: []Query{{Expr: rate("", "kassa_ledger_commit_batch_size_sum"), Legend: "leaves/s"}}},
			{Title: "Risk decisions", Unit: "short", Queries: []Query{{Expr: rate("decision", "kassa_risk_decisions_total"), Legend: "{{decision}}"}}},
			{Title: "Webhook deliveries due", Unit: "short", Type: "stat", Width: 6,
				Queries: []Query{{Expr: "max(" + m("kassa_webhook_due_deliveries") + ")", Legend: "due"}}},
			{Title: "Reconciliation mismatches", Unit: "short", Type: "stat", Width: 6, Description: "Left unfixed by the last run; KassaReconcileMismatches pages above 0.",
				Queries: []Query{{Expr: "max(" + m("kassa_reconcile_mismatches") + ")", Legend: "mismatches"}}},
			{Title: "Nodes up", Unit: "short", Type: "stat", Width: 6, Queries: []Query{{Expr: "sum(" + m("up") + ")", Legend: "up"}}},
			{Title: "Ledger checkpoint age", Unit: "s", Type: "stat", Width: 6, Description: "Since the newest checkpoint any node signed; each commit signs one.",
				Queries: []Query{{Expr: "time() - max(" + m("kassa_ledger_checkpoint_timestamp_seconds") + ")", Legend: "age"}}},
		}}
}

func payments() Dashboard {
	return Dashboard{File: "payments.json", UID: "kassa-payments", Title: "Kassa / Payments",
		Description: "Payments, refunds and the hosted payment page through the API: volume, outcomes, latency; voucher PIN guessing.",
		Panels: []Panel{
			{Title: "Payment requests by route", Unit: "reqps", Queries: []Query{{Expr: rate("route, method", "kassa_http_requests_total", routesPayments), Legend: "{{method}} {{route}}"}}},
			{Title: "Payment requests by status", Unit: "reqps", Queries: []Query{{Expr: rate("status", "kassa_http_requests_total", routesPayments), Legend: "{{status}}"}}},
			{Title: "Created, confirmed, captured, refunded", Unit: "reqps", Description: "POSTs answered 2xx, per step of a payment's life.",
				Queries: []Query{
					{Expr: rate("", "kassa_http_requests_total", `method="POST"`, `route="/v1/payments"`, `status=~"2.."`), Legend: "created"},
					{Expr: rate("", "kassa_http_requests_total", `method="POST"`, `route="/v1/payments/{id}/confirm"`, `status=~"2.."`), Legend: "confirmed"},
					{Expr: rate("", "kassa_http_requests_total", `method="POST"`, `route="/v1/payments/{id}/capture"`, `status=~"2.."`), Legend: "captured"},
					{Expr: rate("", "kassa_http_requests_total", `method="POST"`, `route="/v1/refunds"`, `status=~"2.."`), Legend: "refunded"}}},
			{Title: "Confirmations refused (4xx)", Unit: "reqps", Description: "Declines, wrong PINs, blocked by risk, invalid requests.",
				Queries: []Query{{Expr: rate("status", "kassa_http_requests_total", `route="/v1/payments/{id}/confirm"`, `status=~"4.."`), Legend: "{{status}}", Quiet: true}}},
			{Title: "Payment latency p99 by route", Unit: "s",
				Queries: []Query{{Expr: quantile("0.99", "route", "kassa_http_request_duration_seconds", routesPayments), Legend: "{{route}}"}}},
			{Title: "Payment server errors", Unit: "reqps", Description: "5xx on payment routes: a merchant retries them with the same Idempotency-Key.",
				Queries: []Query{{Expr: rate("route", "kassa_http_requests_total", routesPayments, `status=~"5.."`), Legend: "{{route}}", Quiet: true}}},
			{Title: "Wrong voucher PINs", Unit: "short", Description: "Failed PINs at the balance check; KassaVoucherPINFailuresHigh above 500 an hour.",
				Queries: []Query{{Expr: "sum(rate(" + m("kassa_voucher_balance_pin_failures_total") + "[$__rate_interval]))", Legend: "per second"}}},
			{Title: "PIN budgets spent", Unit: "short", Description: "A key's or the platform's wrong-PIN budget ran out: someone guesses PINs.",
				Queries: []Query{{Expr: "sum by (budget) (increase(" + m("kassa_voucher_balance_budget_exhausted_total") + "[1h]))", Legend: "{{budget}}", Quiet: true}}},
		}}
}

func ledgerBoard() Dashboard {
	return Dashboard{File: "ledger.json", UID: "kassa-ledger", Title: "Kassa / Ledger",
		Description: "The ledger's group commit: throughput, batch sizes, commit latency, queues, checkpoints, the account index.",
		Panels: []Panel{
			{Title: "Leaves committed", Unit: "short", Description: "Accounts and transfers per second.",
				Queries: []Query{{Expr: rate("instance", "kassa_ledger_commit_batch_size_sum"), Legend: "{{instance}}"}}},
			{Title: "Commits", Unit: "short", Description: "Durable commits per second; each signs a checkpoint.",
				Queries: []Query{{Expr: rate("instance", "kassa_ledger_commit_seconds_count"), Legend: "{{instance}}"}}},
			{Title: "Commit latency", Unit: "s", Description: "KassaLedgerCommitSlow above 100 ms at p99.",
				Queries: []Query{
					{Expr: quantile("0.5", "", "kassa_ledger_commit_seconds"), Legend: "p50"},
					{Expr: quantile("0.99", "", "kassa_ledger_commit_seconds"), Legend: "p99"}}},
			{Title: "Batch size", Unit: "short", Description: "Leaves per commit: large batches mean the group commit absorbs the load.",
				Queries: []Query{
					{Expr: rate("", "kassa_ledger_commit_batch_size_sum") + " / " + rate("", "kassa_ledger_commit_batch_size_count"), Legend: "mean"},
					{Expr: quantile("0.99", "", "kassa_ledger_commit_batch_size"), Legend: "p99"}}},
			{Title: "Calls waiting", Unit: "short", Description: "Ledger calls queued behind the commit in progress; waiting calls and an old checkpoint mean a stall (KassaLedgerCommitStall).",
				Queries: []Query{{Expr: "max by (instance) (" + m("kassa_ledger_queued_submissions") + ")", Legend: "{{instance}}"}}},
			{Title: "Checkpoint age", Unit: "s", Description: "Since each node last committed and signed a checkpoint (KassaLedgerCheckpointStale).",
				Queries: []Query{{Expr: "time() - max by (instance) (" + m("kassa_ledger_checkpoint_timestamp_seconds") + " > 0)", Legend: "{{instance}}"}}},
			{Title: "Ledger API by route and status", Unit: "reqps",
				Queries: []Query{{Expr: rate("route, status", "kassa_http_requests_total", routesLedger), Legend: "{{route}} {{status}}"}}},
			{Title: "Ledger API latency p99", Unit: "s",
				Queries: []Query{{Expr: quantile("0.99", "route", "kassa_http_request_duration_seconds", routesLedger), Legend: "{{route}}"}}},
			{Title: "Account index lag (SQLite)", Unit: "short", Description: "Leaves not yet in ledger-index.db; listings scan them. Absent on PostgreSQL.",
				Queries: []Query{{Expr: "max by (instance) (" + m("kassa_ledger_index_lag_leaves") + ")", Legend: "{{instance}}"}}},
			{Title: "Account index failures (SQLite)", Unit: "short",
				Queries: []Query{{Expr: "sum by (instance) (increase(" + m("kassa_ledger_index_failures_total") + "[$__rate_interval]))", Legend: "{{instance}}"}}},
		}}
}

func risk() Dashboard {
	return Dashboard{File: "risk.json", UID: "kassa-risk", Title: "Kassa / Risk",
		Description: "Risk decisions and scores, scoring latency, automatic locks, the evaluation writer, review queue.",
		Panels: []Panel{
			{Title: "Decisions", Unit: "short", Queries: []Query{{Expr: rate("decision", "kassa_risk_decisions_total"), Legend: "{{decision}}"}}},
			{Title: "Block share", Unit: "percentunit", Description: "KassaRiskBlockRateSpike compares 15 minutes with the day.",
				Queries: []Query{{Expr: "(" + rate("", "kassa_risk_decisions_total", `decision="block"`) + " or vector(0)) / " + rate("", "kassa_risk_decisions_total"), Legend: "blocked"}}},
			{Title: "Decisions by level", Unit: "short", Queries: []Query{{Expr: rate("level", "kassa_risk_decisions_total"), Legend: "{{level}}"}}},
			{Title: "Score distribution", Type: "heatmap", Unit: "short",
				Queries: []Query{{Expr: "sum by (le) (increase(" + m("kassa_risk_score_bucket") + "[$__rate_interval]))", Legend: "{{le}}"}}},
			{Title: "Scoring latency", Unit: "s", Description: "In process, per decision.",
				Queries: []Query{
					{Expr: quantile("0.5", "", "kassa_risk_evaluation_seconds"), Legend: "p50"},
					{Expr: quantile("0.99", "", "kassa_risk_evaluation_seconds"), Legend: "p99"}}},
			{Title: "Automatic locks", Unit: "short", Description: "Block-list entries the engine added, by type.",
				Queries: []Query{{Expr: "sum by (type) (increase(" + m("kassa_risk_locks_total") + "[$__rate_interval]))", Legend: "{{type}}", Quiet: true}}},
			{Title: "Feature entities in memory", Unit: "short",
				Queries: []Query{{Expr: "max by (instance) (" + m("kassa_risk_feature_entities") + ")", Legend: "{{instance}}"}}},
			{Title: "Evaluation writer queue", Unit: "percentunit", Description: "Share of the writer's queue in use (KassaRiskWriterBacklog above 50%).",
				Queries: []Query{{Expr: "max by (instance) (" + m("kassa_risk_writer_queue_length") + " / " + m("kassa_risk_writer_queue_capacity") + ")", Legend: "{{instance}}"}}},
			{Title: "Evaluation write errors", Unit: "short",
				Queries: []Query{{Expr: "sum(increase(" + m("kassa_risk_evaluation_write_errors_total") + "[$__rate_interval]))", Legend: "refused batches"}}},
			{Title: "Open reviews", Unit: "short", Type: "stat", Width: 6,
				Queries: []Query{{Expr: "max(" + m("kassa_risk_reviews_open") + ")", Legend: "open"}}},
			{Title: "Oldest open review", Unit: "s", Type: "stat", Width: 6, Description: "KassaRiskReviewBacklog above a day.",
				Queries: []Query{{Expr: "max(" + m("kassa_risk_oldest_open_review_age_seconds") + ")", Legend: "age"}}},
		}}
}

func webhooks() Dashboard {
	return Dashboard{File: "webhooks.json", UID: "kassa-webhooks", Title: "Kassa / Webhooks",
		Description: "Webhook delivery: attempts and their outcomes, lag behind the due time, backlog, disabled endpoints.",
		Panels: []Panel{
			{Title: "Attempts by outcome", Unit: "short", Queries: []Query{{Expr: rate("outcome", "kassa_webhook_attempts_total"), Legend: "{{outcome}}"}}},
			{Title: "Deliveries finished by outcome", Unit: "short", Description: "Delivered, or failed after the last retry.",
				Queries: []Query{{Expr: "sum by (outcome) (increase(" + m("kassa_webhook_deliveries_total") + "[$__rate_interval]))", Legend: "{{outcome}}", Quiet: true}}},
			{Title: "Delivery lag", Unit: "s", Description: "Start of an attempt minus its due time (KassaWebhookDeliveryLagHigh above a minute at p99).",
				Queries: []Query{
					{Expr: quantile("0.5", "", "kassa_webhook_delivery_lag_seconds"), Legend: "p50"},
					{Expr: quantile("0.99", "", "kassa_webhook_delivery_lag_seconds"), Legend: "p99"}}},
			{Title: "Due deliveries", Unit: "short", Description: "Read from the database at each scrape; the same on every node.",
				Queries: []Query{{Expr: "max(" + m("kassa_webhook_due_deliveries") + ")", Legend: "due"}}},
			{Title: "Oldest due delivery", Unit: "s", Description: "KassaWebhookBacklog above 10 minutes.",
				Queries: []Query{{Expr: "max(" + m("kassa_webhook_oldest_due_age_seconds") + ")", Legend: "age"}}},
			{Title: "Endpoints disabled", Unit: "short", Description: "Endpoints Kassa turned off after failing for days.",
				Queries: []Query{{Expr: "sum(increase(" + m("kassa_webhook_endpoints_disabled_total") + "[1d]))", Legend: "disabled", Quiet: true}}},
		}}
}

func infrastructure() Dashboard {
	return Dashboard{File: "infrastructure.json", UID: "kassa-infrastructure", Title: "Kassa / Infrastructure",
		Description: "The nodes and what they stand on: scrapes, the database, disk, certificates, memory, CPU, goroutines.",
		Panels: []Panel{
			{Title: "Scrape up", Unit: "short", Queries: []Query{{Expr: m("up"), Legend: "{{instance}}"}}},
			{Title: "Database checks failed", Unit: "short", Description: "Each node checks every 15 s that its database answers and takes writes (KassaDatabaseUnreachable).",
				Queries: []Query{{Expr: "sum by (instance) (increase(" + m("kassa_database_ping_failures_total") + "[$__rate_interval]))", Legend: "{{instance}}"}}},
			{Title: "Database failover errors", Unit: "short", Description: "Transactions and checks that found the PostgreSQL server gone, shutting down or read-only; they grow during a failover (KassaDatabaseFailover).",
				Queries: []Query{{Expr: "sum by (instance) (increase(" + m("kassa_database_failover_errors_total") + "[$__rate_interval]))", Legend: "{{instance}}"}}},
			{Title: "Data directory free", Unit: "percentunit", Description: "KassaDataDirSpaceLow below 10%.",
				Queries: []Query{{Expr: m("kassa_data_dir_free_bytes") + " / " + m("kassa_data_dir_size_bytes"), Legend: "{{instance}}"}}},
			{Title: "TLS certificate expires in", Unit: "s", Type: "stat", Description: "KassaTLSCertificateExpiring below 14 days.",
				Queries: []Query{{Expr: "min by (instance) (" + m("kassa_tls_certificate_expiry_timestamp_seconds") + ") - time()", Legend: "{{instance}}"}}},
			{Title: "Resident memory", Unit: "bytes", Queries: []Query{{Expr: m("process_resident_memory_bytes"), Legend: "{{instance}}"}}},
			{Title: "CPU", Unit: "percentunit", Description: "Cores in use by each Kassa process.",
				Queries: []Query{{Expr: rate("instance", "process_cpu_seconds_total"), Legend: "{{instance}}"}}},
			{Title: "Goroutines", Unit: "short", Queries: []Query{{Expr: m("go_goroutines"), Legend: "{{instance}}"}}},
			{Title: "Open file descriptors", Unit: "percentunit", Description: "Share of the process's limit.",
				Queries: []Query{{Expr: m("process_open_fds") + " / " + m("process_max_fds"), Legend: "{{instance}}"}}},
			{Title: "Scrape duration", Unit: "s", Queries: []Query{{Expr: m("scrape_duration_seconds"), Legend: "{{instance}}"}}},
		}}
}

// JSON returns the dashboard in Grafana's JSON model, indented, ending in
// a newline.
func (d Dashboard) JSON() ([]byte, error) {
	ds := map[string]any{"type": "prometheus", "uid": "${datasource}"}
	panels := make([]any, 0, len(d.Panels))
	x, y, rowH := 0, 0, 0
	for i, p := range d.Panels {
		w, h := p.Width, 8
		if w == 0 {
			w = 12
		}
		if p.Type == "stat" {
			h = 4
		}
		if x+w > 24 {
			x, y, rowH = 0, y+rowH, 0
		}
		typ := p.Type
		if typ == "" {
			typ = "timeseries"
		}
		targets := make([]any, len(p.Queries))
		for j, q := range p.Queries {
			t := map[string]any{"refId": string(rune('A' + j)), "expr": q.Expr, "legendFormat": q.Legend, "datasource": ds}
			if typ == "heatmap" {
				t["format"] = "heatmap"
			}
			targets[j] = t
		}
		panel := map[string]any{
			"id": i + 1, "type": typ, "title": p.Title, "description": p.Description, "datasource": ds,
			"gridPos":     map[string]int{"x": x, "y": y, "w": w, "h": h},
			"targets":     targets,
			"fieldConfig": map[string]any{"defaults": map[string]any{"unit": p.Unit}, "overrides": []any{}},
		}
		switch typ {
		case "timeseries":
			panel["options"] = map[string]any{"legend": map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true},
				"tooltip": map[string]any{"mode": "multi", "sort": "desc"}}
		case "stat":
			panel["options"] = map[string]any{"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
				"colorMode": "value", "graphMode": "area"}
		case "heatmap":
			panel["options"] = map[string]any{"calculate": false, "yAxis": map[string]any{"unit": p.Unit}}
		}
		panels = append(panels, panel)
		x += w
		rowH = max(rowH, h)
	}
	model := map[string]any{
		"uid": d.UID, "title": d.Title, "description": d.Description, "tags": []string{"kassa"},
		"schemaVersion": 39, "version": 1, "editable": true, "graphTooltip": 1,
		"time": map[string]string{"from": "now-6h", "to": "now"}, "refresh": "30s", "timezone": "utc",
		"links": []any{map[string]any{"title": "Kassa", "type": "dashboards", "tags": []string{"kassa"}, "asDropdown": true}},
		"templating": map[string]any{"list": []any{
			map[string]any{"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus"},
			map[string]any{"name": "job", "label": "Job", "type": "query", "datasource": ds,
				"query":      map[string]any{"query": "label_values(kassa_http_requests_total, job)", "refId": "job"},
				"definition": "label_values(kassa_http_requests_total, job)", "refresh": 2, "includeAll": false, "multi": false},
			map[string]any{"name": "instance", "label": "Node", "type": "query", "datasource": ds,
				"query":      map[string]any{"query": `label_values(kassa_http_requests_total{job=~"$job"}, instance)`, "refId": "instance"},
				"definition": `label_values(kassa_http_requests_total{job=~"$job"}, instance)`, "refresh": 2,
				"includeAll": true, "multi": true, "allValue": ".+", "current": map[string]any{"text": "All", "value": "$__all"}},
		}},
		"panels": panels,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(model); err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", d.File, err)
	}
	return buf.Bytes(), nil
}
