package httpapi

import (
	"context"
	"net/http"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/voucher"
)

// Body limits of the voucher routes: their requests are a few fields.
const (
	voucherBodyBytesMax = 4 << 10
	balanceBodyBytesMax = 1 << 10
)

// registerVouchers adds the voucher routes when Config.Vouchers is set.
func (s *Server) registerVouchers() {
	if s.cfg.Vouchers == nil {
		return
	}
	s.HandleLimit("POST", "/v1/vouchers", AuthSecret, voucherBodyBytesMax, s.issueVouchers)
	s.HandleLimit("POST", "/v1/vouchers/balance", AuthPublishable, balanceBodyBytesMax, s.voucherBalance)
	s.Handle("GET", "/v1/vouchers/{serial}", AuthSecret, s.getVoucher)
	s.HandleLimit("POST", "/v1/vouchers/{serial}/lock", AuthSecret, voucherBodyBytesMax, s.voucherAction(s.cfg.Vouchers.Lock))
	s.HandleLimit("POST", "/v1/vouchers/{serial}/unlock", AuthSecret, voucherBodyBytesMax, s.voucherAction(s.cfg.Vouchers.Unlock))
	s.HandleLimit("POST", "/v1/vouchers/{serial}/invalidate", AuthSecret, voucherBodyBytesMax, s.voucherAction(s.cfg.Vouchers.Invalidate))
}

// voucherJSON is a voucher as the API shows it. PIN is set only in the
// answer to issuing.
type voucherJSON struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	Serial   string `json:"serial"`
	PIN      string `json:"pin,omitempty"`
	Amount   int64  `json:"amount"`
	Balance  int64  `json:"balance"`
	Currency string `json:"currency"`
	Status   string `json:"status"`
	Expires  string `json:"expires"`
	Created  string `json:"created"`
}

func toVoucherJSON(v voucher.Voucher) voucherJSON {
	return voucherJSON{
		ID: v.ID, Object: "voucher", Serial: v.Serial, Amount: int64(v.Amount), Balance: int64(v.Balance),
		Currency: string(v.Currency), Status: string(v.Status), Expires: rfc3339(v.ExpiresAt), Created: rfc3339(v.Created),
	}
}

type issueVouchersRequest struct {
	Count    int    `json:"count"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Expires  string `json:"expires"`
}

func (s *Server) issueVouchers(w http.ResponseWriter, r *http.Request) error {
	// The answer holds the PINs, which must be stored nowhere: a replay of
	// it would need the idempotency store to keep them in clear.
	if r.Header.Get("Idempotency-Key") != "" {
		return kassa.Invalid("Idempotency-Key", "idempotency_key_not_supported",
			"issuing vouchers answers with PINs that are shown once and never stored, so it cannot be replayed; send no Idempotency-Key")
	}
	p, _ := PrincipalFrom(r.Context())
	var req issueVouchersRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	exp, err := voucher.ParseExpiry(req.Expires)
	if err != nil {
		return err
	}
	vs, err := s.cfg.Vouchers.Issue(r.Context(), voucher.IssueRequest{
		Count: req.Count, Amount: money.Amount(req.Amount), Currency: money.Currency(req.Currency),
		ExpiresAt: exp, IssuedBy: p.Merchant.ID,
	})
	if err != nil {
		return err
	}
	data := make([]voucherJSON, len(vs))
	for i, v := range vs {
		data[i] = toVoucherJSON(v.Voucher)
		data[i].PIN = v.PIN
	}
	return WriteJSON(w, http.StatusCreated, map[string]any{"object": "list", "data": data})
}

func (s *Server) getVoucher(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	v, err := s.cfg.Vouchers.Get(r.Context(), p.Merchant.ID, r.PathValue("serial"))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, toVoucherJSON(v))
}

// voucherAction serves lock, unlock and invalidate: no body, the voucher
// as it is afterwards in the answer.
func (s *Server) voucherAction(f func(ctx context.Context, merchantID, serial string) (voucher.Voucher, error)) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, _ := PrincipalFrom(r.Context())
		v, err := f(r.Context(), p.Merchant.ID, r.PathValue("serial"))
		if err != nil {
			return err
		}
		return WriteJSON(w, http.StatusOK, toVoucherJSON(v))
	}
}

type voucherBalanceRequest struct {
	PIN string `json:"pin"`
}

type voucherBalanceJSON struct {
	Object   string `json:"object"`
	Serial   string `json:"serial"`
	Balance  int64  `json:"balance"`
	Currency string `json:"currency"`
	Status   string `json:"status"`
	Expires  string `json:"expires"`
}

// voucherBalance answers a payer's balance check. Wrong PINs count against
// the client's IP (see voucher.Limits) and spend the failure budgets of
// the API key and the platform (see PINBudget).
func (s *Server) voucherBalance(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	var req voucherBalanceRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	v, err := s.checkBalance(r, p.KeyID, func() (voucher.Voucher, error) {
		return s.cfg.Vouchers.Balance(r.Context(), req.PIN, voucher.AttemptContext{MerchantID: p.Merchant.ID, ClientIP: clientIP(r)})
	})
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, voucherBalanceJSON{
		Object: "voucher_balance", Serial: v.Serial, Balance: int64(v.Balance), Currency: string(v.Currency),
		Status: string(v.Status), Expires: rfc3339(v.ExpiresAt),
	})
}
