package httpapi

import (
	"net/http"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
)

// registerSignUps serves payer sign-up as JSON, the same steps as the
// hosted /signup pages, for merchants who build their own screens (an
// app): the publishable key identifies the integration, the sign-up token
// the sign-up. KYC and second factors are on the hosted account pages.
func (s *Server) registerSignUps() {
	if s.cfg.Identity == nil {
		return
	}
	s.Handle("POST", "/v1/signups", AuthPublishable, s.startSignUp)
	s.Handle("POST", "/v1/signups/verify", AuthPublishable, s.verifySignUp)
	s.Handle("POST", "/v1/signups/resend", AuthPublishable, s.resendSignUp)
	s.Handle("POST", "/v1/signups/password", AuthPublishable, s.finishSignUp)
}

// SignUpJSON is a sign-up in progress.
type SignUpJSON struct {
	Object    string `json:"object"`
	Token     string `json:"token,omitempty"` // only when it starts
	Step      string `json:"step"`
	Email     string `json:"email"`
	Phone     string `json:"phone"` // masked
	ExpiresAt string `json:"expires_at"`
}

func signUpJSON(su identity.SignUp) SignUpJSON {
	return SignUpJSON{Object: "signup", Token: su.Token, Step: string(su.Step), Email: su.Email, Phone: su.Phone,
		ExpiresAt: su.ExpiresAt.UTC().Format(time.RFC3339)}
}

func (s *Server) identityClient(r *http.Request) identity.Client {
	return identity.Client{IP: clientIP(r), UserAgent: r.UserAgent()}
}

func (s *Server) startSignUp(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Email string `json:"email"`
		Phone string `json:"phone"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	su, err := s.cfg.Identity.SignUp(r.Context(), identity.SignUpRequest{Email: req.Email, Phone: req.Phone, Client: s.identityClient(r)})
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusCreated, signUpJSON(su))
}

type signUpStepRequest struct {
	Token    string `json:"token"`
	Code     string `json:"code"`
	Password string `json:"password"`
}

func decodeSignUpStep(r *http.Request) (signUpStepRequest, error) {
	var req signUpStepRequest
	if err := DecodeJSON(r, &req); err != nil {
		return req, err
	}
	if req.Token == "" {
		return req, kassa.Invalid("token", "token_required", "send the token POST /v1/signups answered with")
	}
	return req, nil
}

func (s *Server) verifySignUp(w http.ResponseWriter, r *http.Request) error {
	req, err := decodeSignUpStep(r)
	if err != nil {
		return err
	}
	su, err := s.cfg.Identity.SignUpConfirm(r.Context(), req.Token, req.Code)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, signUpJSON(su))
}

func (s *Server) resendSignUp(w http.ResponseWriter, r *http.Request) error {
	req, err := decodeSignUpStep(r)
	if err != nil {
		return err
	}
	if err := s.cfg.Identity.SignUpResend(r.Context(), req.Token); err != nil {
		return err
	}
	su, err := s.cfg.Identity.SignUpStatus(r.Context(), req.Token)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, signUpJSON(su))
}

// finishSignUp sets the password: the customer is verified and a session
// starts, whose token the app keeps (it is shown only here).
func (s *Server) finishSignUp(w http.ResponseWriter, r *http.Request) error {
	req, err := decodeSignUpStep(r)
	if err != nil {
		return err
	}
	res, err := s.cfg.Identity.SignUpPassword(r.Context(), req.Token, req.Password, s.identityClient(r))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return WriteJSON(w, http.StatusCreated, map[string]any{
		"object":   "session",
		"customer": map[string]any{"id": res.Customer.ID, "email": res.Customer.Email, "level": res.Customer.Level},
		"token":    res.Token, "expires_at": res.Session.ExpiresAt.UTC().Format(time.RFC3339),
	})
}
