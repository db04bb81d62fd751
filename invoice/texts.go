package invoice

import (
	"strconv"
	"strings"
	"time"

	"github.com/kassa/kassa/money"
)

// texts are the words of the PDF and the reminders, by language ("en",
// "de"); every key exists in both (TestTextsComplete).
var texts = map[string]map[string]string{
	"en": {
		"invoice":               "Invoice",
		"draft":                 "Draft invoice (not valid as an invoice)",
		"credit_note":           "Credit note",
		"number":                "Invoice number",
		"date":                  "Invoice date",
		"due":                   "Due date",
		"status":                "Status",
		"bill_to":               "Bill to",
		"vat_id":                "VAT ID",
		"description":           "Description",
		"quantity":              "Qty",
		"unit":                  "Unit price",
		"rate":                  "VAT",
		"amount":                "Amount",
		"subtotal":              "Subtotal",
		"tax_at":                "VAT %s%% on %s",
		"total":                 "Total",
		"paid":                  "Paid",
		"credited":              "Credited",
		"reverse_charge":        "Reverse charge: VAT to be accounted for by the recipient (Article 196 of Council Directive 2006/112/EC).",
		"rounding":              "VAT is rounded per line to the nearest cent, halves up.",
		"pay_online":            "Pay online: %s",
		"page":                  "Page %d of {nb}",
		"st.open":               "Open",
		"st.paid":               "Paid",
		"st.void":               "Void",
		"st.uncollectible":      "Open",
		"st.draft":              "Draft",
		"remind.subject.before": "Reminder: invoice %[1]s from %[2]s is due soon",
		"remind.subject.after":  "Overdue: invoice %[1]s from %[2]s",
		"remind.body.before":    "Dear %[1]s,\n\nthis is a friendly reminder that invoice %[2]s over %[3]s is due on %[4]s.\n\nKind regards,\n%[5]s",
		"remind.body.after":     "Dear %[1]s,\n\ninvoice %[2]s over %[3]s was due on %[4]s and we have not received your payment yet. Please pay it at your earliest convenience; if you have paid already, please ignore this message.\n\nKind regards,\n%[5]s",
		"remind.link":           "View and pay the invoice: %s",
	},
	"de": {
		"invoice":               "Rechnung",
		"draft":                 "Rechnungsentwurf (keine gültige Rechnung)",
		"credit_note":           "Gutschrift",
		"number":                "Rechnungsnummer",
		"date":                  "Rechnungsdatum",
		"due":                   "Fällig am",
		"status":                "Status",
		"bill_to":               "Rechnung an",
		"vat_id":                "USt-IdNr.",
		"description":           "Beschreibung",
		"quantity":              "Menge",
		"unit":                  "Einzelpreis",
		"rate":                  "USt.",
		"amount":                "Betrag",
		"subtotal":              "Zwischensumme (netto)",
		"tax_at":                "USt. %s %% auf %s",
		"total":                 "Gesamtbetrag",
		"paid":                  "Bezahlt",
		"credited":              "Gutgeschrieben",
		"reverse_charge":        "Steuerschuldnerschaft des Leistungsempfängers (Reverse Charge, Art. 196 MwSt-Systemrichtlinie 2006/112/EG).",
		"rounding":              "Die Umsatzsteuer ist je Position kaufmännisch auf volle Cent gerundet.",
		"pay_online":            "Online bezahlen: %s",
		"page":                  "Seite %d von {nb}",
		"st.open":               "Offen",
		"st.paid":               "Bezahlt",
		"st.void":               "Storniert",
		"st.uncollectible":      "Offen",
		"st.draft":              "Entwurf",
		"remind.subject.before": "Erinnerung: Rechnung %[1]s von %[2]s ist bald fällig",
		"remind.subject.after":  "Zahlungserinnerung: Rechnung %[1]s von %[2]s",
		"remind.body.before":    "Guten Tag %[1]s,\n\nwir erinnern freundlich daran, dass die Rechnung %[2]s über %[3]s am %[4]s fällig ist.\n\nMit freundlichen Grüßen\n%[5]s",
		"remind.body.after":     "Guten Tag %[1]s,\n\ndie Rechnung %[2]s über %[3]s war am %[4]s fällig, und wir haben Ihre Zahlung noch nicht erhalten. Bitte begleichen Sie sie bald; falls Sie schon bezahlt haben, betrachten Sie diese Nachricht als gegenstandslos.\n\nMit freundlichen Grüßen\n%[5]s",
		"remind.link":           "Rechnung ansehen und bezahlen: %s",
	},
}

// lang is the texts of locale ("de" or anything else: English).
func lang(locale string) map[string]string {
	if locale == "de" {
		return texts["de"]
	}
	return texts["en"]
}

// FormatMoney writes amount of cur as the locale does: "1,234.56 EUR"
// (en), "1.234,56 EUR" (de). The currency's code, not its sign: the PDF's
// fonts and the reminders' plain text have no sign for every currency.
func FormatMoney(amount money.Amount, cur money.Currency, locale string) string {
	exp, _ := cur.Exponent()
	neg := amount < 0
	v := int64(amount)
	if neg {
		v = -v
	}
	s := strconv.FormatInt(v, 10)
	for len(s) <= exp {
		s = "0" + s
	}
	intPart, frac := s[:len(s)-exp], s[len(s)-exp:]
	thousands, decimal := ",", "."
	if locale == "de" {
		thousands, decimal = ".", ","
	}
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteString(thousands)
		}
		b.WriteRune(c)
	}
	out := b.String()
	if exp > 0 {
		out += decimal + frac
	}
	if neg {
		out = "-" + out
	}
	return out + " " + string(cur)
}

// FormatRate writes a tax rate as the locale does ("7.5", "7,5").
func FormatRate(r TaxRate, locale string) string {
	if locale == "de" {
		return strings.ReplaceAll(r.String(), ".", ",")
	}
	return r.String()
}

// FormatDate writes a date (UTC) as the locale does: "7 December 2026",
// "07.12.2026".
func FormatDate(t time.Time, locale string) string {
	t = t.UTC()
	if locale == "de" {
		return t.Format("02.01.2006")
	}
	return t.Format("2 January 2006")
}
