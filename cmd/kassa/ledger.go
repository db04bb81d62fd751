package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/store/sqlstore"
)

// newLedgerStore is the one place that picks the ledger's storage.
func newLedgerStore(db *sqlstore.DB) ledger.Store { return sqlstore.NewLedger(db) }

func runLedger(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	usage := "Usage: kassa ledger verify [--data DIR | --database URL] [--verifier-key KEY | --ledger-key FILE]\n" +
		"  verify   re-derive every balance and the Merkle root offline; check every checkpoint\n"
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return usagef("ledger needs a subcommand")
		}
		return nil
	}
	switch args[0] {
	case "verify":
		return ledgerVerify(ctx, args[1:], getenv, stdout, stderr)
	}
	return usagef("unknown ledger subcommand %q", args[0])
}

func ledgerVerify(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var sf storeFlags
	fs := newFlagSet("ledger verify", "ledger verify [flags]", stderr)
	sf.register(fs)
	keyFile := fs.String("ledger-key", "", "checkpoint signer key `file` (default: "+ledgerKeyFile+" in --data); its public half checks the signatures")
	vkey := fs.String("verifier-key", "", "note verifier `key` (or a file holding it) to check checkpoints with, instead of --ledger-key")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	verifier, err := verifierKey(sf.data, *keyFile, *vkey)
	if err != nil {
		return err
	}
	db, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	sum, err := ledger.Verify(ctx, newLedgerStore(db), verifier)
	elapsed := time.Since(start)
	if err != nil {
		if _, ok := errors.AsType[*ledger.VerifyError](err); ok {
			return checkFailed{"FAILED " + err.Error()}
		}
		return fmt.Errorf("ledger verify: %w", err)
	}
	perSec := float64(sum.Leaves) / max(elapsed.Seconds(), 1e-9)
	fmt.Fprintf(stdout, "ledger ok: %d leaves (%d accounts, %d transfers), %d checkpoints consistent, root %x, debits = credits in %d currencies; %s (%.0f leaves/s)\n",
		sum.Leaves, sum.Accounts, sum.Transfers, sum.Checkpoints, sum.Root[:8], len(sum.Posted),
		elapsed.Round(time.Millisecond), perSec)
	return nil
}

// verifierKey picks the key that checks checkpoint signatures: given
// outright, read from a file, or derived from the signer key.
func verifierKey(dataDir, keyFile, vkey string) (string, error) {
	if vkey != "" {
		if b, err := os.ReadFile(vkey); err == nil {
			vkey = string(b)
		}
		return strings.TrimSpace(vkey), nil
	}
	path := keyFile
	if path == "" {
		path = dataDir + "/" + ledgerKeyFile
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("no verifier key: give --verifier-key or --ledger-key (%w)", err)
	}
	return ledger.VerifierKeyFor(strings.TrimSpace(string(b)))
}
