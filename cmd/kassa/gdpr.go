package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/lease"
	"github.com/kassa/kassa/privacy"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
)

// privacyFlags are the retention periods of personal data (docs/privacy.md).
type privacyFlags struct {
	amlRetention, ipRetention, deviceIdle time.Duration
	// rotateKEK: rotate the privacy key file after each shredding (always
	// on SQLite, whose processes share one data directory).
	rotateKEK bool
	// now is the clock of the privacy service; nil means time.Now
	// (tests move it).
	now func() time.Time
}

func (f *privacyFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.amlRetention, "aml-retention", privacy.RetentionDefault, "how long after an erasure request (the end of the relationship) a payer's data is kept sealed for anti-money-laundering duties before its key is destroyed (`duration`; 5 years: AMLD Art. 40, GwG § 8)")
	fs.DurationVar(&f.ipRetention, "risk-ip-retention", privacy.IPRetentionDefault, "after this `duration` the client IPs in stored risk evaluations are truncated (IPv4 /24, IPv6 /48)")
	fs.BoolVar(&f.rotateKEK, "privacy-kek-rotate", false, "on PostgreSQL: after each shredding add a version to "+privacyKEKFile+" and destroy the old ones, so that backups made before cannot open the erased persons' keys. Only when every node reads the same file (one node, or a shared volume); always on with SQLite")
	fs.DurationVar(&f.deviceIdle, "device-idle-retention", privacy.DeviceIdleDefault, "a payer's recognised device unused for this `duration` is deleted")
}

const jobPrivacy = "privacy"

// privacyInterval is how often the worker shreds due erasures and applies
// the retention rules.
const privacyInterval = time.Hour

func (a *app) openPrivacy(f privacyFlags) error {
	a.privacyRotate = f.rotateKEK || a.db.Dialect() == sqlstore.SQLite
	var err error
	a.privacy, err = privacy.New(privacy.Config{Store: sqlstore.NewPrivacy(a.db),
		Sealer: &identity.VaultSealer{Wrapper: vault.NewLocalWrapper(a.keks)}, KYC: a.identity.Identity,
		Email: a.accountEmail, Notify: a.identity.SendErasureNotice,
		Retention: f.amlRetention, IPRetention: f.ipRetention, DeviceIdle: f.deviceIdle, Now: f.now,
		NewID: func() string { return id.Generator{}.New("gdpr") }, Logger: a.log})
	return err
}

// registerPrivacyJob adds the leased job that destroys the keys of
// erasures whose retention ended and applies the retention rules.
func (a *app) registerPrivacyJob() {
	a.jobs.Add(lease.Job{Name: jobPrivacy, Interval: privacyInterval, Run: a.runPrivacy})
}

// accountEmail is a Kassa account's address, for its erasure notice.
func (a *app) accountEmail(ctx context.Context, customerID string) (string, error) {
	c, err := a.identity.Customer(ctx, customerID)
	return c.Email, err
}

func (a *app) runPrivacy(ctx context.Context) error {
	_, err0 := a.privacy.SealBacklog(ctx)
	shredded, err := a.privacy.ShredDue(ctx)
	// After a shredding the privacy key file gets a new version and the
	// old ones go: a backup made before cannot open the destroyed keys.
	if a.privacyRotate {
		err = errors.Join(err0, err, a.rotatePrivacyKeys(ctx, shredded > 0))
	} else {
		err = errors.Join(err0, err)
	}
	ips, devices, err2 := a.privacy.Retain(ctx)
	if ips+devices > 0 {
		a.log.InfoContext(ctx, "retention applied", "risk_ips_truncated", ips, "devices_deleted", devices)
	}
	return errors.Join(err, err2)
}

func runGDPR(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	usage := "usage: kassa gdpr export|erase --customer ID [--merchant ID] ...\n\n" +
		"  export  write everything Kassa holds on a person as JSON files in a ZIP:\n" +
		"          kassa gdpr export --customer cus_... [--out FILE]  (a Kassa account)\n" +
		"          kassa gdpr export --merchant mer_... --customer ID  (a merchant's customer)\n" +
		"  erase   record an erasure request: close the account and scrub the live data at once, keep it\n" +
		"          sealed under the person's own key until the AML retention ends, then destroy the key:\n" +
		"          kassa gdpr erase --customer cus_... [--merchant mer_...] [--json]\n"
	if len(args) == 0 || (args[0] != "export" && args[0] != "erase") {
		fmt.Fprint(stderr, usage)
		return usagef("gdpr needs a command: export or erase")
	}
	cmd := args[0]
	var cfg appConfig
	fs := newFlagSet("gdpr "+cmd, "gdpr "+cmd+" --customer ID [--merchant ID] [--data DIR | --database URL]", stderr)
	cfg.register(fs)
	customer := fs.String("customer", "", "the person: a Kassa account `id` (cus_...), or with --merchant the merchant's own customer id")
	merchantID := fs.String("merchant", "", "the merchant `id` whose customer --customer is")
	out := fs.String("out", "", "export: the ZIP `file` to write (default: standard output)")
	by := fs.String("requested-by", "operator", "erase: who asked, recorded with the request (e.g. a ticket `reference`)")
	asJSON := fs.Bool("json", false, "erase: print the request as JSON")
	if err := parseFlags(fs, interleaved(args[1:]), getenv); err != nil {
		return err
	}
	sub := privacy.Subject{MerchantID: *merchantID, CustomerID: *customer}
	if err := sub.Validate(); err != nil {
		return usagef("%v", err)
	}
	a, err := openVoucherApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	// The operator's action on a person's data is audited (docs/console.md,
	// GET /v1/audit_events): under the merchant whose customer it is, or
	// the platform's for a Kassa account.
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorCLI, Name: "kassa gdpr " + cmd})
	org := sub.MerchantID
	if org == "" {
		org = audit.Platform
	}
	if cmd == "export" {
		if err := gdprExport(ctx, a, sub, *out, stdout); err != nil {
			return err
		}
		return a.audit.Record(ctx, org, "gdpr.export", sub.Key(), nil, nil)
	}
	e, err := a.privacy.Erase(ctx, sub, *by)
	if err != nil {
		return err
	}
	if err := a.audit.Record(ctx, org, "gdpr.erase", sub.Key(), nil,
		map[string]any{"erasure": e.ID, "requested_by": *by, "shred_at": e.ShredAt}); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(e)
	}
	fmt.Fprintf(stdout, "erasure %s of %s requested %s: the account is closed and its live data scrubbed; the sealed archive kept for the anti-money-laundering retention is destroyed on %s\n",
		e.ID, e.Subject, e.RequestedAt.Format(time.RFC3339), e.ShredAt.Format(time.DateOnly))
	return nil
}

func gdprExport(ctx context.Context, a *app, sub privacy.Subject, out string, stdout io.Writer) error {
	x, err := a.privacy.Export(ctx, sub)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := privacy.WriteZIP(&buf, x); err != nil {
		return err
	}
	if out == "" {
		_, err = stdout.Write(buf.Bytes())
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o600)
}
