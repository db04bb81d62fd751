package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kassa/kassa/internal/pgtest"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/store/sqlstore"
)

// benchEvaluation is an evaluation of the size the engine writes: 40
// features, three reasons, an event with browser signals.
func benchEvaluation(i int, created time.Time) risk.Evaluation {
	fs := make([]float32, 40)
	for j := range fs {
		fs[j] = float32(i*j%97) / 7
	}
	return risk.Evaluation{
		ID: fmt.Sprintf("rev_%012d", i), MerchantID: "mer_bench", Subject: fmt.Sprintf("pay_%012d", i), Node: "node-1",
		Created: created, Score: i % 100, Level: risk.LevelNormal, Decision: risk.Allow, ShadowScore: -1,
		ModelVersion: "gbt-2026-06-01", FeatureSet: "fs1:0123456789abcdef", Features: fs,
		Reasons: []risk.Reason{
			{Code: "feature:card_velocity_1h", Feature: "card_velocity_1h", Value: 3, Contribution: 0.42, Message: "3 attempts with this card in an hour"},
			{Code: "feature:ip_country_mismatch", Feature: "ip_country_mismatch", Value: 1, Contribution: 0.31, Message: "IP country differs from the card's"},
			{Code: "feature:amount_z", Feature: "amount_z", Value: 2.5, Contribution: 0.12, Message: "amount unusual for the merchant"},
		},
		Event: risk.Event{ID: fmt.Sprintf("pay_%012d", i), Time: created, Kind: risk.KindPayment, MerchantID: "mer_bench",
			Amount: 2500, Currency: "EUR", Method: risk.MethodCard, CardFingerprint: "fp_0123456789abcdef",
			Email: "payer@example.com", IP: "192.0.2.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
			BillingCountry: "AT", DeviceID: "dev_0123456789",
			Geo:     risk.Geo{Country: "AT", Lat: 48.2, Lon: 16.37, Known: true},
			Signals: risk.Signals{Present: true, TimeOnPageMS: 14000, TimeToSubmitMS: 5000, PointerMoves: 80, KeyEvents: 30, Timezone: "Europe/Vienna", Language: "de-AT", Screen: "1920x1080"}},
	}
}

// BenchmarkInsertEvaluations writes batches of 256 new evaluations, as
// the engine's background writer does, one batch per iteration.
func BenchmarkInsertEvaluations(b *testing.B) {
	open := map[string]func(testing.TB) *sqlstore.DB{
		"sqlite": func(tb testing.TB) *sqlstore.DB {
			db, err := sqlstore.OpenSQLite(context.Background(), tb.TempDir())
			if err != nil {
				tb.Fatal(err)
			}
			return db
		},
		"postgres": func(tb testing.TB) *sqlstore.DB {
			db, err := sqlstore.OpenPostgres(context.Background(), pgtest.URL(tb))
			if err != nil {
				tb.Fatal(err)
			}
			return db
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			db := open[name](b)
			b.Cleanup(func() { db.Close() })
			s := sqlstore.NewRisk(db)
			const batch = 256
			evs := make([]risk.Evaluation, batch)
			t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
			n := 0
			for b.Loop() {
				b.StopTimer()
				for i := range evs {
					evs[i] = benchEvaluation(n, t0.Add(time.Duration(n)*time.Millisecond))
					n++
				}
				b.StartTimer()
				if err := s.InsertEvaluations(context.Background(), evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
