package web

// invoiceTexts are the hosted invoice page's texts (invoice.go), kept
// beside the catalogue and merged into it at start: one catalogue, one
// completeness test (TestCatalogueComplete), one wording test.
var invoiceTexts = map[Lang]map[string]string{
	LangEN: {
		"invoice.title":          "Invoice %[1]s from %[2]s",
		"invoice.head":           "Invoice %[1]s",
		"invoice.open":           "Due by %[1]s.",
		"invoice.overdue":        "This invoice was due on %[1]s. Please pay it now.",
		"invoice.paid":           "Paid. Thank you: %[1]s has received your payment.",
		"invoice.void":           "%[1]s canceled this invoice. There is nothing to pay.",
		"invoice.pay":            "Pay %[1]s",
		"invoice.methods":        "On the next page you choose how to pay, with any way the shop takes.",
		"invoice.number":         "Invoice number",
		"invoice.date":           "Invoice date",
		"invoice.due":            "Due date",
		"invoice.to":             "Billed to",
		"invoice.lines":          "What you are billed for",
		"invoice.item":           "Item",
		"invoice.qty":            "Quantity",
		"invoice.amount":         "Amount",
		"invoice.rate":           "VAT %[1]s%%",
		"invoice.subtotal":       "Subtotal",
		"invoice.tax":            "VAT %[1]s%% on %[2]s",
		"invoice.total":          "Total",
		"invoice.reverse_charge": "Reverse charge: you account for the VAT on this invoice yourself.",
		"invoice.download":       "Download the invoice (PDF)",
		"invoice.notfound":       "Invoice not found",
		"invoice.notfound_text":  "The link may be incomplete or mistyped. Open the link from the invoice's email again.",
		"invoice.refused":        "This form can only be sent from the invoice's own page. Open the invoice's link again.",
	},
	LangDE: {
		"invoice.title":          "Rechnung %[1]s von %[2]s",
		"invoice.head":           "Rechnung %[1]s",
		"invoice.open":           "Zahlbar bis %[1]s.",
		"invoice.overdue":        "Diese Rechnung war am %[1]s fällig. Bitte bezahlen Sie sie jetzt.",
		"invoice.paid":           "Bezahlt. Vielen Dank: %[1]s hat Ihre Zahlung erhalten.",
		"invoice.void":           "%[1]s hat diese Rechnung storniert. Sie müssen nichts bezahlen.",
		"invoice.pay":            "%[1]s bezahlen",
		"invoice.methods":        "Auf der nächsten Seite wählen Sie, wie Sie bezahlen, mit jeder Zahlungsart, die der Shop annimmt.",
		"invoice.number":         "Rechnungsnummer",
		"invoice.date":           "Rechnungsdatum",
		"invoice.due":            "Fällig am",
		"invoice.to":             "Rechnung an",
		"invoice.lines":          "Was Ihnen berechnet wird",
		"invoice.item":           "Position",
		"invoice.qty":            "Menge",
		"invoice.amount":         "Betrag",
		"invoice.rate":           "USt. %[1]s %%",
		"invoice.subtotal":       "Zwischensumme (netto)",
		"invoice.tax":            "USt. %[1]s %% auf %[2]s",
		"invoice.total":          "Gesamtbetrag",
		"invoice.reverse_charge": "Steuerschuldnerschaft des Leistungsempfängers: Sie führen die Umsatzsteuer für diese Rechnung selbst ab.",
		"invoice.download":       "Rechnung herunterladen (PDF)",
		"invoice.notfound":       "Rechnung nicht gefunden",
		"invoice.notfound_text":  "Der Link ist vielleicht unvollständig oder vertippt. Öffnen Sie den Link aus der E-Mail zur Rechnung noch einmal.",
		"invoice.refused":        "Dieses Formular kann nur von der Seite der Rechnung gesendet werden. Öffnen Sie den Link der Rechnung noch einmal.",
	},
}

func init() {
	for l, texts := range invoiceTexts {
		for k, v := range texts {
			if _, dup := catalogue[l][k]; dup {
				panic("web: invoice text " + k + " is in the catalogue twice")
			}
			catalogue[l][k] = v
		}
	}
}
