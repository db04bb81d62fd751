package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
)

func (s *Server) registerPayments() {
	if s.cfg.Payments == nil {
		return
	}
	s.Handle("POST", "/v1/payments", AuthSecret, s.createPayment)
	s.Handle("GET", "/v1/payments", AuthSecret, s.listPayments)
	s.Handle("GET", "/v1/payments/{id}", AuthSecret, s.getPayment)
	s.Handle("POST", "/v1/payments/{id}/confirm", AuthPublishable, s.confirmPayment)
	s.Handle("POST", "/v1/payments/{id}/capture", AuthSecret, s.capturePayment)
	s.Handle("POST", "/v1/payments/{id}/cancel", AuthSecret, s.cancelPayment)
	s.Handle("POST", "/v1/refunds", AuthSecret, s.createRefund)
	s.Handle("GET", "/v1/refunds/{id}", AuthSecret, s.getRefund)
	s.Handle("GET", "/v1/balance", AuthSecret, s.getBalance)
}

// pagesBase is the origin of the hosted pages: Config.PublicURL.
func (s *Server) pagesBase(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

// PayURL is where the hosted payment page of a payment lives.
func (s *Server) PayURL(r *http.Request, p payment.Payment) string {
	return s.pagesBase(r) + "/pay/" + url.PathEscape(p.ID) + "?client_secret=" + url.QueryEscape(p.ClientSecret)
}

// ChallengeURL is where the step-up challenge page of a payment lives
// (package web/account).
func (s *Server) ChallengeURL(r *http.Request, p payment.Payment) string {
	return s.pagesBase(r) + "/challenge/" + url.PathEscape(p.ID) + "?client_secret=" + url.QueryEscape(p.ClientSecret)
}

// IssuerURL is where the issuer page of a card payment's 3-D Secure
// challenge lives (the test acquirer's, package web).
func (s *Server) IssuerURL(r *http.Request, p payment.Payment) string {
	return s.pagesBase(r) + "/3ds/" + url.PathEscape(p.Card.ChallengeID)
}

// paymentForMerchant is the payment as its merchant (secret key) sees it:
// with the client secret and, while the payer must act, where to send them
// (the payment page, or the challenge page of a risk_challenge).
func (s *Server) paymentForMerchant(r *http.Request, p payment.Payment) payment.PaymentJSON {
	out := payment.Public(p)
	out.ClientSecret = p.ClientSecret
	if p.Status == payment.StatusRequiresAction && out.NextAction == nil {
		out.NextAction = &payment.NextAction{Type: "redirect_to_url", RedirectURL: s.PayURL(r, p)}
	}
	if out.NextAction != nil && out.NextAction.Type == "risk_challenge" {
		out.NextAction.RedirectURL = s.ChallengeURL(r, p)
	}
	s.issuerLink(r, &out, p)
	return out
}

// issuerLink adds the issuer page (the test acquirer's, among the hosted
// pages) to a three_d_secure next_action, for the merchant's server and
// the payer's browser alike.
func (s *Server) issuerLink(r *http.Request, out *payment.PaymentJSON, p payment.Payment) {
	if out.NextAction != nil && out.NextAction.Type == "three_d_secure" && s.cfg.Pages != nil {
		out.NextAction.RedirectURL = s.IssuerURL(r, p)
	}
}

type createPaymentRequest struct {
	Amount            int64           `json:"amount"`
	Currency          string          `json:"currency"`
	CaptureMethod     string          `json:"capture_method"`
	MerchantReference string          `json:"merchant_reference"`
	Description       string          `json:"description"`
	ReturnURL         string          `json:"return_url"`
	Locale            string          `json:"locale"`
	Metadata          json.RawMessage `json:"metadata"`
	Customer          struct {
		ID             string `json:"id"`
		Email          string `json:"email"`
		BillingCountry string `json:"billing_country"`
		Phone          string `json:"phone"`
	} `json:"customer"`
}

func (s *Server) createPayment(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req createPaymentRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	renderPayment(r, http.StatusCreated, func(p payment.Payment) any { return s.paymentForMerchant(r, p) })
	p, err := s.cfg.Payments.Create(r.Context(), pr.Merchant.ID, payment.CreateRequest{
		Amount: money.Amount(req.Amount), Currency: req.Currency, CaptureMethod: req.CaptureMethod,
		MerchantReference: req.MerchantReference, Description: req.Description, ReturnURL: req.ReturnURL,
		Locale: req.Locale, Metadata: req.Metadata, Customer: payment.Customer{ID: req.Customer.ID, Email: req.Customer.Email,
			BillingCountry: req.Customer.BillingCountry, Phone: req.Customer.Phone},
	})
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusCreated, s.paymentForMerchant(r, p))
}

func (s *Server) getPayment(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	p, err := s.cfg.Payments.Get(r.Context(), pr.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, s.paymentForMerchant(r, p))
}

func parseTimeParam(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	return time.Time{}, kassa.Invalid(name, "time_invalid", "%s must be an RFC 3339 time or unix seconds", name)
}

func (s *Server) listPayments(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	q := r.URL.Query()
	limit := pageLimitDefault
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > payment.ListLimitMax {
			return kassa.Invalid("limit", "limit_invalid", "limit must be an integer from 1 to %d", payment.ListLimitMax)
		}
		limit = n
	}
	f := payment.Filter{MerchantID: pr.Merchant.ID, Status: payment.Status(q.Get("status")),
		MerchantReference: q.Get("merchant_reference"), StartingAfter: q.Get("starting_after"), Limit: limit}
	var err error
	if f.CreatedGTE, err = parseTimeParam(q, "created_gte"); err != nil {
		return err
	}
	if f.CreatedLT, err = parseTimeParam(q, "created_lt"); err != nil {
		return err
	}
	ps, more, err := s.cfg.Payments.List(r.Context(), f)
	if err != nil {
		return err
	}
	data := make([]payment.PaymentJSON, len(ps))
	for i, p := range ps {
		data[i] = s.paymentForMerchant(r, p)
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "has_more": more})
}

type confirmRequest struct {
	ClientSecret  string `json:"client_secret"`
	PaymentMethod struct {
		Type  string   `json:"type"`
		PINs  []string `json:"pins"`
		Token string   `json:"token"`
		Card  string   `json:"card"`
	} `json:"payment_method"`
	// ChallengeID continues a card payment after its 3-D Secure challenge.
	ChallengeID   string        `json:"challenge_id"`
	ClientSignals *risk.Signals `json:"client_signals"`
}

// ClientSignals reads the hosted page's client_signals (nil: none sent).
func ClientSignals(sig *risk.Signals) (risk.Signals, error) {
	if sig == nil {
		return risk.Signals{}, nil
	}
	out := *sig
	out.Present = true
	if err := out.Validate(); err != nil {
		return risk.Signals{}, kassa.Invalid("client_signals", "client_signals_invalid", "%s", err.Error())
	}
	return out, nil
}

// paymentForPayer is the payment as the payer's browser sees it: no risk
// details, no customer data.
func paymentForPayer(p payment.Payment) payment.PaymentJSON {
	out := payment.Public(p)
	out.Risk, out.Customer = nil, nil
	return out
}

// confirmPayment is what a payer's browser calls (publishable key and the
// payment's client secret).
func (s *Server) confirmPayment(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req confirmRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if _, known := payment.LookupMethod(req.PaymentMethod.Type); !known {
		switch {
		case req.PaymentMethod.Type != "":
			return kassa.Invalid("payment_method.type", "payment_method_unsupported", "payment_method.type must be %s", payment.MethodList())
		case req.ChallengeID == "":
			return kassa.Invalid("payment_method.type", "payment_method_required", "payment_method.type must be %s", payment.MethodList())
		}
	}
	sig, err := ClientSignals(req.ClientSignals)
	if err != nil {
		return err
	}
	renderPayment(r, http.StatusOK, func(p payment.Payment) any {
		out := paymentForPayer(p)
		s.issuerLink(r, &out, p)
		return out
	})
	p, err := s.cfg.Payments.Confirm(r.Context(), pr.Merchant.ID, r.PathValue("id"), payment.ConfirmRequest{
		ClientSecret: req.ClientSecret, PINs: req.PaymentMethod.PINs, ClientIP: clientIP(r),
		Method: req.PaymentMethod.Type, Token: req.PaymentMethod.Token, CardID: req.PaymentMethod.Card,
		SecretKey: pr.Kind == merchant.Secret, ChallengeID: req.ChallengeID, UserAgent: r.UserAgent(), Signals: sig})
	if err != nil {
		return err
	}
	out := paymentForPayer(p)
	s.issuerLink(r, &out, p)
	return WriteJSON(w, http.StatusOK, out)
}

func (s *Server) capturePayment(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req struct {
		Amount *int64 `json:"amount"`
	}
	if r.ContentLength != 0 {
		if err := DecodeJSON(r, &req); err != nil {
			return err
		}
	}
	var amt *money.Amount
	if req.Amount != nil {
		a := money.Amount(*req.Amount)
		amt = &a
	}
	renderPayment(r, http.StatusOK, func(p payment.Payment) any { return s.paymentForMerchant(r, p) })
	p, err := s.cfg.Payments.Capture(r.Context(), pr.Merchant.ID, r.PathValue("id"), amt)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, s.paymentForMerchant(r, p))
}

func (s *Server) cancelPayment(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	p, err := s.cfg.Payments.Cancel(r.Context(), pr.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, s.paymentForMerchant(r, p))
}

func (s *Server) createRefund(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	var req struct {
		Payment string `json:"payment"`
		Amount  *int64 `json:"amount"`
		Reason  string `json:"reason"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Payment == "" {
		return kassa.Invalid("payment", "payment_required", "name the payment to refund")
	}
	var amt *money.Amount
	if req.Amount != nil {
		a := money.Amount(*req.Amount)
		amt = &a
	}
	// The Idempotency-Key also goes to the payment service: a retry after
	// a 5xx (which the idempotency store forgets) finds the refund the
	// first try made, even one still pending at the acquirer.
	ref, _, err := s.cfg.Payments.CreateRefund(r.Context(), pr.Merchant.ID, payment.RefundRequest{Payment: req.Payment,
		Amount: amt, Reason: req.Reason, RequestKey: r.Header.Get("Idempotency-Key")})
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusCreated, payment.PublicRefund(ref))
}

func (s *Server) getRefund(w http.ResponseWriter, r *http.Request) error {
	pr, _ := PrincipalFrom(r.Context())
	ref, err := s.cfg.Payments.GetRefund(r.Context(), pr.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, payment.PublicRefund(ref))
}

type amountJSON struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

func (s *Server) getBalance(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Business != nil {
		return s.businessBalance(w, r)
	}
	pr, _ := PrincipalFrom(r.Context())
	bs, err := s.cfg.Payments.MerchantBalances(r.Context(), pr.Merchant.ID)
	if err != nil {
		return err
	}
	out := map[string]any{"object": "balance", "available": []amountJSON{}, "pending": []amountJSON{}}
	var avail, pend []amountJSON
	for _, b := range bs {
		avail = append(avail, amountJSON{int64(b.Available), string(b.Currency)})
		pend = append(pend, amountJSON{int64(b.Pending), string(b.Currency)})
	}
	if len(bs) > 0 {
		out["available"], out["pending"] = avail, pend
	}
	return WriteJSON(w, http.StatusOK, out)
}
