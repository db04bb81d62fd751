package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/kassa/kassa/audit"
	"github.com/kassa/kassa/console"
	"github.com/kassa/kassa/id"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/store/sqlstore"
	"github.com/kassa/kassa/vault"
)

const membersUsage = "usage: kassa members invite|list|remove [flags]\n\n" +
	"  invite  invite a member of a merchant (--merchant, --email, --role) or the platform's operator (--operator, --email)\n" +
	"  list    show a merchant's members (--merchant) or the operators (--operator)\n" +
	"  remove  remove a member (--merchant or --operator, --member); their sessions end at once\n"

// runMembers bootstraps the console's members from the host: the first
// owner of a merchant and the platform's operators. Every change is in
// the audit log as the CLI's.
func runMembers(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, membersUsage)
		return usagef("members needs a command: invite, list or remove")
	}
	switch args[0] {
	case "invite", "list", "remove":
	default:
		fmt.Fprint(stderr, membersUsage)
		return usagef("unknown members command %q", args[0])
	}
	cmd := args[0]
	fs := newFlagSet(cmd, "members "+cmd+" [--data DIR | --database URL] (--merchant ID | --operator) [--email ADDRESS] [--role ROLE] [--member ID]", stderr)
	var sf storeFlags
	var vf vaultFlags
	var idf identityFlags
	sf.register(fs)
	vf.register(fs)
	idf.register(fs)
	merchantID := fs.String("merchant", "", "the merchant `id` (mer_...)")
	operator := fs.Bool("operator", false, "the platform organisation (its members are operators)")
	email := fs.String("email", "", "the member's email `address` (invite)")
	role := fs.String("role", "", "owner, admin, developer, analyst, finance or support (invite; operators need none)")
	memberID := fs.String("member", "", "the member `id` (mem_..., remove)")
	if err := parseFlags(fs, interleaved(args[1:]), getenv); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usagef("members %s takes no arguments, got %q", cmd, fs.Args())
	}
	org := *merchantID
	if *operator {
		if org != "" {
			return usagef("give --merchant or --operator, not both")
		}
		org = console.Platform
		if *role == "" {
			*role = string(console.Operator)
		}
	}
	if org == "" {
		return usagef("members %s needs --merchant ID or --operator", cmd)
	}
	svc, db, err := openMembers(ctx, sf, vf, idf)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx = audit.WithActor(ctx, audit.Actor{Kind: audit.ActorCLI, Name: "kassa members " + cmd})
	switch cmd {
	case "invite":
		if *email == "" || *role == "" {
			return usagef("members invite needs --email and --role")
		}
		if org != console.Platform {
			if _, err := sqlstore.NewMerchants(db).Merchant(ctx, org); err != nil {
				return err
			}
		}
		inv, err := svc.Invite(ctx, "", org, *email, console.Role(*role))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s invited as %s; the invitation went to %s:\n%s\n", inv.Member.ID, inv.Member.Role, inv.Member.Email, inv.Link)
		return nil
	case "remove":
		if *memberID == "" {
			return usagef("members remove needs --member")
		}
		if err := svc.Remove(ctx, "", org, *memberID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s removed\n", *memberID)
		return nil
	}
	ms, err := svc.Members(ctx, org)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tSTATUS\tSINCE")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ID, m.Email, m.Role, m.Status, m.Created.Format("2006-01-02"))
	}
	return tw.Flush()
}

// openMembers opens the console's member service as kassa serve has it.
func openMembers(ctx context.Context, sf storeFlags, vf vaultFlags, idf identityFlags) (*console.Service, *sqlstore.DB, error) {
	keys, err := vf.keyProvider(sf.data)
	if err != nil {
		return nil, nil, err
	}
	origin, _, err := publicOrigin(idf.publicURL, "", false)
	if err != nil {
		return nil, nil, err
	}
	db, err := sf.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	svc, err := newConsoleService(db, keys, idf, origin)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return svc, db, nil
}

// newConsoleService makes the console's member service over db.
func newConsoleService(db *sqlstore.DB, keys vault.KeyProvider, idf identityFlags, origin string) (*console.Service, error) {
	sealer := &identity.VaultSealer{Wrapper: vault.NewLocalWrapper(keys)}
	n, err := idf.sender(identity.NewOutbox(sqlstore.NewIdentity(db), sealer, nil, id.Generator{}))
	if err != nil {
		return nil, err
	}
	return console.New(console.Config{Store: sqlstore.NewConsole(db), Sealer: sealer, Notifier: n,
		Audit: audit.New(sqlstore.NewAudit(db), nil, id.Generator{}), BaseURL: origin})
}
