package risk

import (
	"cmp"
	"math"
	"slices"

	"github.com/kassa/kassa/risk/model"
)

// Legitimate segments: honest payers who look like fraudsters in some
// way. An evaluation reports the false-positive rate of each, so that a
// model that buys recall by refusing first-time customers or expats shows
// it. They are read from the attempt and its features, not from any
// simulator's hidden state, so they mean the same on real exports.
const (
	SegmentFirstTime  = "first_time_customer" // no approved attempt of the customer before
	SegmentTraveller  = "traveller"           // IP country ≠ billing country, or a country new to the customer
	SegmentShared     = "shared_device"       // two or more customers on the device in 7 days
	SegmentCarrierNAT = "carrier_nat"         // three or more customers on the IP address in 24 hours
	SegmentPasted     = "pasted_details"      // the payer pasted something into the form
)

// Segments lists the legitimate segments, in report order.
var Segments = []string{SegmentFirstTime, SegmentTraveller, SegmentShared, SegmentCarrierNAT, SegmentPasted}

// SegmentsOf appends to dst the segments an attempt with features x
// (in FeatureNames order) belongs to.
func SegmentsOf(ev *Event, x []float32, dst []string) []string {
	if x[FCustomerHistoryCount] == 0 {
		dst = append(dst, SegmentFirstTime)
	}
	if x[FIPCountryMismatch] == 1 || x[FCountryNewForCustomer] == 1 {
		dst = append(dst, SegmentTraveller)
	}
	if x[FDeviceDistinctCustomers7d] >= 2 {
		dst = append(dst, SegmentShared)
	}
	if x[FIPDistinctCustomers24h] >= 3 {
		dst = append(dst, SegmentCarrierNAT)
	}
	if ev.Signals.PasteEvents > 0 {
		dst = append(dst, SegmentPasted)
	}
	return dst
}

// Scored is one labelled attempt with its score.
type Scored struct {
	ID        string
	Score     float64 // probability of fraud
	Fraud     bool
	FraudType string   // for fraud: its pattern, "" when unknown
	Segments  []string // for legit: SegmentsOf
}

// Rate is a share of a group's attempts that scored at or above a
// threshold: recall for a fraud type, the false-positive rate for a
// legitimate segment.
type Rate struct {
	Count   int     `json:"count"`
	Flagged int     `json:"flagged"`
	Rate    float64 `json:"rate"`
}

// Bin is one row of a reliability table: the attempts whose score fell in
// [Lo, Hi), their mean score and the share of them that were fraud. A
// calibrated model has MeanScore ≈ FraudRate in every bin.
type Bin struct {
	Lo        float64 `json:"lo"`
	Hi        float64 `json:"hi"`
	Count     int     `json:"count"`
	MeanScore float64 `json:"mean_score"`
	FraudRate float64 `json:"fraud_rate"`
}

// Assessment is how well scores tell fraud from legit: the ranking
// metrics, recall per fraud type and the false-positive rate per
// legitimate segment at the threshold of 1% false positives overall, and
// calibration.
type Assessment struct {
	model.Metrics
	// ThresholdAt1PctFPR is the lowest score flagged at 1% FPR.
	ThresholdAt1PctFPR float64 `json:"threshold_at_1pct_fpr"`
	// Brier is the mean squared difference between score and label.
	Brier       float64         `json:"brier"`
	Reliability []Bin           `json:"reliability"`
	FraudTypes  map[string]Rate `json:"recall_by_fraud_type"`
	Segments    map[string]Rate `json:"fpr_by_segment"`
}

// reliabilityBins is the number of rows of the reliability table: equal
// widths on a log scale of the odds would suit rare fraud better, but
// tenths are what an analyst reads at a glance.
const reliabilityBins = 10

// Assess measures scored attempts; flagged is score ≥ threshold, the
// lowest score whose false-positive rate is still at most 1%.
func Assess(rows []Scored, threshold float64) Assessment {
	scores := make([]float64, len(rows))
	labels := make([]bool, len(rows))
	for i, r := range rows {
		scores[i], labels[i] = r.Score, r.Fraud
	}
	a := Assessment{Metrics: model.Evaluate(scores, labels, threshold),
		FraudTypes: map[string]Rate{}, Segments: map[string]Rate{}}
	a.ThresholdAt1PctFPR = thresholdAtFPR(rows, 0.01)
	a.Reliability = make([]Bin, reliabilityBins)
	for i := range a.Reliability {
		a.Reliability[i].Lo, a.Reliability[i].Hi = float64(i)/reliabilityBins, float64(i+1)/reliabilityBins
	}
	count := func(m map[string]Rate, key string, flagged bool) {
		r := m[key]
		r.Count++
		if flagged {
			r.Flagged++
		}
		m[key] = r
	}
	for _, r := range rows {
		y := 0.0
		if r.Fraud {
			y = 1
		}
		a.Brier += (r.Score - y) * (r.Score - y)
		b := &a.Reliability[min(max(int(r.Score*reliabilityBins), 0), reliabilityBins-1)]
		b.Count++
		b.MeanScore += r.Score
		b.FraudRate += y
		flagged := r.Score >= a.ThresholdAt1PctFPR
		if r.Fraud {
			t := r.FraudType
			if t == "" {
				t = "unknown"
			}
			count(a.FraudTypes, t, flagged)
			continue
		}
		count(a.Segments, "all_legit", flagged)
		for _, s := range r.Segments {
			count(a.Segments, s, flagged)
		}
	}
	if len(rows) > 0 {
		a.Brier /= float64(len(rows))
	}
	for i := range a.Reliability {
		if b := &a.Reliability[i]; b.Count > 0 {
			b.MeanScore /= float64(b.Count)
			b.FraudRate /= float64(b.Count)
		}
	}
	for _, m := range []map[string]Rate{a.FraudTypes, a.Segments} {
		for k, r := range m {
			r.Rate = float64(r.Flagged) / float64(r.Count)
			m[k] = r
		}
	}
	return a
}

// thresholdAtFPR is the lowest score s such that flagging every attempt
// scoring ≥ s flags at most fpr of the legitimate ones (ties flagged
// together); above every score when even the top one would be too many.
func thresholdAtFPR(rows []Scored, fpr float64) float64 {
	var legit []float64
	top := math.Inf(-1)
	for _, r := range rows {
		if !math.IsNaN(r.Score) {
			top = max(top, r.Score)
		}
		if !r.Fraud && !math.IsNaN(r.Score) {
			legit = append(legit, r.Score)
		}
	}
	if math.IsInf(top, -1) {
		return 1
	}
	if len(legit) == 0 {
		return 0
	}
	slices.SortFunc(legit, func(a, b float64) int { return cmp.Compare(b, a) })
	allowed := int(math.Floor(fpr * float64(len(legit))))
	// Flagging ≥ legit[allowed] would flag allowed+1 legit attempts (or
	// more with ties): the threshold is just above it.
	if allowed >= len(legit) {
		return 0
	}
	return math.Nextafter(legit[allowed], math.Inf(1))
}
