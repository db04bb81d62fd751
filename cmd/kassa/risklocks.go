package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
)

const riskLocksUsage = "usage: kassa risk locks list|add|lift [flags]\n\n" +
	"  list   show the platform-wide locks (they act for every merchant)\n" +
	"  add    lock a value for every merchant for a while (--type, --value, --for, --note)\n" +
	"  lift   remove a platform-wide lock (--type, --value)\n"

// runRiskLocks manages platform-wide locks: the block list entries that
// act for every merchant. They come from the risk policy on real payment
// attempts (repeated failures of a voucher) and from the operator, and
// they always expire; merchants cannot make or lift them.
func runRiskLocks(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, riskLocksUsage)
		return usagef("risk locks needs a command: list, add or lift")
	}
	switch args[0] {
	case "list":
		return runRiskLocksList(ctx, args[1:], getenv, stdout, stderr)
	case "add":
		return runRiskLocksAdd(ctx, args[1:], getenv, stdout, stderr)
	case "lift":
		return runRiskLocksLift(ctx, args[1:], getenv, stdout, stderr)
	}
	fmt.Fprint(stderr, riskLocksUsage)
	return usagef("unknown risk locks command %q", args[0])
}

// riskLocksAdmin parses a locks command's flags (fs has its own; the store
// flags are added here) and opens the engine over the database.
func riskLocksAdmin(ctx context.Context, fs *flag.FlagSet, args []string, getenv env) (*risk.Engine, *sqlstore.DB, error) {
	var sf storeFlags
	sf.register(fs)
	if err := parseFlags(fs, interleaved(args), getenv); err != nil {
		return nil, nil, err
	}
	if fs.NArg() != 0 {
		return nil, nil, usagef("risk locks %s takes no arguments, got %q", fs.Name(), fs.Args())
	}
	db, err := sf.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	eng, err := risk.NewEngine(risk.Config{Store: sqlstore.NewRisk(db), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return eng, db, nil
}

func runRiskLocksList(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("list", "risk locks list [--data DIR | --database URL] [--all]", stderr)
	all := fs.Bool("all", false, "also show expired locks not yet deleted")
	eng, db, err := riskLocksAdmin(ctx, fs, args, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	locks, err := eng.PlatformLocks(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tVALUE\tCREATED\tEXPIRES\tNOTE")
	for _, l := range locks {
		if !*all && !l.Expires.IsZero() && !now.Before(l.Expires) {
			continue
		}
		exp := "never"
		if !l.Expires.IsZero() {
			exp = l.Expires.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.Type, l.Value, l.Created.UTC().Format(time.RFC3339), exp, l.Note)
	}
	return tw.Flush()
}

func runRiskLocksAdd(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("add", "risk locks add [--data DIR | --database URL] --type TYPE --value VALUE [--for DURATION] [--note TEXT]", stderr)
	typ := fs.String("type", "", "what to lock: voucher_serial, card_fingerprint, device, ip, email, country or customer")
	value := fs.String("value", "", "the value to lock")
	d := fs.Duration("for", 24*time.Hour, fmt.Sprintf("how long the lock lasts (at most %s)", risk.PlatformLockMax))
	note := fs.String("note", "", "why (shown to operators)")
	eng, db, err := riskLocksAdmin(ctx, fs, args, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	if *typ == "" || *value == "" {
		return usagef("risk locks add needs --type and --value")
	}
	en, err := eng.LockPlatform(ctx, *typ, *value, "operator: "+*note, *d)
	if err != nil {
		return plainError(err)
	}
	fmt.Fprintf(stdout, "locked %s %s until %s\n", en.Type, en.Value, en.Expires.UTC().Format(time.RFC3339))
	return nil
}

func runRiskLocksLift(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("lift", "risk locks lift [--data DIR | --database URL] --type TYPE --value VALUE", stderr)
	typ := fs.String("type", "", "the lock's type (see risk locks list)")
	value := fs.String("value", "", "the lock's value")
	eng, db, err := riskLocksAdmin(ctx, fs, args, getenv)
	if err != nil {
		return err
	}
	defer db.Close()
	if *typ == "" || *value == "" {
		return usagef("risk locks lift needs --type and --value")
	}
	if err := eng.LiftPlatformLock(ctx, *typ, *value); err != nil {
		if kassa.ErrorKind(err) == kassa.ENotFound {
			return fmt.Errorf("no platform-wide lock of %s %q (see kassa risk locks list)", *typ, *value)
		}
		return plainError(err)
	}
	fmt.Fprintf(stdout, "lifted %s %s\n", *typ, *value)
	return nil
}

// plainError turns a domain error into its message alone: an operator at
// a terminal needs no error code.
func plainError(err error) error {
	var ke *kassa.Error
	if errors.As(err, &ke) && ke.Kind != kassa.EInternal {
		return errors.New(ke.Message)
	}
	return err
}
