package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/store/storetest"
	"github.com/kassa/kassa/vault"
)

// newVaultService is a vault over db with a fresh key file.
func newVaultService(t testing.TB, db *sqlstore.DB) *vault.Service {
	t.Helper()
	keys, err := vault.OpenKeyFile(filepath.Join(t.TempDir(), "vault-kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := vault.New(vault.Config{Store: sqlstore.NewVault(db), Keys: keys,
		FingerprintKey: []byte("test fingerprint key, 32 bytes or more")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc
}

func cardBody(number string, month, year int, cvc string) string {
	return fmt.Sprintf(`{"card":{"number":%q,"exp_month":%d,"exp_year":%d,"cvc":%q,"name":"Ada Lovelace"}}`, number, month, year, cvc)
}

func TestTokensAndCards(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, nil)
	sk, pk := f.merchant.SecretKey, f.merchant.PublishableKey
	resp, body := f.do(t, "POST", "/v1/tokens", pk, "application/json", cardBody("4242 4242 4242 4242", 12, 2030, "123"))
	if resp.StatusCode != 201 {
		t.Fatalf("POST /v1/tokens = %d %s", resp.StatusCode, body)
	}
	var tok struct {
		ID     string `json:"id"`
		Object string `json:"object"`
		Card   struct {
			Brand, Last4, Fingerprint string
			ExpMonth                  int `json:"exp_month"`
			ExpYear                   int `json:"exp_year"`
		} `json:"card"`
		Used    bool   `json:"used"`
		Created string `json:"created"`
	}
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.ID, "tok_") || tok.Object != "token" || tok.Card.Brand != "visa" || tok.Card.Last4 != "4242" ||
		tok.Card.ExpMonth != 12 || tok.Card.ExpYear != 2030 || len(tok.Card.Fingerprint) != 22 || tok.Used || tok.Created == "" {
		t.Errorf("token = %s", body)
	}
	for _, k := range []string{"number", "cvc", "bin", "name"} {
		if strings.Contains(string(body), `"`+k+`"`) {
			t.Errorf("token answer holds %q: %s", k, body)
		}
	}
	// Secret keys only for everything but tokenizing.
	resp, body = f.do(t, "GET", "/v1/tokens/"+tok.ID, pk, "", "")
	problem(t, resp, body, 403, "secret_key_required")
	resp, body = f.do(t, "POST", "/v1/cards", pk, "application/json", `{"token":"`+tok.ID+`"}`)
	problem(t, resp, body, 403, "secret_key_required")
	resp, body = f.do(t, "POST", "/v1/tokens", "", "application/json", cardBody("4242424242424242", 12, 2030, "123"))
	problem(t, resp, body, 401, "api_key_missing")

	// Another merchant sees nothing of it.
	other, err := f.svc.Create(context.Background(), "Other Shop")
	if err != nil {
		t.Fatal(err)
	}
	resp, body = f.do(t, "GET", "/v1/tokens/"+tok.ID, other.SecretKey, "", "")
	problem(t, resp, body, 404, "token_not_found")
	resp, body = f.do(t, "POST", "/v1/cards", other.SecretKey, "application/json", `{"token":"`+tok.ID+`"}`)
	if p := problem(t, resp, body, 404, "token_not_found"); p["param"] != "token" {
		t.Errorf("param = %v", p["param"])
	}

	resp, body = f.do(t, "POST", "/v1/cards", sk, "application/json", `{"token":"`+tok.ID+`","customer":"cus_ada"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("POST /v1/cards = %d %s", resp.StatusCode, body)
	}
	var card map[string]any
	json.Unmarshal(body, &card)
	id, _ := card["id"].(string)
	if !strings.HasPrefix(id, "card_") || card["object"] != "card" || card["customer"] != "cus_ada" ||
		card["card"].(map[string]any)["fingerprint"] != tok.Card.Fingerprint {
		t.Errorf("card = %s", body)
	}
	resp, body = f.do(t, "POST", "/v1/cards", sk, "application/json", `{"token":"`+tok.ID+`"}`)
	problem(t, resp, body, 409, "token_already_used")
	resp, body = f.do(t, "GET", "/v1/tokens/"+tok.ID, sk, "", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"used":true`) {
		t.Errorf("GET token after attach = %d %s", resp.StatusCode, body)
	}
	resp, body = f.do(t, "GET", "/v1/cards/"+id, sk, "", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"last4":"4242"`) {
		t.Errorf("GET card = %d %s", resp.StatusCode, body)
	}
	resp, body = f.do(t, "GET", "/v1/cards/"+id, other.SecretKey, "", "")
	problem(t, resp, body, 404, "card_not_found")
	resp, body = f.do(t, "GET", "/v1/cards/card_nope", sk, "", "")
	problem(t, resp, body, 404, "card_not_found")
	resp, body = f.do(t, "POST", "/v1/cards", sk, "application/json", `{"token":"tok_nope"}`)
	problem(t, resp, body, 404, "token_not_found")
	resp, body = f.do(t, "POST", "/v1/cards", sk, "application/json", `{"token":"`+tok.ID+`","extra":1}`)
	problem(t, resp, body, 400, "unknown_field")
}

func TestTokenValidation(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, nil)
	pk := f.merchant.PublishableKey
	tests := []struct {
		name, body, param, code string
	}{
		{"luhn", cardBody("4242424242424241", 12, 2030, "123"), "card.number", "card_number_incorrect"},
		{"short", cardBody("42424242424", 12, 2030, "123"), "card.number", "card_number_invalid"},
		{"long", cardBody("42424242424242424242", 12, 2030, "123"), "card.number", "card_number_invalid"},
		{"letters", cardBody("4242-4242-4242-4242", 12, 2030, "123"), "card.number", "card_number_invalid"},
		{"missing", `{"card":{"exp_month":12,"exp_year":2030,"cvc":"123"}}`, "card.number", "card_number_required"},
		{"brand", cardBody("6200000000000005", 12, 2030, "123"), "card.number", "card_brand_unsupported"},
		{"month", cardBody("4242424242424242", 13, 2030, "123"), "card.exp_month", "card_exp_month_invalid"},
		{"expired", cardBody("4242424242424242", 1, 2020, "123"), "card.exp_year", "card_expired"},
		{"far", cardBody("4242424242424242", 1, 2099, "123"), "card.exp_year", "card_exp_year_invalid"},
		{"cvc", cardBody("4242424242424242", 12, 2030, "12"), "card.cvc", "card_cvc_invalid"},
		{"amex cvc", cardBody("378282246310005", 12, 2030, "123"), "card.cvc", "card_cvc_invalid"},
		{"type", `{"card":{"number":"4242424242424242","exp_month":"12","exp_year":2030,"cvc":"123"}}`, "card.exp_month", "invalid_type"},
		{"number type", `{"card":{"number":4242424242424242,"exp_month":12,"exp_year":2030,"cvc":"123"}}`, "card.number", "invalid_type"},
	}
	for _, tt := range tests {
		resp, body := f.do(t, "POST", "/v1/tokens", pk, "application/json", tt.body)
		p := problem(t, resp, body, 400, tt.code)
		if p["param"] != tt.param {
			t.Errorf("%s: param %v, want %s", tt.name, p["param"], tt.param)
		}
		if strings.Contains(string(body), "4242424242424242") || strings.Contains(string(body), "378282246310005") {
			t.Errorf("%s: the problem quotes the card number: %s", tt.name, body)
		}
	}
	resp, body := f.do(t, "POST", "/v1/tokens", pk, "application/json", `{"card":{"number":"`+strings.Repeat("4", 3000)+`"}}`)
	problem(t, resp, body, 413, "body_too_large")
}

// TestNoPANLeaves tokenizes and attaches every test card through the API
// (some with Idempotency-Key, some with mistakes) and looks for their
// numbers in every answer, in the logs and in the raw database files.
func TestNoPANLeaves(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, nil)
	sk, pk := f.merchant.SecretKey, f.merchant.PublishableKey
	var answers bytes.Buffer
	for i, c := range storetest.VaultTestCards {
		cvc := "123"
		if c.Brand == vault.Amex {
			cvc = "1234"
		}
		_, body := f.do(t, "POST", "/v1/tokens", pk, "application/json", cardBody(c.PAN, 1, 2020, cvc)) // expired
		answers.Write(body)
		req := cardBody(c.PAN, 12, 2030, cvc)
		var resp []byte
		for range 2 { // the second is a replay
			r, b := f.doKey(t, "/v1/tokens", pk, fmt.Sprintf("tok-%d", i), req)
			if r.StatusCode != 201 {
				t.Fatalf("POST /v1/tokens = %d %s", r.StatusCode, b)
			}
			resp = b
			answers.Write(b)
		}
		var tok struct{ ID string }
		json.Unmarshal(resp, &tok)
		_, body = f.do(t, "POST", "/v1/cards", sk, "application/json", `{"token":"`+tok.ID+`"}`)
		answers.Write(body)
		var card struct{ ID string }
		json.Unmarshal(body, &card)
		_, body = f.do(t, "GET", "/v1/cards/"+card.ID, sk, "", "")
		answers.Write(body)
		_, body = f.do(t, "GET", "/v1/tokens/"+tok.ID, sk, "", "")
		answers.Write(body)
	}
	if !strings.Contains(answers.String(), `"last4":"4444"`) {
		t.Fatalf("the answers are not what they should be: %.500s", answers.String())
	}
	db := f.cfg.DB.(*sqlstore.DB)
	var file string
	if err := db.QueryRowContext(context.Background(), `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file); err != nil {
		t.Fatal(err)
	}
	places := map[string][]byte{"API answers": answers.Bytes(), "logs": []byte(f.logs.String())}
	for _, p := range []string{file, file + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		places[filepath.Base(p)] = b
	}
	for name, b := range places {
		for _, c := range storetest.VaultTestCards {
			if bytes.Contains(b, []byte(c.PAN)) {
				t.Errorf("the %s test card's number appears in %s", c.Brand, name)
			}
		}
	}
}
