package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kassa/kassa/business"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/lease"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/payout"
	"github.com/kassa/kassa/store/sqlstore"
)

// Names and intervals of business accounts' leased jobs (docs/business.md).
const (
	jobBalanceSync = "balance_transactions.sync"
	jobSettlements = "settlements"
	jobReports     = "reports"

	balanceSyncInterval = 5 * time.Second
	settlementInterval  = time.Minute
	reportInterval      = 2 * time.Second
)

// openBusiness makes business accounts over the payout engine (which
// carries settlements to the merchant's bank).
func (a *app) openBusiness(logger *slog.Logger) {
	a.business = business.New(business.Config{Store: sqlstore.NewBusiness(a.db), Ledger: a.ledger, Payouts: a.payouts,
		Logger: logger})
}

// movements tells payment reconciliation what payouts and captures' fees
// and holds booked on merchant accounts.
func (a *app) movements(ctx context.Context) (map[string]payment.Movement, error) {
	out, err := a.payoutMovements(ctx)
	if err != nil {
		return nil, err
	}
	fees, err := a.business.Movements(ctx)
	if err != nil {
		return nil, err
	}
	for acct, m := range fees {
		sum := out[acct]
		sum.Posted += m.Posted
		sum.Pending += m.Pending
		out[acct] = sum
	}
	return out, nil
}

// registerBusinessJobs adds the balance transactions' sync, scheduled
// settlements and report generation to the leased jobs.
func (a *app) registerBusinessJobs() {
	a.jobs.Add(lease.Job{Name: jobBalanceSync, Interval: balanceSyncInterval, Run: a.business.Sync})
	a.jobs.Add(lease.Job{Name: jobSettlements, Interval: settlementInterval, Run: func(ctx context.Context) error {
		n, err := a.business.RunSchedules(ctx)
		if n > 0 {
			a.log.InfoContext(ctx, "scheduled settlements", "count", n)
		}
		return err
	}})
	a.jobs.Add(lease.Job{Name: jobReports, Interval: reportInterval, Run: func(ctx context.Context) error {
		_, err := a.business.RunReports(ctx)
		return err
	}})
}

// openBusinessCLI opens the store and business accounts for a merchants
// subcommand.
func openBusinessCLI(ctx context.Context, sf *storeFlags, merchantID string) (*business.Service, func(), error) {
	db, err := sf.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	if _, err := sqlstore.NewMerchants(db).Merchant(ctx, merchantID); err != nil {
		db.Close()
		return nil, nil, err
	}
	return business.New(business.Config{Store: sqlstore.NewBusiness(db), IDs: id.Generator{}}), func() { db.Close() }, nil
}

// merchantsPricing shows or sets a merchant's fees and availability delay:
//
//	kassa merchants pricing MERCHANT_ID                                  list
//	kassa merchants pricing MERCHANT_ID --method card --percent-bps 290 --fixed 25 [--currency EUR]
//	kassa merchants pricing MERCHANT_ID --method card --delete [--currency EUR]
//	kassa merchants pricing MERCHANT_ID --availability-delay 48h
func merchantsPricing(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var sf storeFlags
	fs := newFlagSet("merchants pricing", "merchants pricing MERCHANT_ID [--method M --percent-bps N --fixed N [--currency CUR] | --delete] [--availability-delay D] [--json]", stderr)
	sf.register(fs)
	method := fs.String("method", "", "payment `method` the row prices ("+business.MethodDefault+": every method without its own row)")
	currency := fs.String("currency", "", "ISO 4217 `currency` the row prices (empty: any)")
	bps := fs.Int64("percent-bps", -1, "percent of the captured amount in `basis points` (290 = 2.90%)")
	fixed := fs.Int64("fixed", -1, "fixed fee per capture in `minor units`")
	del := fs.Bool("delete", false, "delete the row of --method and --currency")
	delay := fs.String("availability-delay", "", "how long captured money stays pending before it is available (`duration`, e.g. 48h; 0 none)")
	asJSON := fs.Bool("json", false, "print the pricing as JSON")
	if err := parseFlags(fs, interleaved(args), getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("merchants pricing needs MERCHANT_ID")
	}
	m := fs.Arg(0)
	svc, done, err := openBusinessCLI(ctx, &sf, m)
	if err != nil {
		return err
	}
	defer done()
	cur := money.Currency(strings.ToUpper(*currency))
	switch {
	case *del:
		if *method == "" {
			return usagef("--delete needs --method")
		}
		if err := svc.DeletePricing(ctx, m, *method, cur); err != nil {
			return err
		}
	case *bps >= 0 || *fixed >= 0:
		if *method == "" {
			return usagef("setting a fee needs --method (a payment method or %s)", business.MethodDefault)
		}
		p := business.Pricing{MerchantID: m, Method: *method, Currency: cur, PercentBps: max(*bps, 0), Fixed: money.Amount(max(*fixed, 0))}
		if err := svc.SetPricing(ctx, p); err != nil {
			return err
		}
	}
	if *delay != "" {
		d, err := time.ParseDuration(*delay)
		if err != nil {
			return usagef("--availability-delay %q: %v", *delay, err)
		}
		if err := svc.SetDelay(ctx, m, d); err != nil {
			return err
		}
	}
	return printPricing(ctx, svc, m, *asJSON, stdout)
}

func printPricing(ctx context.Context, svc *business.Service, m string, asJSON bool, stdout io.Writer) error {
	ps, err := svc.PricingOf(ctx, m)
	if err != nil {
		return err
	}
	st, err := svc.Settings(ctx, m)
	if err != nil {
		return err
	}
	if asJSON {
		type row struct {
			Method     string `json:"method"`
			Currency   string `json:"currency"`
			PercentBps int64  `json:"percent_bps"`
			Fixed      int64  `json:"fixed"`
		}
		rows := []row{}
		for _, p := range ps {
			rows = append(rows, row{p.Method, string(p.Currency), p.PercentBps, int64(p.Fixed)})
		}
		return json.NewEncoder(stdout).Encode(map[string]any{"merchant": m, "pricing": rows,
			"availability_delay_seconds": int64(st.Delay / time.Second)})
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "METHOD\tCURRENCY\tPERCENT\tFIXED")
	for _, p := range ps {
		c := string(p.Currency)
		if c == "" {
			c = "any"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d.%02d%%\t%d\n", p.Method, c, p.PercentBps/100, p.PercentBps%100, p.Fixed)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "availability delay: %s\n", st.Delay)
	return nil
}

// merchantsSettlements shows or sets a merchant's settlement bank account
// and schedule:
//
//	kassa merchants settlements MERCHANT_ID
//	kassa merchants settlements MERCHANT_ID --iban DE.. --holder "Shop GmbH"
//	kassa merchants settlements MERCHANT_ID --schedule weekly --anchor 5
func merchantsSettlements(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var sf storeFlags
	fs := newFlagSet("merchants settlements", "merchants settlements MERCHANT_ID [--iban IBAN --holder NAME] [--schedule S [--anchor N]]", stderr)
	sf.register(fs)
	iban := fs.String("iban", "", "the merchant's bank account (`IBAN`, checked by mod-97)")
	holder := fs.String("holder", "", "the bank account's holder `name`")
	schedule := fs.String("schedule", "", "manual, daily, weekly or monthly")
	anchor := fs.Int("anchor", 0, "weekly: the `weekday` 1 (Monday) to 7; monthly: the day 1 to 31 (the month's last when it has fewer)")
	if err := parseFlags(fs, interleaved(args), getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("merchants settlements needs MERCHANT_ID")
	}
	m := fs.Arg(0)
	svc, done, err := openBusinessCLI(ctx, &sf, m)
	if err != nil {
		return err
	}
	defer done()
	if *iban != "" || *holder != "" {
		if err := svc.SetBankAccount(ctx, m, *iban, *holder); err != nil {
			return err
		}
	}
	if *schedule != "" {
		if err := svc.SetSchedule(ctx, m, *schedule, *anchor); err != nil {
			return err
		}
	}
	st, err := svc.Settings(ctx, m)
	if err != nil {
		return err
	}
	bank := "none (settlements need one)"
	if !st.BankVerified.IsZero() {
		b := payout.BankOf(st.IBAN, st.AccountHolder)
		bank = fmt.Sprintf("%s …%s, %s (verified %s)", b.Country, b.Last4, b.AccountHolder, st.BankVerified.Format(time.RFC3339))
	}
	sched := st.Schedule
	switch st.Schedule {
	case business.ScheduleWeekly:
		sched += fmt.Sprintf(" on %s", time.Weekday(st.Anchor%7))
	case business.ScheduleMonthly:
		sched += fmt.Sprintf(" on day %d", st.Anchor)
	}
	fmt.Fprintf(stdout, "%s\nbank account: %s\nschedule:     %s\n", m, bank, sched)
	return nil
}
