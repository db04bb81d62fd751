package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/vault"
)

// Cards tokenizes the card a payer types into the hosted page.
type Cards interface {
	Tokenize(ctx context.Context, merchantID string, in vault.CardInput) (vault.Token, error)
}

var _ Cards = (*vault.Service)(nil)

// Card field names of the form, and the vault's params they answer to.
var cardFields = map[string]string{
	"card.number": "card_number", "card.exp_month": "card_expiry", "card.exp_year": "card_expiry",
	"card.cvc": "card_cvc", "card.name": "card_name",
}

// cardInputLengthMax bounds each card field of the form.
const cardInputLengthMax = 64

// cardMessages name the catalogue's text a payer reads for a card's
// decline, by the payment's failure code.
var cardMessages = map[string]string{
	"generic_decline":              "decline.generic",
	"insufficient_funds":           "decline.funds",
	"stolen_card":                  "decline.stolen",
	"expired_card":                 "decline.expired",
	"incorrect_cvc":                "decline.cvc",
	"authentication_failed":        "decline.auth",
	payment.FailureProcessingError: "decline.process",
}

func cardMessage(l Lang, code string) string {
	if key, ok := cardMessages[code]; ok {
		return l.T(key)
	}
	return l.T("decline.fallback")
}

// cardErrors name the catalogue's text a payer reads for a card the vault
// or the payment refused, by the error's code; a code not here gets
// "card.other", never the API's text.
var cardErrors = map[string]string{
	"card_number_required":   "card.num_missing",
	"card_number_invalid":    "card.num_bad",
	"card_number_incorrect":  "card.num_bad",
	"card_brand_unsupported": "card.brand",
	"card_cvc_invalid":       "card.cvc_bad",
	"card_name_invalid":      "card.name_bad",
	"card_exp_month_invalid": "card.exp_bad",
	"card_exp_year_invalid":  "card.exp_far",
	"card_expired":           "card.exp_past",
	"payment_processing":     "card.processing",
	"payment_changed":        "card.other",
}

func cardError(l Lang, e *kassa.Error) string {
	if msg, ok := complianceMessage(l, e); ok {
		return msg
	}
	if key, ok := cardErrors[e.Code]; ok {
		return l.T(key)
	}
	return l.T("card.other")
}

func init() {
	methodPages[payment.MethodCard] = methodPage{confirm: (*Handler).confirmCard, waiting: cardWaitingPage,
		failed: func(l Lang, p payment.Payment) string {
			return l.T("failed.card", cardMessage(l, p.FailureCode))
		},
		declined: func(l Lang, pg *page, p payment.Payment) {
			pg.CardFormError = l.T("card.declined_retry", cardMessage(l, p.FailureCode))
		}}
}

// cardWaitingPage is the page of a card payment whose authorization's
// outcome is not known yet.
func cardWaitingPage(l Lang, p payment.Payment) page {
	pg := messagePage(l, "waiting.title", "waiting.title")
	pg.Text = l.T("waiting.text", p.Card.Last4)
	return pg
}

// confirmCard is POST /pay/{id} with method=card. Kassa's own page takes
// the card and tokenizes it here, server-side, in the vault, then
// confirms the payment with the token: the card number goes from the
// payer's browser to Kassa only — the merchant's server never sees it
// (the hosted page has no publishable key to call POST /v1/tokens with:
// keys are stored hashed). The number is never written back into the
// page, the logs or an error; at most its last four digits.
func (h *Handler) confirmCard(w http.ResponseWriter, r *http.Request, p payment.Payment, payer func() Payer) {
	if h.cfg.Cards == nil {
		h.render(w, r, http.StatusUnprocessableEntity, messagePage(RequestLang(r, ""), "refused.title", "refused.cards"))
		return
	}
	l := h.lang(r, p)
	get := func(name string) string { return strings.TrimSpace(r.PostForm.Get(name)) }
	errs := map[string]string{}
	for _, f := range []string{"card_number", "card_expiry", "card_cvc", "card_name"} {
		if len(get(f)) > cardInputLengthMax {
			errs[f] = l.T("card.too_long")
		}
	}
	// What the payer typed, but the card number and the CVC, goes back
	// into the form with its errors.
	kept := map[string]string{}
	for _, f := range []string{"card_expiry", "card_name"} {
		if v := get(f); len(v) <= cardInputLengthMax {
			kept[f] = v
		}
	}
	number := strings.NewReplacer(" ", "", "-", "").Replace(get("card_number"))
	month, year, ok := parseExpiry(get("card_expiry"))
	if number == "" && errs["card_number"] == "" {
		errs["card_number"] = l.T("card.num_missing")
	}
	if !ok && errs["card_expiry"] == "" {
		errs["card_expiry"] = l.T("card.exp_bad")
	}
	in := vault.CardInput{Number: number, ExpMonth: month, ExpYear: year, CVC: get("card_cvc"), Name: get("card_name")}
	// Every field's mistake at once, not only the first the vault meets.
	for _, err := range vault.CheckCard(in, h.now()) {
		if e := kassa.AsError(err); e != nil {
			if field, ok := cardFields[e.Param]; ok && errs[field] == "" {
				errs[field] = cardError(l, e)
			}
		}
	}
	if len(errs) > 0 {
		h.rerenderCard(w, r, p, http.StatusUnprocessableEntity, errs, "", kept)
		return
	}
	tok, err := h.cfg.Cards.Tokenize(r.Context(), p.MerchantID, in)
	number, in = "", vault.CardInput{}
	if err != nil {
		e := kassa.AsError(err)
		if e == nil || (e.Kind != kassa.EInvalid && e.Kind != kassa.EUnprocessable) {
			h.fail(w, r, err)
			return
		}
		field, ok := cardFields[e.Param]
		if !ok {
			h.rerenderCard(w, r, p, http.StatusUnprocessableEntity, nil, cardError(l, e), kept)
			return
		}
		h.rerenderCard(w, r, p, http.StatusUnprocessableEntity, map[string]string{field: cardError(l, e)}, "", kept)
		return
	}
	who := payer()
	paid, err := h.cfg.Payments.Confirm(r.Context(), "", p.ID, payment.ConfirmRequest{
		ClientSecret: p.ClientSecret, ClientIP: clientIP(r), Method: payment.MethodCard, Token: tok.ID,
		UserAgent: userAgent(r), Signals: h.clientSignals(r, p.ID), PayerID: who.CustomerID, DeviceID: who.DeviceID,
		CredentialsChangedAt: who.CredentialsChangedAt, CustomerCreatedAt: who.CustomerCreatedAt})
	if err != nil {
		if e := kassa.AsError(err); e != nil && e.Kind != kassa.EInternal {
			h.log.InfoContext(r.Context(), "payment page: card refused", "payment", p.ID, "code", e.Code)
			h.rerenderCard(w, r, p, http.StatusUnprocessableEntity, nil, cardError(l, e), kept)
			return
		}
		h.fail(w, r, err)
		return
	}
	if declinedOpen(paid) {
		// Another try is open: the form again, the decline above it, the
		// expiry and name as typed.
		h.log.InfoContext(r.Context(), "payment page: card declined", "payment", p.ID, "code", paid.FailureCode,
			"attempts", paid.Attempts)
		h.rerenderCard(w, r, paid, http.StatusPaymentRequired, nil, "", kept)
		return
	}
	h.confirmed(w, r, paid)
}

// parseExpiry reads MM/YY or MM/YYYY.
func parseExpiry(s string) (month, year int, ok bool) {
	m, y, found := strings.Cut(strings.ReplaceAll(s, " ", ""), "/")
	if !found {
		return 0, 0, false
	}
	month, err1 := strconv.Atoi(m)
	year, err2 := strconv.Atoi(y)
	if err1 != nil || err2 != nil || len(m) > 2 || (len(y) != 2 && len(y) != 4) {
		return 0, 0, false
	}
	if len(y) == 2 {
		year += 2000
	}
	return month, year, true
}

// rerenderCard shows the form again with the card's errors and the
// fields kept (expiry and name): the card number and the CVC are never
// filled back in.
func (h *Handler) rerenderCard(w http.ResponseWriter, r *http.Request, p payment.Payment, status int, errs map[string]string, formErr string, kept map[string]string) {
	pg, err := h.formPage(r, p, pinsVisibleMin, nil, "")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if formErr != "" || len(errs) > 0 {
		pg.CardFormError = formErr // this try's errors, not the last decline's
	}
	pg.CardErrors, pg.CardValues = errs, kept
	h.render(w, r, status, pg)
}

// cardField is one field of the card form. Value is what the payer typed
// into the expiry or name field; the number and the CVC never have one.
type cardField struct {
	Name, Label, Auto, Mode string
	Max                     int
	Error                   string
	Value                   string
}

func newCardField(name, label, auto, mode string, maxLen int, errMsg, value string) cardField {
	if name == "card_number" || name == "card_cvc" {
		value = ""
	}
	return cardField{Name: name, Label: label, Auto: auto, Mode: mode, Max: maxLen, Error: errMsg, Value: value}
}
