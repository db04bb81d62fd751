package payout

import (
	"encoding/json"
	"time"

	"github.com/kassa/kassa/money"
)

// PublicPayout is a payout as the API and its events show it.
type PublicPayout struct {
	ID                string          `json:"id,omitempty"`
	Object            string          `json:"object"`
	Status            Status          `json:"status,omitempty"`
	Amount            money.Amount    `json:"amount"`
	Currency          money.Currency  `json:"currency"`
	Customer          PublicCustomer  `json:"customer"`
	Destination       Destination     `json:"destination"`
	Checks            []Check         `json:"checks"`
	FailureCode       *string         `json:"failure_code"`
	FailureMessage    *string         `json:"failure_message"`
	MerchantReference string          `json:"merchant_reference,omitempty"`
	Metadata          json.RawMessage `json:"metadata,omitempty"`
	Created           time.Time       `json:"created"`
	ArrivalEstimate   *time.Time      `json:"arrival_estimate"`
	Rail              string          `json:"rail,omitempty"`
	SplitOf           string          `json:"split_of,omitempty"`
	Legs              []PublicPayout  `json:"legs,omitempty"`
}

// PublicCustomer is the customer without the date of birth (personal
// data the merchant sent, checked, not echoed in webhooks).
type PublicCustomer struct {
	ID        string `json:"id"`
	Email     string `json:"email,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
}

// Public returns the API view of p.
func Public(p Payout) PublicPayout {
	out := PublicPayout{ID: p.ID, Object: "payout", Status: p.Status, Amount: p.Amount, Currency: p.Currency,
		Customer:    PublicCustomer{ID: p.Customer.ID, Email: p.Customer.Email, FirstName: p.Customer.FirstName, LastName: p.Customer.LastName},
		Destination: p.Destination, Checks: p.Checks, MerchantReference: p.MerchantReference,
		Metadata: p.Metadata, Created: p.Created.UTC(), Rail: p.Rail, SplitOf: p.SplitOf}
	for _, l := range p.Legs {
		out.Legs = append(out.Legs, Public(l))
	}
	if out.Checks == nil {
		out.Checks = []Check{}
	}
	if p.FailureCode != "" {
		out.FailureCode, out.FailureMessage = &p.FailureCode, &p.FailureMessage
	}
	if !p.ArrivalEstimate.IsZero() {
		t := p.ArrivalEstimate.UTC()
		out.ArrivalEstimate = &t
	}
	return out
}
