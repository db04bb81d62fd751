package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/kassa/kassa/acquirer"
	"github.com/kassa/kassa/credit"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/store/sqlstore"
)

// creditInterval is how often the leased job "credit" looks for due
// instalments, reminders and write-offs (due dates are days apart; a
// minute is punctual enough and cheap: one indexed query when idle).
const creditInterval = time.Minute

// openCredit makes the pay later service (docs/pay-later.md).
// Instalments of a plan the payer funds by card are collected through
// acq, from cards in a.vault.
func (a *app) openCredit(acq acquirer.Acquirer) (err error) {
	a.credit, err = credit.New(credit.Config{Store: sqlstore.NewCredit(a.db), Ledger: a.ledger, Customers: a.identity,
		Merchants: a.merchants, Notifier: a.notifier, IDs: id.Generator{}, Logger: a.log, Vault: a.vault, Acquirer: acq,
		Risk: a.creditRisk()})
	return err
}

// creditRisk is the risk engine that scores credit checks (kind
// "credit"); nil with --no-risk.
func (a *app) creditRisk() credit.RiskEngine {
	if a.risk == nil {
		return nil
	}
	return a.risk
}

// collectCredit is one round of the job "credit".
func (a *app) collectCredit(ctx context.Context) error {
	rep, err := a.credit.Collect(ctx)
	if rep != (credit.CollectReport{}) {
		a.log.InfoContext(ctx, "pay later collection", "paid", rep.Paid, "failed", rep.Failed,
			"reminded", rep.Reminded, "written_off", rep.WrittenOff, "conflicts", rep.Conflicts, "unknown", rep.Unknown)
	}
	return err
}

// reconcileCredit adds pay later's plans against the receivables to a
// reconciliation report.
func (a *app) reconcileCredit(ctx context.Context, rep *payment.Report) error {
	ms, err := a.credit.Reconcile(ctx)
	for _, m := range ms {
		acct := m.Account
		if m.Plan != "" {
			acct = "plan " + m.Plan
		}
		rep.Mismatches = append(rep.Mismatches, payment.Mismatch{Account: acct, Problem: m.Problem})
	}
	return err
}

// merchantsPayLater switches pay later on or off for a merchant.
func merchantsPayLater(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var sf storeFlags
	fs := newFlagSet("merchants pay-later", "merchants pay-later MERCHANT_ID on|off", stderr)
	sf.register(fs)
	if err := parseFlags(fs, interleaved(args), getenv); err != nil {
		return err
	}
	if fs.NArg() != 2 || (fs.Arg(1) != "on" && fs.Arg(1) != "off") {
		return usagef("merchants pay-later needs MERCHANT_ID and on or off")
	}
	db, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := merchant.NewService(sqlstore.NewMerchants(db), nil, id.Generator{})
	on := fs.Arg(1) == "on"
	if err := credit.SetMerchantEnabled(ctx, sqlstore.NewCredit(db), svc, fs.Arg(0), on, time.Now().UTC()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: pay later %s\n", fs.Arg(0), fs.Arg(1))
	return nil
}
