package account

import (
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/web"
)

// A self-exclusion register's refusal at login or at the identity step
// of sign-up (identity/exclusion.go) reads the same on every page: which
// register, until when, and that nothing was kept.

// registerNames are the registers as payers know them, in any language.
var registerNames = map[string]string{
	"spelpaus": "Spelpaus",
	"rofus":    "ROFUS",
	"gamstop":  "GAMSTOP",
	"oasis":    "OASIS",
	"cruks":    "CRUKS",
}

// exclusionText is the payer's text for a register's refusal; ok is
// false for any other error.
func exclusionText(v *visit, e *kassa.Error) (string, bool) {
	if e == nil || (e.Code != identity.CodeSelfExcluded && e.Code != identity.CodeExclusionCheckUnavailable) {
		return "", false
	}
	reg, _ := e.Details["register"].(string)
	name := registerNames[reg]
	if name == "" {
		name = v.t("exclusion.register")
	}
	if e.Code == identity.CodeExclusionCheckUnavailable {
		return v.t("exclusion.unavailable", name), true
	}
	s, _ := e.Details["lifts_at"].(string)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return v.t("exclusion.until", name, web.FormatDate(t, v.lang())), true
	}
	return v.t("exclusion.refused", name), true
}

// exclusionRefusal reports whether e is a register's refusal.
func exclusionRefusal(e *kassa.Error) bool {
	return e != nil && (e.Code == identity.CodeSelfExcluded || e.Code == identity.CodeExclusionCheckUnavailable)
}
