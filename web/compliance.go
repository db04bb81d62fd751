package web

// The payer's words for deposits refused by the jurisdiction's rules or
// the payer's own limits (package compliance): what happened, that no
// money was taken, what to do, and the date it lifts where there is one.

import (
	"github.com/kassa/kassa"
	"github.com/kassa/kassa/compliance"
)

func init() {
	for l, texts := range complianceTexts {
		for k, v := range texts {
			catalogue[l][k] = v
		}
	}
}

var complianceTexts = map[Lang]map[string]string{
	LangEN: {
		"rg.limit":         "This deposit would go over your deposit limit. Nothing was charged; you can deposit again from %[1]s.",
		"rg.limit_now":     "This deposit would go over your deposit limit. Nothing was charged.",
		"rg.excluded":      "You have excluded yourself from gambling deposits until %[1]s. Nothing was charged.",
		"rg.excluded_ever": "You have excluded yourself from gambling deposits indefinitely. Nothing was charged.",
		"rg.cooloff":       "You are taking a break from gambling deposits until %[1]s. Nothing was charged.",
		"rg.register":      "You are registered as excluded from gambling in your country's self-exclusion register. Nothing was charged.",
		"rg.unavailable":   "We cannot check the national self-exclusion register right now, and deposits here need that check. Nothing was charged; please try again in a few minutes.",
		"rg.kyc":           "Deposits here need a Kassa account with verified identity. Nothing was charged; log in to your Kassa account and verify your identity, then try again.",
		"rg.age":           "You must be older to deposit here. Nothing was charged.",
		"rg.method":        "This way of paying is not allowed for gambling here. Nothing was charged; log in to your verified Kassa account, or pay by card.",
	},
	LangDE: {
		"rg.limit":         "Diese Einzahlung würde Ihr Einzahlungslimit überschreiten. Es wurde nichts abgebucht; Sie können ab %[1]s wieder einzahlen.",
		"rg.limit_now":     "Diese Einzahlung würde Ihr Einzahlungslimit überschreiten. Es wurde nichts abgebucht.",
		"rg.excluded":      "Sie haben sich bis %[1]s von Einzahlungen für Glücksspiel ausgeschlossen. Es wurde nichts abgebucht.",
		"rg.excluded_ever": "Sie haben sich unbefristet von Einzahlungen für Glücksspiel ausgeschlossen. Es wurde nichts abgebucht.",
		"rg.cooloff":       "Sie machen bis %[1]s eine Pause von Einzahlungen für Glücksspiel. Es wurde nichts abgebucht.",
		"rg.register":      "Sie sind in der Sperrdatei Ihres Landes vom Glücksspiel ausgeschlossen. Es wurde nichts abgebucht.",
		"rg.unavailable":   "Wir können die nationale Sperrdatei gerade nicht abfragen, und Einzahlungen hier setzen diese Prüfung voraus. Es wurde nichts abgebucht; bitte versuchen Sie es in einigen Minuten erneut.",
		"rg.kyc":           "Einzahlungen hier setzen ein Kassa-Konto mit bestätigter Identität voraus. Es wurde nichts abgebucht; melden Sie sich bei Ihrem Kassa-Konto an, bestätigen Sie Ihre Identität und versuchen Sie es erneut.",
		"rg.age":           "Sie sind für Einzahlungen hier zu jung. Es wurde nichts abgebucht.",
		"rg.method":        "Diese Zahlungsart ist für Glücksspiel hier nicht erlaubt. Es wurde nichts abgebucht; melden Sie sich bei Ihrem verifizierten Kassa-Konto an oder zahlen Sie mit Karte.",
	},
}

// complianceMessage is the payer's text for a compliance refusal e
// (false: e is none).
func complianceMessage(l Lang, e *kassa.Error) (string, bool) {
	lifts := compliance.LiftsAt(e)
	when := FormatTime(lifts, l)
	switch e.Code {
	case compliance.CodeDepositLimitReached:
		if lifts.IsZero() {
			return l.T("rg.limit_now"), true
		}
		return l.T("rg.limit", when), true
	case compliance.CodeSelfExcluded:
		switch {
		case e.Details["register"] != nil:
			return l.T("rg.register"), true
		case lifts.IsZero():
			return l.T("rg.excluded_ever"), true
		case e.Details["cool_off"] == true:
			return l.T("rg.cooloff", when), true
		}
		return l.T("rg.excluded", when), true
	case compliance.CodeRegisterUnavailable:
		return l.T("rg.unavailable"), true
	case compliance.CodeKYCRequired:
		return l.T("rg.kyc"), true
	case compliance.CodeAgeRestricted:
		return l.T("rg.age"), true
	case compliance.CodeMethodNotAllowed:
		return l.T("rg.method"), true
	}
	return "", false
}
