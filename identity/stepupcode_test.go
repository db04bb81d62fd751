package identity_test

import (
	"strings"
	"testing"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
)

// TestSendStepUpCode: a logged-in payer's step-up code leads with what it
// approves and never names the payment; what it approves must be
// printable text of a bounded length; the code approves its payment.
func TestSendStepUpCode(t *testing.T) {
	e := newEnv(t)
	res := e.signUp(t, "stefan@example.com", "+4915100000810")
	for _, bad := range []string{"", "43.21 € to\nEvil", strings.Repeat("x", 201)} {
		err := e.svc.SendStepUpCode(e.ctx, res.Customer.ID, "pay_S", bad, identity.ChannelEmail)
		wantErr(t, "approves "+bad, err, kassa.EInvalid, "approves_invalid")
	}
	if err := e.svc.SendStepUpCode(e.ctx, res.Customer.ID, "pay_S", "€43.21 to Demo Merchant", identity.ChannelSMS); err != nil {
		t.Fatal(err)
	}
	m := e.messages(t, "+4915100000810")[0]
	code := e.lastCode(t, "+4915100000810")
	if !strings.HasPrefix(m.Body, code+" approves €43.21 to Demo Merchant.") || strings.Contains(m.Body, "pay_S") {
		t.Errorf("message %q", m.Body)
	}
	wantErr(t, "the code for another payment", e.svc.VerifyCode(e.ctx, res.Customer.ID, identity.PurposeStepUp, "pay_T", code),
		kassa.EInvalid, identity.CodeCodeInvalid)
	if err := e.svc.VerifyCode(e.ctx, res.Customer.ID, identity.PurposeStepUp, "pay_S", code); err != nil {
		t.Errorf("the code for its payment: %v", err)
	}
}
