// Package risk scores every payment attempt (and, with identity, every
// sign-up and login) in the request path: features over sliding windows →
// a trained model → analyst rules and lists → a decision with reasons.
//
// The same code turns an attempt into features online (the payment
// service calls the Engine) and offline (kassa model train replays an
// event file), so what a model learned from is what it is served.
package risk

import (
	"fmt"
	"iter"
	"net/netip"
	"time"
	"unicode/utf8"
)

// Kinds of attempt.
const (
	KindPayment    = "payment"    // a merchant's payment (shop checkout)
	KindDeposit    = "deposit"    // money into a payer's balance at an operator
	KindWithdrawal = "withdrawal" // money out of it
	// KindPayout is a payout of Kassa's payout engine (a merchant paying
	// a payer, a payer withdrawing from their wallet). The model scores it
	// as a withdrawal (the kind it was trained on); the policy adds the
	// payout limits of Policy (payees per device and IP, a new device).
	KindPayout = "payout"
	KindSignup = "signup"
	KindLogin  = "login"
)

// Payment methods.
const (
	MethodVoucher = "voucher"
	MethodCard    = "card"
	MethodAccount = "account"
)

// Outcomes of an attempt, known after it was scored.
const (
	OutcomeApproved = "approved" // money moved (or the login succeeded)
	OutcomeDeclined = "declined" // the issuer or acquirer said no
	OutcomeFailed   = "failed"   // wrong PIN, insufficient voucher, bad password, error
	OutcomeBlocked  = "blocked"  // Kassa's risk decision stopped it
)

// Labels an attempt can receive afterwards.
const (
	LabelFraud = "fraud"
	LabelLegit = "legit"
)

// Limits on what an event may carry.
const (
	idMax        = 255
	stringMax    = 512
	countMax     = 1_000_000
	durationMax  = int64(24 * time.Hour / time.Millisecond)
	amountMax    = int64(1) << 50
	countryLen   = 2
	fingerprintN = 128
	// intervalCVMax bounds a reported coefficient of variation (of n
	// intervals it is at most √(n−1)).
	intervalCVMax = 100
	// ExtraVouchersMax bounds the other vouchers of one attempt (a
	// payment takes at most 10 PINs).
	ExtraVouchersMax = 15
)

// Event is one attempt, as the feature code sees it. It is also one line
// of the JSONL event files that kassa simulate writes and kassa model
// train reads (docs/risk-events.md documents every field).
type Event struct {
	ID         string    `json:"id"`   // the attempt's id (pay_..., or the simulator's)
	Time       time.Time `json:"time"` // when it was attempted, UTC
	Kind       string    `json:"kind"`
	MerchantID string    `json:"merchant_id"`
	Amount     int64     `json:"amount"` // minor units
	Currency   string    `json:"currency"`
	Method     string    `json:"method"`

	// Payment method identity: at most one of these, by Method.
	CardFingerprint string `json:"card_fingerprint,omitempty"`
	VoucherSerial   string `json:"voucher_serial,omitempty"`
	// ExtraVoucherSerials are the other vouchers of a multi-PIN payment
	// (VoucherSerial is the first). Each is counted, and checked against
	// the lists and locks, like the first; the voucher features are the
	// highest of any of them.
	ExtraVoucherSerials []string `json:"extra_voucher_serials,omitempty"`

	// Standalone marks a merchant's own attempt scored through
	// /v1/risk/evaluate (the money moves elsewhere; nothing Kassa saw
	// vouches for it). It is counted, and its features are read, within
	// MerchantID only, and it never locks anything platform-wide. The
	// engine sets it from Input.Standalone.
	Standalone bool `json:"standalone,omitempty"`

	// Who and from where.
	CustomerID     string `json:"customer_id,omitempty"`
	Email          string `json:"email,omitempty"` // lower-cased
	IP             string `json:"ip,omitempty"`
	UserAgent      string `json:"user_agent,omitempty"`
	BillingCountry string `json:"billing_country,omitempty"` // ISO 3166-1 alpha-2
	// CardCountry is where the card was issued, from its BIN (the first
	// six digits; the card method looks it up), ISO 3166-1 alpha-2; ""
	// for other methods or an unknown BIN.
	CardCountry string `json:"card_country,omitempty"`
	// CredentialsChangedAt is when the payer's account last changed its
	// password, email address or phone number after it was set up
	// (identity knows; a merchant may send its own); zero when never or
	// unknown. A takeover often changes them just before cashing out.
	CredentialsChangedAt time.Time `json:"credentials_changed_at,omitzero"`
	// CustomerCreatedAt is when the payer's account was created
	// (identity's, or the merchant's own customer record); zero when
	// unknown or for guests.
	CustomerCreatedAt time.Time `json:"customer_created_at,omitzero"`
	// DeviceID identifies the device: Kassa's device cookie when there is
	// one, else a hash of the hosted page's fingerprint summary.
	DeviceID string `json:"device_id,omitempty"`

	// Geolocation of IP. Kassa fills these from its GeoIP database before
	// scoring; event files may carry them (the simulator does).
	Geo Geo `json:"geo,omitzero"`

	Signals Signals `json:"client_signals,omitzero"`

	// Outcome is what happened ("" while the attempt is being scored).
	Outcome string `json:"outcome,omitempty"`

	// Label and FraudType are the ground truth of labelled files (the
	// simulator's, or kassa risk export); FraudType names the pattern.
	Label     string `json:"label,omitempty"`
	FraudType string `json:"fraud_type,omitempty"`
}

// voucherSerials yields the attempt's voucher serials: the first, then
// the extra ones, skipping empty ones.
func (e *Event) voucherSerials() iter.Seq[string] {
	return func(yield func(string) bool) {
		if e.VoucherSerial != "" && !yield(e.VoucherSerial) {
			return
		}
		for _, v := range e.ExtraVoucherSerials {
			if v != "" && !yield(v) {
				return
			}
		}
	}
}

// Geo is where an IP address is, as far as the GeoIP database knows.
type Geo struct {
	Country string  `json:"country,omitempty"` // ISO 3166-1 alpha-2; "" unknown
	Lat     float64 `json:"lat,omitempty"`
	Lon     float64 `json:"lon,omitempty"`
	// Known says Lat and Lon are meaningful (0,0 is a place too).
	Known bool `json:"known,omitempty"`
}

// Signals is what the hosted page's script measured in the payer's
// browser (see web/pay.js and docs/risk-events.md). All counts are events
// seen on the page before the payer submitted; durations in milliseconds.
// Present is false when the page sent nothing (API-only integrations, or
// scripts blocked), which is itself a signal.
type Signals struct {
	Present        bool   `json:"present,omitempty"`
	TimeOnPageMS   int64  `json:"time_on_page_ms,omitempty"`
	TimeToSubmitMS int64  `json:"time_to_submit_ms,omitempty"` // first input to submit
	PointerMoves   int    `json:"pointer_moves,omitempty"`
	KeyEvents      int    `json:"key_events,omitempty"`
	PasteEvents    int    `json:"paste_events,omitempty"`
	FocusChanges   int    `json:"focus_changes,omitempty"`
	Webdriver      bool   `json:"webdriver,omitempty"` // navigator.webdriver
	Fingerprint    string `json:"fingerprint,omitempty"`
	Timezone       string `json:"timezone,omitempty"` // IANA name, e.g. Europe/Vienna
	Language       string `json:"language,omitempty"`
	Screen         string `json:"screen,omitempty"` // e.g. 1920x1080
	Platform       string `json:"platform,omitempty"`
	Touch          bool   `json:"touch,omitempty"`
	// Timing regularity, measured by the page script once it has seen
	// at least 6 of the events (0: not measured): the coefficient of
	// variation (standard deviation / mean) of the intervals between key
	// presses and between pointer moves, and the median interval between
	// key presses. People type and move in bursts and pauses; a timer,
	// even one with jitter, is regular.
	KeyIntervalCV     float64 `json:"key_interval_cv,omitempty"`
	PointerIntervalCV float64 `json:"pointer_interval_cv,omitempty"`
	KeyIntervalMS     int64   `json:"key_interval_ms,omitempty"`
}

// Validate checks an event read from a file or built from a request: the
// sizes and values the feature code relies on.
func (e *Event) Validate() error {
	switch e.Kind {
	case KindPayment, KindDeposit, KindWithdrawal, KindPayout, KindSignup, KindLogin, KindCredit:
	default:
		return fmt.Errorf("kind %q is not one of payment, deposit, withdrawal, payout, signup, login, credit", e.Kind)
	}
	switch e.Method {
	case MethodVoucher, MethodCard, MethodAccount, "":
	default:
		return fmt.Errorf("method %q is not one of voucher, card, account", e.Method)
	}
	switch e.Outcome {
	case "", OutcomeApproved, OutcomeDeclined, OutcomeFailed, OutcomeBlocked:
	default:
		return fmt.Errorf("outcome %q is not one of approved, declined, failed, blocked", e.Outcome)
	}
	switch e.Label {
	case "", LabelFraud, LabelLegit:
	default:
		return fmt.Errorf("label %q is not fraud or legit", e.Label)
	}
	if e.Time.IsZero() {
		return fmt.Errorf("time is required")
	}
	if e.Amount < 0 || e.Amount > amountMax {
		return fmt.Errorf("amount %d is out of range", e.Amount)
	}
	if len(e.ID) > idMax || len(e.MerchantID) > idMax || len(e.CustomerID) > idMax ||
		len(e.CardFingerprint) > idMax || len(e.VoucherSerial) > idMax || len(e.DeviceID) > idMax {
		return fmt.Errorf("an id is longer than %d bytes", idMax)
	}
	if len(e.ExtraVoucherSerials) > ExtraVouchersMax {
		return fmt.Errorf("at most %d extra voucher serials", ExtraVouchersMax)
	}
	for _, v := range e.ExtraVoucherSerials {
		if len(v) > idMax {
			return fmt.Errorf("an id is longer than %d bytes", idMax)
		}
	}
	for _, s := range []string{e.Email, e.UserAgent, e.FraudType, e.Currency} {
		if len(s) > stringMax || !utf8.ValidString(s) {
			return fmt.Errorf("a text field is longer than %d bytes or not UTF-8", stringMax)
		}
	}
	if e.IP != "" {
		if _, err := netip.ParseAddr(e.IP); err != nil {
			return fmt.Errorf("ip %q is not an IP address", e.IP)
		}
	}
	if c := e.BillingCountry; c != "" && len(c) != countryLen {
		return fmt.Errorf("billing_country %q is not a two-letter code", c)
	}
	if c := e.CardCountry; c != "" && len(c) != countryLen {
		return fmt.Errorf("card_country %q is not a two-letter code", c)
	}
	if c := e.Geo.Country; c != "" && len(c) != countryLen {
		return fmt.Errorf("geo.country %q is not a two-letter code", c)
	}
	if !(e.Geo.Lat >= -90 && e.Geo.Lat <= 90 && e.Geo.Lon >= -180 && e.Geo.Lon <= 180) { // NaN fails too
		return fmt.Errorf("geo coordinates out of range")
	}
	return e.Signals.Validate()
}

// Validate checks the browser's signals (they come from the payer's
// machine, so anything is possible).
func (s *Signals) Validate() error {
	for _, c := range []float64{s.KeyIntervalCV, s.PointerIntervalCV} {
		if !(c >= 0 && c <= intervalCVMax) { // NaN fails too
			return fmt.Errorf("client_signals interval coefficients of variation must be between 0 and %d", intervalCVMax)
		}
	}
	for _, d := range []int64{s.TimeOnPageMS, s.TimeToSubmitMS, s.KeyIntervalMS} {
		if d < 0 || d > durationMax {
			return fmt.Errorf("client_signals durations must be between 0 and %d ms", durationMax)
		}
	}
	for _, n := range []int{s.PointerMoves, s.KeyEvents, s.PasteEvents, s.FocusChanges} {
		if n < 0 || n > countMax {
			return fmt.Errorf("client_signals counts must be between 0 and %d", countMax)
		}
	}
	if len(s.Fingerprint) > fingerprintN {
		return fmt.Errorf("client_signals.fingerprint may be at most %d bytes", fingerprintN)
	}
	for _, t := range []string{s.Timezone, s.Language, s.Screen, s.Platform} {
		if len(t) > 64 || !utf8.ValidString(t) {
			return fmt.Errorf("client_signals text fields may be at most 64 bytes of UTF-8")
		}
	}
	return nil
}
