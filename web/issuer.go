package web

import (
	"net/http"
	"net/url"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/payment"
)

// The test acquirer's issuer page.
//
// A card whose issuer asks for 3-D Secure (the test card 4000 0000 0000
// 3220) leaves the payment requires_action with a challenge. A real
// issuer shows its access control server's page to the cardholder; the
// built-in test acquirer has this one: GET /3ds/{challenge_id} shows the
// merchant, the amount and the masked card with Approve and Decline, and
// POST /3ds/{challenge_id} records the answer at the acquirer and returns
// into the payment at once — the authorization after the challenge, with
// its trans_status and eci — then sends the payer on as the payment page
// does (the shop's return_url when paid, the page's own answer when not).
//
// The challenge id is the page's only credential, as the link an issuer
// sends to its ACS is: random, single-use, bound to one authorization.
// Only the test acquirer has this page (Config.Issuer); test cards never
// reach a real issuer.

// Issuer is the test acquirer's side of a challenge (acquirer.Test).
type Issuer interface {
	Challenge(challengeID string) (acquirer.ChallengeInfo, bool)
	CompleteChallenge(challengeID string, passed bool) bool
}

var _ Issuer = (*acquirer.Test)(nil)

// IssuerURL is the path of the issuer page of p's 3-D Secure challenge.
func IssuerURL(p payment.Payment) string { return "/3ds/" + url.PathEscape(p.Card.ChallengeID) }

// bankChallenged reports whether p waits for the payer at the card's issuer.
func bankChallenged(p payment.Payment) bool {
	return p.Status == payment.StatusRequiresAction && p.Card.AcquirerState == payment.AcquirerChallenge
}

// challengeIDLengthMax bounds the challenge id taken from the path.
const challengeIDLengthMax = 64

func issuerGonePage(l Lang) page { return messagePage(l, "issuer.gone", "issuer.gonetext") }

// issuerChallenge finds the challenge of the request and its payment; it
// answers the request itself when there is none.
func (h *Handler) issuerChallenge(w http.ResponseWriter, r *http.Request) (acquirer.ChallengeInfo, payment.Payment, bool) {
	cid := r.PathValue("id")
	if h.cfg.Issuer == nil || cid == "" || len(cid) > challengeIDLengthMax {
		h.render(w, r, http.StatusNotFound, notFoundPage(RequestLang(r, "")))
		return acquirer.ChallengeInfo{}, payment.Payment{}, false
	}
	info, ok := h.cfg.Issuer.Challenge(cid)
	if !ok || info.Reference == "" {
		h.render(w, r, http.StatusNotFound, issuerGonePage(RequestLang(r, "")))
		return info, payment.Payment{}, false
	}
	p, err := h.cfg.Payments.Get(r.Context(), "", info.Reference)
	if kassa.ErrorKind(err) == kassa.ENotFound {
		h.render(w, r, http.StatusNotFound, issuerGonePage(RequestLang(r, "")))
		return info, p, false
	} else if err != nil {
		h.fail(w, r, err)
		return info, p, false
	}
	if !bankChallenged(p) || p.Card.ChallengeID != cid || !h.now().Before(p.ExpiresAt) {
		// The payment went on without this challenge (answered in another
		// tab, canceled, expired): show where it stands.
		h.showStatus(w, r, http.StatusOK, p)
		return info, p, false
	}
	return info, p, true
}

// showIssuer is GET /3ds/{id}: the issuer's question to the cardholder.
func (h *Handler) showIssuer(w http.ResponseWriter, r *http.Request) {
	info, p, ok := h.issuerChallenge(w, r)
	if !ok {
		return
	}
	pg, err := h.basePage(r, p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	pg.Template, pg.Title = "issuer", pg.T("issuer.title")
	pg.Action = "/3ds/" + url.PathEscape(info.ID)
	pg.Amount, pg.Currency = FormatMoney(info.Amount, info.Currency, pg.Lang), string(info.Currency)
	pg.Card = "•••• " + info.Last4
	h.render(w, r, http.StatusOK, pg)
}

// answerIssuer is POST /3ds/{id}: Approve or Decline, then back into the
// payment.
func (h *Handler) answerIssuer(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		h.render(w, r, http.StatusForbidden, messagePage(RequestLang(r, ""), "refused.title", "refused.bank"))
		return
	}
	if !isForm(r) {
		h.render(w, r, http.StatusUnsupportedMediaType, messagePage(RequestLang(r, ""), "refused.title", "refused.form"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, FormBytesMax)
	if err := r.ParseForm(); err != nil {
		h.render(w, r, http.StatusBadRequest, messagePage(RequestLang(r, ""), "refused.title", "refused.read"))
		return
	}
	var passed bool
	switch r.PostForm.Get("decision") {
	case "approve":
		passed = true
	case "decline":
	default:
		h.render(w, r, http.StatusUnprocessableEntity, messagePage(RequestLang(r, ""), "refused.title", "refused.choose"))
		return
	}
	info, p, ok := h.issuerChallenge(w, r)
	if !ok {
		return
	}
	// An answer given already (a double submit) stays as it was; the
	// confirmation below then goes on with that one.
	h.cfg.Issuer.CompleteChallenge(info.ID, passed)
	paid, err := h.cfg.Payments.Confirm(r.Context(), "", p.ID, payment.ConfirmRequest{ClientSecret: p.ClientSecret,
		Method: payment.MethodCard, ChallengeID: info.ID, ClientIP: clientIP(r), UserAgent: userAgent(r)})
	if err != nil {
		if e := kassa.AsError(err); e != nil && e.Kind == kassa.EConflict {
			// Settled meanwhile by the merchant's confirm or another tab.
			if fresh, gerr := h.cfg.Payments.Get(r.Context(), "", p.ID); gerr == nil {
				if fresh.Status == payment.StatusAuthorized || fresh.Status == payment.StatusCaptured {
					h.redirectPaid(w, r, fresh)
				} else {
					h.showStatus(w, r, http.StatusConflict, fresh)
				}
				return
			}
		}
		h.fail(w, r, err)
		return
	}
	h.log.InfoContext(r.Context(), "issuer page: 3-D Secure answered", "payment", p.ID, "passed", passed,
		"trans_status", paid.Card.TransStatus)
	h.confirmed(w, r, paid)
}
