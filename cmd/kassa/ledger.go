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
	usage := "Usage: kassa ledger verify [--data DIR | --database URL] [--verifier-key KEY | --ledger-key FILE] [--checkpoint FILE]...\n" +
		"  verify   re-derive every balance and the Merkle root offline; check every checkpoint,\n" +
		"           and that the log still extends each signed checkpoint kept in a --checkpoint FILE\n"
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
	var keptFiles fileList
	fs.Var(&keptFiles, "checkpoint", "`file` with a signed checkpoint kept earlier (GET /v1/ledger/checkpoint); the log must still contain it. Repeatable")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	verifier, err := verifierKey(sf.data, *keyFile, *vkey)
	if err != nil {
		return err
	}
	var kept [][]byte
	for _, path := range keptFiles {
		b, err := readFileMax(path, keptCheckpointBytesMax)
		if err != nil {
			return fmt.Errorf("--checkpoint: %w", err)
		}
		kept = append(kept, b)
	}
	db, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	sum, err := ledger.Verify(ctx, newLedgerStore(db), verifier, kept...)
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
	if sum.Kept > 0 {
		fmt.Fprintf(stdout, "kept checkpoints ok: the log extends all %d\n", sum.Kept)
	}
	return nil
}

// keptCheckpointBytesMax bounds a --checkpoint file (a signed note is a
// few hundred bytes).
const keptCheckpointBytesMax = 64 << 10

// fileList is a repeatable flag of file names.
type fileList []string

func (l *fileList) String() string { return strings.Join(*l, ",") }

func (l *fileList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// readFileMax reads a file of at most limit bytes.
func readFileMax(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
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
