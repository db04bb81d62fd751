package payment

import (
	"encoding/json"
	"time"

	"github.com/kassa/kassa/risk"
)

// PaymentJSON is a payment as the API and its events show it. The
// client secret and the next action are added by the API where they apply.
type PaymentJSON struct {
	ID               string `json:"id"`
	Object           string `json:"object"`
	Amount           int64  `json:"amount"`
	Currency         string `json:"currency"`
	Status           string `json:"status"`
	CaptureMethod    string `json:"capture_method"`
	AmountCapturable int64  `json:"amount_capturable"`
	AmountCaptured   int64  `json:"amount_captured"`
	AmountRefunded   int64  `json:"amount_refunded"`
	// Attempts counts the payer's tries (declines and the one that paid).
	Attempts          int             `json:"attempts"`
	MerchantReference *string         `json:"merchant_reference"`
	Description       string          `json:"description,omitempty"`
	ReturnURL         string          `json:"return_url,omitempty"`
	Locale            string          `json:"locale,omitempty"`
	Metadata          json.RawMessage `json:"metadata,omitempty"`
	PaymentMethod     *MethodJSON     `json:"payment_method"`
	FailureCode       string          `json:"failure_code,omitempty"`
	Created           string          `json:"created"`
	ExpiresAt         string          `json:"expires_at,omitempty"`
	ClientSecret      string          `json:"client_secret,omitempty"`
	NextAction        *NextAction     `json:"next_action,omitempty"`
	Customer          *CustomerJSON   `json:"customer,omitempty"`
	Payer             string          `json:"payer,omitempty"` // the payer's Kassa account
	// Risk is the merchant's view of the risk decision; the payer's
	// responses leave it out.
	Risk *RiskJSON `json:"risk,omitempty"`
}

// CustomerJSON is the payer as the merchant named them.
type CustomerJSON struct {
	ID             string `json:"id,omitempty"`
	Email          string `json:"email,omitempty"`
	BillingCountry string `json:"billing_country,omitempty"`
	Phone          string `json:"phone,omitempty"`
}

// RiskJSON is a payment's risk decision.
type RiskJSON struct {
	Evaluation string         `json:"evaluation"`
	Score      int            `json:"score"`
	Level      string         `json:"level"`
	Decision   string         `json:"decision"`
	Factor     string         `json:"factor,omitempty"`
	Reasons    []risk.Reason  `json:"reasons"`
	Review     string         `json:"review,omitempty"`
	Challenge  *ChallengeJSON `json:"challenge,omitempty"`
}

// ChallengeJSON is the payer's step-up challenge and, once done, its
// 3-D Secure style outcome.
type ChallengeJSON struct {
	Factor      string `json:"factor"`
	Status      string `json:"status"`
	TransStatus string `json:"trans_status,omitempty"`
	ECI         string `json:"eci,omitempty"`
}

// MethodJSON is how a payment was paid.
type MethodJSON struct {
	Type     string        `json:"type"`
	Vouchers []VoucherJSON `json:"vouchers,omitempty"`
	Card     *CardJSON     `json:"card,omitempty"`
	// Plan is a pay_later payment's plan (pay_in_30, pay_in_3).
	Plan string `json:"plan,omitempty"`
}

// CardJSON is the card of a card payment: never more than the vault's
// token shows (no PAN, no BIN).
type CardJSON struct {
	Brand       string `json:"brand"`
	Last4       string `json:"last4"`
	ExpMonth    int    `json:"exp_month"`
	ExpYear     int    `json:"exp_year"`
	Fingerprint string `json:"fingerprint"`
	// ThreeDSecure is the outcome of the issuer's challenge, when it
	// asked for one.
	ThreeDSecure *ThreeDSecureJSON `json:"three_d_secure,omitempty"`
}

// ThreeDSecureJSON is a 3-D Secure challenge's outcome, in the fields of
// the risk step-up's (ChallengeJSON).
type ThreeDSecureJSON struct {
	TransStatus string `json:"trans_status"`
	ECI         string `json:"eci,omitempty"`
}

// VoucherJSON is one voucher's part of a payment.
type VoucherJSON struct {
	Serial   string `json:"serial"`
	Amount   int64  `json:"amount"`
	Captured int64  `json:"captured"`
	Refunded int64  `json:"refunded"`
}

// NextAction tells the merchant where to send the payer: redirect_to_url
// (RedirectURL), three_d_secure (ChallengeID, of a card payment) or
// risk_challenge (Factor: the payer must pass a second factor).
type NextAction struct {
	Type        string `json:"type"`
	RedirectURL string `json:"redirect_url,omitempty"`
	ChallengeID string `json:"challenge_id,omitempty"`
	Factor      string `json:"factor,omitempty"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Public returns the payment's public form (no client secret).
func Public(p Payment) PaymentJSON {
	out := PaymentJSON{
		ID: p.ID, Object: "payment", Amount: int64(p.Amount), Currency: string(p.Currency), Status: string(p.Status),
		CaptureMethod: p.CaptureMethod, AmountCapturable: int64(p.AmountCapturable),
		AmountCaptured: int64(p.AmountCaptured), AmountRefunded: int64(p.AmountRefunded), Attempts: p.Attempts,
		Description: p.Description, ReturnURL: p.ReturnURL, Locale: p.Locale, Metadata: p.Metadata, FailureCode: p.FailureCode,
		Created: rfc3339(p.Created), ExpiresAt: rfc3339(p.ExpiresAt),
	}
	if p.MerchantReference != "" {
		ref := p.MerchantReference
		out.MerchantReference = &ref
	}
	if p.MethodType != "" {
		if m, ok := LookupMethod(p.MethodType); ok {
			out.PaymentMethod, out.NextAction = m.Describe(p)
		} else {
			out.PaymentMethod = &MethodJSON{Type: p.MethodType}
		}
	}
	if p.Status == StatusRequiresAction && p.Risk.Challenge == ChallengePending {
		out.NextAction = &NextAction{Type: "risk_challenge", Factor: p.Risk.Factor}
	}
	out.Payer = p.PayerID
	if c := p.Customer; c != (Customer{}) {
		out.Customer = &CustomerJSON{ID: c.ID, Email: c.Email, BillingCountry: c.BillingCountry, Phone: c.Phone}
	}
	if r := p.Risk; r.EvaluationID != "" {
		reasons := r.Reasons
		if reasons == nil {
			reasons = []risk.Reason{}
		}
		out.Risk = &RiskJSON{Evaluation: r.EvaluationID, Score: r.Score, Level: r.Level, Decision: r.Decision,
			Factor: r.Factor, Reasons: reasons, Review: r.Review}
		if r.Challenge != "" {
			out.Risk.Challenge = &ChallengeJSON{Factor: r.Factor, Status: r.Challenge, TransStatus: r.TransStatus, ECI: r.ECI}
		}
	}
	return out
}

// RefundJSON is a refund as the API and its events show it.
type RefundJSON struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	Payment  string `json:"payment"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Reason   string `json:"reason,omitempty"`
	Status   string `json:"status"` // pending, succeeded or failed
	// FailureCode says why a failed refund failed.
	FailureCode string `json:"failure_code,omitempty"`
	Created     string `json:"created"`
}

// PublicRefund returns the refund's public form.
func PublicRefund(r Refund) RefundJSON {
	return RefundJSON{ID: r.ID, Object: "refund", Payment: r.PaymentID, Amount: int64(r.Amount),
		Currency: string(r.Currency), Reason: r.Reason, Status: r.Status, FailureCode: r.FailureCode, Created: rfc3339(r.Created)}
}
