package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
)

// Files of the card vault in the data directory.
const (
	vaultKEKFile            = "vault-kek.json"
	vaultFingerprintKeyFile = "vault-fingerprint.key"
	// vaultWorkInterval is how often serve sweeps expired CVCs, rewraps
	// data keys under old KEK versions and rereads the key file.
	vaultWorkInterval = 30 * time.Second
)

// vaultFlags say where the vault's keys are.
type vaultFlags struct {
	kekFile        string
	keks           string
	fingerprintKey string
}

func (f *vaultFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.kekFile, "vault-kek-file", "", "`file` holding every version of the card vault's key-encryption keys (JSON, 0600); default "+vaultKEKFile+" in --data, made on first start. Every node needs the same file; losing a version loses the cards it protects")
	fs.StringVar(&f.keks, "vault-keks", "", "read-only key-encryption keys instead of the key file, as `version:base64,...` (32-byte keys; the highest version is current) or file:PATH of a secret file holding that; set it through KASSA_VAULT_KEKS, never on a command line")
	fs.StringVar(&f.fingerprintKey, "vault-fingerprint-key", "", "`file` with the HMAC key of card fingerprints (base64, ≥ 32 bytes); default "+vaultFingerprintKeyFile+" in --data. Changing it changes every fingerprint")
}

// keyProvider returns the read-only provider of --vault-keks, or the key
// file (made when absent).
func (f *vaultFlags) keyProvider(dataDir string) (vault.KeyProvider, error) {
	if f.keks != "" {
		s := f.keks
		if path, ok := strings.CutPrefix(s, "file:"); ok {
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("vault key-encryption keys: %w", err)
			}
			s = string(b)
		}
		return vault.ParseKeys(s)
	}
	path := f.kekFile
	if path == "" {
		path = filepath.Join(dataDir, vaultKEKFile)
	}
	return vault.OpenKeyFile(path)
}

// openVault builds the vault service over db and keys; the caller closes
// it. Everything else that seals with the KEKs (identity, webhooks) shares
// keys, so that the versions the service reloads are the ones they use.
func openVault(db *sqlstore.DB, dataDir string, keys vault.KeyProvider, f vaultFlags, logger *slog.Logger) (*vault.Service, error) {
	fpKey, err := binaryKey(dataDir, f.fingerprintKey, vaultFingerprintKeyFile)
	if err != nil {
		return nil, err
	}
	return vault.New(vault.Config{Store: sqlstore.NewVault(db), Keys: keys, FingerprintKey: fpKey, Logger: logger})
}

func runKeys(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	const usage = "Usage: kassa keys rotate|status|rewrap|retire VERSION [flags]\n" +
		"  rotate        add a key-encryption key version; new cards are protected by it, and\n" +
		"                serve's background rewrap moves the older ones over without downtime\n" +
		"  status        list the versions and how many records each still protects (card\n" +
		"                records and other sealed values: KYC data, TOTP and webhook secrets,\n" +
		"                outbox messages)\n" +
		"  rewrap        rewrap every record and sealed value under an old version now (serve\n" +
		"                also does it)\n" +
		"  retire N      remove version N from the key file; refused while anything uses it\n"
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return usagef("keys needs a subcommand")
		}
		return nil
	}
	sub, rest := args[0], args[1:]
	var version int
	if sub == "retire" {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return usagef("keys retire needs the version to retire")
		}
		v, err := strconv.Atoi(rest[0])
		if err != nil || v <= 0 {
			return usagef("keys retire: %q is not a key version", rest[0])
		}
		version, rest = v, rest[1:]
	}
	switch sub {
	case "rotate", "status", "rewrap", "retire":
	default:
		return usagef("unknown keys subcommand %q", sub)
	}
	var store storeFlags
	var vf vaultFlags
	var asJSON bool
	fs := newFlagSet("keys "+sub, "keys "+sub+" [flags]", stderr)
	store.register(fs)
	vf.register(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	if err := parseFlags(fs, rest, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("keys %s: unexpected argument %q", sub, fs.Arg(0))
	}
	db, err := store.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	keys, err := vf.keyProvider(store.data)
	if err != nil {
		return err
	}
	svc, err := openVault(db, store.data, keys, vf, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	defer svc.Close()
	switch sub {
	case "rotate":
		v, err := svc.RotateKey(ctx)
		if errors.Is(err, vault.ErrReadOnly) {
			return fmt.Errorf("the keys come from --vault-keks (KASSA_VAULT_KEKS): add a version there and restart")
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "key-encryption key version %d is current; running servers pick it up within %s, and their rewrap moves older records over\n", v, vaultWorkInterval)
	case "rewrap":
		n, err := svc.RewrapAll(ctx, vault.RewrapBatchDefault)
		fmt.Fprintf(stderr, "rewrapped %d records\n", n)
		if err != nil {
			return err
		}
	case "retire":
		if err := svc.RetireKey(ctx, version); err != nil {
			if errors.Is(err, vault.ErrReadOnly) {
				return fmt.Errorf("the keys come from --vault-keks (KASSA_VAULT_KEKS): remove the version there")
			}
			return err
		}
		fmt.Fprintf(stderr, "key-encryption key version %d removed\n", version)
	}
	return printKeyStatus(ctx, svc, asJSON, stdout)
}

type keyStatusJSON struct {
	Version   int   `json:"version"`
	Current   bool  `json:"current"`
	Available bool  `json:"available"`
	Records   int64 `json:"records"`
	Sealed    int64 `json:"sealed_values"`
}

func printKeyStatus(ctx context.Context, svc *vault.Service, asJSON bool, stdout io.Writer) error {
	st, err := svc.KeyStatus(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		out := make([]keyStatusJSON, len(st))
		for i, k := range st {
			out[i] = keyStatusJSON(k)
		}
		return json.NewEncoder(stdout).Encode(map[string]any{"keys": out})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tCURRENT\tRECORDS\tOF WHICH SEALED VALUES\tNOTE")
	var missing bool
	for _, k := range st {
		note := ""
		switch {
		case !k.Available:
			note, missing = "KEY MISSING: these records cannot be read", true
		case !k.Current && k.Records == 0:
			note = "unused: can be retired"
		case !k.Current:
			note = "rewrap pending"
		}
		cur := ""
		if k.Current {
			cur = "yes"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\n", k.Version, cur, k.Records, k.Sealed, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if missing {
		return checkFailed{"records are protected by a key-encryption key version that is missing"}
	}
	return nil
}
