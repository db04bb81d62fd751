package console

import (
	"slices"
	"strings"
)

// Role is what a member may do. A merchant's members have one of
// MerchantRoles; the platform organisation's members are operators.
type Role string

const (
	Owner     Role = "owner"
	Admin     Role = "admin"
	Developer Role = "developer"
	Analyst   Role = "analyst"
	Finance   Role = "finance"
	Support   Role = "support"
	Operator  Role = "operator"
)

// MerchantRoles are the roles of a merchant's team, most powerful first.
var MerchantRoles = []Role{Owner, Admin, Developer, Analyst, Finance, Support}

// Roles is every role, in the order of the role table.
var Roles = append(slices.Clone(MerchantRoles), Operator)

func (r Role) valid(org string) bool {
	if org == Platform {
		return r == Operator
	}
	return slices.Contains(MerchantRoles, r)
}

// Permission is one page or action of the console.
type Permission string

// Every page and action of the console checks one permission. The
// comment of each is the line of the role table in docs/console.md.
const (
	ViewHome        Permission = "home.view"         // home: charts over a period
	ViewPayments    Permission = "payments.view"     // payments: search, payment page
	CapturePayments Permission = "payments.capture"  // capture an authorized payment
	CancelPayments  Permission = "payments.cancel"   // cancel an authorized payment
	RefundPayments  Permission = "payments.refund"   // refund a captured payment
	ViewReviews     Permission = "reviews.view"      // reviews: queue and case page
	DecideReviews   Permission = "reviews.decide"    // approve or reject a case
	ViewRules       Permission = "rules.view"        // risk rules with their backtests
	ManageRules     Permission = "rules.manage"      // create, enable, disable, reorder rules
	ViewDevelopers  Permission = "developers.view"   // API keys (hints), webhook endpoints, deliveries
	ManageKeys      Permission = "keys.manage"       // create (rotate) and revoke API keys
	ReplayWebhooks  Permission = "webhooks.replay"   // send an event again
	ViewMembers     Permission = "members.view"      // the team
	ManageMembers   Permission = "members.manage"    // invite and remove members, change roles
	ViewAudit       Permission = "audit.view"        // the audit log
	OperatePlatform Permission = "platform.operate"  // operator pages: merchants, health, every audit entry
	ManageMerchants Permission = "platform.merchant" // create merchants

	// Risk lists, labels and models; suspension and platform locks.
	ViewLists        Permission = "lists.view"       // risk lists and labels
	ManageLists      Permission = "lists.manage"     // add and remove list entries
	ManageLabels     Permission = "labels.manage"    // label payments, undo labels
	ViewModels       Permission = "platform.models"  // the model registry with shadow metrics
	ManageModels     Permission = "platform.promote" // promote, shadow, roll back models
	SuspendMerchants Permission = "platform.suspend" // suspend and unsuspend merchants
)

// Finance, payouts and support (web/console/finance.go, payouts.go,
// customers.go).
const (
	ViewFinance    Permission = "finance.view"    // balance, balance transactions, settlements, reports, invoices
	CreateReports  Permission = "reports.create"  // request a report
	ViewPayouts    Permission = "payouts.view"    // payouts: list, a payout's page
	ReviewPayouts  Permission = "payouts.review"  // approve or reject a held payout or withdrawal
	ViewCustomers  Permission = "customers.view"  // a customer's page (support)
	ManageInvoices Permission = "invoices.manage" // create and finalize invoices
	// ReviewWithdrawals is the operator's payouts.view and payouts.review
	// over payers' withdrawals (payout.WalletMerchant).
	ReviewWithdrawals Permission = "platform.withdrawals"
)

// Permissions lists every permission in the order of the role table.
var Permissions = []Permission{ViewHome, ViewPayments, CapturePayments, CancelPayments, RefundPayments,
	ViewReviews, DecideReviews, ViewRules, ManageRules, ViewDevelopers, ManageKeys, ReplayWebhooks, ViewMembers, ManageMembers,
	ViewAudit, OperatePlatform, ManageMerchants,
	ViewLists, ManageLists, ManageLabels, ViewModels, ManageModels, SuspendMerchants,
	ViewFinance, CreateReports, ViewPayouts, ReviewPayouts, ViewCustomers, ManageInvoices, ReviewWithdrawals}

// grants is the role table: the one place that says who may do what.
// The console checks it on every page and action and hides what a role
// may not do; docs/console.md's table is checked against it.
var grants = map[Permission][]Role{
	ViewHome:        {Owner, Admin, Developer, Analyst, Finance, Support},
	ViewPayments:    {Owner, Admin, Developer, Analyst, Finance, Support},
	CapturePayments: {Owner, Admin, Finance},
	CancelPayments:  {Owner, Admin, Finance, Support},
	RefundPayments:  {Owner, Admin, Finance, Support},
	ViewReviews:     {Owner, Admin, Analyst},
	DecideReviews:   {Owner, Admin, Analyst},
	ViewRules:       {Owner, Admin, Developer, Analyst},
	ManageRules:     {Owner, Admin, Analyst},
	ViewDevelopers:  {Owner, Admin, Developer},
	ManageKeys:      {Owner, Admin, Developer},
	ReplayWebhooks:  {Owner, Admin, Developer},
	ViewMembers:     {Owner, Admin},
	ManageMembers:   {Owner, Admin},
	ViewAudit:       {Owner, Admin},
	OperatePlatform: {Operator},
	ManageMerchants: {Operator},

	ViewLists:         {Owner, Admin, Developer, Analyst},
	ManageLists:       {Owner, Admin, Analyst},
	ManageLabels:      {Owner, Admin, Analyst},
	ViewModels:        {Operator},
	ManageModels:      {Operator},
	SuspendMerchants:  {Operator},
	ViewFinance:       {Owner, Admin, Finance},
	CreateReports:     {Owner, Admin, Finance},
	ViewPayouts:       {Owner, Admin, Finance, Support},
	ReviewPayouts:     {Owner, Admin, Finance},
	ViewCustomers:     {Owner, Admin, Finance, Support},
	ManageInvoices:    {Owner, Admin, Finance},
	ReviewWithdrawals: {Operator},
}

// what says what each permission opens, for the table.
var what = map[Permission]string{
	ViewHome:        "home: charts over a period",
	ViewPayments:    "payments: search, the payment page",
	CapturePayments: "capture an authorized payment",
	CancelPayments:  "cancel an authorized payment",
	RefundPayments:  "refund a captured payment",
	ViewReviews:     "reviews: the queue and the case page",
	DecideReviews:   "approve or reject a review case",
	ViewRules:       "risk rules: the list, a backtest of any rule over 7 to 90 days, each rule's history",
	ManageRules:     "create, enable, disable and reorder risk rules",
	ViewDevelopers:  "developers: API keys (hints), webhook endpoints, events",
	ManageKeys:      "roll (with grace) and revoke API keys; the new secret shown once",
	ReplayWebhooks:  "send a webhook event again",
	ViewMembers:     "the team",
	ManageMembers:   "invite and remove members, change roles (only an owner invites, removes or changes an owner)",
	ViewAudit:       "the merchant's audit log",
	OperatePlatform: "operator pages: merchants, system health, every organisation's audit log",
	ManageMerchants: "create merchants",

	ViewLists:         "risk lists (allow, block) and the payments' fraud labels",
	ManageLists:       "add and remove list entries, each with a reason",
	ManageLabels:      "label a payment fraud, legit or friendly fraud; undo a label",
	ViewModels:        "risk models: the registry, active and shadow with their metrics (platform-wide)",
	ManageModels:      "shadow, promote and roll back risk models, each confirmed",
	SuspendMerchants:  "suspend and unsuspend merchants; add platform-wide locks",
	ViewFinance:       "finance: balance, balance transactions (CSV), settlements, reports, invoices (PDF)",
	CreateReports:     "request a report for a period",
	ViewPayouts:       "payouts: the list, a payout's legs, timeline and checks",
	ReviewPayouts:     "approve or reject a payout held for review, with a reason (a fresh authenticator code from 500.00)",
	ViewCustomers:     "a customer's page: payments, payouts, gambling limits in force, pay-later plans (read-only)",
	ManageInvoices:    "create an invoice and finalize it (its number; the payer's page opens)",
	ReviewWithdrawals: "payers' withdrawals: the list, a withdrawal's page, approve or reject one held for review",
}

// Can reports whether role may do p.
func (r Role) Can(p Permission) bool { return slices.Contains(grants[p], r) }

// RoleTable renders the role table as Markdown, as docs/console.md
// shows it.
func RoleTable() string {
	var b strings.Builder
	b.WriteString("| permission | what |")
	for _, r := range Roles {
		b.WriteString(" " + string(r) + " |")
	}
	b.WriteString("\n|---|---|")
	for range Roles {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, p := range Permissions {
		b.WriteString("| `" + string(p) + "` | " + what[p] + " |")
		for _, r := range Roles {
			if r.Can(p) {
				b.WriteString(" yes |")
			} else {
				b.WriteString(" |")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
