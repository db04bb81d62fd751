package httpapi_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kassa/kassa/httpapi"
	"github.com/kassa/kassa/voucher"
)

// budgetFixture is a voucher server behind a trusted proxy, so each
// request can come from another client address, with small PIN failure
// budgets.
func budgetFixture(t *testing.T, perKey, platform int) (*voucherFixture, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	f := newVoucherFixtureWith(t, func(vf *voucherFixture, cfg *httpapi.Config) {
		cfg.Clock = vf.clock.Now
		cfg.Registry = reg
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		cfg.PINBudget = httpapi.PINBudget{PerKey: perKey, Platform: platform, Window: time.Hour}
	})
	return f, reg
}

// guess sends one wrong PIN from the n-th client address.
func (f *voucherFixture) guess(t *testing.T, key string, n int) int {
	t.Helper()
	resp, _ := f.do(t, "POST", "/v1/vouchers/balance", key, "application/json",
		fmt.Sprintf(`{"pin":"%016d"}`, 1_000_000+n), "X-Forwarded-For", fmt.Sprintf("198.51.%d.%d", n/250, n%250+1))
	return resp.StatusCode
}

// TestPINGuessingFromManyIPs is a stranger's attack on the balance check:
// with a merchant's publishable key (it is on the merchant's pages) it
// guesses PINs from many addresses, each under the per-IP limit. The
// per-key failure budget stops the key; the platform-wide budget stops
// guessing spread over many merchants' keys.
func TestPINGuessingFromManyIPs(t *testing.T) {
	f, reg := budgetFixture(t, 20, 50)
	ctx := context.Background()
	count := func(key string, n0, n int) map[int]int {
		codes := map[int]int{}
		for i := range n {
			codes[f.guess(t, key, n0+i)]++
		}
		return codes
	}
	// Key A: 60 guesses from 60 addresses; 20 are looked at.
	if got := count(f.merchant.PublishableKey, 0, 60); got[400] != 20 || got[429] != 40 {
		t.Errorf("60 guesses with one key from 60 addresses answered %v, want 20×400 and 40×429", got)
	}
	// More merchants' keys: together they reach the platform budget.
	looked := 20
	for i := range 3 {
		m, err := f.svc.Create(ctx, fmt.Sprintf("Shop %d", i))
		if err != nil {
			t.Fatal(err)
		}
		looked += count(m.PublishableKey, 1000*(i+1), 30)[400]
	}
	if looked != 50 {
		t.Errorf("%d guesses were looked at over four keys, want the platform budget, 50", looked)
	}
	if got := counterValue(t, reg, "kassa_voucher_balance_pin_failures_total"); got != 50 {
		t.Errorf("kassa_voucher_balance_pin_failures_total = %v, want 50", got)
	}
	resp, body := f.do(t, "POST", "/v1/vouchers/balance", f.other.PublishableKey, "application/json", `{"pin":"0000000000000000"}`,
		"X-Forwarded-For", "203.0.113.9")
	problem(t, resp, body, 429, voucher.CodePINAttemptsExceeded)
	if ra := resp.Header.Get("Retry-After"); ra == "" {
		t.Error("no Retry-After")
	}
	for _, b := range []string{"key", "platform"} {
		n := counterValue(t, reg, "kassa_voucher_balance_budget_exhausted_total", "budget", b)
		if n == 0 {
			t.Errorf("kassa_voucher_balance_budget_exhausted_total{budget=%q} = 0", b)
		}
	}
	// The budgets refill over their window.
	f.clock.Advance(time.Hour)
	if st := f.guess(t, f.other.PublishableKey, 5000); st != 400 {
		t.Errorf("a guess an hour later = %d, want 400", st)
	}
}

// TestPINBudgetReservedFirst: concurrent guesses cannot overrun a budget
// between its check and its count; the attempt is reserved first.
func TestPINBudgetReservedFirst(t *testing.T) {
	f, _ := budgetFixture(t, 10, 1000)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			st := f.guess(t, f.merchant.PublishableKey, i)
			mu.Lock()
			codes[st]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[400] != 10 || codes[429] != 90 {
		t.Errorf("100 concurrent guesses answered %v, want 10×400 and 90×429", codes)
	}
}

// counterValue is the value of one counter series (labels are name,
// value pairs it must have).
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range fams {
		if fam.GetName() != name {
			continue
		}
	series:
		for _, m := range fam.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Errorf("no series %s %s", name, strings.Join(labels, " "))
	return 0
}
