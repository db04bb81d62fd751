package web_test

import (
	"strings"
	"testing"

	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/web"
)

// TestWalletMessages: every refusal of the wallet form — and a code it
// does not know yet — reads in the payer's words in English and German,
// with no code, id or API term (the pages that reach them are driven by
// web/account's TestWalletPagesWording).
func TestWalletMessages(t *testing.T) {
	for _, l := range web.Langs {
		seen := map[string]bool{}
		for _, code := range []string{payment.CodeWalletShort, payment.CodeWalletLoginRequired, payment.CodeWalletPayerMismatch,
			"wallet_something_new"} {
			got := web.WalletMessage(l, code)
			if got == "" || seen[got] && code != "wallet_something_new" {
				t.Errorf("%s %s: %q (empty, or the same as another code's)", l, code, got)
			}
			seen[got] = true
			if strings.Contains(got, "Kassa balance") && l == web.LangDE {
				t.Errorf("%s %s: English %q", l, code, got)
			}
			checkWording(t, "wallet "+code, l, got)
		}
	}
}
