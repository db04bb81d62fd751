package sim

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/risk"
)

// TestLearnable checks the promise the simulator makes to the model
// trainer: a gradient-boosted model on features any scorer can compute
// online from the event stream (the event's own fields and sliding
// windows per customer, device and address) separates fraud from legit
// with AUPRC ≥ 0.90 on later, held-out days, while no single feature
// does (the patterns are not trivially separable).
//
// The features and the booster here are deliberately plain, a floor for
// what Kassa's own will reach; they live in this test so that the
// simulator, not the model code, is what the test holds to account.
func TestLearnable(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model")
	}
	evs := events(t)
	x, y := featurize(evs)
	split := DefaultStart.AddDate(0, 0, moderate.Days-3) // the last three days are held out
	n, _ := slices.BinarySearchFunc(evs, split, func(e *risk.Event, t time.Time) int { return e.Time.Compare(t) })

	params := gbdtParams{trees: 80, depth: 4, rate: 0.15, lambda: 1, bins: 48}
	if raceEnabled { // ten times slower there, and the race detector has nothing to find in it
		params.trees, params.rate = 25, 0.3
	}
	m := trainGBDT(x[:n], y[:n], params)
	scores := make([]float64, len(x)-n)
	for i := range scores {
		scores[i] = m.predict(x[n+i])
	}
	ap := averagePrecision(scores, y[n:])
	t.Logf("AUPRC on %d held-out events (%d fraud): %.4f", len(scores), count(y[n:]), ap)
	if ap < 0.90 {
		t.Errorf("AUPRC %.4f, want ≥ 0.90", ap)
	}
	for _, ft := range FraudTypes() { // each type against all legit events
		var s []float64
		var ys []bool
		for i, e := range evs[n:] {
			if e.Label == risk.LabelLegit || e.FraudType == ft {
				s, ys = append(s, scores[i]), append(ys, y[n+i])
			}
		}
		t.Logf("%s: %d events, AUPRC %.4f", ft, count(ys), averagePrecision(s, ys))
	}
	best, bestName := 0.0, ""
	for f := range featureNames {
		col := make([]float64, len(scores))
		for i := range col {
			col[i] = x[n+i][f]
		}
		a := averagePrecision(col, y[n:])
		for i := range col {
			col[i] = -col[i]
		}
		a = math.Max(a, averagePrecision(col, y[n:]))
		if a > best {
			best, bestName = a, featureNames[f]
		}
	}
	t.Logf("best single feature: %s, AUPRC %.4f", bestName, best)
	if best > 0.6 {
		t.Errorf("feature %s alone reaches AUPRC %.4f: the fraud is trivially separable", bestName, best)
	}
}

var featureNames = []string{
	"amount_eur_log", "kind", "method", "merchant", "signals_present", "time_on_page", "time_to_submit",
	"pointer_moves", "key_events", "paste_events", "focus_changes", "webdriver", "touch", "script_agent",
	"geo_not_billing", "timezone_not_geo", "local_hour",
	"customer_events", "customer_age_h", "device_new_for_customer", "speed_kmh", "amount_over_max",
	"device_attempts_1h", "device_cards_1h", "device_declines_1h", "fingerprint_customers_24h",
	"ip_attempts_1h", "ip_cards_1h", "withdrawal_over_deposits_24h", "customer_deposits_24h",
}

// seen is one past attempt in a window.
type seen struct {
	t        time.Time
	card     string
	customer string
	declined bool
}

// window keeps the attempts of the last span per key.
type window map[string][]seen

func (w window) recent(key string, now time.Time, span time.Duration) []seen {
	xs := w[key]
	i := 0
	for i < len(xs) && now.Sub(xs[i].t) > span {
		i++
	}
	xs = xs[i:]
	w[key] = xs
	return xs
}

type history struct {
	first, last time.Time // last: the last located attempt
	lat, lon    float64
	located     bool
	n           int
	maxEUR      float64
	devices     map[string]bool
	deposits    []seen // approved deposits; card holds nothing, customer nothing
	depositEUR  []float64
}

func distinct(xs []seen, f func(seen) string) int {
	m := map[string]bool{}
	for _, x := range xs {
		m[f(x)] = true
	}
	return len(m)
}

// featurize computes each event's features from it and the events
// before it only, as an online scorer would.
func featurize(evs []*risk.Event) ([][]float64, []bool) {
	x := make([][]float64, len(evs))
	y := make([]bool, len(evs))
	customers := map[string]*history{}
	devices, fingerprints, ips := window{}, window{}, window{}
	tz := map[string]string{}
	offset := map[string]int{}
	for _, c := range countries {
		tz[c.code], offset[c.code] = c.timezone, c.utcOffset
	}
	merchants := map[string]float64{}
	for i, e := range evs {
		eur := float64(e.Amount)
		if e.Currency != "EUR" {
			for _, c := range countries {
				if c.currency == e.Currency {
					eur /= c.eurRate
				}
			}
		}
		if _, ok := merchants[e.MerchantID]; !ok {
			merchants[e.MerchantID] = float64(len(merchants))
		}
		s := e.Signals
		f := []float64{
			math.Log1p(eur), float64(slices.Index([]string{risk.KindPayment, risk.KindDeposit, risk.KindWithdrawal}, e.Kind)),
			float64(slices.Index([]string{risk.MethodCard, risk.MethodVoucher, risk.MethodAccount}, e.Method)),
			merchants[e.MerchantID], b(s.Present), float64(s.TimeOnPageMS), float64(s.TimeToSubmitMS),
			float64(s.PointerMoves), float64(s.KeyEvents), float64(s.PasteEvents), float64(s.FocusChanges),
			b(s.Webdriver), b(s.Touch), b(!strings.HasPrefix(e.UserAgent, "Mozilla/") || strings.Contains(e.UserAgent, "Headless")),
			b(e.Geo.Country != e.BillingCountry), -1, float64((e.Time.Hour() + offset[e.Geo.Country] + 24) % 24),
		}
		if s.Present {
			f[15] = b(s.Timezone != tz[e.Geo.Country])
		}
		key := e.CustomerID
		if key == "" {
			key = e.Email
		}
		h := customers[key] // nil for a new customer, and for none (a guest without an e-mail)
		switch {
		case key == "":
			f = append(f, -1, -1, -1, -1, -1)
		case h == nil:
			f = append(f, 0, -1, -1, -1, -1)
		default:
			speed := -1.0
			if h.located && e.Geo.Known {
				hours := e.Time.Sub(h.last).Hours()
				speed = math.Min(distanceKM(h.lat, h.lon, e.Geo.Lat, e.Geo.Lon)/math.Max(hours, 0.05), 5000)
			}
			f = append(f, float64(h.n), e.Time.Sub(h.first).Hours(), b(e.DeviceID != "" && !h.devices[e.DeviceID]),
				speed, eur/math.Max(h.maxEUR, 1))
		}
		dev := e.DeviceID
		if dev == "" && e.IP != "" {
			dev = "none:" + e.IP
		}
		// Windows of what is missing (no device and no address, no
		// fingerprint, no address) are -1: unknown, not zero.
		ds := devices.recent(dev, e.Time, time.Hour)
		declines := 0
		for _, d := range ds {
			if d.declined {
				declines++
			}
		}
		fs := fingerprints.recent(s.Fingerprint, e.Time, 24*time.Hour)
		is := ips.recent(e.IP, e.Time, time.Hour)
		f = append(f, orMissing(dev, float64(len(ds))), orMissing(dev, float64(distinct(ds, func(s seen) string { return s.card }))),
			orMissing(dev, float64(declines)),
			orMissing(s.Fingerprint, float64(distinct(fs, func(s seen) string { return s.customer }))),
			orMissing(e.IP, float64(len(is))), orMissing(e.IP, float64(distinct(is, func(s seen) string { return s.card }))))
		var depEUR float64
		var depN int
		if h != nil {
			for j, d := range h.deposits {
				if e.Time.Sub(d.t) < 24*time.Hour {
					depEUR += h.depositEUR[j]
					depN++
				}
			}
		}
		ratio := -1.0
		if e.Kind == risk.KindWithdrawal {
			ratio = eur / math.Max(depEUR, 1)
		}
		f = append(f, ratio, float64(depN))
		x[i], y[i] = f, e.Label == risk.LabelFraud

		// Now what the scorer learns from this attempt.
		if h == nil {
			h = &history{first: e.Time, devices: map[string]bool{}}
			if key != "" {
				customers[key] = h
			}
		}
		h.n++
		if e.Geo.Known {
			h.last, h.lat, h.lon, h.located = e.Time, e.Geo.Lat, e.Geo.Lon, true
		}
		h.maxEUR = math.Max(h.maxEUR, eur)
		h.devices[e.DeviceID] = true
		if e.Kind == risk.KindDeposit && e.Outcome == risk.OutcomeApproved {
			h.deposits = append(h.deposits, seen{t: e.Time})
			h.depositEUR = append(h.depositEUR, eur)
		}
		item := seen{t: e.Time, card: e.CardFingerprint + e.VoucherSerial, customer: key, declined: e.Outcome != risk.OutcomeApproved}
		if dev != "" {
			devices[dev] = append(devices[dev], item)
		}
		if s.Fingerprint != "" {
			fingerprints[s.Fingerprint] = append(fingerprints[s.Fingerprint], item)
		}
		if e.IP != "" {
			ips[e.IP] = append(ips[e.IP], item)
		}
	}
	return x, y
}

// orMissing is x, or -1 when the entity it counts is missing.
func orMissing(key string, x float64) float64 {
	if key == "" {
		return -1
	}
	return x
}

func b(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

func count(ys []bool) int {
	n := 0
	for _, y := range ys {
		if y {
			n++
		}
	}
	return n
}

// averagePrecision is the area under the precision-recall curve as
// average precision (ties broken pessimistically: legit first).
func averagePrecision(scores []float64, ys []bool) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, c int) int {
		if scores[a] != scores[c] {
			if scores[a] > scores[c] {
				return -1
			}
			return 1
		}
		return int(b(ys[a]) - b(ys[c]))
	})
	pos := count(ys)
	if pos == 0 {
		return 0
	}
	var tp, ap float64
	for k, i := range idx {
		if ys[i] {
			tp++
			ap += tp / float64(k+1)
		}
	}
	return ap / float64(pos)
}

// A small gradient-boosted tree ensemble (logistic loss, histogram
// splits, fixed depth), enough to measure learnability.
type gbdtParams struct {
	trees, depth, bins int
	rate, lambda       float64
}

type node struct {
	feature   int
	threshold float64 // go left when x <= threshold
	left      int     // child indices; -1 for a leaf
	right     int
	value     float64
}

type gbdt struct {
	base  float64
	rate  float64
	trees [][]node
}

func (m *gbdt) predict(x []float64) float64 {
	s := m.base
	for _, tr := range m.trees {
		i := 0
		for tr[i].left >= 0 {
			if x[tr[i].feature] <= tr[i].threshold {
				i = tr[i].left
			} else {
				i = tr[i].right
			}
		}
		s += m.rate * tr[i].value
	}
	return s
}

func trainGBDT(x [][]float64, y []bool, p gbdtParams) *gbdt {
	nf := len(x[0])
	// Bin edges from each feature's quantiles.
	edges := make([][]float64, nf)
	binned := make([][]uint8, nf)
	for f := range nf {
		col := make([]float64, len(x))
		for i := range x {
			col[i] = x[i][f]
		}
		sorted := slices.Clone(col)
		slices.Sort(sorted)
		for q := 1; q < p.bins; q++ {
			v := sorted[q*len(sorted)/p.bins]
			if len(edges[f]) == 0 || v > edges[f][len(edges[f])-1] {
				edges[f] = append(edges[f], v)
			}
		}
		binned[f] = make([]uint8, len(x))
		for i, v := range col {
			k, _ := slices.BinarySearch(edges[f], v) // bin k holds values in (edge[k-1], edge[k]]
			binned[f][i] = uint8(k)
		}
	}
	pos := float64(count(y))
	m := &gbdt{base: math.Log(pos / (float64(len(y)) - pos)), rate: p.rate}
	score := make([]float64, len(x))
	for i := range score {
		score[i] = m.base
	}
	g, h := make([]float64, len(x)), make([]float64, len(x))
	rows := make([]int, len(x))
	for range p.trees {
		for i := range x {
			pr := 1 / (1 + math.Exp(-score[i]))
			g[i], h[i] = pr-b(y[i]), math.Max(pr*(1-pr), 1e-6)
		}
		for i := range rows {
			rows[i] = i
		}
		var tree []node
		var grow func(rs []int, depth int) int
		grow = func(rs []int, depth int) int {
			var sg, sh float64
			for _, i := range rs {
				sg += g[i]
				sh += h[i]
			}
			me := len(tree)
			tree = append(tree, node{left: -1, right: -1, value: -sg / (sh + p.lambda)})
			if depth == p.depth || len(rs) < 20 {
				return me
			}
			bestGain, bestF, bestK := 0.0, -1, 0
			var hg, hh [256]float64
			for f := range nf {
				clear(hg[:])
				clear(hh[:])
				for _, i := range rs {
					k := binned[f][i]
					hg[k] += g[i]
					hh[k] += h[i]
				}
				var lg, lh float64
				for k := 0; k < len(edges[f]); k++ {
					lg += hg[k]
					lh += hh[k]
					rg, rh := sg-lg, sh-lh
					if lh < 1 || rh < 1 {
						continue
					}
					gain := lg*lg/(lh+p.lambda) + rg*rg/(rh+p.lambda) - sg*sg/(sh+p.lambda)
					if gain > bestGain {
						bestGain, bestF, bestK = gain, f, k
					}
				}
			}
			if bestF < 0 {
				return me
			}
			// Partition rs in place: left first.
			j := 0
			for i, r := range rs {
				if int(binned[bestF][r]) <= bestK {
					rs[i], rs[j] = rs[j], rs[i]
					j++
				}
			}
			l := grow(rs[:j], depth+1)
			r := grow(rs[j:], depth+1)
			tree[me].feature, tree[me].threshold, tree[me].left, tree[me].right = bestF, edges[bestF][bestK], l, r
			return me
		}
		grow(rows, 0)
		m.trees = append(m.trees, tree)
		for i := range x {
			t := tree
			n := 0
			for t[n].left >= 0 {
				if x[i][t[n].feature] <= t[n].threshold {
					n = t[n].left
				} else {
					n = t[n].right
				}
			}
			score[i] += p.rate * t[n].value
		}
	}
	return m
}
