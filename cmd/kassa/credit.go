package main

// kassa credit plans | write-off: the operator's view of pay later plans
// and a manual write-off (docs/pay-later.md, "Operator tools").

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/credit"
)

const creditUsage = "usage: kassa credit plans|write-off [flags]\n\n" +
	"  plans      list pay later plans, newest first: kassa credit plans [--customer ID] [--status S] [--limit N] [--json]\n" +
	"  write-off  end an open plan, booking what it owes as the platform's loss (audited):\n" +
	"             kassa credit write-off PLAN --reason TEXT\n"

func runCredit(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "plans" && args[0] != "write-off") {
		fmt.Fprint(stderr, creditUsage)
		return usagef("credit needs a command: plans or write-off")
	}
	cmd := args[0]
	var cfg appConfig
	fs := newFlagSet("credit "+cmd, "credit "+cmd+" [flags]", stderr)
	cfg.register(fs)
	customer := fs.String("customer", "", "plans: only the plans of this Kassa account `id` (cus_...)")
	status := fs.String("status", "", "plans: only plans in this `status` (active, overdue, in_collection, settled, written_off, canceled)")
	limit := fs.Int("limit", credit.ListPlansDefault, "plans: at most this many `plans`")
	asJSON := fs.Bool("json", false, "print JSON, one plan a line")
	reason := fs.String("reason", "", "write-off: why, recorded in the audit log (`text`)")
	if err := parseFlags(fs, interleaved(args[1:]), getenv); err != nil {
		return err
	}
	if cmd == "write-off" && (fs.NArg() != 1 || *reason == "") {
		return usagef("credit write-off needs PLAN and --reason")
	}
	if cmd == "plans" && fs.NArg() != 0 {
		return usagef("credit plans takes no arguments")
	}
	a, err := openVoucherApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	if cmd == "plans" {
		ps, err := a.credit.ListPlans(ctx, credit.PlanFilter{CustomerID: *customer, Status: credit.Status(*status), Limit: *limit})
		if err != nil {
			return err
		}
		return printPlans(stdout, ps, *asJSON)
	}
	before, err := a.credit.Plan(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorCLI, Name: "kassa credit write-off"})
	p, err := a.credit.WriteOff(ctx, fs.Arg(0), *reason)
	if err != nil {
		return err
	}
	// Under the platform: the payer's credit is not the merchant's to see.
	if err := a.audit.Record(ctx, audit.Platform, "credit.write_off", p.ID,
		map[string]any{"status": before.Status, "owed": before.Owed()},
		map[string]any{"status": p.Status, "written_off": p.WrittenOff, "reason": *reason}); err != nil {
		return err
	}
	if *asJSON {
		return printPlans(stdout, []credit.Plan{p}, true)
	}
	fmt.Fprintf(stdout, "%s written off: %d %s booked as loss\n", p.ID, p.WrittenOff, p.Currency)
	return nil
}

// planLine is a plan as kassa credit plans prints it: for the operator,
// with the payer and the merchant.
type planLine struct {
	credit.PublicPlan
	Customer   string `json:"customer"`
	Merchant   string `json:"merchant"`
	Funding    string `json:"funding"`
	WrittenOff int64  `json:"amount_written_off,omitempty"`
	Refunded   int64  `json:"amount_refunded,omitempty"`
}

func printPlans(w io.Writer, ps []credit.Plan, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, p := range ps {
			if err := enc.Encode(planLine{PublicPlan: credit.Public(p), Customer: p.CustomerID, Merchant: p.MerchantID,
				Funding: credit.FundingOf(p).Source, WrittenOff: int64(p.WrittenOff), Refunded: int64(p.Refunded)}); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLAN\tCUSTOMER\tMERCHANT\tPLAN TYPE\tSTATUS\tAMOUNT\tOWED\tFUNDING\tCREATED")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d %s\t%d\t%s\t%s\n", p.ID, p.CustomerID, p.MerchantID, p.Plan, p.Status,
			p.Amount, p.Currency, p.Owed(), credit.FundingOf(p).Source, p.Created.Format("2006-01-02"))
	}
	if len(ps) == 0 {
		fmt.Fprintln(tw, "(no plans)")
	}
	return tw.Flush()
}
