package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/merchant"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/store/sqlstore"
)

func runMigrate(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var sf storeFlags
	fs := newFlagSet("migrate", "migrate [--data DIR | --database URL]", stderr)
	sf.register(fs)
	logLevel := fs.String("log-level", "info", "log `level` of the JSON log on stderr: debug, info, warn, error")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	logger, err := newLogger(*logLevel, stderr)
	if err != nil {
		return err
	}
	sf.logger = logger      // the durability settings read at open
	db, err := sf.open(ctx) // opening applies pending migrations
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database (%s) is at schema version %d\n", sf.describe(), v)
	return nil
}

func runMerchants(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	subs := map[string]func(context.Context, []string, env, io.Writer, io.Writer) error{
		"create":         merchantsCreate,
		"list":           merchantsList,
		"keys":           merchantsKeys,
		"rotate-key":     merchantsRotateKey,
		"revoke-key":     merchantsRevokeKey,
		"capture-window": merchantsCaptureWindow,
		"profile":        merchantsProfile,
		"pay-later":      merchantsPayLater,
		"pricing":        merchantsPricing,
		"settlements":    merchantsSettlements,
	}
	usage := "Usage: kassa merchants <create|list|keys|rotate-key|revoke-key|capture-window|profile|pay-later|pricing|settlements> [flags]\n" +
		"  create --name NAME [--category C] [--country CC] [--json]\n" +
		"                                     new merchant; prints its keys this once\n" +
		"  list [--json]                      all merchants\n" +
		"  keys MERCHANT_ID [--json]          a merchant's keys (ids and hints, never the keys)\n" +
		"  rotate-key MERCHANT_ID [--grace D] new secret key; older secret keys work for D more (default 24h)\n" +
		"  revoke-key KEY_ID                  end a key now\n" +
		"  capture-window MERCHANT_ID D       how long authorizations wait for capture (default 168h; 0 = default)\n" +
		"  profile MERCHANT_ID [--category C] [--country CC] [--json]\n" +
		"                                     what the merchant sells and its licence country\n" +
		"  pay-later MERCHANT_ID on|off       offer pay later at checkout (never for gambling)\n" +
		"  pricing MERCHANT_ID [--method M --percent-bps N --fixed N] [--availability-delay D]  fees and availability\n" +
		"  settlements MERCHANT_ID [--iban I --holder H] [--schedule S --anchor N]  bank account and schedule\n"
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return usagef("merchants needs a subcommand")
		}
		return nil
	}
	sub, ok := subs[args[0]]
	if !ok {
		return usagef("unknown merchants subcommand %q", args[0])
	}
	return sub(ctx, args[1:], getenv, stdout, stderr)
}

// openMerchants opens the store and the merchant service over it.
func openMerchants(ctx context.Context, sf *storeFlags) (*merchant.Service, func(), error) {
	db, err := sf.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	return merchant.NewService(sqlstore.NewMerchants(db), nil, id.Generator{}), func() { db.Close() }, nil
}

// interleaved lets flags follow positional arguments (kassa merchants
// keys mer_x --json): the leading non-flag arguments are moved last.
func interleaved(args []string) []string {
	var pos, flags []string
	for i := 0; i < len(args); i++ {
		if len(args[i]) > 1 && args[i][0] == '-' {
			flags = append(flags, args[i:]...)
			break
		}
		pos = append(pos, args[i])
	}
	return append(flags, pos...)
}

func merchantsCreate(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var sf storeFlags
	fs := newFlagSet("merchants create", "merchants create --name NAME [--category C] [--country CC] [--json]", stderr)
	sf.register(fs)
	name := fs.String("name", "", "the merchant's `name`")
	category := fs.String("category", "", fmt.Sprintf("what the merchant sells, one of %v (default general)", merchant.Categories))
	country := fs.String("country", "", "the ISO 3166-1 alpha-2 `country` of the merchant's licence, e.g. DE")
	asJSON := fs.Bool("json", false, `print {"id","name","secret_key","publishable_key"} as JSON`)
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if *name == "" {
		return usagef("merchants create needs --name")
	}
	svc, done, err := openMerchants(ctx, &sf)
	if err != nil {
		return err
	}
	defer done()
	if *category != "" && !merchant.Category(*category).Valid() {
		return usagef("--category must be one of %v", merchant.Categories)
	}
	c, err := svc.Create(ctx, *name)
	if err != nil {
		return err
	}
	if *category != "" || *country != "" {
		p := merchant.Profile{Country: country}
		if *category != "" {
			cat := merchant.Category(*category)
			p.Category = &cat
		}
		m, err := svc.SetProfile(ctx, c.ID, p)
		if err != nil {
			return fmt.Errorf("merchant %s was created, but its profile was not set: %w", c.ID, err)
		}
		c.Merchant = m
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{
			"id": c.ID, "name": c.Name, "category": string(c.Category), "country": c.Country,
			"secret_key": c.SecretKey, "publishable_key": c.PublishableKey,
		})
	}
	fmt.Fprintf(stdout, "merchant %s (%s)\nsecret key:      %s\npublishable key: %s\nThe keys are shown this once; Kassa keeps only their hashes.\n",
		c.ID, c.Name, c.SecretKey, c.PublishableKey)
	return nil
}

// listPageSize is how many merchants one store call returns.
const listPageSize = 100

func merchantsList(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var sf storeFlags
	fs := newFlagSet("merchants list", "merchants list [--json]", stderr)
	sf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON lines")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	svc, done, err := openMerchants(ctx, &sf)
	if err != nil {
		return err
	}
	defer done()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, "ID\tNAME\tCATEGORY\tCOUNTRY\tCREATED")
	}
	after := ""
	for {
		page, err := svc.List(ctx, after, listPageSize)
		if err != nil {
			return err
		}
		for _, m := range page {
			if *asJSON {
				if err := json.NewEncoder(stdout).Encode(m); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ID, m.Name, m.Category, orDash(m.Country), m.CreatedAt.Format(time.RFC3339))
		}
		if len(page) < listPageSize {
			break
		}
		after = page[len(page)-1].ID
	}
	return tw.Flush()
}

func merchantsKeys(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var sf storeFlags
	fs := newFlagSet("merchants keys", "merchants keys MERCHANT_ID [--json]", stderr)
	sf.register(fs)
	asJSON := fs.Bool("json", false, "print JSON lines")
	if err := parseFlags(fs, interleaved(args), getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("merchants keys needs one MERCHANT_ID")
	}
	svc, done, err := openMerchants(ctx, &sf)
	if err != nil {
		return err
	}
	defer done()
	keys, err := svc.Keys(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, "ID\tKIND\tHINT\tCREATED\tSTATE")
	}
	now := time.Now()
	for _, k := range keys {
		if *asJSON {
			if err := json.NewEncoder(stdout).Encode(k); err != nil {
				return err
			}
			continue
		}
		state := "active"
		switch {
		case k.RevokedAt != nil:
			state = "revoked " + k.RevokedAt.Format(time.RFC3339)
		case k.ExpiresAt != nil && !k.Active(now):
			state = "expired " + k.ExpiresAt.Format(time.RFC3339)
		case k.ExpiresAt != nil:
			state = "expires " + k.ExpiresAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Kind, k.Hint, k.CreatedAt.Format(time.RFC3339), state)
	}
	return tw.Flush()
}

func merchantsRotateKey(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var sf storeFlags
	fs := newFlagSet("merchants rotate-key", "merchants rotate-key MERCHANT_ID [--grace 24h] [--json]", stderr)
	sf.register(fs)
	grace := fs.Duration("grace", merchant.RotateGraceDefault, "how long older secret keys keep working (0 ends them now; at most 720h)")
	asJSON := fs.Bool("json", false, `print {"id","merchant","secret_key","old_keys_expire"} as JSON`)
	if err := parseFlags(fs, interleaved(args), getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("merchants rotate-key needs one MERCHANT_ID")
	}
	svc, done, err := openMerchants(ctx, &sf)
	if err != nil {
		return err
	}
	defer done()
	key, secret, err := svc.RotateKey(ctx, fs.Arg(0), *grace)
	if err != nil {
		return err
	}
	expires := key.CreatedAt.Add(*grace).Format(time.RFC3339)
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{
			"id": key.ID, "merchant": key.MerchantID, "secret_key": secret, "old_keys_expire": expires,
		})
	}
	fmt.Fprintf(stdout, "new secret key %s: %s\nOlder secret keys stop working at %s.\nThe key is shown this once.\n", key.ID, secret, expires)
	return nil
}

func merchantsRevokeKey(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var sf storeFlags
	fs := newFlagSet("merchants revoke-key", "merchants revoke-key KEY_ID", stderr)
	sf.register(fs)
	if err := parseFlags(fs, interleaved(args), getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("merchants revoke-key needs one KEY_ID (see 'kassa merchants keys MERCHANT_ID')")
	}
	svc, done, err := openMerchants(ctx, &sf)
	if err != nil {
		return err
	}
	defer done()
	if err := svc.RevokeKey(ctx, fs.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s\n", fs.Arg(0))
	return nil
}

func merchantsCaptureWindow(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var sf storeFlags
	fs := newFlagSet("merchants capture-window", "merchants capture-window MERCHANT_ID DURATION", stderr)
	sf.register(fs)
	if err := parseFlags(fs, interleaved(args), getenv); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usagef("merchants capture-window needs MERCHANT_ID and a duration such as 72h")
	}
	d, err := time.ParseDuration(fs.Arg(1))
	if err != nil {
		return usagef("duration %q: %v", fs.Arg(1), err)
	}
	db, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := sqlstore.NewMerchants(db).Merchant(ctx, fs.Arg(0)); err != nil {
		return err
	}
	svc := payment.New(payment.Config{Store: sqlstore.NewPayments(db)})
	if err := svc.SetCaptureWindow(ctx, fs.Arg(0), d); err != nil {
		return err
	}
	if d == 0 {
		d = payment.CaptureWindowDefault
	}
	fmt.Fprintf(stdout, "%s: authorizations expire %s after they are made\n", fs.Arg(0), d)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func merchantsProfile(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	var sf storeFlags
	fs := newFlagSet("merchants profile", "merchants profile MERCHANT_ID [--category C] [--country CC] [--json]", stderr)
	sf.register(fs)
	category := fs.String("category", "", fmt.Sprintf("what the merchant sells, one of %v", merchant.Categories))
	country := fs.String("country", "", "the ISO 3166-1 alpha-2 `country` of the merchant's licence (\"-\" clears it)")
	asJSON := fs.Bool("json", false, "print the merchant as JSON")
	if err := parseFlags(fs, interleaved(args), getenv); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("merchants profile needs MERCHANT_ID")
	}
	if *category != "" && !merchant.Category(*category).Valid() {
		return usagef("--category must be one of %v", merchant.Categories)
	}
	svc, done, err := openMerchants(ctx, &sf)
	if err != nil {
		return err
	}
	defer done()
	var p merchant.Profile
	if *category != "" {
		cat := merchant.Category(*category)
		p.Category = &cat
	}
	switch *country {
	case "":
	case "-":
		p.Country = new(string)
	default:
		p.Country = country
	}
	m, err := svc.SetProfile(ctx, fs.Arg(0), p)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(m)
	}
	fmt.Fprintf(stdout, "%s (%s): category %s, licence country %s\n", m.ID, m.Name, m.Category, orDash(m.Country))
	return nil
}
