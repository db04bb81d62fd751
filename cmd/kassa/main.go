// Command kassa runs the Kassa payment platform and administers it.
//
// Exit codes: 0 success, 1 the command failed, 2 bad usage (unknown
// command, bad flags), 3 a check found a problem (e.g. ledger verify).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// usageError is bad usage; its message is printed with a pointer to -h.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// checkFailed is a check that ran and found a problem.
type checkFailed struct{ msg string }

func (e checkFailed) Error() string { return e.msg }

func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	var cf checkFailed
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "kassa: %s\nRun 'kassa -h' for usage.\n", ue.msg)
		return 2
	case errors.As(err, &cf):
		fmt.Fprintf(stderr, "kassa: %s\n", cf.msg)
		return 3
	default:
		fmt.Fprintf(stderr, "kassa: %s\n", err)
		return 1
	}
}

// env looks up environment variables; tests pass their own.
type env func(string) string

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, env env, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the Kassa server", runServe},
		{"migrate", "apply database migrations and exit", runMigrate},
		{"merchants", "create and list merchants; rotate and revoke their keys", runMerchants},
		{"ledger", "verify the ledger offline", runLedger},
		{"vouchers", "issue prepaid vouchers; allow merchants to issue them", runVouchers},
		{"keys", "rotate, inspect and retire the card vault's key-encryption keys", runKeys},
		{"backup", "write a consistent copy of the SQLite database and the data directory's key files while serve runs", runBackup},
		{"policy", "check the jurisdiction policy files (policy check)", runPolicy},
		{"reconcile", "prove payments, refunds and the ledger agree (--fix repairs duplicates)", runReconcile},
		{"model", "train, evaluate, import and manage risk models (model train|evaluate|import-xgboost|upload|list|promote|shadow|retire|rollback)", runModel},
		{"simulate", "write a labelled stream of simulated payment attempts, or drive a running Kassa with it", runSimulate},
		{"members", "invite, list and remove the console's members: merchants' teams and the platform's operators (members invite|list|remove)", runMembers},
		{"outbox", "show the development outbox: one-time codes sent to payers (--notifier outbox)", runOutbox},
		{"risk", "export stored risk evaluations for retraining; list, add and lift platform-wide locks (risk export|locks)", runRisk},
		{"credit", "list pay later plans; write one off by hand, audited (credit plans|write-off)", runCredit},
		{"gdpr", "export a person's data as a ZIP; erase it (crypto-shredded after the AML retention) (gdpr export|erase)", runGDPR},
		{"bench", "measure throughput and latency (bench ledger|payments|vault)", runBench},
		{"version", "print the version", runVersion},
	}
}

func run(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stderr)
		if len(args) == 0 {
			return usagef("no command given")
		}
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	return usagef("unknown command %q", args[0])
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "kassa — self-hosted payment processing\n\nUsage:\n  kassa <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'kassa <command> -h' for a command's flags. Every flag --name can also be\nset through the environment as KASSA_NAME (dashes become underscores); a flag\ngiven on the command line wins.\n")
}

// newFlagSet returns a flag set whose usage names the command.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: kassa %s\n\nFlags (each also KASSA_<NAME>):\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, then fills every flag not given on the command
// line from KASSA_<NAME> in the environment.
func parseFlags(fs *flag.FlagSet, args []string, env env) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []string
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		name := "KASSA_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := env(name); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q: %v", name, v, err))
			}
		}
	})
	if len(errs) > 0 {
		sort.Strings(errs)
		return usageError{"bad environment: " + strings.Join(errs, "; ")}
	}
	return nil
}

func runVersion(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "version", stderr)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kassa %s\n", Version)
	return nil
}
