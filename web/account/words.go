package account

import (
	"strings"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/payment"
)

// Words of the account page for what the services keep as codes.

// statusWords name a payment's state as its payer knows it ("Paid", not
// "captured").
var statusWords = map[payment.Status]string{
	payment.StatusRequiresAction: "Not finished",
	payment.StatusAuthorized:     "Paid",
	payment.StatusCaptured:       "Paid",
	payment.StatusCanceled:       "Canceled",
	payment.StatusFailed:         "Not paid",
	payment.StatusExpired:        "Expired",
}

func statusWord(p payment.Payment) string {
	if p.AmountRefunded > 0 && (p.Status == payment.StatusCaptured || p.Status == payment.StatusAuthorized) {
		if p.AmountRefunded >= p.AmountCaptured {
			return "Refunded"
		}
		return "Partly refunded"
	}
	if w, ok := statusWords[p.Status]; ok {
		return w
	}
	return "In progress"
}

// levelWords name a customer's level on its badge.
var levelWords = map[identity.Level]string{
	identity.LevelUnverified:  "Not verified",
	identity.LevelVerified:    "Verified",
	identity.LevelKYCVerified: "Identity verified",
}

// sessionStrength says how a session logged in, without "aal1/aal2".
func sessionStrength(s identity.Session) string {
	if s.AAL >= identity.AAL2 {
		return "with a second factor"
	}
	return "with a password"
}

// deviceName says which browser on which system a User-Agent is, as a
// payer recognises it ("Chrome on Linux"); "A browser" when it tells
// nothing known. The order matters: Edge and Opera also say Chrome,
// Chrome also says Safari, Android also says Linux.
func deviceName(ua string) string {
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
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return "A browser on " + system
	}
	return "A browser"
}
