package risk

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Describe turns a feature's value into a short reason an analyst or a
// payer-facing message can show, e.g. Describe("ip_distinct_cards_1h", 7)
// is "7 different cards from this IP address in the last hour". An
// unknown name is described as "name = value".
func Describe(name string, value float32) string {
	i, ok := FeatureIndex(name)
	if !ok {
		return name + " = " + number(float64(value), 2)
	}
	return describers[i](value)
}

var describers = [FeatureCount]func(float32) string{
	FAmountLog: amountText("amount of %s (minor units)"),
	FHourOfDay: func(v float32) string {
		return fmt.Sprintf("attempted between %02d:00 and %02d:59 UTC", int(v), int(v))
	},
	FKindDeposit:    flagText("a deposit", "not a deposit"),
	FKindWithdrawal: flagText("a withdrawal", "not a withdrawal"),
	FKindSignup:     flagText("a sign-up", "not a sign-up"),
	FKindLogin:      flagText("a login", "not a login"),
	FMethodCard:     flagText("paid by card", "not paid by card"),
	FMethodVoucher:  flagText("paid with a voucher", "not paid with a voucher"),
	FMethodAccount:  flagText("paid from an account balance", "not paid from an account balance"),

	FCardAttempts1m:           countText("attempt", "attempts", "with this card in the last minute"),
	FCardAttempts1h:           countText("attempt", "attempts", "with this card in the last hour"),
	FCardAttempts24h:          countText("attempt", "attempts", "with this card in the last 24 hours"),
	FCardFailures1h:           countText("failed attempt", "failed attempts", "with this card in the last hour"),
	FCardFailures24h:          countText("failed attempt", "failed attempts", "with this card in the last 24 hours"),
	FCardDeclines24h:          countText("decline", "declines", "of this card in the last 24 hours"),
	FCardDistinctCustomers24h: countText("customer", "different customers", "used this card in the last 24 hours"),

	FVoucherAttempts1m:  countText("attempt", "attempts", "with this voucher in the last minute"),
	FVoucherAttempts1h:  countText("attempt", "attempts", "with this voucher in the last hour"),
	FVoucherFailures1h:  countText("failed attempt", "failed attempts", "with this voucher in the last hour"),
	FVoucherFailures24h: countText("failed attempt", "failed attempts", "with this voucher in the last 24 hours"),

	FCustomerMissing:      flagText("no customer id or email", "customer known by id or email"),
	FCustomerAttempts1h:   countText("attempt", "attempts", "by this customer in the last hour"),
	FCustomerAttempts24h:  countText("attempt", "attempts", "by this customer in the last 24 hours"),
	FCustomerFailures24h:  countText("failed attempt", "failed attempts", "by this customer in the last 24 hours"),
	FCustomerAmount24h:    amountText("%s (minor units) approved for this customer in the last 24 hours"),
	FCustomerAmount7d:     amountText("%s (minor units) approved for this customer in the last 7 days"),
	FCustomerHistoryCount: countText("approved payment", "approved payments", "by this customer before"),
	FCustomerAgeDays: func(v float32) string {
		if v == 0 {
			return "customer seen for the first time"
		}
		return "customer first seen " + number(float64(v), 1) + " days ago"
	},
	FCustomerDeposits24h:       amountText("%s (minor units) deposited by this customer in the last 24 hours"),
	FWithdrawalToDepositsRatio: timesText("withdrawal is %s× the customer's deposits of the last 7 days"),

	FAmountToCustomerMean: timesText("amount is %s× the customer's average"),
	FAmountZscore: func(v float32) string {
		if v < 0 {
			return "amount is " + number(-float64(v), 1) + " standard deviations below the customer's usual"
		}
		return "amount is " + number(float64(v), 1) + " standard deviations above the customer's usual"
	},
	FAmountToCustomerMax: timesText("amount is %s× the customer's largest approved amount"),

	FDeviceMissing:             flagText("no device identification", "device identified"),
	FDeviceAttempts1m:          countText("attempt", "attempts", "from this device in the last minute"),
	FDeviceAttempts1h:          countText("attempt", "attempts", "from this device in the last hour"),
	FDeviceFailures1h:          countText("failed attempt", "failed attempts", "from this device in the last hour"),
	FDeviceDistinctCards24h:    countText("card", "different cards", "from this device in the last 24 hours"),
	FDeviceDistinctCustomers7d: countText("customer", "different customers", "on this device in the last 7 days"),
	FDeviceDistinctVouchers24h: countText("voucher", "different vouchers", "from this device in the last 24 hours"),
	FDeviceNewForCustomer:      flagText("a device this customer never paid from", "not a new device for this customer"),

	FIPMissing:              flagText("no IP address", "IP address known"),
	FIPAttempts1m:           countText("attempt", "attempts", "from this IP address in the last minute"),
	FIPAttempts1h:           countText("attempt", "attempts", "from this IP address in the last hour"),
	FIPFailures1h:           countText("failed attempt", "failed attempts", "from this IP address in the last hour"),
	FIPDistinctCards1h:      countText("card", "different cards", "from this IP address in the last hour"),
	FIPDistinctCards24h:     countText("card", "different cards", "from this IP address in the last 24 hours"),
	FIPDistinctCustomers24h: countText("customer", "different customers", "from this IP address in the last 24 hours"),

	FEmailAttempts24h: countText("attempt", "attempts", "with this email address in the last 24 hours"),
	FEmailFailures24h: countText("failed attempt", "failed attempts", "with this email address in the last 24 hours"),

	FGeoKnown:              flagText("IP address located", "IP address location unknown"),
	FIPCountryMismatch:     flagText("IP address country differs from the billing country", "IP address country matches the billing country or one is unknown"),
	FCountryNewForCustomer: flagText("a country this customer never paid from", "not a new country for this customer"),
	FKmSinceLast: func(v float32) string {
		if v == 0 {
			return "no earlier location of this customer to compare with"
		}
		return number(float64(v), 0) + " km from the customer's previous location"
	},
	FKmhSinceLast: func(v float32) string {
		if v == 0 {
			return "no earlier location of this customer to compare with"
		}
		return number(float64(v), 0) + " km/h needed to get here from the customer's previous location"
	},

	FHourUnusualForCustomer: func(v float32) string {
		return number(100*float64(v), 0) + "% of the customer's payments were at other times of day"
	},

	FSignalsMissing:  flagText("the payment page sent no browser signals", "browser signals received"),
	FTimeOnPageLog:   secondsText("%s s on the payment page"),
	FTimeToSubmitLog: secondsText("%s s from first input to submit"),
	FPointerMoves:    countText("pointer movement", "pointer movements", "on the payment page"),
	FKeyEvents:       countText("key press", "key presses", "on the payment page"),
	FPasteEvents:     countText("paste", "pastes", "into the payment form"),
	FFocusChanges:    countText("focus change", "focus changes", "on the payment page"),
	FWebdriver:       flagText("the browser is automated (webdriver)", "the browser is not flagged as automated"),
	FBotScore:        func(v float32) string { return "bot likelihood " + number(100*float64(v), 0) + "%" },

	FKeyIntervalCV:          regularityText("key presses"),
	FPointerIntervalCV:      regularityText("pointer movements"),
	FKeyIntervalLog:         func(v float32) string { return "typing about " + number(math.Pow(10, float64(v))-1, 0) + " ms per key" },
	FCardDistinctDevices24h: countText("device", "different devices", "used this card in the last 24 hours"),
	FCardDistinctIPs24h:     countText("IP address", "different IP addresses", "used this card in the last 24 hours"),
	FDeviceDistinctIPs24h:   countText("IP address", "different IP addresses", "used by this device in the last 24 hours"),
	FDeviceKnownDays:        knownText("device"),
	FCardNewForCustomer:     flagText("a card this customer never paid with", "not a new card for this customer"),
	FCardKnownDays:          knownText("card"),
	FIPRangeNewForCustomer:  flagText("an address range this customer never paid from", "not a new address range for this customer"),

	FCardCountryIPMismatch:      flagText("the card was issued in another country than the IP address is in", "the card's country matches the IP address's"),
	FCardCountryBillingMismatch: flagText("the card was issued in another country than the billing address", "the card's country matches the billing country"),
	FCredentialsChangedDays: func(v float32) string {
		if v != v {
			return "no change of password, email or phone known"
		}
		if v < 1 {
			return "password, email or phone changed " + number(24*float64(v), 0) + " hours before"
		}
		return "password, email or phone changed " + number(float64(v), 0) + " days before"
	},
	FAccountAgeDays: func(v float32) string {
		if v != v {
			return "the account's age is not known"
		}
		if v < 1 {
			return "an account created " + number(24*float64(v), 0) + " hours before"
		}
		return "an account created " + number(float64(v), 0) + " days before"
	},
}

// countText describes a count: "1 card from ...", "7 different cards from ...".
// regularityText describes a coefficient of variation of intervals.
func regularityText(what string) func(float32) string {
	return func(v float32) string {
		if v != v {
			return "timing of " + what + " not measured"
		}
		return "timing of " + what + " varies by " + number(100*float64(v), 0) + "% (people vary more than machines)"
	}
}

// knownText describes how long ago a device or card was first approved
// for the customer.
func knownText(what string) func(float32) string {
	return func(v float32) string {
		if v == 0 {
			return "a " + what + " never approved for this customer before"
		}
		return "this customer's " + what + " since " + number(float64(v), 1) + " days"
	}
}

func countText(one, many, rest string) func(float32) string {
	return func(v float32) string {
		if v == 1 {
			return "1 " + one + " " + rest
		}
		return number(float64(v), 0) + " " + many + " " + rest
	}
}

func flagText(on, off string) func(float32) string {
	return func(v float32) string {
		if v != 0 {
			return on
		}
		return off
	}
}

// amountText describes a log10(1+x) amount by x.
func amountText(format string) func(float32) string {
	return func(v float32) string { return fmt.Sprintf(format, number(math.Pow(10, float64(v))-1, 0)) }
}

// secondsText describes a log10(1+ms) duration in seconds.
func secondsText(format string) func(float32) string {
	return func(v float32) string {
		return fmt.Sprintf(format, number((math.Pow(10, float64(v))-1)/1000, 1))
	}
}

func timesText(format string) func(float32) string {
	return func(v float32) string { return fmt.Sprintf(format, number(float64(v), 1)) }
}

// number formats x with at most decimals digits after the point.
func number(x float64, decimals int) string {
	return strconv.FormatFloat(x, 'f', decimals, 64)
}

// MerchantFeatures returns ev's feature values its merchant may see, by
// name: all of them for a standalone evaluation (counted within the
// merchant), else only those of the attempt itself. Shared features
// (FeatureShared) of a payment's evaluation count other merchants'
// payers too, and showing them would tell one merchant what an email,
// card or IP address did at the others.
func MerchantFeatures(ev Evaluation) map[string]float32 {
	if ev.FeatureSet != FeatureSetID() {
		return nil
	}
	out := make(map[string]float32, len(ev.Features))
	for i, v := range ev.Features {
		if v != v { // not measured (NaN has no JSON)
			continue
		}
		if i < len(FeatureNames) && (ev.Event.Standalone || !FeatureShared(i)) {
			out[FeatureNames[i]] = v
		}
	}
	return out
}

// MerchantReasons returns ev's reasons as its merchant may see them: a
// reason from a shared feature of a payment's evaluation keeps its
// feature and contribution but not its value, and says what kind of
// activity raised the score without counting it.
func MerchantReasons(ev Evaluation) []Reason {
	if ev.Event.Standalone {
		return ev.Reasons
	}
	var out []Reason
	for k, r := range ev.Reasons {
		i, ok := FeatureIndex(r.Feature)
		if !ok || !FeatureShared(i) {
			continue
		}
		if out == nil {
			out = slices.Clone(ev.Reasons)
		}
		out[k].Value = 0
		out[k].Message = describeShared(i)
	}
	if out == nil {
		return ev.Reasons
	}
	return out
}

// describeShared says which entity's activity across Kassa a shared
// feature measures.
func describeShared(i int) string {
	var what string
	switch {
	case i >= FCardAttempts1m && i <= FCardDistinctCustomers24h, i == FCardDistinctDevices24h, i == FCardDistinctIPs24h:
		what = "this card's recent activity"
	case i >= FVoucherAttempts1m && i <= FVoucherFailures24h:
		what = "this voucher's recent activity"
	case i >= FDeviceAttempts1m && i <= FDeviceNewForCustomer, i == FDeviceDistinctIPs24h:
		what = "this device's recent activity"
	case i >= FIPAttempts1m && i <= FIPDistinctCustomers24h:
		what = "this IP address's recent activity"
	case i >= FEmailAttempts24h && i <= FEmailFailures24h:
		what = "this email address's recent activity"
	default:
		what = "this customer's history"
	}
	return what + " across Kassa (" + FeatureNames[i] + "; values from other merchants are not shown)"
}
