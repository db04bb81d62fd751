package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/money"
)

// registerLimits serves a merchant's customers' deposit limits,
// self-exclusion and cool-off (docs/compliance.md): for operators that
// collect them in their own UI. A merchant sees and sets only its own
// customers' (the customer id is its own, or a Kassa account's cus_ id
// as that merchant's customer); they bind deposits at that merchant.
func (s *Server) registerLimits() {
	if s.cfg.Compliance == nil {
		return
	}
	s.Handle("GET", "/v1/customers/{id}/limits", AuthSecret, s.getLimits)
	s.Handle("PUT", "/v1/customers/{id}/limits", AuthSecret, s.putLimits)
}

type putLimitsRequest struct {
	// Deposit maps day, week and month to a limit, or to null to remove
	// it; a period left out keeps its limit.
	Deposit       map[string]json.RawMessage `json:"deposit"`
	SelfExclusion *struct {
		Period string `json:"period"`
	} `json:"self_exclusion"`
	CoolOff *struct {
		Duration string `json:"duration"`
	} `json:"cool_off"`
}

func (s *Server) getLimits(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	sub := compliance.Subject{MerchantID: pr.Merchant.ID, CustomerID: r.PathValue("id")}
	l, err := s.cfg.Compliance.Limits(r.Context(), sub)
	if err != nil {
		return err
	}
	return s.writeLimits(w, r, l)
}

func (s *Server) putLimits(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var body putLimitsRequest
	if err := DecodeJSON(r, &body); err != nil {
		return err
	}
	req, err := limitsRequest(body)
	if err != nil {
		return err
	}
	sub := compliance.Subject{MerchantID: pr.Merchant.ID, CustomerID: r.PathValue("id")}
	before, err := s.cfg.Compliance.Limits(r.Context(), sub)
	if err != nil {
		return err
	}
	l, err := s.cfg.Compliance.SetLimits(r.Context(), sub, req)
	if err != nil {
		return err
	}
	// A merchant's change of a payer's limits is audited (who, when,
	// from where, before and after).
	if s.cfg.Audit != nil {
		if err := s.cfg.Audit.Record(r.Context(), pr.Merchant.ID, "customer.limits_update", sub.CustomerID,
			s.cfg.Compliance.Public(before), s.cfg.Compliance.Public(l)); err != nil {
			return err
		}
	}
	return s.writeLimits(w, r, l)
}

func limitsRequest(body putLimitsRequest) (compliance.SetRequest, error) {
	req := compliance.SetRequest{Deposit: map[compliance.Period]*compliance.Limit{}}
	for name, raw := range body.Deposit {
		p := compliance.Period(name)
		if p != compliance.Day && p != compliance.Week && p != compliance.Month {
			return req, kassa.Invalid("deposit."+name, "limit_period_invalid", "deposit limits are per day, week or month")
		}
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			req.Deposit[p] = nil
			continue
		}
		var v struct {
			Amount   *int64 `json:"amount"`
			Currency string `json:"currency"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil || v.Amount == nil {
			return req, kassa.Invalid("deposit."+name, "limit_invalid", "deposit.%s must be {\"amount\": minor units, \"currency\": \"EUR\"} or null", name)
		}
		cur, err := money.ParseCurrency(v.Currency)
		if err != nil {
			return req, kassa.Invalid("deposit."+name+".currency", "currency_invalid", "deposit.%s.currency must be an ISO 4217 code such as EUR", name)
		}
		req.Deposit[p] = &compliance.Limit{Amount: money.Amount(*v.Amount), Currency: cur}
	}
	if body.SelfExclusion != nil {
		if body.SelfExclusion.Period == "" {
			return req, kassa.Invalid("self_exclusion.period", "self_exclusion_period_invalid", "self_exclusion.period must be 6m, 1y, 5y or indefinite")
		}
		req.SelfExclusion = body.SelfExclusion.Period
	}
	if body.CoolOff != nil {
		d, err := compliance.ParseCoolOff(body.CoolOff.Duration)
		if err != nil {
			return req, err
		}
		req.CoolOff = d
	}
	return req, nil
}

func (s *Server) writeLimits(w http.ResponseWriter, r *http.Request, l compliance.Limits) error {
	out := s.cfg.Compliance.Public(l)
	used, err := s.cfg.Compliance.Used(r.Context(), l)
	if err != nil {
		return err
	}
	out.Used = used
	return WriteJSON(w, http.StatusOK, out)
}
