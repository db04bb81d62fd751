package httpapi_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/store/sqlstore"
)

// newLedger runs a real ledger over the test's SQLite database.
func newLedger(t testing.TB, db *sqlstore.DB) *ledger.Ledger {
	t.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, "kassa.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.New(ledger.Config{Store: sqlstore.NewLedger(db), SignerKey: skey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return m
}

func TestLedgerAPI(t *testing.T) {
	f := newFixture(t, httpapi.Config{}, nil)
	key := f.merchant.SecretKey
	post := func(path, body string) (int, map[string]any) {
		resp, b := f.do(t, "POST", path, key, "application/json", body)
		return resp.StatusCode, decode(t, b)
	}
	get := func(path string) (int, []byte) {
		resp, b := f.do(t, "GET", path, key, "", "")
		return resp.StatusCode, b
	}

	st, acct := post("/v1/ledger/accounts", `{"id":"cash","currency":"EUR","code":1}`)
	if st != 201 || acct["id"] != "cash" || acct["object"] != "ledger_account" {
		t.Fatalf("create account = %d %v", st, acct)
	}
	if st, _ := post("/v1/ledger/accounts", `{"id":"cash","currency":"EUR","code":1}`); st != 200 {
		t.Errorf("idempotent account create = %d, want 200", st)
	}
	st, p := post("/v1/ledger/accounts", `{"id":"cash","currency":"USD","code":1}`)
	if st != 409 || p["code"] != "exists_with_different_currency" {
		t.Errorf("conflicting account = %d %v", st, p)
	}
	st, p = post("/v1/ledger/accounts", `{"id":"w","currency":"EUR","flags":["debits_must_not_exceed_credits"]}`)
	if st != 201 {
		t.Fatalf("wallet = %d %v", st, p)
	}
	st, p = post("/v1/ledger/accounts", `{"currency":"euro"}`)
	if st != 400 || p["param"] != "currency" {
		t.Errorf("bad currency = %d %v", st, p)
	}

	st, res := post("/v1/ledger/transfers", `{"transfers":[
		{"id":"t1","debit_account_id":"cash","credit_account_id":"w","amount":1000,"currency":"EUR"},
		{"id":"t2","debit_account_id":"w","credit_account_id":"cash","amount":300,"currency":"EUR","flags":["pending"],"timeout":60},
		{"id":"t3","debit_account_id":"w","credit_account_id":"cash","amount":5000,"currency":"EUR"},
		{"id":"t4","pending_id":"t2","amount":200,"flags":["post_pending"]},
		{"id":"t1","debit_account_id":"cash","credit_account_id":"w","amount":1000,"currency":"EUR"}]}`)
	if st != 200 {
		t.Fatalf("transfers = %d %v", st, res)
	}
	var got []string
	for _, r := range res["results"].([]any) {
		m := r.(map[string]any)
		got = append(got, m["id"].(string)+"="+m["result"].(string))
	}
	if want := "t1=ok t2=ok t3=exceeds_credits t4=ok t1=exists"; strings.Join(got, " ") != want {
		t.Errorf("results %v, want %s", got, want)
	}
	_, b := get("/v1/ledger/accounts/w")
	w := decode(t, b)
	if w["credits_posted"] != 1000.0 || w["debits_posted"] != 200.0 || w["debits_pending"] != 0.0 {
		t.Errorf("wallet balances %v", w)
	}
	_, b = get("/v1/ledger/transfers/t2")
	t2 := decode(t, b)
	if pend := t2["pending"].(map[string]any); pend["state"] != "posted" || pend["amount_posted"] != 200.0 {
		t.Errorf("t2 pending state %v", t2["pending"])
	}

	// Pagination over the wallet's transfers.
	_, b = get("/v1/ledger/accounts/w/transfers?limit=2")
	page := decode(t, b)
	if len(page["data"].([]any)) != 2 || page["has_more"] != true {
		t.Errorf("page 1 = %s", b)
	}
	_, b = get("/v1/ledger/accounts/w/transfers?limit=2&starting_after=t2")
	page = decode(t, b)
	if d := page["data"].([]any); len(d) != 1 || d[0].(map[string]any)["id"] != "t4" || page["has_more"] != false {
		t.Errorf("page 2 = %s", b)
	}

	// Another merchant sees none of it.
	other, err := f.svc.Create(t.Context(), "Other")
	if err != nil {
		t.Fatal(err)
	}
	if resp, b := f.do(t, "GET", "/v1/ledger/accounts/w", other.SecretKey, "", ""); resp.StatusCode != 404 {
		t.Errorf("other merchant reads the account: %d %s", resp.StatusCode, b)
	}

	// Proofs check out with tlog and note, not with Kassa's code.
	_, vkey := get("/v1/ledger/verifier-key")
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	size, rootHash := checkpoint(t, get, verifier)
	// Accounts cash and w, transfers t1, t2 and t4 (t3 was refused, the
	// repeated t1 is the same leaf): five leaves.
	if size != 5 {
		t.Errorf("tree size %d, want 5", size)
	}
	leaf, err := base64.StdEncoding.DecodeString(t2["leaf_data"].(string))
	if err != nil {
		t.Fatal(err)
	}
	_, b = get(fmt.Sprintf("/v1/ledger/transfers/t2/proof?tree_size=%d", size))
	pr := decode(t, b)
	var proof tlog.RecordProof
	for _, h := range pr["proof"].([]any) {
		raw, _ := base64.StdEncoding.DecodeString(h.(string))
		var hh tlog.Hash
		copy(hh[:], raw)
		proof = append(proof, hh)
	}
	if err := tlog.CheckRecord(proof, size, rootHash, int64(pr["leaf_index"].(float64)), tlog.RecordHash(leaf)); err != nil {
		t.Errorf("inclusion proof does not verify: %v", err)
	}
	if st, b := get("/v1/ledger/transfers/t2/proof?tree_size=99999"); st != 400 {
		t.Errorf("proof beyond the log = %d %s", st, b)
	}
	// The log grows; the consistency proof from the old checkpoint to the
	// new one checks out with tlog.
	post("/v1/ledger/transfers", `{"transfers":[{"id":"t5","debit_account_id":"cash","credit_account_id":"w","amount":7,"currency":"EUR"}]}`)
	size2, root2 := checkpoint(t, get, verifier)
	_, b = get(fmt.Sprintf("/v1/ledger/consistency?old=%d&new=%d", size, size2))
	var tp tlog.TreeProof
	for _, h := range decode(t, b)["proof"].([]any) {
		raw, _ := base64.StdEncoding.DecodeString(h.(string))
		var hh tlog.Hash
		copy(hh[:], raw)
		tp = append(tp, hh)
	}
	if err := tlog.CheckTree(tp, size2, root2, size, rootHash); err != nil || size2 != size+1 {
		t.Errorf("consistency proof %d→%d does not verify: %v", size, size2, err)
	}
	if st, b := get("/v1/ledger/consistency?old=5&new=2"); st != 400 {
		t.Errorf("backwards consistency = %d %s", st, b)
	}
	if st, b := get("/v1/ledger/transfers/nope"); st != 404 {
		t.Errorf("unknown transfer = %d %s", st, b)
	}
	// Whole-request problems change nothing.
	if st, p := post("/v1/ledger/transfers", `{"transfers":[]}`); st != 400 || p["code"] != "transfers_required" {
		t.Errorf("empty batch = %d %v", st, p)
	}
	if st, p := post("/v1/ledger/transfers", `{"transfers":[{"id":"x","flags":["bogus"]}]}`); st != 400 || p["param"] != "transfers[0].flags" {
		t.Errorf("bad flag = %d %v", st, p)
	}
	many := `{"transfers":[` + strings.Repeat(`{"id":"x"},`, ledger.TransfersPerCallMax) + `{"id":"y"}]}`
	if st, p := post("/v1/ledger/transfers", many); st != 400 || p["code"] != "too_many_transfers" {
		t.Errorf("8001 transfers = %d %v", st, p)
	}
}

// checkpoint fetches the signed checkpoint and checks it with note, not
// with Kassa's code; it returns the tree size and root hash.
func checkpoint(t *testing.T, get func(string) (int, []byte), verifier note.Verifier) (int64, tlog.Hash) {
	t.Helper()
	_, cp := get("/v1/ledger/checkpoint")
	n, err := note.Open(cp, note.VerifierList(verifier))
	if err != nil {
		t.Fatalf("checkpoint %q: %v", cp, err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 3 {
		t.Fatalf("checkpoint text %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		t.Fatalf("checkpoint size %q: %v", lines[1], err)
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		t.Fatalf("checkpoint root %q: %v", lines[2], err)
	}
	var h tlog.Hash
	copy(h[:], raw)
	return size, h
}
