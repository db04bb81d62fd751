package account

import (
	"strings"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/web"
)

// Words of the account page for what the services keep as codes.

// statusWords name a payment's state as its payer knows it ("Paid", not
// "captured"): keys of texts.
var statusWords = map[payment.Status]string{
	payment.StatusRequiresAction: "status.open",
	payment.StatusAuthorized:     "status.paid",
	payment.StatusCaptured:       "status.paid",
	payment.StatusCanceled:       "status.canceled",
	payment.StatusFailed:         "status.notpaid",
	payment.StatusExpired:        "status.expired",
}

// statusWord is the key of texts that names p's state.
func statusWord(p payment.Payment) string {
	if p.AmountRefunded > 0 && (p.Status == payment.StatusCaptured || p.Status == payment.StatusAuthorized) {
		if p.AmountRefunded >= p.AmountCaptured {
			return "status.refunded"
		}
		return "status.partrefund"
	}
	if w, ok := statusWords[p.Status]; ok {
		return w
	}
	return "status.other"
}

// levelWords name a customer's level on its badge (keys of texts);
// levelText explains it.
var (
	levelWords = map[identity.Level]string{
		identity.LevelUnverified:  "level.unverified",
		identity.LevelVerified:    "level.verified",
		identity.LevelKYCVerified: "level.kyc",
	}
	levelText = map[identity.Level]string{
		identity.LevelUnverified:  "leveltext.unverified",
		identity.LevelVerified:    "leveltext.verified",
		identity.LevelKYCVerified: "leveltext.kyc",
	}
)

// sessionStrength says how a session logged in, without "aal1/aal2" (a
// key of texts).
func sessionStrength(s identity.Session) string {
	if s.AAL >= identity.AAL2 {
		return "strength.second"
	}
	return "strength.password"
}

// deviceName is deviceNameIn English.
func deviceName(ua string) string { return deviceNameIn(web.LangEN, ua) }

// deviceNameIn says which browser on which system a User-Agent is, as a
// payer of language l recognises it ("Chrome on Linux", "Chrome auf
// Linux"); "A browser" when it tells nothing known. The order matters:
// Edge and Opera also say Chrome, Chrome also says Safari, Android also
// says Linux.
func deviceNameIn(l web.Lang, ua string) string {
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
		{"CriOS/", "Chrome"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, s := range []struct{ token, name string }{
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"CrOS", "ChromeOS"},
		{"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Macintosh", "macOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, s.token) {
			system = s.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return texts.T(l, "device.on", browser, system)
	case browser != "":
		return browser
	case system != "":
		return texts.T(l, "device.browseron", system)
	}
	return texts.T(l, "device.browser")
}
