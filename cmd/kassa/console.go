package main

import (
	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/store/sqlstore"
	webconsole "github.com/kassa/kassa/web/console"
)

// openConsole makes the console's pages (served with the hosted pages,
// on the same listener, by nodes with the pages role).
func (a *app) openConsole(cfg appConfig) (httpapi.RoutedHandler, error) {
	svc, err := newConsoleService(a.db, a.keks, cfg.identity, a.pagesOrigin)
	if err != nil {
		return nil, err
	}
	return webconsole.New(webconsole.Config{Members: svc, Merchants: a.merchants, Payments: a.payments, Audit: a.audit,
		Risk: a.risk, Webhooks: a.webhooks, Ledger: a.ledger, Vouchers: a.vouchers, Requests: a.requests,
		Health:        webconsole.Health{Webhooks: sqlstore.NewWebhooks(a.db), Payouts: sqlstore.NewPayouts(a.db), Leases: sqlstore.NewLeases(a.db)},
		SecureCookies: !cfg.plainHTTP, Logger: a.log,
		Finance: webconsole.Finance{Business: a.business, Invoices: a.invoices, Payouts: a.payouts, Compliance: a.compliance,
			Credit: a.credit}})
}
