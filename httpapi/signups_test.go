package httpapi_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/identity/identitytest"
	"github.com/kassa/kassa/store/sqlstore"
)

// newIdentityService is payer identity over db, codes in a development
// outbox, with a fast (test-only) password hash.
func newIdentityService(t testing.TB, db *sqlstore.DB) (*identity.Service, *identity.Outbox) {
	t.Helper()
	store := sqlstore.NewIdentity(db)
	outbox := identity.NewOutbox(store, identitytest.Sealer(t), nil, id.Generator{})
	svc, err := identity.New(identity.Config{Store: store, Sealer: identitytest.Sealer(t),
		Notifier: outbox, Key: identity.GenerateKey(),
		Hasher: &identity.Argon2id{Params: identity.Argon2Params{Memory: 1024, Time: 1, Threads: 1, KeyLength: 32, SaltLength: 16}}})
	if err != nil {
		t.Fatal(err)
	}
	return svc, outbox
}

// Payers sign up through the JSON API in the steps of the hosted pages:
// email code, phone code, password; the codes come from the notifier (the
// development outbox here).
func TestSignUpAPI(t *testing.T) {
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, outbox := newIdentityService(t, db)
	f := newFixtureDB(t, db, httpapi.Config{Identity: svc}, nil)
	pk := f.merchant.PublishableKey
	post := func(path, body string) (int, map[string]any) {
		resp, b := f.do(t, "POST", path, pk, "application/json", body)
		return resp.StatusCode, decode(t, b)
	}
	code := func(to string) string { return identitytest.LastCode(t, outbox, to) }
	if st, p := post("/v1/signups", `{"email":"nope","phone":"+436641234567"}`); st != 400 || p["param"] == nil {
		t.Errorf("bad email = %d %v", st, p)
	}
	st, su := post("/v1/signups", `{"email":"Ada@Example.com","phone":"+436641234567"}`)
	if st != 201 || su["token"] == "" || su["step"] != string(identity.StepEmail) || su["email"] != "ada@example.com" || strings.Contains(su["phone"].(string), "1234567") {
		t.Fatalf("start = %d %v", st, su)
	}
	tok := su["token"].(string)
	if st, p := post("/v1/signups/verify", `{"token":"`+tok+`","code":"000000"}`); st != 400 || p["code"] != "code_invalid" {
		t.Errorf("wrong code = %d %v", st, p)
	}
	if st, p := post("/v1/signups/verify", `{"token":"`+tok+`","code":"`+code("ada@example.com")+`"}`); st != 200 || p["step"] == string(identity.StepEmail) || p["token"] != nil {
		t.Fatalf("email code = %d %v", st, p)
	}
	if st, p := post("/v1/signups/verify", `{"token":"`+tok+`","code":"`+code("+436641234567")+`"}`); st != 200 {
		t.Fatalf("phone code = %d %v", st, p)
	}
	if st, p := post("/v1/signups/password", `{"token":"`+tok+`","password":"password"}`); st != 400 {
		t.Errorf("weak password = %d %v", st, p)
	}
	st, ses := post("/v1/signups/password", `{"token":"`+tok+`","password":"correct horse battery staple"}`)
	cus, _ := ses["customer"].(map[string]any)
	if st != 201 || ses["token"] == "" || cus["level"] != string(identity.LevelVerified) || !strings.HasPrefix(cus["id"].(string), "cus_") {
		t.Fatalf("password = %d %v", st, ses)
	}
	if _, err := svc.Authenticate(ctx, ses["token"].(string)); err != nil {
		t.Errorf("the session token does not authenticate: %v", err)
	}
	if st, _ := post("/v1/signups/verify", `{"code":"123456"}`); st != 400 {
		t.Errorf("no token = %d", st)
	}
	if strings.Contains(f.logs.String(), ses["token"].(string)) {
		t.Error("the session token is in the log")
	}
}
