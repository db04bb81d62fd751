package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/kassa/kassa/internal/syncbuf"
	"github.com/kassa/kassa/internal/testclock"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
)

func init() {
	Register("Vault", func(t *testing.T, open Opener) {
		t.Run("TokenizeAttach", func(t *testing.T) { testVaultTokenizeAttach(t, open) })
		t.Run("CVCDestroyed", func(t *testing.T) { testVaultCVC(t, open) })
		t.Run("Rotation", func(t *testing.T) { testVaultRotation(t, open) })
		t.Run("Tampering", func(t *testing.T) { testVaultTampering(t, open) })
		t.Run("NoPANAtRest", func(t *testing.T) { testVaultNoPANAtRest(t, open) })
	})
}

// VaultTestCards are valid test numbers of every supported brand,
// including the built-in test acquirer's.
var VaultTestCards = []struct {
	PAN   string
	Brand vault.Brand
}{
	{"4242424242424242", vault.Visa},
	{"4000000000000002", vault.Visa},
	{"4000000000009995", vault.Visa},
	{"4000000000009979", vault.Visa},
	{"4000000000003220", vault.Visa},
	{"4000000000000119", vault.Visa},
	{"4000000000000259", vault.Visa},
	{"5555555555554444", vault.Mastercard},
	{"2223003122003222", vault.Mastercard},
	{"378282246310005", vault.Amex},
	{"6011111111111117", vault.Discover},
	{"3566002020360505", vault.JCB},
	{"36227206271667", vault.Diners},
}

func testCVC(b vault.Brand) string {
	if b == vault.Amex {
		return "7373"
	}
	return "737"
}

type vaultEnv struct {
	db      *sqlstore.DB
	svc     *vault.Service
	keys    *vault.FileKeyProvider
	clock   *testclock.Clock
	a, b    merchant.Created
	logs    *syncbuf.Buffer
	keyPath string
}

func newVaultEnv(t *testing.T, open Opener) *vaultEnv {
	t.Helper()
	ctx := context.Background()
	e := &vaultEnv{db: open(t), clock: NewFakeClock(), logs: &syncbuf.Buffer{}}
	e.clock.Set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	ms := merchant.NewService(sqlstore.NewMerchants(e.db), nil, id.Generator{})
	var err error
	if e.a, err = ms.Create(ctx, "Shop A"); err != nil {
		t.Fatal(err)
	}
	if e.b, err = ms.Create(ctx, "Shop B"); err != nil {
		t.Fatal(err)
	}
	e.keyPath = filepath.Join(t.TempDir(), "vault-kek.json")
	if e.keys, err = vault.OpenKeyFile(e.keyPath); err != nil {
		t.Fatal(err)
	}
	e.svc, err = vault.New(vault.Config{
		Store: sqlstore.NewVault(e.db), Keys: e.keys, FingerprintKey: bytes.Repeat([]byte("f"), 32),
		Clock: e.clock.Now, Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.svc.Close)
	return e
}

func (e *vaultEnv) tokenize(t *testing.T, merchantID, pan string, brand vault.Brand) vault.Token {
	t.Helper()
	tok, err := e.svc.Tokenize(context.Background(), merchantID, vault.CardInput{
		Number: pan, ExpMonth: 12, ExpYear: 2030, CVC: testCVC(brand), Name: "Ada Lovelace"})
	if err != nil {
		t.Fatalf("Tokenize(%s): %v", brand, err)
	}
	return tok
}

func wantVaultCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if e := kassa.AsError(err); e == nil || e.Code != code {
		t.Errorf("%s = %v, want %s", what, err, code)
	}
}

func testVaultTokenizeAttach(t *testing.T, open Opener) {
	e := newVaultEnv(t, open)
	ctx := context.Background()
	for _, c := range VaultTestCards {
		tok := e.tokenize(t, e.a.ID, c.PAN, c.Brand)
		d := tok.Card
		if !strings.HasPrefix(tok.ID, "tok_") || tok.Used || d.Brand != c.Brand || d.Last4 != c.PAN[len(c.PAN)-4:] ||
			d.BIN != c.PAN[:6] || d.ExpMonth != 12 || d.ExpYear != 2030 || len(d.Fingerprint) != 22 {
			t.Errorf("token of %s = %+v", c.Brand, tok)
		}
		// The same card has the same fingerprint at another merchant.
		other := e.tokenize(t, e.b.ID, c.PAN, c.Brand)
		if other.Card.Fingerprint != d.Fingerprint {
			t.Errorf("fingerprints differ across merchants: %s, %s", other.Card.Fingerprint, d.Fingerprint)
		}
		// Another merchant cannot see, attach or use it.
		if _, err := e.svc.Token(ctx, e.b.ID, tok.ID); kassa.ErrorKind(err) != kassa.ENotFound {
			t.Errorf("Token by another merchant = %v, want not found", err)
		}
		_, err := e.svc.Attach(ctx, e.b.ID, tok.ID, "")
		wantVaultCode(t, "Attach by another merchant", err, "token_not_found")
		_, err = e.svc.UseToken(ctx, e.b.ID, tok.ID)
		wantVaultCode(t, "UseToken by another merchant", err, "token_not_found")

		card, err := e.svc.Attach(ctx, e.a.ID, tok.ID, "cus_ada")
		if err != nil {
			t.Fatalf("Attach: %v", err)
		}
		if !strings.HasPrefix(card.ID, "card_") || card.CustomerID != "cus_ada" || card.Details != d || card.TokenID != tok.ID {
			t.Errorf("card = %+v, want details %+v", card, d)
		}
		got, err := e.svc.Card(ctx, e.a.ID, card.ID)
		if err != nil || got != card {
			t.Errorf("Card = %+v, %v; want %+v", got, err, card)
		}
		if _, err := e.svc.Card(ctx, e.b.ID, card.ID); kassa.ErrorKind(err) != kassa.ENotFound {
			t.Errorf("Card by another merchant = %v, want not found", err)
		}
		// A used token can be neither attached nor used again.
		_, err = e.svc.Attach(ctx, e.a.ID, tok.ID, "")
		wantVaultCode(t, "second Attach", err, "token_already_used")
		_, err = e.svc.UseToken(ctx, e.a.ID, tok.ID)
		wantVaultCode(t, "UseToken after Attach", err, "token_already_used")
		if tk, err := e.svc.Token(ctx, e.a.ID, tok.ID); err != nil || !tk.Used {
			t.Errorf("Token after Attach = %+v, %v; want used", tk, err)
		}

		// The connector path: the PAN and, once, the CVC.
		pan, cvc, err := e.svc.Detokenize(ctx, card.ID)
		if err != nil || pan != c.PAN || cvc != testCVC(c.Brand) {
			t.Errorf("Detokenize(card): right PAN %v, cvc %q, %v", pan == c.PAN, cvc, err)
		}
		if err := e.svc.DestroyCVC(ctx, card.ID); err != nil {
			t.Fatal(err)
		}
		pan, cvc, err = e.svc.Detokenize(ctx, card.ID)
		if err != nil || pan != c.PAN || cvc != "" {
			t.Errorf("Detokenize after DestroyCVC: pan ok %v, cvc %q, %v", pan == c.PAN, cvc, err)
		}
	}
	// One-off use of a token, concurrently: exactly one caller wins.
	tok := e.tokenize(t, e.a.ID, "4242424242424242", vault.Visa)
	var wins, used atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := e.svc.UseToken(ctx, e.a.ID, tok.ID)
			switch {
			case err == nil:
				wins.Add(1)
			case kassa.AsError(err) != nil && kassa.AsError(err).Code == "token_already_used":
				used.Add(1)
			default:
				t.Errorf("UseToken: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || used.Load() != 7 {
		t.Errorf("concurrent UseToken: %d won, %d refused; want 1 and 7", wins.Load(), used.Load())
	}
	for _, ref := range []string{"tok_nope", "card_nope", "pay_x", ""} {
		if _, _, err := e.svc.Detokenize(ctx, ref); kassa.ErrorKind(err) != kassa.ENotFound {
			t.Errorf("Detokenize(%q) = %v, want not found", ref, err)
		}
	}
	_, err := e.svc.Attach(ctx, e.a.ID, e.tokenize(t, e.a.ID, "4242424242424242", vault.Visa).ID, "bob")
	wantVaultCode(t, "Attach with a bad customer", err, "customer_invalid")
}

func testVaultCVC(t *testing.T, open Opener) {
	e := newVaultEnv(t, open)
	ctx := context.Background()
	old := e.tokenize(t, e.a.ID, "4242424242424242", vault.Visa)
	e.clock.Advance(vault.CVCTTLDefault / 2)
	fresh := e.tokenize(t, e.a.ID, "5555555555554444", vault.Mastercard)
	e.clock.Advance(vault.CVCTTLDefault/2 + time.Second)
	// Past its time the CVC is not handed out even before the sweep.
	if _, cvc, err := e.svc.Detokenize(ctx, old.ID); err != nil || cvc != "" {
		t.Errorf("Detokenize of an expired CVC = %q, %v; want none", cvc, err)
	}
	n, err := e.svc.SweepCVCs(ctx)
	if err != nil || n != 1 {
		t.Errorf("SweepCVCs = %d, %v; want 1", n, err)
	}
	if _, cvc, _ := e.svc.Detokenize(ctx, fresh.ID); cvc != "737" {
		t.Errorf("fresh CVC = %q, want kept", cvc)
	}
	// Destroyed CVC bytes are gone from the row, not just hidden.
	var cvcCT []byte
	if err := e.db.QueryRowContext(ctx, `SELECT cvc_ct FROM vault_tokens WHERE id = ?`, old.ID).Scan(&cvcCT); err != nil || cvcCT != nil {
		t.Errorf("cvc_ct after sweep = %x, %v; want NULL", cvcCT, err)
	}
	if err := e.svc.DestroyCVC(ctx, fresh.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DestroyCVC(ctx, fresh.ID); err != nil { // twice is fine
		t.Fatal(err)
	}
	if pan, cvc, err := e.svc.Detokenize(ctx, fresh.ID); pan != "5555555555554444" || cvc != "" || err != nil {
		t.Errorf("after DestroyCVC: cvc %q, %v", cvc, err)
	}
}

func testVaultRotation(t *testing.T, open Opener) {
	e := newVaultEnv(t, open)
	ctx := context.Background()
	// Tokenize concurrently while the key is rotated in the middle.
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			c := VaultTestCards[w%len(VaultTestCards)]
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tok := e.tokenize(t, e.a.ID, c.PAN, c.Brand)
				var ref string
				if i%2 == 0 {
					card, err := e.svc.Attach(ctx, e.a.ID, tok.ID, "")
					if err != nil {
						t.Error(err)
						return
					}
					ref = card.ID
				} else {
					ref = tok.ID
				}
				mu.Lock()
				ids = append(ids, ref+" "+c.PAN)
				mu.Unlock()
			}
		})
	}
	waitFor := func(n int) {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			l := len(ids)
			mu.Unlock()
			if l >= n {
				return
			}
		}
		t.Fatalf("tokenization made no progress")
	}
	waitFor(40)
	v, err := e.svc.RotateKey(ctx)
	if err != nil || v != 2 {
		t.Fatalf("RotateKey = %d, %v; want 2", v, err)
	}
	mu.Lock()
	n := len(ids)
	mu.Unlock()
	waitFor(n + 40)
	close(stop)
	wg.Wait()

	status, err := e.svc.KeyStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(status) != 2 || status[0].Records == 0 || status[1].Records == 0 || !status[1].Current {
		t.Errorf("status after rotation under load = %+v; want records under both versions, 2 current", status)
	}
	err = e.svc.RetireKey(ctx, 1)
	wantVaultCode(t, "RetireKey(1) before rewrap", err, "key_version_in_use")
	wantVaultCode(t, "RetireKey(2)", e.svc.RetireKey(ctx, 2), "key_version_current")

	var pans []string // the ciphertexts must not change, only the wrapped keys
	snapshot := func() map[string]string {
		m := map[string]string{}
		rows, err := e.db.QueryContext(ctx, `SELECT id, pan_ct FROM vault_tokens`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var ct []byte
			rows.Scan(&id, &ct)
			m[id] = string(ct)
		}
		return m
	}
	before := snapshot()
	moved, err := e.svc.RewrapAll(ctx, 7) // small batches: many rounds
	if err != nil || moved != int(status[0].Records) {
		t.Errorf("RewrapAll = %d, %v; want %d", moved, err, status[0].Records)
	}
	after := snapshot()
	for id, ct := range before {
		if after[id] != ct {
			t.Errorf("rewrap changed the PAN ciphertext of %s", id)
		}
	}
	status, _ = e.svc.KeyStatus(ctx)
	if status[0].Version != 1 || status[0].Records != 0 || status[1].Records != int64(len(before)) {
		t.Errorf("status after rewrap = %+v", status)
	}
	if err := e.svc.RetireKey(ctx, 1); err != nil {
		t.Fatalf("RetireKey(1) after rewrap: %v", err)
	}
	if vs := e.keys.Versions(); len(vs) != 1 || vs[0] != 2 {
		t.Errorf("versions after retiring 1 = %v", vs)
	}
	reread, err := vault.OpenKeyFile(e.keyPath)
	if err != nil || len(reread.Versions()) != 1 {
		t.Errorf("key file after retiring: %v, %v", reread, err)
	}
	if fi, err := os.Stat(e.keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	// Every card and token still decrypts, under the new key only.
	for _, s := range ids {
		ref, pan, _ := strings.Cut(s, " ")
		got, _, err := e.svc.Detokenize(ctx, ref)
		if err != nil || got != pan {
			t.Errorf("Detokenize(%s) after rotation: right PAN %v, %v", ref, got == pan, err)
		}
		pans = append(pans, got)
	}
	if len(pans) < 80 {
		t.Errorf("only %d cards checked", len(pans))
	}
}

func testVaultTampering(t *testing.T, open Opener) {
	e := newVaultEnv(t, open)
	ctx := context.Background()
	a := e.tokenize(t, e.a.ID, "4242424242424242", vault.Visa)
	b := e.tokenize(t, e.a.ID, "5555555555554444", vault.Mastercard)
	c := e.tokenize(t, e.a.ID, "378282246310005", vault.Amex)
	read := func(id, col string) []byte {
		var v []byte
		if err := e.db.QueryRowContext(ctx, `SELECT `+col+` FROM vault_tokens WHERE id = ?`, id).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	write := func(id, col string, v any) {
		err := e.db.Transact(ctx, func(tx *sqlstore.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE vault_tokens SET `+col+` = ? WHERE id = ?`, v, id)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i%len(b)] ^= 0x01
		return b
	}
	wantFail := func(what, ref string) {
		t.Helper()
		pan, cvc, err := e.svc.Detokenize(ctx, ref)
		if !errors.Is(err, vault.ErrDecrypt) || pan != "" || cvc != "" {
			t.Errorf("%s: Detokenize = %q, %q, %v; want ErrDecrypt and no data", what, pan, cvc, err)
		}
	}
	orig := map[string][]byte{}
	for _, col := range []string{"pan_ct", "pan_key", "cvc_ct", "cvc_key"} {
		orig[col] = read(a.ID, col)
	}
	restore := func() {
		for col, v := range orig {
			write(a.ID, col, v)
		}
		if pan, _, err := e.svc.Detokenize(ctx, a.ID); err != nil || pan != "4242424242424242" {
			t.Fatalf("restored record does not open: %v", err)
		}
	}
	for _, col := range []string{"pan_ct", "pan_key", "cvc_ct", "cvc_key"} {
		for _, i := range []int{0, 13, len(orig[col]) - 1} { // nonce, body, tag
			write(a.ID, col, flip(orig[col], i))
			wantFail(fmt.Sprintf("%s byte %d flipped", col, i), a.ID)
			restore()
		}
		write(a.ID, col, orig[col][:len(orig[col])-1])
		wantFail(col+" cut short", a.ID)
		restore()
	}
	// A ciphertext and its wrapped key moved to another record.
	write(a.ID, "pan_ct", read(b.ID, "pan_ct"))
	write(a.ID, "pan_key", read(b.ID, "pan_key"))
	wantFail("PAN moved from another record", a.ID)
	restore()
	// The PAN's sealed data moved into the CVC field of the same record.
	write(a.ID, "cvc_ct", orig["pan_ct"])
	write(a.ID, "cvc_key", orig["pan_key"])
	wantFail("PAN moved into the CVC field", a.ID)
	restore()
	// A record claiming another KEK version.
	if _, err := e.svc.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	write(a.ID, "kek_version", 2)
	wantFail("wrong KEK version", a.ID)
	write(a.ID, "kek_version", 99)
	if _, _, err := e.svc.Detokenize(ctx, a.ID); err == nil {
		t.Error("Detokenize under an unknown KEK version succeeded")
	}
	write(a.ID, "kek_version", 1)
	// Rewrap leaves a broken record alone, reports it, and moves the rest.
	write(c.ID, "pan_key", flip(read(c.ID, "pan_key"), 20))
	n, err := e.svc.RewrapAll(ctx, 10)
	if n != 2 || !errors.Is(err, vault.ErrDecrypt) {
		t.Errorf("RewrapAll with a broken record = %d, %v; want 2 and ErrDecrypt", n, err)
	}
	if pan, _, err := e.svc.Detokenize(ctx, b.ID); err != nil || pan != "5555555555554444" {
		t.Errorf("b after rewrap: %v", err)
	}
	wantFail("broken record after rewrap", c.ID)
	if strings.Contains(e.logs.String(), "378282246310005") {
		t.Error("a PAN appears in the logs")
	}
}

// testVaultNoPANAtRest tokenizes and attaches every test card and then
// looks for the digits of each PAN in the raw database (the SQLite file
// and its WAL; a pg_dump of the PostgreSQL database) and in the logs.
func testVaultNoPANAtRest(t *testing.T, open Opener) {
	e := newVaultEnv(t, open)
	ctx := context.Background()
	for _, c := range VaultTestCards {
		tok := e.tokenize(t, e.a.ID, c.PAN, c.Brand)
		card, err := e.svc.Attach(ctx, e.a.ID, tok.ID, "cus_x")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.UseToken(ctx, e.a.ID, e.tokenize(t, e.b.ID, c.PAN, c.Brand).ID); err == nil {
			t.Error("merchant A used merchant B's token")
		}
		if _, _, err := e.svc.Detokenize(ctx, card.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RewrapAll(ctx, 0); err != nil {
		t.Fatal(err)
	}
	e.svc.RunOnce(ctx)
	var dumps map[string][]byte
	switch e.db.Dialect() {
	case sqlstore.SQLite:
		dumps = sqliteFiles(t, e.db)
	case sqlstore.Postgres:
		dumps = map[string][]byte{"pg_dump": pgDump(t, e.db)}
	}
	dumps["logs"] = []byte(e.logs.String())
	dumps["key file"], _ = os.ReadFile(e.keyPath)
	for name, b := range dumps {
		if len(b) == 0 && name != "logs" {
			t.Errorf("%s is empty", name)
		}
		for _, c := range VaultTestCards {
			if bytes.Contains(b, []byte(c.PAN)) {
				t.Errorf("the PAN of a %s test card appears in %s", c.Brand, name)
			}
		}
	}
	// The check can see: the last four digits are stored in clear.
	var all []byte
	for name, b := range dumps {
		if name != "logs" && name != "key file" {
			all = append(all, b...)
		}
	}
	if !bytes.Contains(all, []byte("4444")) || !bytes.Contains(all, []byte("555555")) {
		t.Errorf("the dump does not even hold the first six and last four digits; is it the right database?")
	}
}

// sqliteFiles reads the raw bytes of the database file and its WAL.
func sqliteFiles(t *testing.T, db *sqlstore.DB) map[string][]byte {
	t.Helper()
	var seq int
	var name, file string
	if err := db.QueryRowContext(context.Background(), `SELECT seq, name, file FROM pragma_database_list WHERE name = 'main'`).
		Scan(&seq, &name, &file); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range []string{file, file + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// pgDump dumps the test's PostgreSQL database with pg_dump, connecting to
// where the session says the server listens.
func pgDump(t *testing.T, db *sqlstore.DB) []byte {
	t.Helper()
	var host, port, user, dbname string
	err := db.QueryRowContext(context.Background(), `SELECT COALESCE(host(inet_server_addr()), current_setting('unix_socket_directories')),
		current_setting('port'), current_user, current_database()`).Scan(&host, &port, &user, &dbname)
	if err != nil {
		t.Fatal(err)
	}
	bin := "/usr/lib/postgresql/15/bin/pg_dump"
	if d := os.Getenv("KASSA_TEST_PG_BINDIR"); d != "" {
		bin = filepath.Join(d, "pg_dump")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	u := url.URL{Scheme: "postgres", User: url.User(user), Host: host + ":" + port, Path: "/" + dbname, RawQuery: "sslmode=disable"}
	if env := os.Getenv("KASSA_TEST_DATABASE_URL"); env != "" { // its password, if any
		if eu, err := url.Parse(env); err == nil && eu.User != nil {
			u.User = eu.User
		}
	}
	if strings.HasPrefix(host, "/") {
		u.Host, u.RawQuery = "", "host="+url.QueryEscape(host)+"&port="+port
	}
	cmd := exec.Command(bin, "--data-only", "--no-owner", u.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg_dump: %v: %s", err, stderr.String())
	}
	if !bytes.Contains(out, []byte("vault_tokens")) {
		t.Fatalf("pg_dump has no vault_tokens table")
	}
	return out
}
