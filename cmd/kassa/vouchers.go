package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/voucher"
)

// platformMerchantID issues the vouchers the operator makes with the CLI
// when no --merchant is named. It has no API keys.
const platformMerchantID = "mer_platform"

func runVouchers(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	usage := "Usage: kassa vouchers <issue|allow|disallow> [flags]\n" +
		"  issue --count N --amount 5000 --currency EUR [--expires DATE] [--merchant ID] [--json]\n" +
		"                           new prepaid vouchers; prints their PINs this once\n" +
		"  allow MERCHANT_ID        let a merchant (a distributor) issue vouchers through POST /v1/vouchers\n" +
		"  disallow MERCHANT_ID     take that back\n"
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return usagef("vouchers needs a subcommand")
		}
		return nil
	}
	switch args[0] {
	case "issue":
		return vouchersIssue(ctx, args[1:], getenv, stdout, stderr)
	case "allow", "disallow":
		return vouchersAllow(ctx, args[0], args[1:], getenv, stdout, stderr)
	}
	return usagef("unknown vouchers subcommand %q", args[0])
}

// openVoucherApp runs the services an admin command needs (vouchers are
// funded in the ledger, so the ledger runs too). Logs go to stderr.
func openVoucherApp(ctx context.Context, cfg appConfig, stderr io.Writer) (*app, error) {
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return newApp(ctx, cfg, logger)
}

type issuedJSON struct {
	ID       string `json:"id"`
	Serial   string `json:"serial"`
	PIN      string `json:"pin"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	Expires  string `json:"expires"`
	Status   string `json:"status"`
}

func vouchersIssue(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var cfg appConfig
	fs := newFlagSet("vouchers issue", "vouchers issue --count N --amount MINOR --currency CUR [--expires DATE] [--json]", stderr)
	cfg.register(fs)
	count := fs.Int("count", 1, "how many vouchers (1..1000)")
	amount := fs.Int64("amount", 0, "value of each, in minor units (5000 = 50.00 EUR)")
	currency := fs.String("currency", "", "ISO 4217 `code`, e.g. EUR")
	expires := fs.String("expires", "", "last valid `day` (YYYY-MM-DD, UTC) or an RFC 3339 time; default 3 years")
	issuer := fs.String("merchant", "", "distributor merchant `ID` the vouchers belong to (default: the platform)")
	asJSON := fs.Bool("json", false, "print JSON lines")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *amount <= 0 || *currency == "" {
		return usagef("vouchers issue needs --amount (> 0) and --currency")
	}
	cur, err := money.ParseCurrency(*currency)
	if err != nil {
		return usagef("--currency %q: %v", *currency, err)
	}
	exp, err := voucher.ParseExpiry(*expires)
	if err != nil {
		return usagef("--expires %q: want YYYY-MM-DD or an RFC 3339 time", *expires)
	}
	a, err := openVoucherApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	if *issuer == "" {
		if err := ensurePlatformMerchant(ctx, a); err != nil {
			return err
		}
		*issuer = platformMerchantID
	}
	issued, err := a.vouchers.Issue(ctx, voucher.IssueRequest{Count: *count, Amount: money.Amount(*amount),
		Currency: cur, ExpiresAt: exp, IssuedBy: *issuer})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, "SERIAL\tPIN\tAMOUNT\tCURRENCY\tEXPIRES")
	}
	for _, v := range issued {
		if *asJSON {
			if err := json.NewEncoder(stdout).Encode(issuedJSON{ID: v.ID, Serial: v.Serial, PIN: v.PIN,
				Amount: int64(v.Amount), Currency: string(v.Currency), Expires: v.ExpiresAt.Format(time.RFC3339),
				Status: string(v.Status)}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", v.Serial, v.PIN, v.Amount, v.Currency, v.ExpiresAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

// ensurePlatformMerchant makes the platform's own distributor once.
func ensurePlatformMerchant(ctx context.Context, a *app) error {
	_, err := a.merchants.Get(ctx, platformMerchantID)
	if kassa.ErrorKind(err) == kassa.ENotFound {
		err = sqlstore.NewMerchants(a.db).CreateMerchant(ctx, merchant.Merchant{
			ID: platformMerchantID, Name: "Kassa platform", CreatedAt: time.Now().UTC()}, nil)
		if err != nil && a.db.IsUniqueViolation(err) {
			err = nil // made by a concurrent command
		}
	}
	if err != nil {
		return err
	}
	return a.vouchers.AllowIssuing(ctx, platformMerchantID)
}

func vouchersAllow(ctx context.Context, verb string, args []string, getenv env, stdout, stderr io.Writer) error {
	var cfg appConfig
	fs := newFlagSet("vouchers "+verb, "vouchers "+verb+" MERCHANT_ID", stderr)
	cfg.register(fs)
	if err := parseFlags(fs, interleaved(args), getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("vouchers %s needs one MERCHANT_ID", verb)
	}
	a, err := openVoucherApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	if _, err := a.merchants.Get(ctx, fs.Arg(0)); err != nil {
		return err
	}
	if verb == "allow" {
		err = a.vouchers.AllowIssuing(ctx, fs.Arg(0))
	} else {
		err = a.vouchers.DisallowIssuing(ctx, fs.Arg(0))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: issuing vouchers %sed\n", fs.Arg(0), verb)
	return nil
}
