package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kassa/kassa/lease"
)

// roleSet is what one kassa serve process does (--roles).
type roleSet struct {
	api    bool // the /v1 JSON API
	pages  bool // the hosted pages (payment, 3-D Secure, payer accounts)
	worker bool // the background jobs, under leases in the database
}

const rolesDefault = "api,pages,worker"

var allRoles = roleSet{api: true, pages: true, worker: true}

// parseRoles reads a comma-separated --roles value.
func parseRoles(s string) (roleSet, error) {
	var r roleSet
	for name := range strings.SplitSeq(s, ",") {
		var on *bool
		switch strings.TrimSpace(name) {
		case "api":
			on = &r.api
		case "pages":
			on = &r.pages
		case "worker":
			on = &r.worker
		default:
			return roleSet{}, usagef("--roles %q: unknown role %q; want a comma-separated list of api, pages, worker", s, name)
		}
		if *on {
			return roleSet{}, usagef("--roles %q names %s twice", s, name)
		}
		*on = true
	}
	return r, nil
}

func (r roleSet) String() string {
	var names []string
	for _, x := range []struct {
		on   bool
		name string
	}{{r.api, "api"}, {r.pages, "pages"}, {r.worker, "worker"}} {
		if x.on {
			names = append(names, x.name)
		}
	}
	return strings.Join(names, ",")
}

// nodeName is this node's name in the shared risk feature log and in the
// job leases (--node; default: the host name and process id).
func nodeName(cfg appConfig) string {
	if cfg.node != "" {
		return cfg.node
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// Names of the leased background jobs (one lease each; metric labels).
const (
	jobPaymentsExpire    = "payments.expire"
	jobVouchersExpire    = "vouchers.expire"
	jobReconcile         = "reconcile"
	jobIdempotencyForget = "idempotency.forget"
	jobIdentityPrune     = "identity.prune"
	jobPasskeysPrune     = "passkeys.prune"
	jobVaultMaintain     = "vault.maintain"
	jobPayouts           = "payouts"
	jobCredit            = "credit"
)

// registerJobs adds the background jobs one node at a time runs (the
// worker role). Later jobs (settlements, say) are added here too.
// Webhook delivery is not among them: it claims each delivery with a
// lease of its own, so every worker node delivers, none twice.
func (a *app) registerJobs() {
	a.jobs.Add(lease.Job{Name: jobPaymentsExpire, Interval: paymentSweepInterval, Run: func(ctx context.Context) error {
		_, err := a.payments.ExpireDue(ctx)
		_, err2 := a.payments.ResolveUnknown(ctx)
		return errors.Join(err, err2)
	}})
	a.jobs.Add(lease.Job{Name: jobVouchersExpire, Interval: voucherSweepInterval, Run: func(ctx context.Context) error {
		n, err := a.vouchers.ExpireDue(ctx)
		if n > 0 {
			a.log.InfoContext(ctx, "vouchers expired", "count", n)
		}
		_, err2 := a.vouchers.PruneAttempts(ctx)
		return errors.Join(err, err2)
	}})
	// kassa_reconcile_mismatches is the holder's: a node that no longer
	// reconciles shows 0, so a mismatch is not reported forever by a node
	// that stopped looking (the new holder reports it at its first run).
	a.jobs.Add(lease.Job{Name: jobReconcile, Interval: reconcileInterval, Delay: true, Run: a.reconcile,
		Stopped: func() { a.mismatches.Set(0) }})
	a.jobs.Add(lease.Job{Name: jobIdempotencyForget, Interval: idempotencySweepInterval, Delay: true, Run: func(ctx context.Context) error {
		_, err := a.idem.DeleteExpiredIdempotency(ctx, time.Now())
		return err
	}})
	a.jobs.Add(lease.Job{Name: jobIdentityPrune, Interval: identitySweepInterval, Run: func(ctx context.Context) error {
		_, err := a.identity.Prune(ctx)
		return err
	}})
	a.jobs.Add(lease.Job{Name: jobPasskeysPrune, Interval: identitySweepInterval, Delay: true, Run: func(ctx context.Context) error {
		_, err := a.passkeys.PruneCeremonies(ctx)
		return err
	}})
	// One node drives payouts through the rails: the test rails keep
	// their transfers in the memory of the process that sent them.
	a.jobs.Add(lease.Job{Name: jobPayouts, Interval: payoutInterval, Run: func(ctx context.Context) error {
		_, err := a.payouts.Process(ctx)
		return err
	}})
	a.registerInvoiceJob()
	a.registerPrivacyJob()
	a.jobs.Add(lease.Job{Name: jobCredit, Interval: creditInterval, Run: a.collectCredit})
	a.registerBusinessJobs()
	a.jobs.Add(lease.Job{Name: jobVaultMaintain, Interval: vaultWorkInterval, Run: func(ctx context.Context) error {
		a.vault.Maintain(ctx)
		return nil
	}})
}
