package webhook

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits of the backlog count made at each scrape.
const (
	// backlogCountMax bounds the rows one scrape counts; a bigger backlog
	// shows as this many.
	backlogCountMax      = 100_000
	backlogScrapeTimeout = 5 * time.Second
)

// backlogCollector reports the deliveries due and the age of the oldest,
// read from the store at each scrape: the lag histogram only sees the
// deliveries a worker starts, so a backlog no worker touches shows here
// alone. Every node reports the same platform-wide figures.
type backlogCollector struct {
	s        *Service
	due, age *prometheus.Desc
}

func newBacklogCollector(s *Service) backlogCollector {
	return backlogCollector{s: s,
		due: prometheus.NewDesc("kassa_webhook_due_deliveries",
			"Pending webhook deliveries to enabled endpoints that are due (counted up to 100,000).", nil, nil),
		age: prometheus.NewDesc("kassa_webhook_oldest_due_age_seconds",
			"Seconds since the oldest due webhook delivery fell due (0 when none is due).", nil, nil),
	}
}

func (c backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.due; ch <- c.age }

// Collect reports nothing when the store does not answer (logged): the
// rest of the scrape goes through, and the database alerts speak.
func (c backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), backlogScrapeTimeout)
	defer cancel()
	now := c.s.now().UTC()
	due, oldest, err := c.s.store.Backlog(ctx, now, backlogCountMax)
	if err != nil {
		c.s.log.Warn("webhook: count due deliveries", "err", err)
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, now.Sub(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.due, prometheus.GaugeValue, float64(due))
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}
