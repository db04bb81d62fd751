package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/kassa/kassa/risk"
)

// Stats summarises a simulation's events.
type Stats struct {
	Events    int            `json:"events"`
	Fraud     int            `json:"fraud"`
	ByType    map[string]int `json:"by_fraud_type"`
	ByKind    map[string]int `json:"by_kind"`
	ByOutcome map[string]int `json:"by_outcome"`
	First     time.Time      `json:"first"`
	Last      time.Time      `json:"last"`
}

func newStats() Stats {
	return Stats{ByType: map[string]int{}, ByKind: map[string]int{}, ByOutcome: map[string]int{}}
}

func (s *Stats) add(e *risk.Event) {
	if s.Events == 0 {
		s.First = e.Time
	}
	s.Events++
	s.Last = e.Time
	s.ByKind[e.Kind]++
	s.ByOutcome[e.Outcome]++
	if e.Label == risk.LabelFraud {
		s.Fraud++
		s.ByType[e.FraudType]++
	}
}

// FraudShare is the share of events that are fraudulent.
func (s Stats) FraudShare() float64 {
	if s.Events == 0 {
		return 0
	}
	return float64(s.Fraud) / float64(s.Events)
}

// WriteJSONL simulates cfg and writes one event per line to w (the
// format of docs/risk-events.md).
func WriteJSONL(ctx context.Context, cfg Config, w io.Writer) (Stats, error) {
	st := newStats()
	bw := bufio.NewWriterSize(w, 256<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	err := Generate(ctx, cfg, func(e *risk.Event) error {
		st.add(e)
		return enc.Encode(e)
	})
	if err != nil {
		return st, fmt.Errorf("sim: write events: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("sim: write events: %w", err)
	}
	return st, nil
}
