package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// TestServePublicURLIPIsUsageError: --public-url with an IP address (no
// domain name for passkeys) is a plain usage error that says why, not a
// panic in newApp's cleanup.
func TestServePublicURLIPIsUsageError(t *testing.T) {
	var out, errb bytes.Buffer
	dir := t.TempDir()
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("kassa serve --public-url https://127.0.0.1:8443 panicked: %v", p)
			}
		}()
		err = run(context.Background(), []string{"serve", "--data", dir, "--listen", "127.0.0.1:0",
			"--public-url", "https://127.0.0.1:8443"}, func(string) string { return "" }, &out, &errb)
	}()
	var ue usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--public-url") || !strings.Contains(err.Error(), "domain name") {
		t.Fatalf("err = %v (%T), want a usage error naming --public-url and the domain name", err, err)
	}
	if code := exitCode(err, &errb); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
}
