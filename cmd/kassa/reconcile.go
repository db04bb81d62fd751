package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
)

func runReconcile(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var cfg appConfig
	fs := newFlagSet("reconcile", "reconcile [--fix] [--json] [--data DIR | --database URL]", stderr)
	cfg.register(fs)
	fix := fs.Bool("fix", false, "repair what can be repaired safely (reverse duplicate payments, fix voucher statuses)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	a, err := openVoucherApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	rep, err := a.payments.Reconcile(ctx, *fix)
	if err == nil {
		err = a.reconcilePayouts(ctx, &rep)
		if err == nil {
			err = a.reconcileCredit(ctx, &rep)
		}
	}
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(rep); err != nil {
			return err
		}
	} else {
		for _, m := range rep.Mismatches {
			what := m.PaymentID
			if what == "" {
				what = m.Account
			}
			state := "MISMATCH"
			if m.Fixed {
				state = "fixed"
			}
			fmt.Fprintf(stdout, "%s %s: %s\n", state, what, m.Problem)
		}
		fmt.Fprintf(stdout, "%d payments checked, %d mismatches, %d left unfixed\n", rep.Payments, len(rep.Mismatches), rep.Unfixed())
	}
	if n := rep.Unfixed(); n > 0 {
		return checkFailed{fmt.Sprintf("reconcile found %d mismatches between payments and the ledger", n)}
	}
	return nil
}
