package httpapi

import (
	"net/http"
	"time"

	"github.com/kassa/kassa/vault"
)

// Body limits of the vault routes: a card is a few short fields.
const (
	tokenBodyBytesMax = 2 << 10
	cardBodyBytesMax  = 1 << 10
)

// registerTokens adds /v1/tokens and /v1/cards when Config.Vault is set.
// Card numbers come in only through POST /v1/tokens and never go out: no
// route answers with more than the brand, last four digits, expiry and
// fingerprint.
func (s *Server) registerTokens() {
	if s.cfg.Vault == nil {
		return
	}
	s.HandleLimit("POST", "/v1/tokens", AuthPublishable, tokenBodyBytesMax, s.createToken)
	s.Handle("GET", "/v1/tokens/{id}", AuthSecret, s.getToken)
	s.HandleLimit("POST", "/v1/cards", AuthSecret, cardBodyBytesMax, s.createCard)
	s.Handle("GET", "/v1/cards/{id}", AuthSecret, s.getCard)
}

// cardDetailsJSON is what the API shows of a card.
type cardDetailsJSON struct {
	Brand       string `json:"brand"`
	Last4       string `json:"last4"`
	ExpMonth    int    `json:"exp_month"`
	ExpYear     int    `json:"exp_year"`
	Fingerprint string `json:"fingerprint"`
}

func toCardDetailsJSON(d vault.CardDetails) cardDetailsJSON {
	return cardDetailsJSON{Brand: string(d.Brand), Last4: d.Last4, ExpMonth: d.ExpMonth, ExpYear: d.ExpYear, Fingerprint: d.Fingerprint}
}

type tokenJSON struct {
	ID      string          `json:"id"`
	Object  string          `json:"object"`
	Card    cardDetailsJSON `json:"card"`
	Used    bool            `json:"used"`
	Created string          `json:"created"`
}

func toTokenJSON(t vault.Token) tokenJSON {
	return tokenJSON{ID: t.ID, Object: "token", Card: toCardDetailsJSON(t.Card), Used: t.Used,
		Created: t.Created.UTC().Format(time.RFC3339)}
}

type cardJSON struct {
	ID       string          `json:"id"`
	Object   string          `json:"object"`
	Customer *string         `json:"customer"`
	Card     cardDetailsJSON `json:"card"`
	Created  string          `json:"created"`
}

func toCardJSON(c vault.Card) cardJSON {
	j := cardJSON{ID: c.ID, Object: "card", Card: toCardDetailsJSON(c.Details), Created: c.Created.UTC().Format(time.RFC3339)}
	if c.CustomerID != "" {
		j.Customer = &c.CustomerID
	}
	return j
}

type createTokenRequest struct {
	Card struct {
		Number   string `json:"number"`
		ExpMonth int    `json:"exp_month"`
		ExpYear  int    `json:"exp_year"`
		CVC      string `json:"cvc"`
		Name     string `json:"name"`
	} `json:"card"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	var req createTokenRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	c := req.Card
	t, err := s.cfg.Vault.Tokenize(r.Context(), p.Merchant.ID, vault.CardInput{
		Number: c.Number, ExpMonth: c.ExpMonth, ExpYear: c.ExpYear, CVC: c.CVC, Name: c.Name})
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusCreated, toTokenJSON(t))
}

func (s *Server) getToken(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	t, err := s.cfg.Vault.Token(r.Context(), p.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, toTokenJSON(t))
}

type createCardRequest struct {
	Token    string `json:"token"`
	Customer string `json:"customer"`
}

func (s *Server) createCard(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	var req createCardRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	c, err := s.cfg.Vault.Attach(r.Context(), p.Merchant.ID, req.Token, req.Customer)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusCreated, toCardJSON(c))
}

func (s *Server) getCard(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	c, err := s.cfg.Vault.Card(r.Context(), p.Merchant.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, toCardJSON(c))
}
