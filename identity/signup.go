package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa"
)

// SignUpRecord is a sign-up as stored. Its token is known only to the
// browser; the store keeps the SHA-256. Existing marks a sign-up of an
// address that has an account: it looks like any other sign-up but
// nothing can ever be confirmed with it.
type SignUpRecord struct {
	ID               string // sgn_...
	TokenHash        []byte
	Email            string
	Phone            string
	Existing         bool
	CustomerID       string // set once the email is confirmed
	EmailConfirmedAt time.Time
	PhoneConfirmedAt time.Time
	Created          time.Time
	ExpiresAt        time.Time
	CompletedAt      time.Time
}

// SignUpStep is the step a sign-up waits for.
type SignUpStep string

const (
	StepEmail    SignUpStep = "confirm_email" // the code sent to the address
	StepPhone    SignUpStep = "confirm_phone" // the code sent to the number
	StepPassword SignUpStep = "password"
	StepDone     SignUpStep = "done"
)

func (r SignUpRecord) step() SignUpStep {
	switch {
	case !r.CompletedAt.IsZero():
		return StepDone
	case r.Existing || r.EmailConfirmedAt.IsZero():
		return StepEmail
	case r.PhoneConfirmedAt.IsZero():
		return StepPhone
	}
	return StepPassword
}

// SignUp is a sign-up as the pages see it.
type SignUp struct {
	Token     string // only in SignUp's answer: the pages keep it for the next steps
	Step      SignUpStep
	Email     string // as normalized
	Phone     string // masked
	ExpiresAt time.Time
}

func (r SignUpRecord) view() SignUp {
	return SignUp{Step: r.step(), Email: r.Email, Phone: maskPhone(r.Phone), ExpiresAt: r.ExpiresAt}
}

// SignUpRequest starts a sign-up.
type SignUpRequest struct {
	Email  string
	Phone  string
	Client Client
}

// SignUp starts a sign-up with an email address and a phone number and
// sends a code to the address. If the address has an account already,
// the answer is the same, but the address gets a "you already have an
// account" message instead of a code: nothing tells the caller. The phone
// gets its code only after the address is confirmed. Errors: kassa
// EInvalid email_invalid or phone_invalid, ERateLimited
// code_resend_limited (a code went to the address a moment ago) or
// signup_limited (too many sign-ups from the client IP), EUnavailable
// notification_failed.
// SignUpAttempt is a sign-up to screen (Config.Screen).
type SignUpAttempt struct {
	Email, Phone string // normalized
	Client       Client
	Time         time.Time
}

// SignUpScreen decides whether a sign-up may go on (the risk engine
// scores it); an error refuses it with signup_refused.
type SignUpScreen interface {
	ScreenSignUp(ctx context.Context, a SignUpAttempt) error
}

func (s *Service) SignUp(ctx context.Context, req SignUpRequest) (SignUp, error) {
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return SignUp{}, err
	}
	phone, err := NormalizePhone(req.Phone)
	if err != nil {
		return SignUp{}, err
	}
	now := s.now().UTC()
	if sub := ipSubject(req.Client.IP); sub != "" {
		ok, retry, err := s.store.TakeRate(ctx, "signup-ip:"+sub, now, s.lim.SignUpsPerIP)
		if err != nil {
			return SignUp{}, fmt.Errorf("identity: sign-up rate: %w", err)
		}
		if !ok {
			return SignUp{}, lockedOut("signup_limited", "too many sign-ups from this network; try again later", retry, now)
		}
	}
	if s.screen != nil {
		// Screened before anything is known of the address, so a refusal
		// says nothing about whether it has an account.
		if err := s.screen.ScreenSignUp(ctx, SignUpAttempt{Email: email, Phone: phone, Client: req.Client, Time: now}); err != nil {
			s.log.Info("identity: sign-up refused by screening", "err", err)
			return SignUp{}, kassa.Errorf(kassa.EForbidden, "signup_refused", "this sign-up cannot go on; contact support if you think this is a mistake")
		}
	}
	r, err := s.store.CustomerByEmail(ctx, email)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return SignUp{}, fmt.Errorf("identity: customer by email: %w", err)
	}
	token := s.newToken()
	rec := SignUpRecord{
		ID: s.ids.New("sgn"), TokenHash: hashToken(token), Email: email, Phone: phone,
		Existing: err == nil && r.PasswordHash != "", Created: now, ExpiresAt: now.Add(s.lim.SignUpTTL),
	}
	if err := s.sendSignUpEmail(ctx, rec); err != nil {
		return SignUp{}, err
	}
	if err := s.store.CreateSignUp(ctx, rec); err != nil {
		return SignUp{}, fmt.Errorf("identity: store sign-up: %w", err)
	}
	if rec.Existing {
		s.emit(ctx, EventSignUpExisting, r.ID, EventData{"signup": rec.ID, "ip": req.Client.IP})
	}
	v := rec.view()
	v.Token = token
	return v, nil
}

// sendSignUpEmail sends the address of a sign-up its code, or the notice
// that it has an account, through the same rate limit.
func (s *Service) sendSignUpEmail(ctx context.Context, rec SignUpRecord) error {
	if !rec.Existing {
		return s.sendCode(ctx, rec.ID, PurposeConfirmEmail, rec.Email, ChannelEmail, rec.Email)
	}
	if err := s.takeSend(ctx, PurposeConfirmEmail, rec.Email, s.now().UTC()); err != nil {
		return err
	}
	return s.send(ctx, Message{
		Channel: ChannelEmail, To: rec.Email, Subject: text(ctx, "existing.subject", s.issuer),
		Body: text(ctx, "existing.body", s.issuer),
	}, "signup_existing")
}

// signUp finds the live sign-up of a token.
func (s *Service) signUp(ctx context.Context, token string, now time.Time) (SignUpRecord, error) {
	if !validToken(token) {
		return SignUpRecord{}, errSignUpInvalid
	}
	r, err := s.store.SignUpByToken(ctx, hashToken(token))
	if errors.Is(err, ErrNotFound) || (err == nil && !now.Before(r.ExpiresAt)) {
		return SignUpRecord{}, errSignUpInvalid
	} else if err != nil {
		return r, fmt.Errorf("identity: sign-up: %w", err)
	}
	return r, nil
}

func stepErr(st SignUpStep) error {
	return kassa.Errorf(kassa.EConflict, CodeSignUpStep, "the sign-up is at step %s", st)
}

// SignUpStatus returns the step a sign-up waits for. Errors: kassa
// EUnauthorized signup_invalid.
func (s *Service) SignUpStatus(ctx context.Context, token string) (SignUp, error) {
	r, err := s.signUp(ctx, token, s.now().UTC())
	if err != nil {
		return SignUp{}, err
	}
	return r.view(), nil
}

// SignUpResend sends the code of the current step again (to the address
// or the number). Errors: kassa EUnauthorized signup_invalid, EConflict
// signup_step (no code at this step), ERateLimited code_resend_limited,
// EUnavailable notification_failed.
func (s *Service) SignUpResend(ctx context.Context, token string) error {
	r, err := s.signUp(ctx, token, s.now().UTC())
	if err != nil {
		return err
	}
	switch st := r.step(); st {
	case StepEmail:
		return s.sendSignUpEmail(ctx, r)
	case StepPhone:
		return s.sendCode(ctx, r.ID, PurposeConfirmPhone, r.Phone, ChannelSMS, r.Phone)
	default:
		return stepErr(st)
	}
}

// SignUpConfirm checks the code of the current step. Confirming the
// address creates the customer (level unverified) and sends the phone its
// code; confirming the phone leads to the password step. Errors: kassa
// EUnauthorized signup_invalid, EInvalid code_invalid, EConflict
// signup_step or email_taken (an account got the address meanwhile: its
// owner just proved they hold it, so this may be said).
func (s *Service) SignUpConfirm(ctx context.Context, token, code string) (SignUp, error) {
	now := s.now().UTC()
	r, err := s.signUp(ctx, token, now)
	if err != nil {
		return SignUp{}, err
	}
	switch st := r.step(); st {
	case StepEmail:
		if r.Existing {
			// Nothing to confirm; answer as a wrong code does.
			return SignUp{}, errCodeInvalid
		}
		if err := s.checkCode(ctx, r.ID, PurposeConfirmEmail, r.Email, code); err != nil {
			return SignUp{}, err
		}
		r, err = s.confirmEmail(ctx, r, now)
	case StepPhone:
		if err := s.checkCode(ctx, r.ID, PurposeConfirmPhone, r.Phone, code); err != nil {
			return SignUp{}, err
		}
		r, err = s.confirmPhone(ctx, r, now)
	default:
		return SignUp{}, stepErr(st)
	}
	if err != nil {
		return SignUp{}, err
	}
	return r.view(), nil
}

// confirmEmail creates the customer of a sign-up whose address was
// confirmed, or takes over an account of that address that never got a
// password (an abandoned sign-up), and sends the phone its code.
func (s *Service) confirmEmail(ctx context.Context, su SignUpRecord, now time.Time) (SignUpRecord, error) {
	cus, err := s.customerForSignUp(ctx, su, now)
	if err != nil {
		return su, err
	}
	su, err = s.store.UpdateSignUp(ctx, su.ID, func(x *SignUpRecord) error {
		x.CustomerID, x.EmailConfirmedAt = cus, now
		return nil
	})
	if err != nil {
		return su, fmt.Errorf("identity: update sign-up: %w", err)
	}
	if err := s.sendCode(ctx, su.ID, PurposeConfirmPhone, su.Phone, ChannelSMS, su.Phone); err != nil {
		// The address is confirmed all the same; the page offers a resend.
		s.log.WarnContext(ctx, "send phone code at sign-up", "signup", su.ID, "err", err)
	}
	return su, nil
}

func (s *Service) customerForSignUp(ctx context.Context, su SignUpRecord, now time.Time) (string, error) {
	taken := kassa.Errorf(kassa.EConflict, CodeEmailTaken, "this address has an account already; log in instead")
	for range 2 {
		r, err := s.store.CustomerByEmail(ctx, su.Email)
		switch {
		case err == nil && r.PasswordHash != "":
			return "", taken
		case err == nil:
			_, err = s.update(ctx, r.ID, func(x *Record) error {
				if x.PasswordHash != "" {
					return taken
				}
				x.EmailVerifiedAt = now
				if x.Phone != su.Phone {
					x.Phone, x.PhoneVerifiedAt = su.Phone, time.Time{}
				}
				x.Level, x.Updated = x.level(), now
				return nil
			})
			return r.ID, err
		case !errors.Is(err, ErrNotFound):
			return "", fmt.Errorf("identity: customer by email: %w", err)
		}
		rec := Record{ID: s.ids.New("cus"), Email: su.Email, EmailVerifiedAt: now, Phone: su.Phone,
			Level: LevelUnverified, Created: now, Updated: now}
		err = s.store.CreateCustomer(ctx, rec)
		if err == nil {
			s.emit(ctx, EventCustomerCreated, rec.ID, EventData{"signup": su.ID})
			return rec.ID, nil
		}
		if !errors.Is(err, ErrDuplicate) {
			return "", fmt.Errorf("identity: create customer: %w", err)
		}
		// Another sign-up of the address created it just now: look again.
	}
	return "", taken
}

func (s *Service) confirmPhone(ctx context.Context, su SignUpRecord, now time.Time) (SignUpRecord, error) {
	if _, err := s.update(ctx, su.CustomerID, func(x *Record) error {
		x.Phone, x.PhoneVerifiedAt, x.Updated = su.Phone, now, now
		x.Level = x.level()
		return nil
	}); err != nil {
		return su, err
	}
	su, err := s.store.UpdateSignUp(ctx, su.ID, func(x *SignUpRecord) error {
		x.PhoneConfirmedAt = now
		return nil
	})
	if err != nil {
		return su, fmt.Errorf("identity: update sign-up: %w", err)
	}
	return su, nil
}

// SignUpPassword sets the password of a sign-up whose address and phone
// are confirmed: the customer is verified, the sign-up done, and a
// session starts (aal1) on the browser, which becomes a known device
// (LoginResult.DeviceToken). Errors: kassa EUnauthorized signup_invalid,
// EConflict signup_step, EInvalid password_* (CheckPassword).
func (s *Service) SignUpPassword(ctx context.Context, token, password string, c Client) (LoginResult, error) {
	now := s.now().UTC()
	su, err := s.signUp(ctx, token, now)
	if err != nil {
		return LoginResult{}, err
	}
	if st := su.step(); st != StepPassword {
		return LoginResult{}, stepErr(st)
	}
	r, err := s.record(ctx, su.CustomerID)
	if err != nil {
		return LoginResult{}, err
	}
	if r, err = s.setPassword(ctx, r, password, now); err != nil {
		return LoginResult{}, err
	}
	if _, err := s.store.UpdateSignUp(ctx, su.ID, func(x *SignUpRecord) error {
		x.CompletedAt = now
		return nil
	}); err != nil {
		return LoginResult{}, fmt.Errorf("identity: update sign-up: %w", err)
	}
	s.emit(ctx, EventCustomerVerified, r.ID, EventData{"level": string(r.Level)})
	deviceID := s.ids.New("dev")
	sess, tok := s.newSession(r, c, AAL1, false, deviceID, now)
	if err := s.createSession(ctx, sess); err != nil {
		return LoginResult{}, err
	}
	devTok, err := s.addDevice(ctx, deviceID, r.ID, c, now)
	if err != nil {
		return LoginResult{}, err
	}
	s.emit(ctx, EventLoginSucceeded, r.ID, EventData{"session": sess.ID, "aal": AAL1.String(), "ip": c.IP, "device": deviceID})
	return LoginResult{Session: sess, Token: tok, Device: Recognition{Known: true, DeviceID: deviceID},
		DeviceToken: devTok, Customer: r.customer()}, nil
}
