package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payout"
)

func (s *Server) registerPayouts() {
	if s.cfg.Payouts == nil {
		return
	}
	s.Handle("POST", "/v1/payouts", AuthSecret, s.createPayout)
	s.Handle("GET", "/v1/payouts", AuthSecret, s.listPayouts)
	s.Handle("GET", "/v1/payouts/limits", AuthSecret, s.payoutLimits)
	s.Handle("GET", "/v1/payouts/{id}", AuthSecret, s.getPayout)
	s.Handle("POST", "/v1/payouts/{id}/cancel", AuthSecret, s.cancelPayout)
	s.Handle("POST", "/v1/payouts/{id}/approve", AuthSecret, s.approvePayout)
	s.Handle("POST", "/v1/payouts/{id}/reject", AuthSecret, s.rejectPayout)
}

type createPayoutRequest struct {
	Amount            *int64             `json:"amount"`
	Currency          string             `json:"currency"`
	Customer          payout.Customer    `json:"customer"`
	Destination       payout.Destination `json:"destination"`
	ValidateOnly      bool               `json:"validate_only"`
	MerchantReference string             `json:"merchant_reference"`
	Metadata          json.RawMessage    `json:"metadata"`
	// Client is the payer's IP, device and browser as the merchant saw
	// them (optional; risk kind payout).
	Client payout.Client `json:"client"`
}

func (s *Server) createPayout(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req createPayoutRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Amount == nil {
		return kassa.Invalid("amount", "amount_required", "amount (minor units) is required")
	}
	if len(req.Metadata) > 0 && !bytes.HasPrefix(bytes.TrimSpace(req.Metadata), []byte("{")) {
		return kassa.Invalid("metadata", "metadata_invalid", "metadata must be a JSON object")
	}
	// The Idempotency-Key also goes to the payout service: a retry after
	// a 5xx (which the idempotency store forgets) finds the payout the
	// first try made instead of reserving again.
	p, err := s.cfg.Payouts.Create(r.Context(), pr.Merchant.ID, payout.CreateRequest{Amount: money.Amount(*req.Amount),
		Currency: req.Currency, Customer: req.Customer, Destination: req.Destination, ValidateOnly: req.ValidateOnly,
		MerchantReference: req.MerchantReference, Metadata: req.Metadata, CreatedBy: pr.KeyID,
		RequestKey: r.Header.Get("Idempotency-Key"), Client: req.Client})
	if err != nil {
		return err
	}
	if req.ValidateOnly {
		return WriteJSON(w, http.StatusOK, payout.Public(p))
	}
	return WriteJSON(w, http.StatusCreated, payout.Public(p))
}

func (s *Server) getPayout(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	p, err := s.cfg.Payouts.Get(r.Context(), pr.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, payout.Public(p))
}

func (s *Server) listPayouts(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	q := r.URL.Query()
	limit := pageLimitDefault
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > payout.ListLimitMax {
			return kassa.Invalid("limit", "limit_invalid", "limit must be an integer from 1 to %d", payout.ListLimitMax)
		}
		limit = n
	}
	ps, more, err := s.cfg.Payouts.List(r.Context(), payout.Filter{MerchantID: pr.Merchant.ID,
		Status: payout.Status(q.Get("status")), Customer: q.Get("customer"), StartingAfter: q.Get("starting_after"), Limit: limit})
	if err != nil {
		return err
	}
	data := make([]payout.PublicPayout, len(ps))
	for i, p := range ps {
		data[i] = payout.Public(p)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": more})
}

func (s *Server) payoutLimits(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	q := r.URL.Query()
	v, err := s.cfg.Payouts.Limits(r.Context(), pr.Merchant.ID, q.Get("customer"), q.Get("currency"))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, v)
}

func (s *Server) cancelPayout(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	p, err := s.cfg.Payouts.Cancel(r.Context(), pr.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, payout.Public(p))
}

func (s *Server) approvePayout(w http.ResponseWriter, r *http.Request) error {
	return s.reviewPayout(w, r, s.cfg.Payouts.Approve)
}

func (s *Server) rejectPayout(w http.ResponseWriter, r *http.Request) error {
	return s.reviewPayout(w, r, s.cfg.Payouts.Reject)
}

// reviewPayout approves or rejects a payout in review. The merchant has
// more than one reviewer when it has more than one active secret key
// (e.g. during a rotation's grace): then the key that created the payout
// may not decide on it.
func (s *Server) reviewPayout(w http.ResponseWriter, r *http.Request,
	act func(ctx context.Context, merchantID, id, by string, multiple bool) (payout.Payout, error)) error {
	pr, _ := PrincipalFrom(r.Context())
	keys, err := s.cfg.Merchants.Keys(r.Context(), pr.Merchant.ID)
	if err != nil {
		return err
	}
	now, active := s.now(), 0
	for _, k := range keys {
		if k.Kind == merchant.Secret && k.Active(now) {
			active++
		}
	}
	p, err := act(r.Context(), pr.Merchant.ID, r.PathValue("id"), pr.KeyID, active > 1)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, payout.Public(p))
}
