package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyCheck: `kassa policy check` lists the shipped jurisdictions,
// and a bad file makes it (exit 3) and `kassa serve` (exit 1) stop with
// a plain error naming the file and the line.
func TestPolicyCheck(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	getenv := func(string) string { return "" }
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"policy", "check", "--data", data}, getenv, &out, &errb); err != nil {
		t.Fatalf("check of the shipped policies: %v", err)
	}
	for _, code := range []string{"AT", "DE", "DK", "GB", "MT", "NL", "SE"} {
		if !strings.Contains(out.String(), "\n"+code+" ") && !strings.HasPrefix(out.String(), code+" ") {
			t.Errorf("%s missing from:\n%s", code, out.String())
		}
	}
	if !strings.Contains(out.String(), "1000.00 EUR a month across operators") {
		t.Errorf("DE's monthly limit not shown:\n%s", out.String())
	}
	dir := filepath.Join(data, "policies")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	bad := "jurisdiction: SE\nname: Sweden\nminimum_age:\n  years: 18\n  sorce: typo\n"
	if err := os.WriteFile(filepath.Join(dir, "se.yaml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := run(context.Background(), []string{"policy", "check", "--data", data}, getenv, &out, &errb)
	var cf checkFailed
	if !errors.As(err, &cf) || !strings.Contains(err.Error(), "se.yaml") || !strings.Contains(err.Error(), "line 5") {
		t.Fatalf("check of a bad file = %v, want a failed check naming se.yaml line 5", err)
	}
	if exitCode(err, &errb) != 3 {
		t.Error("bad policy: exit code not 3")
	}
	err = run(context.Background(), []string{"serve", "--data", data, "--listen", "127.0.0.1:0", "--metrics-listen", "off",
		"--insecure-http", "--log-level", "error"}, getenv, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "se.yaml") {
		t.Fatalf("serve with a bad policy = %v, want an error naming se.yaml", err)
	}
	// Registers: a bad spec is refused; test registers are named.
	if _, err := parseRegisters("spelpaus=test,oasis=http://plain", data); err == nil {
		t.Error("a plain-http register was accepted")
	}
	if _, err := parseRegisters("lugas=test", data); err == nil {
		t.Error("an unknown register was accepted")
	}
	regs, err := parseRegisters("spelpaus=test, gamstop=https://gamstop.example/v2", data)
	if err != nil || len(regs) != 2 {
		t.Fatalf("parseRegisters = %v, %v", regs, err)
	}
}
