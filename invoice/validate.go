package invoice

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/money"
)

var errTotal = kassa.Invalid("lines", "invoice_total_invalid",
	"the invoice's total must be from 1 to %d minor units", AmountMax)

// Params are an invoice's contents as the merchant sends them (create
// and update of a draft). Nil fields of an update stay as they are.
type Params struct {
	Customer      *Customer
	Currency      *string
	Lines         *[]Line
	DueDays       *int
	Footer        *string
	ReverseCharge *bool
	Locale        *string
}

// text checks a free text field: valid UTF-8, at most max bytes, no
// control characters but newlines (when multiline) and tabs.
func text(param, s string, max int, required, multiline bool) error {
	if required && strings.TrimSpace(s) == "" {
		return kassa.Invalid(param, "parameter_missing", "%s is required", param)
	}
	if len(s) > max || !utf8.ValidString(s) {
		return kassa.Invalid(param, "parameter_invalid", "%s may be at most %d bytes of UTF-8", param, max)
	}
	for _, c := range s {
		if unicode.IsControl(c) && c != '\t' && !(multiline && (c == '\n' || c == '\r')) {
			return kassa.Invalid(param, "parameter_invalid", "%s may not hold control characters", param)
		}
	}
	return nil
}

func validateCustomer(c Customer) (Customer, error) {
	c.Email = strings.TrimSpace(c.Email)
	c.Address.Country = strings.ToUpper(strings.TrimSpace(c.Address.Country))
	c.VATID = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(c.VATID), " ", ""))
	checks := []error{
		text("customer.id", c.ID, CustomerIDMax, true, false),
		text("customer.name", c.Name, NameMax, true, false),
		text("customer.address.line1", c.Address.Line1, AddressLineMax, true, false),
		text("customer.address.line2", c.Address.Line2, AddressLineMax, false, false),
		text("customer.address.postal_code", c.Address.PostalCode, 20, false, false),
		text("customer.address.city", c.Address.City, AddressLineMax, true, false),
		text("customer.address.state", c.Address.State, AddressLineMax, false, false),
	}
	for _, err := range checks {
		if err != nil {
			return c, err
		}
	}
	if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email || len(c.Email) > EmailMax {
		return c, kassa.Invalid("customer.email", "parameter_invalid", "customer.email must be an email address of at most %d bytes", EmailMax)
	}
	if cc := c.Address.Country; len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
		return c, kassa.Invalid("customer.address.country", "parameter_invalid", "customer.address.country must be an ISO 3166-1 alpha-2 code such as DE")
	}
	if v := c.VATID; v != "" {
		ok := len(v) >= 4 && len(v) <= VATIDMax && v[0] >= 'A' && v[0] <= 'Z' && v[1] >= 'A' && v[1] <= 'Z'
		for _, ch := range v {
			ok = ok && (ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9')
		}
		if !ok {
			return c, kassa.Invalid("customer.vat_id", "parameter_invalid", "customer.vat_id must be a VAT number with its country prefix, such as DE123456789")
		}
	}
	return c, nil
}

func validateLines(param string, lines []Line) error {
	if len(lines) == 0 || len(lines) > LinesMax {
		return kassa.Invalid(param, "parameter_invalid", "%s must hold from 1 to %d lines", param, LinesMax)
	}
	for i, l := range lines {
		p := fmt.Sprintf("%s[%d]", param, i)
		if err := text(p+".description", l.Description, DescriptionMax, true, false); err != nil {
			return err
		}
		if l.Quantity < 1 || l.Quantity > QuantityMax {
			return kassa.Invalid(p+".quantity", "quantity_invalid", "quantity must be a whole number from 1 to %d", QuantityMax)
		}
		if l.UnitAmount < 0 || l.UnitAmount > AmountMax {
			return kassa.Invalid(p+".unit_amount", "amount_invalid", "unit_amount must be from 0 to %d minor units", AmountMax)
		}
		if l.TaxRate < 0 || l.TaxRate > TaxRateMaxBP {
			return kassa.Invalid(p+".tax_rate", "tax_rate_invalid", "%s", ErrTaxRate.Error())
		}
	}
	return nil
}

// apply checks p and writes it over inv (a draft, or a new one).
func apply(inv *Invoice, p Params) error {
	if p.Customer != nil {
		c, err := validateCustomer(*p.Customer)
		if err != nil {
			return err
		}
		inv.Customer = c
	}
	if p.Currency != nil {
		cur, err := money.ParseCurrency(strings.ToUpper(*p.Currency))
		if _, known := cur.Exponent(); err != nil || !known {
			return kassa.Invalid("currency", "currency_invalid", "currency must be an ISO 4217 code such as EUR")
		}
		inv.Currency = cur
	}
	if p.Lines != nil {
		if err := validateLines("lines", *p.Lines); err != nil {
			return err
		}
		inv.Lines = append([]Line(nil), (*p.Lines)...)
	}
	if p.DueDays != nil {
		if *p.DueDays < 0 || *p.DueDays > DueDaysMax {
			return kassa.Invalid("due_days", "parameter_invalid", "due_days must be from 0 (due on receipt) to %d", DueDaysMax)
		}
		inv.DueDays = *p.DueDays
	}
	if p.Footer != nil {
		if err := text("footer", *p.Footer, FooterMax, false, true); err != nil {
			return err
		}
		inv.Footer = *p.Footer
	}
	if p.ReverseCharge != nil {
		inv.ReverseCharge = *p.ReverseCharge
	}
	if p.Locale != nil {
		switch l := strings.ToLower(*p.Locale); {
		case l == "" || l == "en" || strings.HasPrefix(l, "en-"):
			inv.Locale = "en"
		case l == "de" || strings.HasPrefix(l, "de-"):
			inv.Locale = "de"
		default:
			return kassa.Invalid("locale", "locale_invalid", "locale must be en or de")
		}
	}
	if inv.Customer.ID == "" {
		return kassa.Invalid("customer", "parameter_missing", "customer is required")
	}
	if inv.Currency == "" {
		return kassa.Invalid("currency", "parameter_missing", "currency is required")
	}
	if len(inv.Lines) == 0 {
		return kassa.Invalid("lines", "parameter_missing", "lines are required")
	}
	if inv.ReverseCharge && inv.Customer.VATID == "" {
		return kassa.Invalid("reverse_charge", "vat_id_required",
			"reverse_charge needs the customer's vat_id: the recipient accounts for the VAT under it")
	}
	sub, tax, err := computeLines(inv.Lines, inv.ReverseCharge)
	if err != nil {
		return err
	}
	if sub+tax < 1 {
		return errTotal
	}
	inv.Subtotal, inv.Tax, inv.Total = sub, tax, sub+tax
	return nil
}

// validPrefix reports whether s is 1 to PrefixMax capital letters,
// digits and inner dashes.
func validPrefix(s string) bool {
	if s == "" || len(s) > PrefixMax || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// defaultPrefix is a prefix made of the merchant's name: its first four
// letters or digits in capitals ("Acme Bets & Games" → ACME), or INV.
func defaultPrefix(name string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(name) {
		if c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
			if b.Len() == 4 {
				break
			}
		} else if b.Len() > 0 {
			break
		}
	}
	if b.Len() < 2 {
		return "INV"
	}
	return b.String()
}
