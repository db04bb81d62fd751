package console

import (
	"encoding/base64"
	"html/template"
	"net/http"

	"github.com/kassa/kassa"
	members "github.com/kassa/kassa/console"
)

type loginData struct {
	Email string
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	h.render(v, http.StatusOK, page{Template: "login", Title: "Log in to the console", Data: loginData{}})
}

// login checks the password. Whatever session token the browser held is
// ignored and a new pending one is set: a token planted before the login
// never becomes a logged-in one.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) {
		return
	}
	email := v.input("email")
	pw := v.r.PostForm.Get("password")
	tok, err := h.cfg.Members.Login(r.Context(), email, pw, v.client())
	if err != nil {
		if kassa.ErrorKind(err) == kassa.EInternal {
			h.fail(v, err)
			return
		}
		status := http.StatusUnauthorized
		if kassa.ErrorKind(err) == kassa.ERateLimited {
			status = http.StatusTooManyRequests
		}
		h.render(v, status, page{Template: "login", Title: "Log in to the console", Error: kassa.AsError(err).Message + ".",
			Data: loginData{Email: email}})
		return
	}
	h.setSession(v, tok)
	h.redirect(v, "/console/login/code")
}

func (h *Handler) codePage(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.cfg.Members.PendingLogin(r.Context(), v.session) {
		h.redirect(v, "/console/login")
		return
	}
	h.render(v, http.StatusOK, page{Template: "code", Title: "Your authenticator code"})
}

func (h *Handler) code(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) {
		return
	}
	tok, _, err := h.cfg.Members.PassCode(r.Context(), v.session, v.input("code"), v.client())
	switch {
	case err == nil:
	case kassa.ErrorKind(err) == kassa.EUnauthorized:
		h.setSession(v, "")
		h.redirect(v, "/console/login")
		return
	case kassa.ErrorKind(err) == kassa.EInternal:
		h.fail(v, err)
		return
	default:
		h.render(v, http.StatusUnauthorized, page{Template: "code", Title: "Your authenticator code",
			Error: kassa.AsError(err).Message + "."})
		return
	}
	h.setSession(v, tok)
	h.redirect(v, "/console/")
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) {
		return
	}
	if err := h.cfg.Members.Logout(r.Context(), v.session); err != nil {
		h.fail(v, err)
		return
	}
	h.setSession(v, "")
	h.redirect(v, "/console/login")
}

type inviteData struct {
	Email, Role, Org string
	Secret           string       // the authenticator secret, shown once
	QR               template.URL // data:image/png;base64,...
}

func (h *Handler) invitePage(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	m, err := h.cfg.Members.Invited(r.Context(), r.URL.Query().Get("token"))
	if err != nil {
		h.fail(v, err)
		return
	}
	h.render(v, http.StatusOK, page{Template: "invite", Title: "Join the console",
		Data: inviteData{Email: m.Email, Role: string(m.Role)}})
}

// invite is the invitation's two steps: the password (answered with the
// authenticator's secret and QR code), then the first code.
func (h *Handler) invite(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	if !h.form(v) {
		return
	}
	token := r.URL.Query().Get("token")
	m, err := h.cfg.Members.Invited(r.Context(), token)
	if err != nil {
		h.fail(v, err)
		return
	}
	data := inviteData{Email: m.Email, Role: string(m.Role)}
	if code := v.input("code"); code != "" {
		tok, _, err := h.cfg.Members.FinishAccept(r.Context(), token, code, v.client())
		if err != nil {
			if kassa.ErrorKind(err) == kassa.EInternal {
				h.fail(v, err)
				return
			}
			h.render(v, http.StatusBadRequest, page{Template: "invite_code", Title: "Add your authenticator",
				Error: kassa.AsError(err).Message + ". Type the code your app shows now.", Data: data})
			return
		}
		h.setSession(v, tok)
		h.redirect(v, "/console/")
		return
	}
	pw := v.r.PostForm.Get("password")
	if pw != v.r.PostForm.Get("password2") {
		h.render(v, http.StatusBadRequest, page{Template: "invite", Title: "Join the console",
			Error: "The two passwords differ.", Data: data})
		return
	}
	enr, err := h.cfg.Members.StartAccept(r.Context(), token, pw)
	if err != nil {
		if kassa.ErrorKind(err) == kassa.EInternal {
			h.fail(v, err)
			return
		}
		h.render(v, http.StatusBadRequest, page{Template: "invite", Title: "Join the console",
			Error: kassa.AsError(err).Message + ".", Data: data})
		return
	}
	data.Secret = enr.Secret
	data.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(enr.QRPNG))
	h.render(v, http.StatusOK, page{Template: "invite_code", Title: "Add your authenticator", Data: data})
}

var _ = members.Active
