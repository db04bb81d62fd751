package console

import (
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"

	members "github.com/kassa/kassa/console"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/payment"
	"github.com/kassa/kassa/risk"
	"github.com/kassa/kassa/web"
)

// Chart is one server-drawn SVG chart with the figures behind it as a
// table (for screen readers and for copying).
type Chart struct {
	ID, Title, Caption string
	SVG                string
	Rows               [][2]string
}

// Chart geometry.
const (
	chartWidth  = 560
	chartHeight = 180
	chartPad    = 28
)

// barChart draws values as bars labelled below; format writes a value.
func barChart(id, title, caption string, labels []string, values []float64, format func(float64) string) Chart {
	c := Chart{ID: id, Title: title, Caption: caption}
	maxV := 0.0
	for _, v := range values {
		maxV = max(maxV, v)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" width="100%%" role="img" aria-labelledby="%s-t" class="chart">`,
		chartWidth, chartHeight+chartPad, id)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title>`, id, html.EscapeString(title+": "+caption))
	n := max(len(values), 1)
	slot := float64(chartWidth-2*chartPad) / float64(n)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>`, chartPad, chartHeight, chartWidth-chartPad, chartHeight)
	for i, v := range values {
		hgt := 0.0
		if maxV > 0 {
			hgt = (chartHeight - chartPad) * v / maxV
		}
		x := float64(chartPad) + float64(i)*slot
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="bar"><title>%s: %s</title></rect>`,
			x+slot*0.15, chartHeight-hgt, slot*0.7, hgt, html.EscapeString(labels[i]), html.EscapeString(format(v)))
		if n <= 16 || i%(n/8+1) == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="label">%s</text>`, x+slot/2, chartHeight+16, html.EscapeString(labels[i]))
		}
		c.Rows = append(c.Rows, [2]string{labels[i], format(v)})
	}
	fmt.Fprintf(&b, `<text x="%d" y="12" class="label max">%s</text>`, chartPad, html.EscapeString("max "+format(maxV)))
	b.WriteString(`</svg>`)
	c.SVG = b.String()
	return c
}

type homeData struct {
	Days     int
	Currency money.Currency
	Counted  int
	Cut      bool
	Charts   []Chart
	Backlog  int
}

var periods = map[string]int{"7": 7, "30": 30, "90": 90}

// home draws the merchant's figures over a chosen period (7, 30 or 90
// days), per day: volume captured, authorization rate, decline and block
// rate, refunds, the distribution of risk scores, and the review backlog.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	v := h.newVisit(w, r)
	m, _, err := h.cfg.Members.Authenticate(r.Context(), v.session)
	if err == nil && m.Org == members.Platform {
		h.redirect(v, "/console/operator")
		return
	}
	if !h.auth(v, members.ViewHome) {
		return
	}
	days, ok := periods[r.URL.Query().Get("days")]
	if !ok {
		days = 7
	}
	now := h.cfg.Clock().UTC()
	from := now.Truncate(24*time.Hour).AddDate(0, 0, -(days - 1))
	var ps []payment.Payment
	after := ""
	for len(ps) < chartPaymentsMax {
		page, more, err := h.cfg.Payments.List(r.Context(), payment.Filter{MerchantID: v.org(), CreatedGTE: from,
			StartingAfter: after, Limit: payment.ListLimitMax})
		if err != nil {
			h.fail(v, err)
			return
		}
		ps = append(ps, page...)
		if !more || len(page) == 0 {
			break
		}
		after = page[len(page)-1].ID
	}
	d := homeData{Days: days, Counted: len(ps), Cut: len(ps) >= chartPaymentsMax, Currency: mainCurrency(ps)}
	d.Charts = dailyCharts(ps, d.Currency, from, days)
	d.Charts = append(d.Charts, scoreChart(ps))
	if h.cfg.Webhooks != nil {
		lag, err := h.webhookLag(v, from, days)
		if err != nil {
			h.fail(v, err)
			return
		}
		d.Charts = append(d.Charts, lag)
	}
	if h.cfg.Risk != nil {
		after := ""
		for d.Backlog < reviewsCountMax {
			cs, more, err := h.cfg.Risk.Reviews(r.Context(), v.org(), risk.ReviewOpen, after, 100)
			if err != nil {
				h.fail(v, err)
				return
			}
			d.Backlog += len(cs)
			if !more || len(cs) == 0 {
				break
			}
			after = cs[len(cs)-1].ID
		}
	}
	h.render(v, http.StatusOK, page{Template: "home", Title: "Home", Data: d})
}

func mainCurrency(ps []payment.Payment) money.Currency {
	n := map[money.Currency]int{}
	best := money.Currency("EUR")
	for _, p := range ps {
		n[p.Currency]++
		if n[p.Currency] > n[best] {
			best = p.Currency
		}
	}
	return best
}

func dailyCharts(ps []payment.Payment, cur money.Currency, from time.Time, days int) []Chart {
	labels := make([]string, days)
	volume, refunds := make([]float64, days), make([]float64, days)
	tried, authorized, declined := make([]float64, days), make([]float64, days), make([]float64, days)
	for i := range labels {
		labels[i] = from.AddDate(0, 0, i).Format("01-02")
	}
	for _, p := range ps {
		i := int(p.Created.Sub(from) / (24 * time.Hour))
		if i < 0 || i >= days {
			continue
		}
		if p.Currency == cur {
			volume[i] += float64(p.AmountCaptured)
			refunds[i] += float64(p.AmountRefunded)
		}
		switch p.Status {
		case payment.StatusRequiresAction:
			continue // not tried yet
		case payment.StatusAuthorized, payment.StatusCaptured:
			authorized[i]++
		case payment.StatusFailed:
			declined[i]++
		}
		if p.Risk.Decision == risk.Block && p.Status != payment.StatusFailed {
			declined[i]++
		}
		tried[i]++
	}
	rate := func(num []float64) []float64 {
		out := make([]float64, days)
		for i := range out {
			if tried[i] > 0 {
				out[i] = 100 * num[i] / tried[i]
			}
		}
		return out
	}
	amount := func(v float64) string { return formatMinor(int64(v), cur) }
	pct := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + " %" }
	return []Chart{
		barChart("volume", "Volume", "captured per day, "+string(cur), labels, volume, amount),
		barChart("authrate", "Authorization rate", "authorized or captured of the payments tried, per day", labels, rate(authorized), pct),
		barChart("declines", "Decline and block rate", "failed or blocked of the payments tried, per day", labels, rate(declined), pct),
		barChart("refunds", "Refunds", "refunded of the payments made that day, "+string(cur), labels, refunds, amount),
	}
}

func formatMinor(a int64, cur money.Currency) string {
	return web.FormatAmount(money.Amount(a), cur)
}

// scoreChart is the distribution of the payments' risk scores in tens.
func scoreChart(ps []payment.Payment) Chart {
	labels := make([]string, 10)
	counts := make([]float64, 10)
	for i := range labels {
		labels[i] = strconv.Itoa(i*10) + "–" + strconv.Itoa(i*10+9)
	}
	labels[9] = "90–100"
	for _, p := range ps {
		if p.Risk.Score < 0 || p.Risk.EvaluationID == "" {
			continue
		}
		counts[min(p.Risk.Score/10, 9)]++
	}
	return barChart("scores", "Risk scores", "payments per score band", labels, counts,
		func(v float64) string { return strconv.Itoa(int(v)) })
}

// webhookLag is, per day, the mean time from an event to the first
// attempt to deliver it, over the newest deliveries of each endpoint.
func (h *Handler) webhookLag(v *visit, from time.Time, days int) (Chart, error) {
	ctx := v.r.Context()
	sum, n := make([]float64, days), make([]float64, days)
	eps, _, err := h.cfg.Webhooks.Endpoints(ctx, v.org(), "", listLimit)
	if err != nil {
		return Chart{}, err
	}
	for _, ep := range eps {
		ds, _, err := h.cfg.Webhooks.Deliveries(ctx, v.org(), ep.ID, "", payment.ListLimitMax)
		if err != nil {
			return Chart{}, err
		}
		for _, d := range ds {
			i := int(d.Created.Sub(from) / (24 * time.Hour))
			if i < 0 || i >= days || d.FirstAttempt == nil {
				continue
			}
			sum[i] += d.FirstAttempt.Sub(d.Created).Seconds()
			n[i]++
		}
	}
	labels := make([]string, days)
	for i := range labels {
		labels[i] = from.AddDate(0, 0, i).Format("01-02")
		if n[i] > 0 {
			sum[i] /= n[i]
		}
	}
	return barChart("webhooklag", "Webhook lag", "mean seconds from an event to its first delivery attempt, per day", labels, sum,
		func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + " s" }), nil
}
