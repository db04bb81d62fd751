package sim

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/kassa/kassa/risk"
)

// moderatePools are the moderate simulation's shared addresses, made
// again from its seed as Generate makes them.
func moderatePools(t *testing.T) map[*country]*pools {
	t.Helper()
	cfg, err := moderate.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	ps := newPopulation(stream(cfg.Seed, streamPopulation, 0), cfg.Payers, cfg.Days, newMerchants(cfg.Merchants))
	return newPools(stream(cfg.Seed, streamNetworks, 0), ps)
}

// payerKey is who an attempt is from, as far as it says: the customer,
// else the e-mail, else the card or voucher.
func payerKey(e *risk.Event) string {
	for _, k := range []string{e.CustomerID, e.Email, e.CardFingerprint, e.VoucherSerial} {
		if k != "" {
			return k
		}
	}
	return ""
}

// TestSharedAddresses: many honest payers share an address — carrier-
// grade NAT above all, offices and public wifi, households — so legit
// traffic has addresses with several customers and cards an hour. What
// sets card testing apart is the combination: legit payers at a shared
// address come on as many devices as there are of them, and no legit
// device tries many cards.
func TestSharedAddresses(t *testing.T) {
	const (
		customersPerHourMin = 6  // at the busiest CGNAT address-hours
		cardsPerHourMin     = 4  // of which pay by card
		busyHoursMin        = 20 // address-hours with that many customers and cards
		deviceCardsMax      = 5  // distinct cards on one legit device in a day
	)
	cgnat, office := map[string]bool{}, map[string]bool{}
	for _, pl := range moderatePools(t) {
		for _, a := range pl.cgnat {
			cgnat[a.addr.String()] = true
		}
		for _, a := range pl.shared {
			office[a.addr.String()] = true
		}
	}
	type hourKey struct {
		ip   string
		hour time.Time
	}
	type group struct{ customers, cards, instruments, devices map[string]bool }
	hours := map[hourKey]*group{}
	lineCustomers := map[string]map[string]bool{} // residential address → customers
	deviceCards := map[string]map[string]bool{}   // device and day → cards
	var legit, atCGNAT, atOffice int
	for _, e := range events(t) {
		if e.Label != risk.LabelLegit || e.IP == "" {
			if e.Label == risk.LabelLegit {
				legit++
			}
			continue
		}
		legit++
		switch {
		case cgnat[e.IP]:
			atCGNAT++
			k := hourKey{e.IP, e.Time.Truncate(time.Hour)}
			g := hours[k]
			if g == nil {
				g = &group{map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}}
				hours[k] = g
			}
			g.customers[payerKey(e)] = true
			if e.CardFingerprint != "" {
				g.cards[e.CardFingerprint] = true
			}
			g.instruments[e.CardFingerprint+e.VoucherSerial] = true
			if e.DeviceID != "" {
				g.devices[e.DeviceID] = true
			}
		case office[e.IP]:
			atOffice++
		case e.CustomerID != "":
			if lineCustomers[e.IP] == nil {
				lineCustomers[e.IP] = map[string]bool{}
			}
			lineCustomers[e.IP][e.CustomerID] = true
		}
		if e.DeviceID != "" && e.CardFingerprint != "" {
			k := e.DeviceID + e.Time.Format("2006-01-02")
			if deviceCards[k] == nil {
				deviceCards[k] = map[string]bool{}
			}
			deviceCards[k][e.CardFingerprint] = true
		}
	}
	if share := float64(atCGNAT) / float64(legit); share < 0.1 || share > 0.3 {
		t.Errorf("legit events from CGNAT addresses: %.3f, want a sizeable share (0.1–0.3)", share)
	}
	if share := float64(atOffice) / float64(legit); share < 0.01 || share > 0.1 {
		t.Errorf("legit events from office and public wifi addresses: %.3f, want 0.01–0.1", share)
	}
	busy, most, mostCards := 0, 0, 0
	for k, g := range hours {
		most, mostCards = max(most, len(g.customers)), max(mostCards, len(g.cards))
		if len(g.customers) < customersPerHourMin {
			continue
		}
		if len(g.cards) >= cardsPerHourMin {
			busy++
		}
		// Each payer their own card or voucher and (mostly) device.
		if 2*len(g.instruments) < len(g.customers) || 2*len(g.devices) < len(g.customers) {
			t.Errorf("%s at %s: %d customers with %d cards and vouchers on %d devices", k.ip, k.hour, len(g.customers), len(g.instruments), len(g.devices))
		}
	}
	t.Logf("CGNAT: %.3f of legit events; %d address-hours with ≥ %d customers and ≥ %d cards; at most %d customers, %d cards",
		float64(atCGNAT)/float64(legit), busy, customersPerHourMin, cardsPerHourMin, most, mostCards)
	if busy < busyHoursMin {
		t.Errorf("%d CGNAT address-hours with ≥ %d legit customers and ≥ %d cards, want ≥ %d", busy, customersPerHourMin, cardsPerHourMin, busyHoursMin)
	}
	households := 0
	for _, cs := range lineCustomers {
		if len(cs) >= 2 {
			households++
		}
	}
	if households < 20 {
		t.Errorf("%d home lines with several customers, want households", households)
	}
	for k, cs := range deviceCards {
		if len(cs) > deviceCardsMax {
			t.Errorf("legit device-day %s: %d cards", k, len(cs))
		}
	}
}

// TestServerToServer: merchants that call Kassa from their server send
// attempts without the payer's address, device or signals, at the share
// their integration says; fraud comes that way too, a little less often
// (card testing through the hosted page never).
func TestServerToServer(t *testing.T) {
	anonymous := func(e *risk.Event) bool {
		return e.IP == "" && e.DeviceID == "" && !e.Signals.Present && e.Geo == (risk.Geo{})
	}
	type tally struct{ n, anon int }
	byMerchant := map[string]*tally{}
	var legit, fraud tally
	for _, e := range events(t) {
		a := anonymous(e)
		if e.Label == risk.LabelFraud {
			fraud.n++
			if a {
				fraud.anon++
			}
			if e.FraudType == CardTesting && e.Signals.Present && e.IP == "" {
				t.Errorf("card test %s through the page without an address", e.ID)
			}
			continue
		}
		legit.n++
		m := byMerchant[e.MerchantID]
		if m == nil {
			m = &tally{}
			byMerchant[e.MerchantID] = m
		}
		m.n++
		if a {
			legit.anon++
			m.anon++
		}
	}
	for _, m := range newMerchants(moderate.Merchants) {
		c := byMerchant[m.id]
		want := m.server * (1 - m.forwardIP)
		got := float64(c.anon) / float64(c.n)
		if math.Abs(got-want) > 0.02+0.1*want {
			t.Errorf("%s: %.3f of legit attempts without address, device and signals, want %.3f", m.id, got, want)
		}
	}
	legitShare := float64(legit.anon) / float64(legit.n)
	fraudShare := float64(fraud.anon) / float64(fraud.n)
	t.Logf("without address, device and signals: legit %.3f, fraud %.3f", legitShare, fraudShare)
	if legitShare < 0.08 || legitShare > 0.16 {
		t.Errorf("legit attempts without address, device and signals: %.3f, want 0.08–0.16", legitShare)
	}
	if fraudShare < 0.3*legitShare || fraudShare > 1.2*legitShare {
		t.Errorf("fraud attempts without address, device and signals: %.3f, want similar to or a little below legit's %.3f", fraudShare, legitShare)
	}
}

// TestGuests: some shop checkouts are guests' (no customer id), most of
// those without an e-mail either: known by the card or voucher alone.
// Operators' attempts always carry the customer.
func TestGuests(t *testing.T) {
	var shop, anonymous, withEmail int
	for _, e := range events(t) {
		if e.Label != risk.LabelLegit {
			continue
		}
		if e.Kind != risk.KindPayment {
			if e.CustomerID == "" {
				t.Fatalf("legit %s %s without a customer", e.Kind, e.ID)
			}
			continue
		}
		shop++
		switch {
		case e.CustomerID == "" && e.Email == "":
			anonymous++
			if e.CardFingerprint == "" && e.VoucherSerial == "" {
				t.Fatalf("guest checkout %s without card or voucher", e.ID)
			}
		case e.CustomerID == "":
			withEmail++
		}
	}
	want := guestShare * (1 - guestEmailShare)
	if got := float64(anonymous) / float64(shop); math.Abs(got-want) > 0.03 {
		t.Errorf("legit shop payments without customer and e-mail: %.3f, want %.3f", got, want)
	}
	if got := float64(withEmail) / float64(shop); math.Abs(got-guestShare*guestEmailShare) > 0.03 {
		t.Errorf("legit guest checkouts with an e-mail: %.3f, want %.3f", got, guestShare*guestEmailShare)
	}
}

// TestUnlocated: GeoIP does not know every address; events from those
// have an ip but no geo, legit and fraud alike, and an address is known
// or not the same way every time.
func TestUnlocated(t *testing.T) {
	known := map[string]bool{}
	var n, unlocated [2]int // legit, fraud
	for _, e := range events(t) {
		if e.IP == "" {
			continue
		}
		i := 0
		if e.Label == risk.LabelFraud {
			i = 1
		}
		n[i]++
		if !e.Geo.Known {
			unlocated[i]++
		}
		if k, ok := known[e.IP]; ok && k != e.Geo.Known {
			t.Fatalf("event %s: address %s located sometimes", e.ID, e.IP)
		}
		known[e.IP] = e.Geo.Known
		if e.Geo.Known != located(netip.MustParseAddr(e.IP)) {
			t.Fatalf("event %s: address %s located %v", e.ID, e.IP, e.Geo.Known)
		}
	}
	for i, label := range []string{risk.LabelLegit, risk.LabelFraud} {
		share := float64(unlocated[i]) / float64(n[i])
		t.Logf("%s events with an address GeoIP does not know: %.3f", label, share)
		if share < 0.03 || share > 0.15 {
			t.Errorf("%s events with an unlocated address: %.3f, want 0.03–0.15", label, share)
		}
	}
}
