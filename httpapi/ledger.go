package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
)

// ledgerBodyBytesMax admits a full batch of ledger.TransfersPerCallMax
// transfers with metadata.
const ledgerBodyBytesMax = 16 << 20

func (s *Server) registerLedger() {
	s.Handle("POST", "/v1/ledger/accounts", AuthSecret, s.createLedgerAccount)
	s.Handle("GET", "/v1/ledger/accounts/{id}", AuthSecret, s.getLedgerAccount)
	s.Handle("GET", "/v1/ledger/accounts/{id}/transfers", AuthSecret, s.listAccountTransfers)
	s.HandleLimit("POST", "/v1/ledger/transfers", AuthSecret, ledgerBodyBytesMax, s.createLedgerTransfers)
	s.Handle("GET", "/v1/ledger/transfers/{id}", AuthSecret, s.getLedgerTransfer)
	s.Handle("GET", "/v1/ledger/transfers/{id}/proof", AuthSecret, s.getInclusionProof)
	s.Handle("GET", "/v1/ledger/consistency", AuthSecret, s.getConsistencyProof)
	s.Handle("GET", "/v1/ledger/checkpoint", AuthSecret, s.getCheckpoint)
	s.Handle("GET", "/v1/ledger/verifier-key", AuthSecret, s.getVerifierKey)
}

// flagName names one bit of a flag set in the API.
type flagName[F ~uint16] struct {
	name string
	flag F
}

var accountFlagNames = []flagName[ledger.AccountFlags]{
	{"debits_must_not_exceed_credits", ledger.DebitsMustNotExceedCredits},
	{"credits_must_not_exceed_debits", ledger.CreditsMustNotExceedDebits},
}

var transferFlagNames = []flagName[ledger.TransferFlags]{
	{"linked", ledger.FlagLinked},
	{"pending", ledger.FlagPending},
	{"post_pending", ledger.FlagPostPending},
	{"void_pending", ledger.FlagVoidPending},
}

// parseFlagNames turns flag names into a flag set; an unknown name is a
// problem about param.
func parseFlagNames[F ~uint16](param string, names []string, table []flagName[F]) (F, error) {
	var f F
next:
	for _, n := range names {
		for _, fn := range table {
			if fn.name == n {
				f |= fn.flag
				continue next
			}
		}
		return 0, kassa.Invalid(param, "flags_invalid", "unknown flag %q", n)
	}
	return f, nil
}

// flagNameList names the flags set in f, in table order.
func flagNameList[F ~uint16](f F, table []flagName[F]) []string {
	out := []string{}
	for _, fn := range table {
		if f&fn.flag != 0 {
			out = append(out, fn.name)
		}
	}
	return out
}

type accountJSON struct {
	ID             string          `json:"id"`
	Object         string          `json:"object"`
	Currency       string          `json:"currency"`
	Code           uint16          `json:"code"`
	Flags          []string        `json:"flags"`
	Metadata       json.RawMessage `json:"metadata,omitempty"`
	DebitsPending  int64           `json:"debits_pending"`
	DebitsPosted   int64           `json:"debits_posted"`
	CreditsPending int64           `json:"credits_pending"`
	CreditsPosted  int64           `json:"credits_posted"`
	Created        string          `json:"created"`
	LeafIndex      int64           `json:"leaf_index"`
}

func toAccountJSON(a ledger.Account) accountJSON {
	return accountJSON{
		ID: a.ID, Object: "ledger_account", Currency: string(a.Currency), Code: a.Code,
		Flags: flagNameList(a.Flags, accountFlagNames), Metadata: a.Metadata,
		DebitsPending: int64(a.DebitsPending), DebitsPosted: int64(a.DebitsPosted),
		CreditsPending: int64(a.CreditsPending), CreditsPosted: int64(a.CreditsPosted),
		Created: rfc3339(a.Timestamp), LeafIndex: a.LeafIndex,
	}
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

type createAccountRequest struct {
	ID       string          `json:"id"`
	Currency string          `json:"currency"`
	Code     uint16          `json:"code"`
	Flags    []string        `json:"flags"`
	Metadata json.RawMessage `json:"metadata"`
}

// createLedgerAccount creates one account: 201 when new, 200 when the same
// account already exists (an idempotent retry), a problem otherwise.
func (s *Server) createLedgerAccount(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	var req createAccountRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.ID == "" {
		req.ID = id.New("acc")
	}
	flags, err := parseFlagNames("flags", req.Flags, accountFlagNames)
	if err != nil {
		return err
	}
	cur, err := money.ParseCurrency(req.Currency)
	if err != nil {
		return kassa.Invalid("currency", "currency_invalid", "currency must be an ISO 4217 code such as EUR")
	}
	acct := ledger.Account{ID: req.ID, Currency: cur, Code: req.Code, Flags: flags, Metadata: req.Metadata}
	results, err := s.cfg.Ledger.CreateAccounts(r.Context(), p.Merchant.ID, []ledger.Account{acct})
	if err != nil {
		return ledgerError(err)
	}
	status := http.StatusCreated
	switch res := results[0]; res.Code {
	case ledger.OK:
	case ledger.Exists:
		status = http.StatusOK
	default:
		return resultProblem("", res.Code)
	}
	a, err := s.cfg.Ledger.Account(r.Context(), p.Merchant.ID, req.ID)
	if err != nil {
		return ledgerError(err)
	}
	return WriteJSON(w, status, toAccountJSON(a))
}

// resultProblem turns a refused event into a problem whose code is the
// ledger's result code.
func resultProblem(param string, code ledger.ResultCode) error {
	kind := kassa.EUnprocessable
	if strings.HasPrefix(string(code), "exists_with_different_") {
		kind = kassa.EConflict
	}
	return &kassa.Error{Kind: kind, Code: string(code), Param: param,
		Message: "the ledger refused it: " + strings.ReplaceAll(string(code), "_", " ")}
}

func ledgerError(err error) error {
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return kassa.Errorf(kassa.ENotFound, "resource_missing", "no such ledger record")
	case errors.Is(err, ledger.ErrInvalid):
		return kassa.Errorf(kassa.EInvalid, "invalid_request", "%s", strings.TrimPrefix(err.Error(), ledger.ErrInvalid.Error()+": "))
	case errors.Is(err, ledger.ErrClosed):
		return kassa.Errorf(kassa.EUnavailable, "shutting_down", "the ledger is shutting down; retry")
	}
	return err
}

func (s *Server) getLedgerAccount(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	a, err := s.cfg.Ledger.Account(r.Context(), p.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return ledgerError(err)
	}
	return WriteJSON(w, http.StatusOK, toAccountJSON(a))
}

type transferJSON struct {
	ID              string          `json:"id"`
	Object          string          `json:"object"`
	DebitAccountID  string          `json:"debit_account_id"`
	CreditAccountID string          `json:"credit_account_id"`
	Amount          int64           `json:"amount"`
	Currency        string          `json:"currency"`
	Code            uint16          `json:"code"`
	Flags           []string        `json:"flags"`
	PendingID       string          `json:"pending_id,omitempty"`
	Timeout         int64           `json:"timeout,omitempty"`
	Metadata        json.RawMessage `json:"metadata,omitempty"`
	Created         string          `json:"created"`
	LeafIndex       int64           `json:"leaf_index"`
	LeafData        string          `json:"leaf_data,omitempty"`
	Pending         *pendingJSON    `json:"pending,omitempty"`
}

type pendingJSON struct {
	State        string `json:"state"`
	AmountPosted int64  `json:"amount_posted"`
	Expires      string `json:"expires,omitempty"`
}

func toTransferJSON(t ledger.Transfer) transferJSON {
	return transferJSON{
		ID: t.ID, Object: "ledger_transfer", DebitAccountID: t.DebitAccountID, CreditAccountID: t.CreditAccountID,
		Amount: int64(t.Amount), Currency: string(t.Currency), Code: t.Code, Flags: flagNameList(t.Flags, transferFlagNames),
		PendingID: t.PendingID, Timeout: int64(t.Timeout / time.Second), Metadata: t.Metadata,
		Created: rfc3339(t.Timestamp), LeafIndex: t.LeafIndex,
	}
}

type transferRequest struct {
	ID              string          `json:"id"`
	DebitAccountID  string          `json:"debit_account_id"`
	CreditAccountID string          `json:"credit_account_id"`
	Amount          int64           `json:"amount"`
	Currency        string          `json:"currency"`
	Code            uint16          `json:"code"`
	Flags           []string        `json:"flags"`
	PendingID       string          `json:"pending_id"`
	Timeout         int64           `json:"timeout"` // seconds
	Metadata        json.RawMessage `json:"metadata"`
}

// timeoutSecondsMax keeps timeout*time.Second from overflowing.
const timeoutSecondsMax = int64(1<<63-1) / int64(time.Second)

type resultJSON struct {
	ID     string `json:"id"`
	Result string `json:"result"`
}

// createLedgerTransfers applies up to ledger.TransfersPerCallMax transfers
// in order and answers each one's result code. A request that is
// malformed as a whole is a problem; a refused transfer is a result.
func (s *Server) createLedgerTransfers(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	var req struct {
		Transfers []transferRequest `json:"transfers"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	switch n := len(req.Transfers); {
	case n == 0:
		return kassa.Invalid("transfers", "transfers_required", "send at least one transfer")
	case n > ledger.TransfersPerCallMax:
		return kassa.Invalid("transfers", "too_many_transfers", "at most %d transfers per request, got %d", ledger.TransfersPerCallMax, n)
	}
	ts := make([]ledger.Transfer, len(req.Transfers))
	for i, in := range req.Transfers {
		param := fmt.Sprintf("transfers[%d]", i)
		flags, err := parseFlagNames(param+".flags", in.Flags, transferFlagNames)
		if err != nil {
			return err
		}
		var cur money.Currency
		if in.Currency != "" {
			if cur, err = money.ParseCurrency(in.Currency); err != nil {
				return kassa.Invalid(param+".currency", "currency_invalid", "currency must be an ISO 4217 code such as EUR")
			}
		}
		if in.Timeout < 0 || in.Timeout > timeoutSecondsMax {
			return kassa.Invalid(param+".timeout", "timeout_invalid", "timeout is a number of seconds between 0 and %d", timeoutSecondsMax)
		}
		ts[i] = ledger.Transfer{
			ID: in.ID, DebitAccountID: in.DebitAccountID, CreditAccountID: in.CreditAccountID,
			Amount: money.Amount(in.Amount), Currency: cur, Code: in.Code, Flags: flags,
			PendingID: in.PendingID, Timeout: time.Duration(in.Timeout) * time.Second, Metadata: in.Metadata,
		}
	}
	results, err := s.cfg.Ledger.CreateTransfers(r.Context(), p.Merchant.ID, ts)
	if err != nil {
		return ledgerError(err)
	}
	out := make([]resultJSON, len(results))
	for i, res := range results {
		out[i] = resultJSON{ID: req.Transfers[i].ID, Result: string(res.Code)}
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"results": out})
}

func (s *Server) getLedgerTransfer(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	t, leaf, err := s.cfg.Ledger.Transfer(r.Context(), p.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return ledgerError(err)
	}
	out := toTransferJSON(t)
	out.LeafData = base64.StdEncoding.EncodeToString(leaf)
	if t.Flags&ledger.FlagPending != 0 {
		st, err := s.cfg.Ledger.PendingStatus(r.Context(), p.Merchant.ID, t.ID)
		if err != nil {
			return ledgerError(err)
		}
		out.Pending = &pendingJSON{State: st.State.String(), AmountPosted: int64(st.AmountPosted), Expires: rfc3339(st.ExpiresAt)}
	}
	return WriteJSON(w, http.StatusOK, out)
}

// pageLimitDefault is the page size when a list request names none.
const pageLimitDefault = 10

func pageLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return pageLimitDefault, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > ledger.PageLimitMax {
		return 0, kassa.Invalid("limit", "limit_invalid", "limit must be an integer from 1 to %d", ledger.PageLimitMax)
	}
	return n, nil
}

func (s *Server) listAccountTransfers(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	accountID := r.PathValue("id")
	if _, err := s.cfg.Ledger.Account(r.Context(), p.Merchant.ID, accountID); err != nil {
		return ledgerError(err)
	}
	ts, more, err := s.cfg.Ledger.AccountTransfers(r.Context(), p.Merchant.ID, accountID, r.URL.Query().Get("starting_after"), limit)
	if err != nil {
		return ledgerError(err)
	}
	data := make([]transferJSON, len(ts))
	for i, t := range ts {
		data[i] = toTransferJSON(t)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": more})
}

func hashesB64(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

// treeSizeParam reads a tree size from the query; empty means the latest
// checkpoint's size.
func treeSizeParam(r *http.Request, name string, latest int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return latest, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > latest {
		return 0, kassa.Invalid(name, "tree_size_invalid", "%s must be a tree size from 0 to the latest checkpoint's %d", name, latest)
	}
	return n, nil
}

func (s *Server) latestSize(r *http.Request) (int64, error) {
	c, err := s.cfg.Ledger.LatestCheckpoint(r.Context())
	if errors.Is(err, ledger.ErrNotFound) {
		return 0, nil
	}
	return c.Size, err
}

func (s *Server) getInclusionProof(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	t, _, err := s.cfg.Ledger.Transfer(r.Context(), p.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return ledgerError(err)
	}
	latest, err := s.latestSize(r)
	if err != nil {
		return err
	}
	size, err := treeSizeParam(r, "tree_size", latest)
	if err != nil {
		return err
	}
	if size <= t.LeafIndex {
		return kassa.Invalid("tree_size", "tree_size_too_small", "the transfer is leaf %d; tree_size must be larger", t.LeafIndex)
	}
	proof, err := s.cfg.Ledger.InclusionProof(r.Context(), t.LeafIndex, size)
	if err != nil {
		return ledgerError(err)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"leaf_index": t.LeafIndex, "tree_size": size, "proof": hashesB64(proof)})
}

func (s *Server) getConsistencyProof(w http.ResponseWriter, r *http.Request) error {
	latest, err := s.latestSize(r)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("old") == "" {
		return kassa.Invalid("old", "tree_size_invalid", "old is required")
	}
	oldSize, err := treeSizeParam(r, "old", latest)
	if err != nil {
		return err
	}
	newSize, err := treeSizeParam(r, "new", latest)
	if err != nil {
		return err
	}
	if oldSize > newSize {
		return kassa.Invalid("old", "tree_size_invalid", "old (%d) must not exceed new (%d)", oldSize, newSize)
	}
	proof, err := s.cfg.Ledger.ConsistencyProof(r.Context(), oldSize, newSize)
	if err != nil {
		return ledgerError(err)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"old": oldSize, "new": newSize, "proof": hashesB64(proof)})
}

func writeText(w http.ResponseWriter, text string) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, err := w.Write([]byte(text))
	return err
}

func (s *Server) getCheckpoint(w http.ResponseWriter, r *http.Request) error {
	c, err := s.cfg.Ledger.LatestCheckpoint(r.Context())
	if errors.Is(err, ledger.ErrNotFound) {
		return kassa.Errorf(kassa.ENotFound, "log_empty", "the ledger log is empty; no checkpoint was signed yet")
	} else if err != nil {
		return err
	}
	return writeText(w, string(c.Note))
}

func (s *Server) getVerifierKey(w http.ResponseWriter, r *http.Request) error {
	return writeText(w, s.cfg.Ledger.VerifierKey()+"\n")
}
