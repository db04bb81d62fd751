package identity

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Messages in the customer's language. The pages that start a message
// (sign-up, login, step-up, recovery: package web/account) know the
// payer's language and put it on the request's context with
// WithLanguage; every message identity sends is written in it, from the
// catalogue below (English when the context names none or another
// language). A code is always written as digits, never inside a word.

// Languages identity writes messages in.
const (
	LanguageEnglish = "en"
	LanguageGerman  = "de"
)

type languageKey struct{}

// WithLanguage returns ctx carrying the language (a BCP 47 tag: "de",
// "de-AT", "en-IE") identity's messages sent under it are written in.
func WithLanguage(ctx context.Context, tag string) context.Context {
	return context.WithValue(ctx, languageKey{}, tag)
}

// languageOf is the catalogue's language for ctx: German for a German
// tag, else English.
func languageOf(ctx context.Context) string {
	tag, _ := ctx.Value(languageKey{}).(string)
	base, _, _ := strings.Cut(strings.ReplaceAll(tag, "_", "-"), "-")
	if strings.EqualFold(base, LanguageGerman) {
		return LanguageGerman
	}
	return LanguageEnglish
}

// messageTexts are identity's messages by language and key; arguments as
// fmt.Sprintf fills them in (%[1]s names the first). Every key exists in
// every language with the same arguments (TestMessageTextsComplete).
var messageTexts = map[string]map[string]string{
	LanguageEnglish: {
		"what.confirm_email": "confirm this email address",
		"what.confirm_phone": "confirm this phone number",
		"what.login":         "log in",
		"what.step_up":       "approve a payment",
		// %[1]s issuer, %[2]s what, %[3]s code, %[4]d minutes.
		"code.sms":     "%[1]s code to %[2]s: %[3]s (valid %[4]d min). Never share it.",
		"code.subject": "Your %[1]s code",
		"code.body": "Your %[1]s code to %[2]s is\n\n    %[3]s\n\nIt is valid for %[4]d minutes. Nobody from %[1]s will ever ask you for it. " +
			"If you did not ask for it, ignore this message.\n",
		// %[1]s code, %[2]s what it approves, %[3]s issuer, %[4]d minutes.
		"stepup.sms":     "%[1]s approves %[2]s. %[3]s code, valid %[4]d min. Never share it.",
		"stepup.subject": "Your %[3]s code to approve %[2]s",
		"stepup.body": "%[1]s approves %[2]s.\n\nEnter it on the payment page to confirm this payment. It is valid for %[4]d minutes. " +
			"Nobody from %[3]s will ever ask you for it. If you are not paying this right now, ignore this message and share the code with nobody.\n",
		// %[1]s issuer, %[2]s code, %[3]d minutes.
		"recovery.sms":     "%[1]s code to set a new password: %[2]s (valid %[3]d min). Never share it.",
		"recovery.subject": "Your %[1]s code to set a new password",
		"recovery.body": "Your %[1]s code to set a new password is\n\n    %[2]s\n\nIt is valid for %[3]d minutes. Nobody from %[1]s will ever ask you for it. " +
			"If you did not ask for a new password, ignore this message: your password stays as it is.\n",
		// %[1]s issuer.
		"existing.subject": "You already have a %[1]s account",
		"existing.body": "Someone, hopefully you, tried to sign up to %[1]s with this address. It has an account already: " +
			"log in with it instead. If it was not you, ignore this message; nothing has changed.\n",
		// %[1]s issuer, %[2]s the day the sealed copy is destroyed.
		"erasure.subject": "Your %[1]s account is closed",
		"erasure.body": "Your %[1]s account is closed and your personal data was removed from it, as you asked.\n\n" +
			"The law on money laundering makes %[1]s keep a sealed copy of your records for some years. Nobody can read it " +
			"except for a legal duty, and on %[2]s its key is destroyed: from then on nobody, %[1]s included, can read it again.\n",
	},
	LanguageGerman: {
		"what.confirm_email": "diese E-Mail-Adresse zu bestätigen",
		"what.confirm_phone": "diese Telefonnummer zu bestätigen",
		"what.login":         "sich anzumelden",
		"what.step_up":       "eine Zahlung zu bestätigen",
		"code.sms":           "%[1]s-Code, um %[2]s: %[3]s (%[4]d Min. gültig). Geben Sie ihn nie weiter.",
		"code.subject":       "Ihr %[1]s-Code",
		"code.body": "Ihr %[1]s-Code, um %[2]s, lautet\n\n    %[3]s\n\nEr ist %[4]d Minuten gültig. Niemand von %[1]s wird Sie je danach fragen. " +
			"Wenn Sie ihn nicht angefordert haben, ignorieren Sie diese Nachricht.\n",
		"stepup.sms":     "%[1]s bestätigt %[2]s. %[3]s-Code, %[4]d Min. gültig. Geben Sie ihn nie weiter.",
		"stepup.subject": "Ihr %[3]s-Code, um %[2]s zu bestätigen",
		"stepup.body": "%[1]s bestätigt %[2]s.\n\nGeben Sie ihn auf der Zahlungsseite ein, um diese Zahlung zu bestätigen. Er ist %[4]d Minuten gültig. " +
			"Niemand von %[3]s wird Sie je danach fragen. Wenn Sie gerade nicht bezahlen, ignorieren Sie diese Nachricht und geben Sie den Code niemandem.\n",
		"recovery.sms":     "%[1]s-Code für ein neues Passwort: %[2]s (%[3]d Min. gültig). Geben Sie ihn nie weiter.",
		"recovery.subject": "Ihr %[1]s-Code für ein neues Passwort",
		"recovery.body": "Ihr %[1]s-Code für ein neues Passwort lautet\n\n    %[2]s\n\nEr ist %[3]d Minuten gültig. Niemand von %[1]s wird Sie je danach fragen. " +
			"Wenn Sie kein neues Passwort angefordert haben, ignorieren Sie diese Nachricht: Ihr Passwort bleibt, wie es ist.\n",
		"existing.subject": "Sie haben schon ein %[1]s-Konto",
		"existing.body": "Jemand, hoffentlich Sie, wollte sich mit dieser Adresse bei %[1]s registrieren. Zu ihr gibt es schon ein Konto: " +
			"Melden Sie sich damit an. Wenn Sie es nicht waren, ignorieren Sie diese Nachricht; es hat sich nichts geändert.\n",
		"erasure.subject": "Ihr %[1]s-Konto ist geschlossen",
		"erasure.body": "Ihr %[1]s-Konto ist geschlossen, und Ihre persönlichen Daten wurden daraus entfernt, wie Sie es wünschten.\n\n" +
			"Das Geldwäschegesetz verpflichtet %[1]s, eine versiegelte Kopie Ihrer Unterlagen einige Jahre aufzubewahren. Niemand kann sie lesen, " +
			"außer wegen einer gesetzlichen Pflicht, und am %[2]s wird ihr Schlüssel vernichtet: Danach kann sie niemand mehr lesen, auch %[1]s nicht.\n",
	},
}

// text is the catalogue's text of key in ctx's language.
func text(ctx context.Context, key string, args ...any) string {
	s, ok := messageTexts[languageOf(ctx)][key]
	if !ok {
		s = messageTexts[LanguageEnglish][key]
	}
	return fmt.Sprintf(s, args...)
}

// codeMinutes is how long a code is valid, in whole minutes, for its
// message.
func (s *Service) codeMinutes() int { return int(s.lim.CodeTTL / time.Minute) }
