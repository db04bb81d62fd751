// Package identitytest holds what tests of identity and of the pages and
// APIs over it share: a sealer with a throwaway key and the code of the
// newest message in the development outbox.
package identitytest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"testing"

	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/vault"
)

// Sealer is the vault's envelope sealer under a fresh random key.
func Sealer(t testing.TB) *identity.VaultSealer {
	t.Helper()
	k := make([]byte, vault.KEKLength)
	rand.Read(k)
	keys, err := vault.ParseKeys("1:" + base64.StdEncoding.EncodeToString(k))
	if err != nil {
		t.Fatal(err)
	}
	return &identity.VaultSealer{Wrapper: vault.NewLocalWrapper(keys)}
}

// CodeRE finds a one-time code in a message.
var CodeRE = regexp.MustCompile(`\b(\d{6})\b`)

// LastCode is the one-time code of the newest outbox message to to.
func LastCode(t testing.TB, o *identity.Outbox, to string) string {
	t.Helper()
	ms, err := o.Messages(context.Background(), to, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatalf("no message to %s in the outbox", to)
	}
	m := CodeRE.FindStringSubmatch(ms[0].Body)
	if m == nil {
		t.Fatalf("no code in the newest message to %s: %q", to, ms[0].Body)
	}
	return m[1]
}
