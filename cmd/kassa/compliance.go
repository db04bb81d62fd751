package main

// Jurisdiction policies, self-exclusion registers and payer limits
// (package compliance, docs/compliance.md): their flags, their wiring,
// and `kassa policy check`.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/policy"
	"github.com/kassa/kassa/store/sqlstore"
)

// complianceFlags configure the policies and the registers.
type complianceFlags struct {
	policies  string
	registers string
}

func (f *complianceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.policies, "policies", "", "`directory` of jurisdiction policy files (*.yaml); default policies/ in --data, where the shipped ones are written on first start")
	fs.StringVar(&f.registers, "self-exclusion-registers", "", "self-exclusion registers, comma-separated `name=test|https://...` (spelpaus, rofus, gamstop, oasis, cruks); test answers with the documented test identities; an https URL is the register's service (its token in register-<name>.token in --data); a register a policy requires that is not named is unreachable and its deposits are refused")
}

// policyDir is where the policy files are.
func (f complianceFlags) policyDir(data string) string {
	if f.policies != "" {
		return f.policies
	}
	return filepath.Join(data, policy.Dir)
}

// loadPolicies writes the shipped policies the directory lacks and
// loads it: a bad file stops the start with an error naming it.
func loadPolicies(f complianceFlags, data string) (*policy.Set, error) {
	dir := f.policyDir(data)
	if _, err := policy.WriteDefaults(dir); err != nil {
		return nil, err
	}
	return policy.Load(dir)
}

// parseRegisters reads --self-exclusion-registers.
func parseRegisters(spec, data string) (map[string]compliance.SelfExclusionRegister, error) {
	out := map[string]compliance.SelfExclusionRegister{}
	if strings.TrimSpace(spec) == "" {
		return out, nil
	}
	for _, part := range strings.Split(spec, ",") {
		name, target, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" || target == "" {
			return nil, fmt.Errorf("--self-exclusion-registers: %q is not name=test or name=https://...", part)
		}
		if _, known := compliance.RegisterTitles[name]; !known {
			return nil, fmt.Errorf("--self-exclusion-registers: unknown register %q (spelpaus, rofus, gamstop, oasis, cruks)", name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("--self-exclusion-registers: %s named twice", name)
		}
		if target == "test" {
			out[name] = compliance.TestRegister{RegisterName: name}
			continue
		}
		cfg := compliance.HTTPConfig{URL: target}
		if b, err := os.ReadFile(filepath.Join(data, "register-"+name+".token")); err == nil {
			cfg.Token = strings.TrimSpace(string(b))
		} else if !os.IsNotExist(err) {
			return nil, fmt.Errorf("--self-exclusion-registers: %s token: %w", name, err)
		}
		r, err := compliance.NewAdapter(name, cfg)
		if err != nil {
			return nil, fmt.Errorf("--self-exclusion-registers: %w", err)
		}
		out[name] = r
	}
	return out, nil
}

// openCompliance loads the policies and makes the compliance service
// (after identity: it reads Kassa accounts).
func (a *app) openCompliance(cfg appConfig) error {
	set, err := loadPolicies(cfg.compliance, cfg.store.data)
	if err != nil {
		return err
	}
	regs, err := parseRegisters(cfg.compliance.registers, cfg.store.data)
	if err != nil {
		return err
	}
	for _, missing := range requiredRegistersMissing(set, regs) {
		a.log.Warn("self-exclusion register not configured: deposits that require it are refused", "register", missing)
	}
	a.compliance = compliance.New(compliance.Config{Store: sqlstore.NewCompliance(a.db), Policies: set,
		Merchants: a.merchants, Accounts: compliance.IdentityAccounts{Identity: a.identity}, Registers: regs, Logger: a.log})
	if a.exclusion != nil {
		a.exclusion.set(compliance.IdentityExclusion{Service: a.compliance})
	}
	return nil
}

// lateExclusion is compliance's register check (sign-up, login) as
// identity's ExclusionCheck. identity is made first (compliance reads
// its accounts), so the check is set once compliance exists; until then
// nothing is consulted (no page is served before both exist).
type lateExclusion struct {
	mu sync.RWMutex
	x  identity.ExclusionCheck
}

func (l *lateExclusion) set(x identity.ExclusionCheck) {
	l.mu.Lock()
	l.x = x
	l.mu.Unlock()
}

func (l *lateExclusion) get() identity.ExclusionCheck {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.x
}

func (l *lateExclusion) Consulted(m identity.ExclusionMoment, country string) bool {
	x := l.get()
	return x != nil && x.Consulted(m, country)
}

func (l *lateExclusion) CheckExclusion(ctx context.Context, m identity.ExclusionMoment, p identity.ExclusionPerson) error {
	x := l.get()
	if x == nil {
		return errors.New("self-exclusion check not ready")
	}
	return x.CheckExclusion(ctx, m, p)
}

// requiredRegistersMissing lists the registers some policy requires
// that no adapter answers for.
func requiredRegistersMissing(set *policy.Set, regs map[string]compliance.SelfExclusionRegister) []string {
	seen := map[string]bool{}
	var out []string
	for _, code := range set.Jurisdictions() {
		r, _ := set.Rules(code)
		for _, g := range r.Registers {
			if g.Required && regs[g.Register] == nil && !seen[g.Register] {
				seen[g.Register] = true
				out = append(out, g.Register)
			}
		}
	}
	sort.Strings(out)
	return out
}

// runPolicy is `kassa policy check`.
func runPolicy(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return usagef("policy wants a subcommand: check")
	}
	var f complianceFlags
	fs := newFlagSet("policy check", "policy check [--data DIR | --policies DIR]", stderr)
	data := fs.String("data", "./kassa-data", "data `directory` whose policies/ is checked")
	f.register(fs)
	if err := parseFlags(fs, args[1:], getenv); err != nil {
		return err
	}
	dir := f.policyDir(*data)
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		fmt.Fprintf(stdout, "%s does not exist: the shipped policies apply (kassa serve writes them there)\n", dir)
	}
	set, err := policy.Load(dir)
	if err != nil {
		return checkFailed{err.Error()}
	}
	for _, code := range set.Jurisdictions() {
		r, _ := set.Rules(code)
		fmt.Fprintf(stdout, "%s %s (%s): %s\n", code, r.Name, set.Source(code), r)
	}
	regs, err := parseRegisters(f.registers, *data)
	if err != nil {
		return err
	}
	if missing := requiredRegistersMissing(set, regs); len(missing) > 0 {
		fmt.Fprintf(stdout, "registers required but not configured (deposits needing them are refused): %s\n", strings.Join(missing, ", "))
	}
	fmt.Fprintf(stdout, "%d jurisdictions, every rule cites its source\n", len(set.Jurisdictions()))
	return nil
}
