package risk

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// EventLineMax bounds one line of an event file.
const EventLineMax = 64 << 10

// evictEvery is how often (in events) a replay drops idle entities, as
// the engine does every evictInterval.
const evictEvery = 100_000

// ReadEvents reads a JSONL event file (docs/risk-events.md), validating
// every line; an error names the line.
func ReadEvents(r io.Reader, fn func(*Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), EventLineMax)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var ev Event
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		if err := ev.Validate(); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		if err := fn(&ev); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", line+1, err)
	}
	return nil
}

// Featurize replays an event stream in time order from an empty state,
// exactly as the engine sees attempts, and hands each attempt's features
// (valid only during the call) with the event to fn. Events out of time
// order are an error: features would see the future.
func Featurize(r io.Reader, cfg StateConfig, fn func(ev *Event, x []float32) error) error {
	st := NewState(cfg)
	x := make([]float32, len(FeatureNames))
	var last Event
	n := 0
	return ReadEvents(r, func(ev *Event) error {
		n++
		if n > 1 && ev.Time.Before(last.Time) {
			return fmt.Errorf("event %d (%s) is earlier than the one before it: event files must be in time order", n, ev.ID)
		}
		last.Time = ev.Time
		if n%evictEvery == 0 {
			st.Evict(ev.Time)
		}
		st.Replay(ev, x)
		return fn(ev, x)
	})
}
