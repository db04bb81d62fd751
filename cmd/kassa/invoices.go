package main

import (
	"context"
	"errors"
	"time"

	"github.com/kassa/kassa/invoice"
	"github.com/kassa/kassa/lease"
	"github.com/kassa/kassa/store/sqlstore"
)

// jobInvoices marks invoices paid whose page's payment was captured
// while the payer never came back to the page, and sends the reminders
// before and after due dates (docs/business.md, "Invoices").
const (
	jobInvoices      = "invoices"
	invoicesInterval = 10 * time.Second
)

// openInvoices makes the invoice service: its reminders go out through
// the payers' notifier (--notifier; the development outbox by default),
// its page links on --public-url.
func (a *app) openInvoices() {
	a.invoices = invoice.New(invoice.Config{Store: sqlstore.NewInvoices(a.db), Payments: a.payments,
		Merchants: a.merchants, Notifier: a.notifier, PublicURL: a.pagesOrigin, Logger: a.log})
}

// registerInvoiceJob adds the leased invoices job (the worker role).
func (a *app) registerInvoiceJob() {
	a.jobs.Add(lease.Job{Name: jobInvoices, Interval: invoicesInterval, Run: func(ctx context.Context) error {
		paid, err := a.invoices.SyncPaid(ctx)
		sent, err2 := a.invoices.SendReminders(ctx)
		if paid > 0 || sent > 0 {
			a.log.InfoContext(ctx, "invoices", "marked_paid", paid, "reminders_sent", sent)
		}
		return errors.Join(err, err2)
	}})
}
