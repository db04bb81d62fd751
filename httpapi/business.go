package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/business"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
)

// registerBusiness registers balance transactions, settlements and
// reports (docs/business.md).
func (s *Server) registerBusiness() {
	if s.cfg.Business == nil {
		return
	}
	s.Handle("GET", "/v1/balance_transactions", AuthSecret, s.listBalanceTransactions)
	s.Handle("GET", "/v1/balance_transactions/{id}", AuthSecret, s.getBalanceTransaction)
	s.HandleLimit("POST", "/v1/settlements", AuthSecret, 1<<10, s.createSettlement)
	s.Handle("GET", "/v1/settlements", AuthSecret, s.listSettlements)
	s.Handle("GET", "/v1/settlements/{id}", AuthSecret, s.getSettlement)
	s.HandleLimit("POST", "/v1/reports", AuthSecret, 1<<10, s.createReport)
	s.Handle("GET", "/v1/reports", AuthSecret, s.listReports)
	s.Handle("GET", "/v1/reports/{id}", AuthSecret, s.getReport)
	s.Handle("GET", "/v1/reports/{id}/file", AuthSecret, s.getReportFile)
}

// balanceTransactionJSON is a balance transaction as the API shows it.
type balanceTransactionJSON struct {
	ID             string  `json:"id"`
	Object         string  `json:"object"`
	Amount         int64   `json:"amount"`
	Fee            int64   `json:"fee"`
	Net            int64   `json:"net"`
	Currency       string  `json:"currency"`
	Type           string  `json:"type"`
	Source         string  `json:"source"`
	AvailableOn    string  `json:"available_on"`
	Created        string  `json:"created"`
	LedgerTransfer string  `json:"ledger_transfer"`
	Settlement     *string `json:"settlement"`
}

func balanceTransactionView(x business.Txn) balanceTransactionJSON {
	v := balanceTransactionJSON{ID: x.ID, Object: "balance_transaction", Amount: int64(x.Amount), Fee: int64(x.Fee),
		Net: int64(x.Net), Currency: string(x.Currency), Type: x.Type, Source: x.Source,
		AvailableOn: rfc3339(x.AvailableOn), Created: rfc3339(x.Created), LedgerTransfer: x.TransferID}
	if x.Settlement != "" {
		v.Settlement = &x.Settlement
	}
	return v
}

func (s *Server) listBalanceTransactions(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	q := r.URL.Query()
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	f := business.TxnFilter{MerchantID: pr.Merchant.ID, Type: q.Get("type"), Settlement: q.Get("settlement"),
		StartingAfter: q.Get("starting_after"), Limit: limit}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"created[gte]", &f.CreatedGTE}, {"created[lt]", &f.CreatedLT}, {"created_gte", &f.CreatedGTE}, {"created_lt", &f.CreatedLT}} {
		if q.Get(p.name) == "" {
			continue
		}
		t, err := parseTimeParam(q, p.name)
		if err != nil {
			return err
		}
		*p.dst = t
	}
	xs, more, err := s.cfg.Business.Txns(r.Context(), f)
	if err != nil {
		return err
	}
	data := make([]balanceTransactionJSON, len(xs))
	for i, x := range xs {
		data[i] = balanceTransactionView(x)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": more})
}

func (s *Server) getBalanceTransaction(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	x, err := s.cfg.Business.Txn(r.Context(), pr.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, balanceTransactionView(x))
}

// businessBalance answers /v1/balance with business accounts wired:
// available and pending (captured, not yet available) from the ledger;
// authorized is what authorizations not yet captured hold for the
// merchant (not part of the balance until captured).
func (s *Server) businessBalance(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	bs, err := s.cfg.Payments.MerchantBalances(r.Context(), pr.Merchant.ID)
	if err != nil {
		return err
	}
	curs := make([]money.Currency, len(bs))
	auth := []amountJSON{}
	for i, b := range bs {
		curs[i] = b.Currency
		auth = append(auth, amountJSON{int64(b.Pending), string(b.Currency)})
	}
	bal, err := s.cfg.Business.Balances(r.Context(), pr.Merchant.ID, curs)
	if err != nil {
		return err
	}
	avail, pend := []amountJSON{}, []amountJSON{}
	for _, b := range bal {
		avail = append(avail, amountJSON{int64(b.Available), string(b.Currency)})
		pend = append(pend, amountJSON{int64(b.Pending), string(b.Currency)})
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "balance", "available": avail, "pending": pend, "authorized": auth})
}

// settlementJSON is a settlement with the sum of the balance transactions
// it pays out.
type settlementJSON struct {
	payout.PublicSettlement
	BalanceTransactions settlementLines `json:"balance_transactions"`
}

type settlementLines struct {
	Count int    `json:"count"`
	Net   int64  `json:"net"`
	URL   string `json:"url"`
}

func (s *Server) settlementView(r *http.Request, p payout.Payout) (settlementJSON, error) {
	n, sum, err := s.cfg.Business.Lines(r.Context(), p.MerchantID, p.ID)
	if err != nil {
		return settlementJSON{}, err
	}
	return settlementJSON{PublicSettlement: payout.Settlement(p), BalanceTransactions: settlementLines{Count: n, Net: int64(sum),
		URL: "/v1/balance_transactions?settlement=" + p.ID}}, nil
}

type createSettlementRequest struct {
	Currency string `json:"currency"`
}

func (s *Server) createSettlement(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req createSettlementRequest
	if r.ContentLength != 0 {
		if err := DecodeJSON(r, &req); err != nil {
			return err
		}
	}
	if req.Currency != "" && req.Currency != string(business.SettlementCurrency) {
		return kassa.Invalid("currency", "currency_unsupported", "settlements are paid in %s (a SEPA bank account)", business.SettlementCurrency)
	}
	p, err := s.cfg.Business.Settle(r.Context(), pr.Merchant.ID, pr.Merchant.Name, r.Header.Get("Idempotency-Key"))
	if err != nil {
		return err
	}
	v, err := s.settlementView(r, p)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusCreated, v)
}

func (s *Server) listSettlements(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	ps, more, err := s.cfg.Business.Settlements(r.Context(), pr.Merchant.ID, r.URL.Query().Get("starting_after"), limit)
	if err != nil {
		return err
	}
	data := make([]settlementJSON, len(ps))
	for i, p := range ps {
		if data[i], err = s.settlementView(r, p); err != nil {
			return err
		}
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": more})
}

func (s *Server) getSettlement(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	p, err := s.cfg.Business.Settlement(r.Context(), pr.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := s.settlementView(r, p)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, v)
}

type createReportRequest struct {
	Type          string `json:"type"`
	IntervalStart string `json:"interval_start"`
	IntervalEnd   string `json:"interval_end"`
	Timezone      string `json:"timezone"`
	Format        string `json:"format"`
}

func (s *Server) createReport(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req createReportRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	rep, err := s.cfg.Business.CreateReport(r.Context(), pr.Merchant.ID, business.ReportRequest{Type: req.Type,
		Format: req.Format, Timezone: req.Timezone, IntervalStart: req.IntervalStart, IntervalEnd: req.IntervalEnd})
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusCreated, business.PublicReport(rep))
}

func (s *Server) listReports(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	rs, more, err := s.cfg.Business.Reports(r.Context(), pr.Merchant.ID, r.URL.Query().Get("starting_after"), limit)
	if err != nil {
		return err
	}
	data := make([]business.PublicReportView, len(rs))
	for i, rep := range rs {
		data[i] = business.PublicReport(rep)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": more})
}

func (s *Server) getReport(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	rep, err := s.cfg.Business.Report(r.Context(), pr.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, business.PublicReport(rep))
}

// getReportFile streams a succeeded report's file chunk by chunk.
func (s *Server) getReportFile(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	rep, err := s.cfg.Business.Report(r.Context(), pr.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if rep.Status != business.ReportSucceeded {
		return kassa.Errorf(kassa.EConflict, "report_not_ready", "the report is %s; its file exists once it succeeded", rep.Status)
	}
	ctype := "text/csv; charset=utf-8"
	if rep.Format == "json" {
		ctype = "application/json"
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.FormatInt(rep.Size, 10))
	h.Set("Content-Disposition", `attachment; filename="`+rep.ID+`.`+rep.Format+`"`)
	h.Set("X-Report-SHA256", rep.SHA256)
	h.Set("X-Ledger-Tree-Size", strconv.FormatInt(rep.TreeSize, 10))
	h.Set("X-Ledger-Root-Hash", rep.RootHash)
	w.WriteHeader(http.StatusOK)
	if err := s.cfg.Business.ReportFile(r.Context(), pr.Merchant.ID, rep.ID, w); err != nil {
		s.cfg.Logger.WarnContext(r.Context(), "report file cut short", "report", rep.ID, "err", err)
	}
	return nil
}
