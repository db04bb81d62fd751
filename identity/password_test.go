package identity_test

import (
	"strings"
	"testing"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
)

func TestArgon2RoundTrip(t *testing.T) {
	h := &identity.Argon2id{Params: identity.DefaultArgon2}
	enc, err := h.Hash("tr0ub4dor&3 horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not a PHC string of the OWASP parameters", enc)
	}
	p, salt, key, err := identity.ParsePHC(enc)
	if err != nil || p != identity.DefaultArgon2 || len(salt) != 16 || len(key) != 32 {
		t.Fatalf("ParsePHC = %+v, %d, %d, %v", p, len(salt), len(key), err)
	}
	if got := identity.EncodePHC(p, salt, key); got != enc {
		t.Errorf("EncodePHC(ParsePHC(h)) = %q, want %q", got, enc)
	}
	for _, tt := range []struct {
		pw   string
		want bool
	}{{"tr0ub4dor&3 horse", true}, {"tr0ub4dor&3 horsE", false}, {"", false}} {
		ok, rehash, err := h.Verify(enc, tt.pw)
		if err != nil || ok != tt.want || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want %v, no rehash", tt.pw, ok, rehash, err, tt.want)
		}
	}
	// Salts differ: the same password hashes differently.
	enc2, _ := h.Hash("tr0ub4dor&3 horse")
	if enc2 == enc {
		t.Error("two hashes of one password are equal")
	}
	// A hasher with stronger parameters still verifies and asks for a rehash.
	strong := &identity.Argon2id{Params: identity.Argon2Params{Memory: 19 * 1024, Time: 3, Threads: 1, SaltLength: 16, KeyLength: 32}}
	if ok, rehash, err := strong.Verify(enc, "tr0ub4dor&3 horse"); !ok || !rehash || err != nil {
		t.Errorf("stronger hasher Verify = %v, %v, %v; want ok and rehash", ok, rehash, err)
	}
}

func TestParsePHC(t *testing.T) {
	const salt, key = "c29tZXNhbHRzb21lc2FsdA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	ok := "$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$" + key
	if p, _, _, err := identity.ParsePHC(ok); err != nil || p.Memory != 65536 || p.Time != 3 || p.Threads != 4 {
		t.Fatalf("ParsePHC(%q) = %+v, %v", ok, p, err)
	}
	for _, bad := range []string{
		"",
		"$argon2i$v=19$m=65536,t=3,p=4$" + salt + "$" + key,      // another variant
		"$argon2id$v=16$m=65536,t=3,p=4$" + salt + "$" + key,     // old version
		"$argon2id$v=19$m=65536,t=3$" + salt + "$" + key,         // no p
		"$argon2id$v=19$m=65536,m=1,t=3,p=4$" + salt + "$" + key, // twice
		"$argon2id$v=19$m=65536,t=3,p=4,x=1$" + salt + "$" + key,
		"$argon2id$v=19$m=9999999999,t=3,p=4$" + salt + "$" + key, // beyond 32 bits
		"$argon2id$v=19$m=4194304,t=3,p=4$" + salt + "$" + key,    // 4 GiB: beyond the bound
		"$argon2id$v=19$m=65536,t=0,p=4$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=99,p=4$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=3,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=065536,t=3,p=4$" + salt + "$" + key,
		"$argon2id$v=19$m=65536,t=3,p=4$" + salt + "=$" + key, // padded
		"$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$" + key,        // 4-byte salt
		"$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$AAAA",    // 3-byte hash
		"$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$" + key + "$",
		"$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$" + key[:len(key)-1] + "!",
	} {
		if _, _, _, err := identity.ParsePHC(bad); err == nil {
			t.Errorf("ParsePHC(%q) accepted", bad)
		}
		if ok, _, err := (&identity.Argon2id{Params: fastArgon}).Verify(bad, "x"); ok || err == nil {
			t.Errorf("Verify with %q = %v, %v; want an error", bad, ok, err)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	if n := identity.CommonPasswordCount(); n < 10000 {
		t.Fatalf("the common-password list has %d entries, want at least 10,000", n)
	}
	for _, tt := range []struct {
		pw, email, code string
	}{
		{"short pass!", "", "password_too_short"}, // 11
		{"ääääääääääää", "", ""},                  // 12 runes, 24 bytes
		{"äääääääääää", "", "password_too_short"}, // 11 runes, 22 bytes
		{strings.Repeat("x1", 64), "", ""},        // 128
		{strings.Repeat("x1", 64) + "y", "", "password_too_long"},
		{"qwerty123456", "", "password_common"}, // on the list as it is
		{"QWERTY123456", "", "password_common"}, // case does not matter
		{"1qaz2wsx3edc", "", "password_common"},
		{"password1234", "", "password_common"}, // a common base, 4 more characters
		{"Password123!", "", "password_common"},
		{"2024!!sunshine", "", "password_common"}, // in front
		{"dragon12345678", "", ""},                // 8 more: allowed
		{"kassakassa12", "", "password_personal"}, // the service's name
		{"my-kassa-pw!", "", "password_personal"},
		{"zorblatt2024!", "zorblatt@example.com", "password_personal"},
		{"x1ZorBlatt!!", "zorblatt@example.com", "password_personal"},
		{"zorblatt2024!", "", ""}, // fine for someone else
		{"I pay at kassa every friday", "", ""},
		{goodPassword, "ana@example.com", ""},
		{"\xff\xfe" + strings.Repeat("a", 12), "", "password_invalid"},
	} {
		err := identity.CheckPassword(tt.pw, tt.email)
		if tt.code == "" {
			if err != nil {
				t.Errorf("CheckPassword(%q) = %v, want nil", tt.pw, err)
			}
			continue
		}
		if ke := kassa.AsError(err); ke == nil || ke.Code != tt.code || ke.Param != "password" || ke.Kind != kassa.EInvalid {
			t.Errorf("CheckPassword(%q, %q) = %v, want %s", tt.pw, tt.email, err, tt.code)
		}
	}
}

func TestRehashOnParameterChange(t *testing.T) {
	e := newEnv(t)
	res := e.signUp(t, "re@example.com", "+4915100000100")
	before, _ := e.store.Customer(e.ctx, res.Customer.ID)

	// The operator raises the parameters: the next login stores a new hash.
	stronger := fastArgon
	stronger.Time = 2
	e.cfg.Hasher = &identity.Argon2id{Params: stronger}
	svc2, err := identity.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := client
	c.DeviceToken = res.DeviceToken
	if _, err := svc2.Login(e.ctx, identity.LoginRequest{Email: "re@example.com", Password: goodPassword, Client: c}); err != nil {
		t.Fatal(err)
	}
	after, _ := e.store.Customer(e.ctx, res.Customer.ID)
	if after.PasswordHash == before.PasswordHash || !strings.Contains(after.PasswordHash, ",t=2,") {
		t.Fatalf("hash after login with new parameters = %q, was %q", after.PasswordHash, before.PasswordHash)
	}
	if _, err := svc2.Login(e.ctx, identity.LoginRequest{Email: "re@example.com", Password: goodPassword, Client: c}); err != nil {
		t.Errorf("login with the rehashed password: %v", err)
	}
	again, _ := e.store.Customer(e.ctx, res.Customer.ID)
	if again.PasswordHash != after.PasswordHash {
		t.Error("a hash with the current parameters was replaced")
	}
	// A wrong password never rehashes.
	e.cfg.Hasher = &identity.Argon2id{Params: fastArgon}
	svc1, _ := identity.New(e.cfg)
	svc1.Login(e.ctx, identity.LoginRequest{Email: "re@example.com", Password: "wrong password!!", Client: c})
	if x, _ := e.store.Customer(e.ctx, res.Customer.ID); x.PasswordHash != after.PasswordHash {
		t.Error("a failed login changed the hash")
	}
}

func TestUnknownEmailSpendsAHash(t *testing.T) {
	e := newEnv(t)
	e.signUp(t, "known@example.com", "+4915100000101")
	for _, tt := range []struct{ what, email, pw string }{
		{"unknown email", "nobody@example.com", goodPassword},
		{"wrong password", "known@example.com", goodPassword + "!"},
	} {
		before := e.hasher.verifies.Load()
		_, err := e.svc.Login(e.ctx, identity.LoginRequest{Email: tt.email, Password: tt.pw, Client: client})
		wantErr(t, tt.what, err, kassa.EUnauthorized, identity.CodeLoginFailed)
		if n := e.hasher.verifies.Load() - before; n != 1 {
			t.Errorf("%s: %d password verifications, want 1", tt.what, n)
		}
	}
	// A customer whose sign-up never reached the password is no
	// shortcut either.
	su, _ := e.svc.SignUp(e.ctx, identity.SignUpRequest{Email: "half@example.com", Phone: "+4915100000102"})
	e.svc.SignUpConfirm(e.ctx, su.Token, e.lastCode(t, "half@example.com"))
	before := e.hasher.verifies.Load()
	_, err := e.svc.Login(e.ctx, identity.LoginRequest{Email: "half@example.com", Password: goodPassword, Client: client})
	wantErr(t, "no password yet", err, kassa.EUnauthorized, identity.CodeLoginFailed)
	if e.hasher.verifies.Load()-before != 1 {
		t.Error("login of an account without password did not spend a hash")
	}
}
