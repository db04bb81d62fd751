package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/internal/browser"
)

// TestBrowserPayByCardThreeDS pays with the 3-D Secure test card
// 4000 0000 0000 3220 from the hosted page alone, at a phone's and a
// desktop's width: the page sends the payer to the test acquirer's issuer
// page (merchant, amount, masked card), Approve returns into the payment
// and on to the shop with status=captured, trans_status Y and ECI 05
// recorded. A reload while the bank waits shows the way to the bank, not
// a blank form; Decline fails the payment with N and 07.
func TestBrowserPayByCardThreeDS(t *testing.T) {
	f := newFixture(t)
	b := browser.New(t)
	f.allowAutomatedBrowser(t)
	shop := browser.NewShop(t)
	for _, width := range []int64{375, 1280} {
		func() {
			b.Run(emulation.SetDeviceMetricsOverride(width, 900, 1, width < 500))
			p := f.createPayment(t, map[string]any{"amount": 4321, "currency": "EUR", "description": "Deposit",
				"return_url": shop.URL + "/done?order=3220"})
			id := p["id"].(string)
			payThreeDS := func() {
				b.Run(
					chromedp.Navigate(redirectURL(t, p)),
					browser.Loaded("#card_number"),
					chromedp.SendKeys("#card_number", "4000 0000 0000 3220", chromedp.ByID),
					chromedp.SendKeys("#card_expiry", "12/30", chromedp.ByID),
					chromedp.SendKeys("#card_cvc", "123", chromedp.ByID),
					chromedp.Click("#submit-card", chromedp.ByID),
					browser.Loaded("#next"),
				)
			}
			payThreeDS()
			b.Snap(fmt.Sprintf("3ds-bank-%d", width))
			// A reload shows the same step, not an empty card form.
			var reloaded string
			b.Run(chromedp.Navigate(redirectURL(t, p)), browser.Loaded("#next"), chromedp.Text("main", &reloaded, chromedp.ByQuery))
			if !strings.Contains(reloaded, "3220") {
				t.Errorf("%d px: reloaded page says %q", width, reloaded)
			}
			var issuer string
			b.Run(
				chromedp.Click("#next", chromedp.ByID),
				browser.Loaded("#approve"),
				chromedp.Text("main", &issuer, chromedp.ByQuery),
			)
			b.Snap(fmt.Sprintf("3ds-issuer-%d", width))
			for _, want := range []string{f.merchant.Name, "€43.21", "•••• 3220"} {
				if !strings.Contains(issuer, want) {
					t.Errorf("%d px: issuer page lacks %q: %q", width, want, issuer)
				}
			}
			if strings.Contains(issuer, acquirer.CardThreeDS) {
				t.Error("the issuer page shows the whole card number")
			}
			var loc string
			b.Run(chromedp.Click("#approve", chromedp.ByID), browser.Loaded("#thanks"), chromedp.Location(&loc))
			if !strings.HasPrefix(loc, shop.URL+"/done?order=3220&") || shop.Got().Get("status") != "captured" {
				t.Fatalf("%d px: landed on %s, want the shop's return_url with status=captured", width, loc)
			}
			_, got := f.api(t, "GET", "/v1/payments/"+id, nil)
			pm, _ := got["payment_method"].(map[string]any)
			card, _ := pm["card"].(map[string]any)
			tds, _ := card["three_d_secure"].(map[string]any)
			if got["status"] != "captured" || tds["trans_status"] != "Y" || tds["eci"] != "05" {
				t.Errorf("%d px: payment after Approve = %v", width, got)
			}

			// Decline at the issuer: the payment fails, N and 07.
			p = f.createPayment(t, map[string]any{"amount": 1000, "currency": "EUR", "return_url": shop.URL + "/done"})
			id = p["id"].(string)
			payThreeDS()
			var text string
			b.Run(
				chromedp.Click("#next", chromedp.ByID),
				browser.Loaded("#decline"),
				chromedp.Click("#decline", chromedp.ByID),
				browser.Loaded(".status"),
				chromedp.Text(".status", &text, chromedp.ByQuery),
			)
			if !strings.Contains(text, "could not confirm") {
				t.Errorf("%d px: after Decline the page says %q", width, text)
			}
			_, got = f.api(t, "GET", "/v1/payments/"+id, nil)
			pm, _ = got["payment_method"].(map[string]any)
			card, _ = pm["card"].(map[string]any)
			tds, _ = card["three_d_secure"].(map[string]any)
			if got["status"] != "failed" || got["failure_code"] != "authentication_failed" || tds["trans_status"] != "N" || tds["eci"] != "07" {
				t.Errorf("%d px: payment after Decline = %v", width, got)
			}
		}()
	}
	if strings.Contains(f.logs.String(), acquirer.CardThreeDS) {
		t.Error("the logs hold the card number")
	}
}

// TestThreeDSThroughTheAPI is the merchant's own flow: its server
// confirms with the 3-D Secure card, sends the payer to next_action's
// redirect_url (the issuer page), the payer approves there and is sent
// to the shop, and the merchant's confirm with the challenge_id then
// answers with the captured payment. A challenge answered once stays
// answered, and a stranger's form from another site is refused.
func TestThreeDSThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	f.allowAutomatedBrowser(t)
	client := noRedirect(f)
	_, tok := f.api(t, "POST", "/v1/tokens", map[string]any{"card": map[string]any{"number": acquirer.CardThreeDS,
		"exp_month": 12, "exp_year": 2030, "cvc": "123"}})
	p := f.createPayment(t, map[string]any{"amount": 2500, "currency": "EUR", "return_url": "https://shop.example/done"})
	id := p["id"].(string)
	secret := p["client_secret"]
	status, got := f.api(t, "POST", "/v1/payments/"+id+"/confirm", map[string]any{"client_secret": secret,
		"payment_method": map[string]any{"type": "card", "token": tok["id"]}})
	na, _ := got["next_action"].(map[string]any)
	cid, _ := na["challenge_id"].(string)
	issuer, _ := na["redirect_url"].(string)
	if status != 200 || na["type"] != "three_d_secure" || cid == "" || issuer != f.ts.URL+"/3ds/"+cid {
		t.Fatalf("confirm = %d %v", status, got)
	}
	resp, err := client.Get(issuer)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "25.00") || !strings.Contains(string(body), "•••• 3220") {
		t.Fatalf("GET issuer page = %d %s", resp.StatusCode, body)
	}
	// Another site's form is refused and changes nothing.
	req, _ := http.NewRequest("POST", issuer, strings.NewReader("decision=approve"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err = client.Do(req); err != nil || resp.StatusCode != 403 {
		t.Fatalf("cross-site approve = %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = client.PostForm(issuer, url.Values{"decision": {"approve"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || !strings.HasPrefix(loc, "https://shop.example/done?payment_id="+id+"&status=captured") {
		t.Fatalf("approve = %d, Location %q", resp.StatusCode, loc)
	}
	status, got = f.api(t, "POST", "/v1/payments/"+id+"/confirm", map[string]any{"client_secret": secret, "challenge_id": cid})
	if status != 200 || got["status"] != "captured" {
		t.Fatalf("merchant's confirm with challenge_id = %d %v", status, got)
	}
	// The page is gone with the challenge; a second answer cannot undo it.
	resp, err = client.PostForm(issuer, url.Values{"decision": {"decline"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("decline after approve = %d", resp.StatusCode)
	}
	if _, got = f.api(t, "GET", "/v1/payments/"+id, nil); got["status"] != "captured" {
		t.Errorf("payment = %v", got)
	}
}
