package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/web"
)

// TestComplianceWording: every refusal of the compliance gate reads as
// the catalogue's text in the payer's language, with the date it lifts,
// and never as a problem code.
func TestComplianceWording(t *testing.T) {
	lifts := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	at := map[string]any{"lifts_at": lifts.Format(time.RFC3339)}
	tests := []struct {
		e      *kassa.Error
		en, de string
	}{
		{&kassa.Error{Code: compliance.CodeDepositLimitReached, Details: at}, "from 1 April 2026", "ab 1. April 2026"},
		{&kassa.Error{Code: compliance.CodeDepositLimitReached}, "over your deposit limit", "Einzahlungslimit"},
		{&kassa.Error{Code: compliance.CodeSelfExcluded, Details: at}, "excluded yourself from gambling deposits until 1 April 2026", "bis 1. April 2026"},
		{&kassa.Error{Code: compliance.CodeSelfExcluded, Details: map[string]any{"lifts_at": at["lifts_at"], "cool_off": true}}, "taking a break", "Pause"},
		{&kassa.Error{Code: compliance.CodeSelfExcluded}, "indefinitely", "unbefristet"},
		{&kassa.Error{Code: compliance.CodeSelfExcluded, Details: map[string]any{"register": "spelpaus"}}, "self-exclusion register", "Sperrdatei"},
		{&kassa.Error{Code: compliance.CodeRegisterUnavailable}, "try again in a few minutes", "in einigen Minuten"},
		{&kassa.Error{Code: compliance.CodeKYCRequired}, "verified identity", "bestätigter Identität"},
		{&kassa.Error{Code: compliance.CodeAgeRestricted}, "older", "zu jung"},
		{&kassa.Error{Code: compliance.CodeMethodNotAllowed}, "not allowed for gambling", "nicht erlaubt"},
	}
	for _, tt := range tests {
		for l, want := range map[web.Lang]string{web.LangEN: tt.en, web.LangDE: tt.de} {
			got, ok := web.ComplianceMessage(l, tt.e)
			if !ok || !strings.Contains(got, want) {
				t.Errorf("%s %s: %q, want it to say %q", l, tt.e.Code, got, want)
			}
			if strings.Contains(got, tt.e.Code) || strings.Contains(got, "_") {
				t.Errorf("%s %s: %q names a code", l, tt.e.Code, got)
			}
			if !strings.Contains(got, map[web.Lang]string{web.LangEN: "Nothing was charged", web.LangDE: "nichts abgebucht"}[l]) {
				t.Errorf("%s %s: %q does not say whether money moved", l, tt.e.Code, got)
			}
		}
	}
	if _, ok := web.ComplianceMessage(web.LangEN, &kassa.Error{Code: "pin_invalid"}); ok {
		t.Error("a PIN error was taken for a compliance refusal")
	}
}
