package payment

import (
	"errors"
	"testing"

	"github.com/kassa/kassa"
)

// TestReturnURL: the payer is sent to return_url after paying, with the
// payment's id and status in the query. Plain http would hand that to
// anyone on the payer's network, so it is allowed only for a merchant
// developing on its own machine (localhost, loopback addresses).
func TestReturnURL(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"https://shop.example/done?order=1", true},
		{"https://shop.example:8443/done", true},
		{"http://localhost:3000/done", true},
		{"http://LOCALHOST/done", true},
		{"http://127.0.0.1:8080/done", true},
		{"http://127.9.9.9/done", true},
		{"http://[::1]:8080/done", true},
		{"http://shop.example/done", false},
		{"http://10.0.0.5/done", false},
		{"http://localhost.shop.example/done", false},
		{"http://127.0.0.1.nip.io/done", false},
		{"http://[::ffff:8.8.8.8]/done", false},
		{"javascript:alert(1)", false},
		{"ftp://shop.example/done", false},
		{"https:///done", false},
	} {
		_, err := validateCreate(CreateRequest{Amount: 1, Currency: "EUR", CaptureMethod: CaptureAutomatic, ReturnURL: tt.url})
		if tt.ok && err != nil {
			t.Errorf("return_url %q refused: %v", tt.url, err)
		}
		var kerr *kassa.Error
		if !tt.ok && (!errors.As(err, &kerr) || kerr.Code != "return_url_invalid") {
			t.Errorf("return_url %q = %v, want return_url_invalid", tt.url, err)
		}
	}
}
