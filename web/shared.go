package web

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
)

// What the payer account pages (package web/account) share with the
// payment page: the look, the script that measures how a page was used,
// the headers, and how a payer is sent back to the merchant.

// PageCSS is the hosted pages' stylesheet (pay.css), for a nonce'd
// <style> element.
func PageCSS() template.CSS { return pageCSS }

// PageScript is the hosted pages' script (pay.js), for a nonce'd <script>
// element at the end of the body. On a page without the voucher form it
// only fills in the hidden client_signals field of every form that has
// one.
func PageScript() template.JS { return pageJS }

// ClientSignals reads pay.js's report from the parsed form's
// client_signals field. Anything but a JSON object of risk.Signals within
// its limits gives zero Signals and says what was wrong with it (never
// the value, which comes from the payer's machine); "" when nothing was
// sent or it was read.
func ClientSignals(r *http.Request) (sig risk.Signals, problem string) {
	return parseSignals(r.PostForm.Get("client_signals"))
}

// SetPageHeaders sets the headers every hosted page carries besides its
// Content-Security-Policy: no framing, no referrer, no caching, no
// sniffing, no cross-origin opener or embedding.
func SetPageHeaders(hd http.Header) { setPageHeaders(hd) }

// ReturnURL is a payment's return_url with payment_id and status appended
// to its query, as the payment page sends the payer back; "" when the
// payment has none.
func ReturnURL(p payment.Payment) string {
	if p.ReturnURL == "" {
		return ""
	}
	return returnURLWith(p)
}

// ReturnOrigin is the origin of a return_url as a CSP source (for
// form-action: Chrome applies it to the redirect that answers a form),
// when it is plainly one.
func ReturnOrigin(returnURL string) (string, bool) { return returnOrigin(returnURL) }

// SameOrigin reports whether a POST may come from one of the hosted
// pages: browsers that send Sec-Fetch-Site must say same-origin (or
// none), and an Origin header other than "null" must be this server's.
func SameOrigin(r *http.Request) bool { return sameOrigin(r) }

// IsForm reports whether the request body is a urlencoded form.
func IsForm(r *http.Request) bool { return isForm(r) }

// ClientIP is the address a request came from (Kassa takes no
// forwarding headers on its pages: it terminates TLS itself).
func ClientIP(r *http.Request) string { return clientIP(r) }

// UserAgent is the request's User-Agent as risk and identity take it:
// valid UTF-8 of at most 512 bytes.
func UserAgent(r *http.Request) string { return userAgent(r) }

// ChallengeURL is the path of a payment's step-up challenge page (package
// web/account), where a payer passes the second factor Kassa's risk
// decision asked for.
func ChallengeURL(p payment.Payment) string {
	return "/challenge/" + url.PathEscape(p.ID) + "?client_secret=" + url.QueryEscape(p.ClientSecret)
}

// Payer is the payer's Kassa account as the hosted pages recognise it
// from the browser's cookies.
type Payer struct {
	CustomerID string // cus_...; "" when nobody is logged in
	// DeviceID is the known device (dev_...) identity recognised by its
	// device cookie; "" when none.
	DeviceID string
	// CredentialsChangedAt is when their password, email or phone last
	// changed (identity.Customer; zero: never), for risk.
	CredentialsChangedAt time.Time
	// CustomerCreatedAt is when their account was created, for risk.
	CustomerCreatedAt time.Time
}

// Payers recognises the logged-in payer of a request (web/account's
// Handler does). It reads only the request's headers, so the payment page
// runs it while it loads the payment. An error is logged and the payer
// taken as anonymous.
type Payers interface {
	Payer(ctx context.Context, r *http.Request) (Payer, error)
}
