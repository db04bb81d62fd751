package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/internal/testclock"
)

// The person of the GDPR tests: a Kassa account with KYC, and the
// merchant's customer "player-7" on its payments.
const (
	gdprEmail   = "erika.mustermann@example.org"
	gdprStaff   = "support.agent@casino.example"
	gdprPhone   = "+4915112345678"
	gdprGiven   = "Erika"
	gdprFamily  = "Mustermann"
	gdprBorn    = "1964-08-12"
	gdprDocNo   = "P1234567" // kycPayer's document number
	gdprIBAN    = "DE89370400440532013000"
	gdprPlayer  = "player-7"
	gdprHolder  = gdprGiven + " " + gdprFamily
	gdprBalance = "/v1/balance"
)

var gdprNeedles = []string{gdprEmail, gdprPhone, gdprGiven, gdprFamily, gdprBorn, gdprDocNo, gdprIBAN}

func TestE2EGDPRErasure(t *testing.T) { forEachBackend(t, testE2EGDPRErasure) }

// testE2EGDPRErasure: a person with a KYC-verified account, a voucher
// deposit as a merchant's customer and a payout to their bank account is
// exported, then erased (kassa gdpr erase, both subjects). After the
// retention date passes (the injected clock) and the leased privacy job
// runs, a raw scan of the SQLite files (with the WAL) or of a pg_dump
// finds none of their email, phone, names, birth date, document number or
// IBAN, while ledger verify and reconcile pass and the balance is
// unchanged.
func testE2EGDPRErasure(t *testing.T, b backend) {
	out, err := runKassa(t, b, "merchants", "create", "--name", "Casino", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ ID, Secret_key, Publishable_key string }
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	sk, pk := m.Secret_key, m.Publishable_key
	// Audit entries: one holds the person's address (the operator lifted
	// a lock of it), one a member's own address.
	a0 := gdprApp(t, b, testclock.New(time.Now()))
	if err := a0.audit.Record(context.Background(), audit.Platform, "risk_lock.lift", "email:"+gdprEmail,
		map[string]bool{"locked": true}, map[string]bool{"locked": false}); err != nil {
		t.Fatal(err)
	}
	if err := a0.audit.Record(context.Background(), m.ID, "member.invite", "mem_e2e", nil, map[string]string{"email": gdprStaff}); err != nil {
		t.Fatal(err)
	}
	a0.close()
	out, err = runKassa(t, b, "vouchers", "issue", "--count", "3", "--amount", "1000", "--currency", "EUR", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var pins []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var v issuedVoucher
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatal(err)
		}
		pins = append(pins, v.PIN)
	}
	born, _ := time.Parse(time.DateOnly, gdprBorn)
	cus, _ := kycPayer(t, b, gdprEmail, gdprPhone, gdprGiven, gdprFamily, born)

	s := startServe(t, b, "--rate-limit", "0", "--test-bank-settle-delay", "1s", "--test-bank-return-delay", "1000h")
	p := s.call(t, "POST", "/v1/payments", sk, "", map[string]any{"amount": 2500, "currency": "EUR",
		"customer": map[string]any{"id": gdprPlayer, "email": gdprEmail, "phone": gdprPhone}}, 201)
	if c := s.call(t, "POST", "/v1/payments/"+p["id"].(string)+"/confirm", pk, "", map[string]any{
		"client_secret": p["client_secret"], "payment_method": map[string]any{"type": "voucher", "pins": pins}}, 200); c["status"] != "captured" {
		t.Fatalf("deposit: %v", c)
	}
	po := s.call(t, "POST", "/v1/payouts", sk, "", map[string]any{"amount": 700, "currency": "EUR",
		"customer":    map[string]any{"id": cus, "email": gdprEmail, "first_name": gdprGiven, "last_name": gdprFamily, "date_of_birth": gdprBorn},
		"destination": map[string]any{"type": "bank_account", "iban": gdprIBAN, "account_holder": gdprHolder}}, 201)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		got := s.call(t, "GET", "/v1/payouts/"+po["id"].(string), sk, "", nil, 200)
		if got["status"] == "paid" {
			break
		}
		if got["status"] == "requires_review" {
			s.call(t, "POST", "/v1/payouts/"+po["id"].(string)+"/approve", sk, "", nil, 200)
		}
		if time.Now().After(deadline) {
			t.Fatalf("payout not paid: %v", got)
		}
	}
	balance := mustJSON(t, s.call(t, "GET", gdprBalance, sk, "", nil, 200))
	if err := s.stop(t, os.Interrupt); err != nil {
		t.Fatal(err)
	}

	// Access: the account's export holds the opened KYC data and the
	// payout; the merchant customer's export the payment and its risk
	// evaluation.
	files := gdprExportZIP(t, b, "--customer", cus)
	for name, want := range map[string]string{"kyc.json": gdprDocNo, "customers.json": gdprEmail, "payouts.json": gdprIBAN,
		"identity_sessions.json": "customer_id", "README.txt": "GDPR"} {
		if !strings.Contains(files[name], want) {
			t.Errorf("account export %s lacks %q: %s", name, want, files[name])
		}
	}
	if !strings.Contains(files["kyc.json"], gdprBorn) || strings.Contains(files["customers.json"], "password_hash") {
		t.Errorf("account export: kyc %s; customers %s", files["kyc.json"], files["customers.json"])
	}
	files = gdprExportZIP(t, b, "--merchant", m.ID, "--customer", gdprPlayer)
	if !strings.Contains(files["payments.json"], gdprPhone) || !strings.Contains(files["risk_evaluations.json"], p["id"].(string)) ||
		strings.Contains(files["payments.json"], "client_secret") {
		t.Errorf("merchant customer export: payments %s; risk %s", files["payments.json"], files["risk_evaluations.json"])
	}

	// A backup (SQLite) or pg_dump taken before the erasure: the sealed
	// columns are ciphertext in it (checkGDPRBackup, after the shredding).
	backup, backupKeys := gdprBackup(t, b)

	// Erasure: recorded, the account closed at once, the payer told the date.
	out, err = runKassa(t, b, "gdpr", "erase", "--customer", cus, "--requested-by", "ticket-42")
	if err != nil {
		t.Fatal(err)
	}
	shredDay := time.Now().UTC().Add(5 * 365 * 24 * time.Hour).Format(time.DateOnly)
	if !strings.Contains(out, "destroyed on "+shredDay) {
		t.Errorf("erase says %q, want the date %s", out, shredDay)
	}
	// The payer is sent the date too (the development outbox shows it).
	shredDate := time.Now().UTC().Add(5 * 365 * 24 * time.Hour).Format("2 January 2006")
	if out, err := runKassa(t, b, "outbox", "--to", gdprEmail, "--json"); err != nil || !strings.Contains(out, "is closed") ||
		!strings.Contains(out, shredDate) {
		t.Errorf("erasure notice in the outbox: %v %s", err, out)
	}
	if _, err := runKassa(t, b, "gdpr", "erase", "--merchant", m.ID, "--customer", gdprPlayer); err != nil {
		t.Fatal(err)
	}
	// During the retention the archive still opens for the authorities.
	files = gdprExportZIP(t, b, "--customer", cus)
	if !strings.Contains(files["archive/kyc.json"], gdprDocNo) || strings.Contains(files["customers.json"], gdprEmail) {
		t.Errorf("export during the retention: archive kyc %q; live customers %s", files["archive/kyc.json"], files["customers.json"])
	}

	// The retention ends: the worker's leased privacy job shreds.
	clock := testclock.New(time.Now().Add(5*365*24*time.Hour + 48*time.Hour))
	a := gdprApp(t, b, clock)
	// Each export and erasure is in the audit log, as the CLI: the
	// account's under the platform, the merchant's customer's under it.
	for _, want := range []struct{ org, action, target string }{
		{audit.Platform, "gdpr.export", cus}, {audit.Platform, "gdpr.erase", cus}, {m.ID, "gdpr.erase", m.ID + "/" + gdprPlayer},
	} {
		es, _, err := a.audit.List(context.Background(), audit.Filter{Org: want.org, Action: want.action, Target: want.target, Limit: 10})
		if err != nil || len(es) == 0 || es[0].Actor.Kind != audit.ActorCLI {
			t.Errorf("audit %s %s of %s: %+v %v", want.org, want.action, want.target, es, err)
		}
	}
	if err := a.runPrivacy(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkGDPRBackup(t, a, b, backup, backupKeys, cus, m.ID+"/"+gdprPlayer)
	// The worker's identity-prune job has long removed the notice from
	// the development outbox (after a day).
	if _, err := a.identity.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The audit log keeps who did what and when; the person's address
	// is gone from it, the member's own stays.
	if es, _, err := a.audit.List(context.Background(), audit.Filter{Org: audit.Platform, Action: "risk_lock.lift", Limit: 10}); err != nil ||
		len(es) != 1 || es[0].Target != "email:[erased]" {
		t.Errorf("audit entry of the lifted lock: %+v %v", es, err)
	}
	if es, _, err := a.audit.List(context.Background(), audit.Filter{Org: m.ID, Action: "member.invite", Limit: 10}); err != nil ||
		len(es) != 1 || !strings.Contains(string(es[0].After), gdprStaff) {
		t.Errorf("audit entry of the member: %+v %v", es, err)
	}
	a.close()
	files = gdprExportZIP(t, b, "--customer", cus)
	if _, ok := files["archive/kyc.json"]; ok || !strings.Contains(files["erasure.json"], "shredded_at") {
		t.Errorf("after the retention the archive still opens: %v", files["erasure.json"])
	}

	dumps := map[string][]byte{}
	if b.name == "sqlite" {
		entries, err := os.ReadDir(b.data)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.Contains(e.Name(), ".db") {
				dumps[e.Name()], _ = os.ReadFile(filepath.Join(b.data, e.Name()))
			}
		}
		if len(dumps["kassa.db"]) == 0 {
			t.Fatalf("no kassa.db in %s", b.data)
		}
	} else {
		dumps["pg_dump"] = gdprPGDump(t, b)
	}
	for name, d := range dumps {
		for _, needle := range gdprNeedles {
			if i := bytes.Index(d, []byte(needle)); i >= 0 {
				lo, hi := max(0, i-80), min(len(d), i+len(needle)+80)
				t.Errorf("%s still holds %q: …%q…", name, needle, d[lo:hi])
			}
		}
	}

	if out, err := runKassa(t, b, "ledger", "verify"); err != nil {
		t.Errorf("ledger verify after erasure: %v %s", err, out)
	}
	if out, err := runKassa(t, b, "reconcile"); err != nil || !strings.Contains(out, " 0 mismatches") {
		t.Errorf("reconcile after erasure: %v %s", err, out)
	}
	// The account was closed at the request: no login by its address or
	// by the tombstone that replaced it. (A failed login counts against
	// the address it names, in identity's throttles, pruned a day after;
	// so this comes after the scan.)
	a = gdprApp(t, b, clock)
	for _, addr := range []string{gdprEmail, cus + "@erased.invalid"} {
		if _, err := a.identity.Login(context.Background(), identity.LoginRequest{Email: addr, Password: "correct horse battery staple 42",
			Client: identity.Client{IP: "192.0.2.7", UserAgent: "e2e"}}); kassa.ErrorKind(err) != kassa.EUnauthorized {
			t.Errorf("login to the closed account as %s: %v", addr, err)
		}
	}
	a.close()
	s = startServe(t, b, "--rate-limit", "0")
	if after := mustJSON(t, s.call(t, "GET", gdprBalance, sk, "", nil, 200)); after != balance {
		t.Errorf("balance changed by the erasure: %s, was %s", after, balance)
	}
	s.stop(t, os.Interrupt)
}

// gdprExportZIP runs kassa gdpr export and returns the ZIP's files.
func gdprExportZIP(t *testing.T, b backend, args ...string) map[string]string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "export.zip")
	if out, err := runKassa(t, b, append([]string{"gdpr", "export", "--out", path}, args...)...); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	files := map[string]string{}
	for _, f := range z.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name] = string(b)
	}
	return files
}

// gdprApp opens Kassa's services over b's data with the privacy
// service's clock at clock.
func gdprApp(t *testing.T, b backend, clock *testclock.Clock) *app {
	t.Helper()
	var cfg appConfig
	fs := newFlagSet("test", "", io.Discard)
	cfg.register(fs)
	if err := parseFlags(fs, b.args, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	cfg.privacy.now = clock.Now
	cfg.privacy.rotateKEK = true // one node: PostgreSQL rotates too
	cfg.identity.now = clock.Now
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// gdprPGDump dumps b's PostgreSQL database (data only).
func gdprPGDump(t *testing.T, b backend) []byte {
	t.Helper()
	var url string
	for i, a := range b.args {
		if a == "--database" {
			url = b.args[i+1]
		}
	}
	bin := "/usr/lib/postgresql/15/bin/pg_dump"
	if d := os.Getenv("KASSA_TEST_PG_BINDIR"); d != "" {
		bin = filepath.Join(d, "pg_dump")
	}
	cmd := exec.Command(bin, "--data-only", "--no-owner", url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg_dump: %v: %s", err, stderr.String())
	}
	if !bytes.Contains(out, []byte("privacy_erasures")) {
		t.Fatal("pg_dump has no privacy_erasures table")
	}
	return out
}

// TestGDPRUsage: kassa gdpr refuses what names no person (exit 2) before
// it opens anything.
func TestGDPRUsage(t *testing.T) {
	for _, args := range [][]string{
		{"gdpr"},
		{"gdpr", "forget"},
		{"gdpr", "export"},
		{"gdpr", "erase", "--customer", "player-7"}, // a merchant's id without --merchant
		{"gdpr", "erase", "--merchant", "mer_x", "--customer", "a/b"},
	} {
		err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
		if code := exitCode(err, io.Discard); code != 2 {
			t.Errorf("kassa %v exits %d (%v), want 2", args, code, err)
		}
	}
}
