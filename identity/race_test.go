package identity_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/identitytest"
)

// The lockout tests below attack with attempts sent all at once: were the
// lockout read before the check and the failure recorded after it, every
// attempt would be checked before the first failure counted. They count
// the checks themselves (password verifications, openings of the TOTP
// secret), not the errors.

// attackersMax is how many wrong attempts go at once.
const attackersMax = 500

// countingSealer counts the openings of the sealed values whose
// additional data contains what.
type countingSealer struct {
	identity.Sealer
	what  []byte
	opens atomic.Int64
}

func (c *countingSealer) Open(sealed, aad []byte) ([]byte, error) {
	if bytes.Contains(aad, c.what) {
		c.opens.Add(1)
	}
	return c.Sealer.Open(sealed, aad)
}

// allAtOnce runs attempt attackersMax times concurrently, the i-th from
// the client IP of i (each its own, so that only the subject's lockout
// can stop them), releasing them together; it fails t on any error but
// the wrong-attempt error want and identity's lockout.
func allAtOnce(t *testing.T, want string, attempt func(c identity.Client) error) (locked int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := make(chan struct{})
	for i := range attackersMax {
		c := identity.Client{IP: fmt.Sprintf("198.51.%d.%d", i/250, 1+i%250), UserAgent: "attacker/1.0"}
		wg.Go(func() {
			<-start
			err := attempt(c)
			var le *identity.LockedOutError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.As(err, &le):
				locked++
			case kassa.AsError(err) == nil || kassa.AsError(err).Code != want:
				t.Errorf("attempt from %s: %v, want %s or a lockout", c.IP, err, want)
			}
		})
	}
	close(start)
	wg.Wait()
	return locked
}

// TestLoginLockoutRace: 500 wrong passwords for one address at once are
// checked at most Limits.Account.Failures times, and the address is
// locked out afterwards.
func TestLoginLockoutRace(t *testing.T) {
	e := newEnv(t)
	e.signUp(t, "race@example.com", "+4915100000700")
	before := e.hasher.verifies.Load()
	locked := allAtOnce(t, identity.CodeLoginFailed, func(c identity.Client) error {
		_, err := e.svc.Login(e.ctx, identity.LoginRequest{Email: "race@example.com", Password: "wrong password " + c.IP, Client: c})
		return err
	})
	limit := identity.DefaultLimits.Account.Failures
	if n := e.hasher.verifies.Load() - before; n > int64(limit) || n == 0 {
		t.Errorf("%d concurrent wrong logins verified %d passwords, want 1 to %d", attackersMax, n, limit)
	}
	if locked < attackersMax-limit {
		t.Errorf("%d attempts locked out, want at least %d", locked, attackersMax-limit)
	}
	// Every place is back: the lockout, not a leftover reservation,
	// stops the owner now.
	_, err := e.svc.Login(e.ctx, identity.LoginRequest{Email: "race@example.com", Password: goodPassword, Client: client})
	if lockedFor(t, err) < identity.DefaultLimits.Account.Duration/2 {
		t.Errorf("after the attack the owner's login waits %v, want the lockout", lockedFor(t, err))
	}
}

// TestTOTPLockoutRace: 500 wrong authenticator codes at once as the
// second factor of one login open the TOTP secret at most
// Limits.Account.Failures times.
func TestTOTPLockoutRace(t *testing.T) {
	sealer := &countingSealer{Sealer: identitytest.Sealer(t), what: []byte("totp")}
	e := newEnv(t, func(c *identity.Config) { c.Sealer = sealer })
	res := e.signUp(t, "race-totp@example.com", "+4915100000701")
	en, err := e.svc.EnrolTOTP(e.ctx, res.Customer.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ConfirmTOTP(e.ctx, res.Customer.ID, code(t, en.Secret, e.clock.Now())); err != nil {
		t.Fatal(err)
	}
	// A login from a new device (no device token): the password is right,
	// the second factor is what the attacker must guess.
	login, err := e.svc.Login(e.ctx, identity.LoginRequest{Email: "race-totp@example.com", Password: goodPassword,
		Client: identity.Client{IP: "192.0.2.99", UserAgent: "attacker/1.0"}})
	if err != nil || !login.Session.Pending {
		t.Fatalf("login from a new device: pending %v, %v", login.Session.Pending, err)
	}
	wrong := fmt.Sprintf("%06d", (mustAtoi(t, code(t, en.Secret, e.clock.Now()))+500000)%1000000)
	before := sealer.opens.Load()
	allAtOnce(t, identity.CodeCodeInvalid, func(c identity.Client) error {
		_, err := e.svc.VerifySecondFactor(e.ctx, login.Token, identity.Proof{Factor: identity.FactorTOTP, Code: wrong}, c)
		return err
	})
	limit := identity.DefaultLimits.Account.Failures
	if n := sealer.opens.Load() - before; n > int64(limit) || n == 0 {
		t.Errorf("%d concurrent wrong TOTP codes were checked %d times, want 1 to %d", attackersMax, n, limit)
	}
	_, err = e.svc.VerifySecondFactor(e.ctx, login.Token, identity.Proof{Factor: identity.FactorTOTP,
		Code: code(t, en.Secret, e.clock.Now())}, identity.Client{IP: "192.0.2.99"})
	if lockedFor(t, err) <= 0 {
		t.Errorf("after the attack the right code is not refused: %v", err)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		t.Fatal(err)
	}
	return n
}
