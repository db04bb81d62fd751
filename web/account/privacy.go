package account

import (
	"errors"
	"net/http"
	"net/url"
)

// The privacy notice. Sign-up and identity verification collect personal
// data (email, phone, name, birth date, address, an identity document),
// so both link to a notice saying what is kept, why, for how long and
// how it is erased: the operator's own (Config.PrivacyURL), or Kassa's
// built-in one at GET /privacy, in the payer's language.

// privacyPath is the built-in notice's path.
const privacyPath = "/privacy"

// checkPrivacyURL accepts "" (the built-in notice) or an absolute https
// URL (http only for localhost), so that nothing else reaches a link.
func checkPrivacyURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil ||
		(u.Scheme != "https" && !(u.Scheme == "http" && u.Hostname() == "localhost")) {
		return errors.New("account: Config.PrivacyURL must be an https URL")
	}
	return nil
}

// privacyURL is where the pages' privacy links point.
func (h *Handler) privacyURL() string {
	if h.cfg.PrivacyURL != "" {
		return h.cfg.PrivacyURL
	}
	return privacyPath
}

// privacySections are the built-in notice's paragraphs (texts.go keys).
var privacySections = []string{"privacy.what", "privacy.why", "privacy.keep", "privacy.erase", "privacy.who"}

// showPrivacy is GET /privacy: the built-in notice.
func (h *Handler) showPrivacy(v *visit) {
	h.render(v, http.StatusOK, page{Template: "privacy", Title: v.t("privacy.title"), Data: privacySections,
		Next: safeNext(v.r.URL.Query().Get("next"))})
}
