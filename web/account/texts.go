package account

import (
	"html/template"
	"strconv"
	"time"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/passkey"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/web"
)

// texts holds what the account pages show a payer, by language and key,
// looked up as the payment pages' catalogue is (web.Texts, the same
// languages). Every key exists in every language
// (TestAccountTextsComplete). Pages not yet moved here (identity
// verification, recovery, the step-up challenge, the development outbox)
// are still English only. The services' refusals are payerTexts and
// payerTextsDE.
var texts = web.Texts{
	web.LangEN: {
		"brand":            "Your Kassa account",
		"paying":           "Paying <strong>%[1]s</strong> to <strong>%[2]s</strong>: log in or sign up to confirm it, then you come back to it.",
		"dev":              "Development: messages are not sent; read the code in the <a href=\"/dev/outbox\">outbox</a>.",
		"never":            "never",
		"device.on":        "%[1]s on %[2]s",
		"device.browseron": "A browser on %[1]s",
		"device.browser":   "A browser",
		"f.email":          "Email address",
		"f.password":       "Password",
		"login.title":      "Log in",
		"login.head":       "Log in to Kassa",
		"login.submit":     "Log in",
		"login.forgot":     "Forgot your password?",
		"login.new":        "New to Kassa?",
		"login.signup":     "Create an account",
		"login.out":        "You are logged out.",
		"login.expired":    "Your login expired. Log in again.",
		"login.reset":      "Your password was changed and every login ended. Log in with the new password.",
		"login.paused":     "Too many failed attempts. For your security, logging in with this email address from here is paused; try again in %[1]s.",
		"login.wrong":      "The email address or password is wrong.",

		"factor.title":      "Confirm it is you",
		"factor.stepup":     "To go on, confirm it is you with a second factor.",
		"factor.risk":       "For your security, this login needs one more step. Confirm it is you with one of these.",
		"factor.new":        "This device is new to your account. Confirm it is you with one of these; the device is then remembered.",
		"factor.passkey":    "Passkey",
		"factor.nojs":       "Using a passkey needs JavaScript.",
		"factor.usepasskey": "Use your passkey",
		"factor.app":        "Authenticator app",
		"factor.appcode":    "Code from your authenticator app",
		"factor.confirm":    "Confirm",
		"factor.otp":        "One-time code",
		"factor.emailto":    "Email a code to %[1]s",
		"factor.smsto":      "Text a code to %[1]s",
		"factor.sentemail":  "Code sent to %[1]s",
		"factor.sentsms":    "Code sent by SMS to %[1]s",
		"factor.sent":       "We sent you a code. It is valid for 10 minutes.",
		"factor.recovery":   "Recovery code",
		"factor.recoveryf":  "One of your recovery codes",
		"factor.userecov":   "Use a recovery code",
		"factor.back":       "Back to your account",
		"factor.cancel":     "Cancel and log out",
		"factor.jsneeded":   "Using a passkey needs JavaScript. Turn it on, or choose another way below.",
		"factor.toomany":    "Too many wrong codes. For your security, try again in %[1]s.",
		"factor.wrongcode":  "This code is wrong or has expired.",
		"factor.resend":     "A code was sent a moment ago; use that one, or ask again in %[1]s.",
		"factor.notsent":    "We could not send the code just now. Try again in a moment, or choose another way.",

		"wait.while":   "a while",
		"wait.seconds": "%[1]d seconds",
		"wait.minute":  "a minute",
		"wait.minutes": "%[1]d minutes",
		"wait.hours":   "%[1]d hours",

		"acct.title":            "Your account",
		"acct.head":             "Your Kassa account",
		"acct.verify":           "Verify your identity",
		"acct.return":           "When you are done, <a href=\"%[1]s\" id=\"return\">go back to what you were doing</a>.",
		"acct.passkeys":         "Passkeys",
		"acct.passkeyshint":     "A passkey confirms payments and logins with your device's fingerprint, face or PIN, which never leaves it.",
		"acct.blocked":          "blocked",
		"acct.added":            "Added %[1]s · last used %[2]s",
		"acct.passkeyname":      "Name of this passkey",
		"acct.rename":           "Rename",
		"acct.delete":           "Delete",
		"acct.nopasskey":        "No passkey yet.",
		"acct.addnojs":          "Adding a passkey needs JavaScript.",
		"acct.addpasskey":       "Add a passkey",
		"acct.addhint":          "Adding or deleting a passkey asks you to confirm it is you first.",
		"acct.addverify":        "Confirm it is you to add a passkey",
		"acct.app":              "Authenticator app",
		"acct.appon":            "On. %[1]d recovery codes left.",
		"acct.appoff":           "Turn off",
		"acct.appoffhint":       "Turning it off asks you to confirm it is you first.",
		"acct.appnone":          "Off. An app like an authenticator on your phone can give you login codes.",
		"acct.appsetup":         "Set up an authenticator app",
		"acct.devices":          "Devices",
		"acct.thisdevice":       "this device",
		"acct.devicemeta":       "Last used %[1]s from %[2]s",
		"acct.remove":           "Remove",
		"acct.nodevice":         "No known device.",
		"acct.sessions":         "Where you are logged in",
		"acct.thissession":      "this session",
		"acct.sessionmeta":      "Logged in %[1]s from %[2]s · %[3]s",
		"acct.logout":           "Log out",
		"acct.logoutothers":     "Log out everywhere else",
		"acct.payments":         "Your payments",
		"acct.date":             "Date",
		"acct.to":               "To",
		"acct.amount":           "Amount",
		"acct.status":           "Status",
		"acct.nopayments":       "No payments with this account yet.",
		"strength.password":     "with a password",
		"strength.second":       "with a second factor",
		"level.unverified":      "Not verified",
		"level.verified":        "Verified",
		"level.kyc":             "Identity verified",
		"leveltext.unverified":  "Not verified: finish signing up (email, phone and password).",
		"leveltext.verified":    "Verified: your email and phone are confirmed and you have a password.",
		"leveltext.kyc":         "Identity verified: you gave your identity data (KYC).",
		"status.open":           "Not finished",
		"status.paid":           "Paid",
		"status.canceled":       "Canceled",
		"status.notpaid":        "Not paid",
		"status.expired":        "Expired",
		"status.refunded":       "Refunded",
		"status.partrefund":     "Partly refunded",
		"status.other":          "In progress",
		"done.passkey_added":    "Your passkey was added.",
		"done.passkey_renamed":  "Your passkey was renamed.",
		"done.passkey_deleted":  "Your passkey was deleted. Your device keeps it, but it no longer opens this account.",
		"done.device_revoked":   "The device was removed; it must pass a second factor to log in again.",
		"done.session_revoked":  "The session was ended.",
		"done.sessions_revoked": "You were logged out everywhere else.",
		"done.totp_disabled":    "Your authenticator app was turned off and its recovery codes deleted.",
		"done.kyc":              "Thank you: your identity is verified.",

		"signup.title":         "Create your Kassa account",
		"signup.head":          "Create your Kassa account",
		"signup.steps":         "Step %[1]d of %[2]d: %[3]s",
		"signup.step.contact":  "Your email and phone",
		"signup.step.email":    "Confirm your email",
		"signup.step.phone":    "Confirm your phone",
		"signup.step.password": "Choose a password",
		"signup.emailhint":     "We send a code to confirm it.",
		"signup.phone":         "Mobile phone number",
		"signup.phonehint":     "With its country code, like +43 660 1234567. We send a code by SMS to confirm it.",
		"signup.continue":      "Continue",
		"signup.haveaccount":   "Have an account?",
		"signup.sentemail":     "We sent a 6-digit code to <strong>%[1]s</strong>. Enter it here.",
		"signup.sentsms":       "Your email is confirmed. We sent a 6-digit code by SMS to <strong>%[1]s</strong>. Enter it here.",
		"signup.code":          "Code",
		"signup.resend":        "Send a new code",
		"signup.confirmed":     "Your email and phone are confirmed.",
		"signup.passwordhint":  "At least 12 characters; not a common password, not your email address.",
		"signup.create":        "Create account",
		"signup.email_bad":     "Enter an email address like name@example.com.",
		"signup.phone_bad":     "Enter your mobile number with its country code, like +43 660 1234567.",
		"signup.toomany":       "Too many sign-ups or codes at once. Try again in %[1]s.",
		"signup.notsent":       "We could not send the code just now. Try again in a moment.",
		"signup.gone":          "Your sign-up expired or was already finished. Start again, or log in if you set a password.",
		"signup.resent":        "We sent a new code.",
		"signup.taken.title":   "You already have an account",
		"signup.taken.text":    "This email address has a Kassa account already. Log in with it instead.",
		"signup.wrongcode":     "This code is wrong or has expired. Check it, or ask for a new one.",
		"signup.notresent":     "We could not send a new code just now. Try again in a moment.",

		"internal.title": "Something went wrong",
		"internal.text":  "Kassa could not handle this request. Nothing was changed by it; please try again in a moment.",
		"refused.title":  "Request refused",
		"refused.origin": "This form can only be sent from Kassa's own pages. Open the page again and retry.",
		"refused.form":   "This page takes only its own forms.",
		"refused.large":  "The form was too large to read.",
		"refused.read":   "The form could not be read. Go back and try again.",
		"refused.csrf":   "This form has expired or did not come from this page (cookies must be on). Go back, reload the page and try again.",
		"notfound.title": "Page not found",
		"notfound.text":  "This page does not exist. Check the address, or go to your account.",
		"json.origin":    "This request can only come from Kassa's own pages.",
		"json.form":      "Send a form.",
		"json.read":      "The form could not be read.",
		"json.csrf":      "This page has expired. Reload it and try again.",
		"json.internal":  "Something went wrong. Try again in a moment.",
		"json.expired":   "Your login expired. Reload the page and log in again.",
		"json.verify":    "Confirm it is you first: reload the page and use “Confirm it is you to add a passkey”.",
		"totp.wrongcode": "This code is wrong or has expired. Enter the code your app shows now.",
		"recovery.head":  "Save your recovery codes",
	},
	web.LangDE: {
		"brand":            "Ihr Kassa-Konto",
		"paying":           "Sie zahlen <strong>%[1]s</strong> an <strong>%[2]s</strong>: Melden Sie sich an oder registrieren Sie sich, um die Zahlung zu bestätigen; danach kommen Sie zu ihr zurück.",
		"dev":              "Entwicklung: Nachrichten werden nicht versendet; den Code finden Sie im <a href=\"/dev/outbox\">Postausgang</a>.",
		"never":            "nie",
		"device.on":        "%[1]s auf %[2]s",
		"device.browseron": "Ein Browser auf %[1]s",
		"device.browser":   "Ein Browser",
		"f.email":          "E-Mail-Adresse",
		"f.password":       "Passwort",
		"login.title":      "Anmelden",
		"login.head":       "Bei Kassa anmelden",
		"login.submit":     "Anmelden",
		"login.forgot":     "Passwort vergessen?",
		"login.new":        "Neu bei Kassa?",
		"login.signup":     "Konto erstellen",
		"login.out":        "Sie sind abgemeldet.",
		"login.expired":    "Ihre Anmeldung ist abgelaufen. Melden Sie sich erneut an.",
		"login.reset":      "Ihr Passwort wurde geändert und alle Anmeldungen wurden beendet. Melden Sie sich mit dem neuen Passwort an.",
		"login.paused":     "Zu viele fehlgeschlagene Versuche. Zu Ihrer Sicherheit ist die Anmeldung mit dieser E-Mail-Adresse von hier aus pausiert; versuchen Sie es in %[1]s erneut.",
		"login.wrong":      "Die E-Mail-Adresse oder das Passwort ist falsch.",

		"factor.title":      "Bestätigen Sie, dass Sie es sind",
		"factor.stepup":     "Um fortzufahren, bestätigen Sie mit einem zweiten Faktor, dass Sie es sind.",
		"factor.risk":       "Zu Ihrer Sicherheit braucht diese Anmeldung einen weiteren Schritt. Bestätigen Sie mit einer dieser Möglichkeiten, dass Sie es sind.",
		"factor.new":        "Dieses Gerät ist für Ihr Konto neu. Bestätigen Sie mit einer dieser Möglichkeiten, dass Sie es sind; danach wird das Gerät wiedererkannt.",
		"factor.passkey":    "Passkey",
		"factor.nojs":       "Ein Passkey braucht JavaScript.",
		"factor.usepasskey": "Passkey verwenden",
		"factor.app":        "Authenticator-App",
		"factor.appcode":    "Code aus Ihrer Authenticator-App",
		"factor.confirm":    "Bestätigen",
		"factor.otp":        "Einmalcode",
		"factor.emailto":    "Code per E-Mail an %[1]s senden",
		"factor.smsto":      "Code per SMS an %[1]s senden",
		"factor.sentemail":  "An %[1]s gesendeter Code",
		"factor.sentsms":    "Per SMS an %[1]s gesendeter Code",
		"factor.sent":       "Wir haben Ihnen einen Code gesendet. Er ist 10 Minuten gültig.",
		"factor.recovery":   "Wiederherstellungscode",
		"factor.recoveryf":  "Einer Ihrer Wiederherstellungscodes",
		"factor.userecov":   "Wiederherstellungscode verwenden",
		"factor.back":       "Zurück zu Ihrem Konto",
		"factor.cancel":     "Abbrechen und abmelden",
		"factor.jsneeded":   "Ein Passkey braucht JavaScript. Schalten Sie es ein oder wählen Sie unten eine andere Möglichkeit.",
		"factor.toomany":    "Zu viele falsche Codes. Zu Ihrer Sicherheit versuchen Sie es in %[1]s erneut.",
		"factor.wrongcode":  "Dieser Code ist falsch oder abgelaufen.",
		"factor.resend":     "Eben wurde ein Code gesendet; verwenden Sie diesen oder fragen Sie in %[1]s erneut.",
		"factor.notsent":    "Wir konnten den Code gerade nicht senden. Versuchen Sie es gleich noch einmal oder wählen Sie eine andere Möglichkeit.",

		"wait.while":   "einer Weile",
		"wait.seconds": "%[1]d Sekunden",
		"wait.minute":  "einer Minute",
		"wait.minutes": "%[1]d Minuten",
		"wait.hours":   "%[1]d Stunden",

		"acct.title":            "Ihr Konto",
		"acct.head":             "Ihr Kassa-Konto",
		"acct.verify":           "Identität bestätigen",
		"acct.return":           "Wenn Sie fertig sind, <a href=\"%[1]s\" id=\"return\">kehren Sie zurück, wo Sie waren</a>.",
		"acct.passkeys":         "Passkeys",
		"acct.passkeyshint":     "Ein Passkey bestätigt Zahlungen und Anmeldungen mit Fingerabdruck, Gesicht oder PIN Ihres Geräts; sie verlassen es nie.",
		"acct.blocked":          "gesperrt",
		"acct.added":            "Hinzugefügt %[1]s · zuletzt verwendet %[2]s",
		"acct.passkeyname":      "Name dieses Passkeys",
		"acct.rename":           "Umbenennen",
		"acct.delete":           "Löschen",
		"acct.nopasskey":        "Noch kein Passkey.",
		"acct.addnojs":          "Einen Passkey hinzuzufügen braucht JavaScript.",
		"acct.addpasskey":       "Passkey hinzufügen",
		"acct.addhint":          "Bevor Sie einen Passkey hinzufügen oder löschen, bestätigen Sie, dass Sie es sind.",
		"acct.addverify":        "Bestätigen, um einen Passkey hinzuzufügen",
		"acct.app":              "Authenticator-App",
		"acct.appon":            "Ein. Noch %[1]d Wiederherstellungscodes.",
		"acct.appoff":           "Ausschalten",
		"acct.appoffhint":       "Bevor Sie sie ausschalten, bestätigen Sie, dass Sie es sind.",
		"acct.appnone":          "Aus. Eine Authenticator-App auf Ihrem Telefon kann Ihnen Anmeldecodes geben.",
		"acct.appsetup":         "Authenticator-App einrichten",
		"acct.devices":          "Geräte",
		"acct.thisdevice":       "dieses Gerät",
		"acct.devicemeta":       "Zuletzt verwendet %[1]s von %[2]s",
		"acct.remove":           "Entfernen",
		"acct.nodevice":         "Kein bekanntes Gerät.",
		"acct.sessions":         "Wo Sie angemeldet sind",
		"acct.thissession":      "diese Sitzung",
		"acct.sessionmeta":      "Angemeldet %[1]s von %[2]s · %[3]s",
		"acct.logout":           "Abmelden",
		"acct.logoutothers":     "Überall sonst abmelden",
		"acct.payments":         "Ihre Zahlungen",
		"acct.date":             "Datum",
		"acct.to":               "An",
		"acct.amount":           "Betrag",
		"acct.status":           "Status",
		"acct.nopayments":       "Noch keine Zahlungen mit diesem Konto.",
		"strength.password":     "mit Passwort",
		"strength.second":       "mit zweitem Faktor",
		"level.unverified":      "Nicht bestätigt",
		"level.verified":        "Bestätigt",
		"level.kyc":             "Identität bestätigt",
		"leveltext.unverified":  "Nicht bestätigt: Schließen Sie die Registrierung ab (E-Mail, Telefon und Passwort).",
		"leveltext.verified":    "Bestätigt: Ihre E-Mail-Adresse und Telefonnummer sind bestätigt und Sie haben ein Passwort.",
		"leveltext.kyc":         "Identität bestätigt: Sie haben Ihre Identitätsdaten angegeben (KYC).",
		"status.open":           "Nicht abgeschlossen",
		"status.paid":           "Bezahlt",
		"status.canceled":       "Storniert",
		"status.notpaid":        "Nicht bezahlt",
		"status.expired":        "Abgelaufen",
		"status.refunded":       "Erstattet",
		"status.partrefund":     "Teilweise erstattet",
		"status.other":          "In Bearbeitung",
		"done.passkey_added":    "Ihr Passkey wurde hinzugefügt.",
		"done.passkey_renamed":  "Ihr Passkey wurde umbenannt.",
		"done.passkey_deleted":  "Ihr Passkey wurde gelöscht. Ihr Gerät behält ihn, aber er öffnet dieses Konto nicht mehr.",
		"done.device_revoked":   "Das Gerät wurde entfernt; es muss sich für eine neue Anmeldung mit einem zweiten Faktor bestätigen.",
		"done.session_revoked":  "Die Sitzung wurde beendet.",
		"done.sessions_revoked": "Sie wurden überall sonst abgemeldet.",
		"done.totp_disabled":    "Ihre Authenticator-App wurde ausgeschaltet und ihre Wiederherstellungscodes gelöscht.",
		"done.kyc":              "Danke: Ihre Identität ist bestätigt.",

		"signup.title":         "Kassa-Konto erstellen",
		"signup.head":          "Ihr Kassa-Konto erstellen",
		"signup.steps":         "Schritt %[1]d von %[2]d: %[3]s",
		"signup.step.contact":  "E-Mail-Adresse und Telefon",
		"signup.step.email":    "E-Mail-Adresse bestätigen",
		"signup.step.phone":    "Telefonnummer bestätigen",
		"signup.step.password": "Passwort wählen",
		"signup.emailhint":     "Wir senden einen Code, um sie zu bestätigen.",
		"signup.phone":         "Mobilnummer",
		"signup.phonehint":     "Mit Ländervorwahl, etwa +43 660 1234567. Wir senden einen Code per SMS, um sie zu bestätigen.",
		"signup.continue":      "Weiter",
		"signup.haveaccount":   "Schon ein Konto?",
		"signup.sentemail":     "Wir haben einen 6-stelligen Code an <strong>%[1]s</strong> gesendet. Geben Sie ihn hier ein.",
		"signup.sentsms":       "Ihre E-Mail-Adresse ist bestätigt. Wir haben einen 6-stelligen Code per SMS an <strong>%[1]s</strong> gesendet. Geben Sie ihn hier ein.",
		"signup.code":          "Code",
		"signup.resend":        "Neuen Code senden",
		"signup.confirmed":     "Ihre E-Mail-Adresse und Telefonnummer sind bestätigt.",
		"signup.passwordhint":  "Mindestens 12 Zeichen; kein verbreitetes Passwort, nicht Ihre E-Mail-Adresse.",
		"signup.create":        "Konto erstellen",
		"signup.email_bad":     "Geben Sie eine E-Mail-Adresse wie name@example.com ein.",
		"signup.phone_bad":     "Geben Sie Ihre Mobilnummer mit Ländervorwahl ein, etwa +43 660 1234567.",
		"signup.toomany":       "Zu viele Registrierungen oder Codes auf einmal. Versuchen Sie es in %[1]s erneut.",
		"signup.notsent":       "Wir konnten den Code gerade nicht senden. Versuchen Sie es gleich noch einmal.",
		"signup.gone":          "Ihre Registrierung ist abgelaufen oder schon abgeschlossen. Beginnen Sie neu oder melden Sie sich an, wenn Sie schon ein Passwort gewählt haben.",
		"signup.resent":        "Wir haben einen neuen Code gesendet.",
		"signup.taken.title":   "Sie haben schon ein Konto",
		"signup.taken.text":    "Zu dieser E-Mail-Adresse gibt es schon ein Kassa-Konto. Melden Sie sich stattdessen damit an.",
		"signup.wrongcode":     "Dieser Code ist falsch oder abgelaufen. Prüfen Sie ihn oder fordern Sie einen neuen an.",
		"signup.notresent":     "Wir konnten gerade keinen neuen Code senden. Versuchen Sie es gleich noch einmal.",

		"internal.title": "Etwas ist schiefgegangen",
		"internal.text":  "Kassa konnte diese Anfrage nicht bearbeiten. Dabei wurde nichts geändert; bitte versuchen Sie es gleich noch einmal.",
		"refused.title":  "Anfrage abgelehnt",
		"refused.origin": "Dieses Formular kann nur von Kassas eigenen Seiten gesendet werden. Öffnen Sie die Seite erneut und versuchen Sie es noch einmal.",
		"refused.form":   "Diese Seite nimmt nur ihre eigenen Formulare an.",
		"refused.large":  "Das Formular war zu groß zum Lesen.",
		"refused.read":   "Das Formular konnte nicht gelesen werden. Gehen Sie zurück und versuchen Sie es noch einmal.",
		"refused.csrf":   "Dieses Formular ist abgelaufen oder kam nicht von dieser Seite (Cookies müssen eingeschaltet sein). Gehen Sie zurück, laden Sie die Seite neu und versuchen Sie es noch einmal.",
		"notfound.title": "Seite nicht gefunden",
		"notfound.text":  "Diese Seite gibt es nicht. Prüfen Sie die Adresse oder gehen Sie zu Ihrem Konto.",
		"json.origin":    "Diese Anfrage kann nur von Kassas eigenen Seiten kommen.",
		"json.form":      "Senden Sie ein Formular.",
		"json.read":      "Das Formular konnte nicht gelesen werden.",
		"json.csrf":      "Diese Seite ist abgelaufen. Laden Sie sie neu und versuchen Sie es noch einmal.",
		"json.internal":  "Etwas ist schiefgegangen. Versuchen Sie es gleich noch einmal.",
		"json.expired":   "Ihre Anmeldung ist abgelaufen. Laden Sie die Seite neu und melden Sie sich erneut an.",
		"json.verify":    "Bestätigen Sie zuerst, dass Sie es sind: Laden Sie die Seite neu und verwenden Sie „Bestätigen, um einen Passkey hinzuzufügen“.",
		"totp.wrongcode": "Dieser Code ist falsch oder abgelaufen. Geben Sie den Code ein, den Ihre App jetzt zeigt.",
		"recovery.head":  "Speichern Sie Ihre Wiederherstellungscodes",
	},
}

// T is the text of key in the page's language.
func (pg page) T(key string, args ...any) string { return texts.T(pg.Lang, key, args...) }

// HTML is T for a text that carries markup: its own (a link, <strong>)
// or its arguments' (a time.Time is written as When writes it). String
// arguments are escaped.
func (pg page) HTML(key string, args ...any) template.HTML {
	args = append([]any(nil), args...)
	for i, a := range args {
		switch a := a.(type) {
		case string:
			args[i] = template.HTMLEscapeString(a)
		case time.Time:
			args[i] = string(pg.When(a))
		}
	}
	return template.HTML(texts.T(pg.Lang, key, args...))
}

// When writes a time for the page: in the page's language, in UTC for a
// browser without script, and in the payer's own time zone otherwise
// (pay.js rewrites every <time class="local">). "never" for none.
func (pg page) When(t time.Time) template.HTML {
	if t.IsZero() {
		return template.HTML(template.HTMLEscapeString(pg.T("never")))
	}
	return template.HTML(`<time class="local" datetime="` + t.UTC().Format(time.RFC3339) + `">` +
		template.HTMLEscapeString(web.FormatTime(t, pg.Lang)) + `</time>`)
}

// Device names the browser and system of a User-Agent in the page's
// language.
func (pg page) Device(ua string) string { return deviceNameIn(pg.Lang, ua) }

// lang is the payer's language: the locale of the payment a flow returns
// to (its next page, when that is a step-up challenge), else the
// browser's Accept-Language, else English. It is worked out once a visit.
func (v *visit) lang() web.Lang {
	if v.langSet {
		return v.language
	}
	next := safeNext(v.r.URL.Query().Get("next"))
	if next == "" && v.r.PostForm != nil {
		next = safeNext(v.r.PostForm.Get("next"))
	}
	locale := ""
	if p := v.h.payingFor(v, next); p != nil {
		locale = p.locale
	}
	v.language, v.langSet = web.RequestLang(v.r, locale), true
	return v.language
}

// t is the text of key in the visit's language.
func (v *visit) t(key string, args ...any) string { return texts.T(v.lang(), key, args...) }

// payerTextsDE are payerTexts in German; TestPayerTexts keeps both maps
// to the same codes.
var payerTextsDE = map[string]string{
	identity.CodeLoginFailed:             "Die E-Mail-Adresse oder das Passwort ist falsch.",
	identity.CodeLoginLocked:             "Zu viele Versuche. Zu Ihrer Sicherheit versuchen Sie es später noch einmal.",
	identity.CodeCodeInvalid:             "Dieser Code ist falsch oder abgelaufen.",
	identity.CodeResendLimited:           "Eben wurde ein Code gesendet; verwenden Sie diesen oder fragen Sie in einer Weile erneut.",
	identity.CodeSessionInvalid:          "Ihre Anmeldung ist abgelaufen. Melden Sie sich erneut an.",
	identity.CodeSecondFactorRequired:    "Bestätigen Sie Ihre Anmeldung zuerst mit Ihrem zweiten Faktor.",
	identity.CodeFactorUnavailable:       "Diese Art der Bestätigung ist für Ihr Konto nicht eingerichtet. Wählen Sie eine andere.",
	identity.CodeSignUpInvalid:           "Diese Registrierung ist abgelaufen. Beginnen Sie neu.",
	identity.CodeSignUpStep:              "Dieser Schritt der Registrierung ist schon erledigt. Machen Sie mit dem nächsten weiter.",
	identity.CodeEmailTaken:              "Es gibt schon ein Konto mit dieser E-Mail-Adresse. Melden Sie sich stattdessen an.",
	identity.CodeLevelTooLow:             "Ihr Konto kann das noch nicht. Bestätigen Sie zuerst Ihre Identität.",
	identity.CodeKYCRejected:             "Mit diesen Angaben konnten wir Ihre Identität nicht bestätigen. Prüfen Sie sie und versuchen Sie es erneut.",
	identity.CodeNotifyFailed:            "Wir konnten die Nachricht gerade nicht senden. Versuchen Sie es gleich noch einmal.",
	"password_invalid":                   "Geben Sie Ihr Passwort als einfachen Text ein.",
	"password_too_short":                 "Wählen Sie ein längeres Passwort: mindestens " + strconv.Itoa(identity.PasswordLengthMin) + " Zeichen.",
	"password_too_long":                  "Wählen Sie ein kürzeres Passwort: höchstens " + strconv.Itoa(identity.PasswordLengthMax) + " Zeichen.",
	"password_common":                    "Dieses Passwort ist zu verbreitet. Wählen Sie ein anderes.",
	"password_personal":                  "Dieses Passwort ist Ihrer E-Mail-Adresse zu ähnlich. Wählen Sie ein anderes.",
	"email_invalid":                      "Geben Sie eine E-Mail-Adresse wie name@example.com ein.",
	"phone_invalid":                      "Geben Sie Ihre Mobilnummer mit Ländervorwahl ein, etwa +43 660 1234567.",
	"birth_date_invalid":                 "Geben Sie Ihr Geburtsdatum so ein, wie es in Ihrem Ausweis steht.",
	identity.CodeUnderage:                "Um Ihre Identität zu bestätigen, müssen Sie mindestens 18 Jahre alt sein.",
	"address.country_invalid":            "Wählen Sie das Land Ihrer Adresse.",
	"document_type_invalid":              "Wählen Sie die Art des Ausweises: Reisepass, Personalausweis oder Führerschein.",
	"document_country_invalid":           "Wählen Sie das Land, das Ihren Ausweis ausgestellt hat.",
	"document_number_invalid":            "Geben Sie die Ausweisnummer so ein, wie sie aufgedruckt ist: nur Buchstaben, Ziffern und Bindestriche.",
	passkey.CodeUserVerificationRequired: "Ihr Authenticator hat Sie nicht bestätigt (Fingerabdruck, Gesicht oder Geräte-PIN). Verwenden Sie einen Passkey, der das kann.",
	passkey.CodeUserPresenceRequired:     "Ihr Authenticator hat nicht bestätigt, dass Sie da waren. Versuchen Sie es erneut.",
	passkey.CodeAlreadyRegistered:        "Dieser Passkey ist schon hinzugefügt.",
	passkey.CodeCeremonyExpired:          "Das hat zu lange gedauert oder wurde schon verwendet. Versuchen Sie es erneut.",
	passkey.CodeCeremonyUnknown:          "Das hat zu lange gedauert oder wurde schon verwendet. Versuchen Sie es erneut.",
	passkey.CodeCeremonyMismatch:         "Das passte nicht zu dieser Seite. Versuchen Sie es erneut.",
	passkey.CodeResponseInvalid:          "Die Antwort Ihres Authenticators konnte nicht gelesen werden. Versuchen Sie es erneut.",
	passkey.CodeVerificationFailed:       "Ihr Passkey wurde nicht angenommen. Versuchen Sie es erneut oder verwenden Sie einen anderen Passkey.",
	passkey.CodeUnknownCredential:        "Dieser Passkey gehört nicht zu diesem Konto.",
	passkey.CodePossiblyCloned:           "Dieser Passkey wurde möglicherweise kopiert und ist daher gesperrt. Verwenden Sie einen anderen.",
	passkey.CodeLimitReached:             "Sie haben so viele Passkeys, wie ein Konto haben kann. Entfernen Sie zuerst einen.",
	passkey.CodeNoPasskeys:               "Dieses Konto hat noch keinen Passkey.",
	passkey.CodeNameInvalid:              "Geben Sie dem Passkey einen Namen mit bis zu 64 Zeichen.",
	"payment_expired":                    "Die Zahlung wurde nicht rechtzeitig abgeschlossen.",
	"payment_unexpected_state":           "Die Zahlung hat sich inzwischen geändert.",
	"payment_changed":                    "Die Zahlung hat sich inzwischen geändert.",
	"challenge_not_pending":              "Bei dieser Zahlung ist nichts mehr zu bestätigen.",
	payment.CodeChallengePayerMismatch:   "Diese Zahlung gehört zu einem anderen Konto.",
}

// payerTextOtherDE is payerTextOther in German.
const payerTextOtherDE = "Das hat nicht geklappt. Prüfen Sie Ihre Eingaben und versuchen Sie es erneut."
