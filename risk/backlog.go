package risk

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits of the review count made at each scrape.
const (
	// reviewBacklogCountMax bounds the cases one scrape counts.
	reviewBacklogCountMax      = 100_000
	reviewBacklogScrapeTimeout = 5 * time.Second
)

// reviewBacklogCollector reports the open review cases of every merchant
// and the age of the oldest, read from the store at each scrape (every
// node reports the same platform-wide figures).
type reviewBacklogCollector struct {
	e         *Engine
	open, age *prometheus.Desc
}

func newReviewBacklogCollector(e *Engine) reviewBacklogCollector {
	return reviewBacklogCollector{e: e,
		open: prometheus.NewDesc("kassa_risk_reviews_open",
			"Open review cases of every merchant (counted up to 100,000).", nil, nil),
		age: prometheus.NewDesc("kassa_risk_oldest_open_review_age_seconds",
			"Seconds since the oldest open review case was opened (0 when none is open).", nil, nil),
	}
}

func (c reviewBacklogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.open; ch <- c.age }

// Collect reports nothing when the store does not answer (logged): the
// rest of the scrape goes through, and the database alerts speak.
func (c reviewBacklogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), reviewBacklogScrapeTimeout)
	defer cancel()
	n, oldest, err := c.e.store.ReviewBacklog(ctx, reviewBacklogCountMax)
	if err != nil {
		c.e.log.Warn("risk: count open reviews", "err", err)
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, c.e.now().Sub(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}

// WriterQueue is how many evaluations and outcomes wait for this
// process's risk writer, and its capacity (at capacity, scoring waits).
func (e *Engine) WriterQueue() (queued, capacity int) {
	return len(e.writer.queue), cap(e.writer.queue)
}
