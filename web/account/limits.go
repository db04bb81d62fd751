package account

// Responsible gambling on the account page: the payer's deposit limits
// per day, week and month (lowering at once, raising after 7 days, shown
// as pending), self-exclusion (6 months, 1 year, 5 years, indefinite)
// and cool-off (24 hours to 6 weeks), which cannot be shortened
// (package compliance). They bind the payer's deposits at every
// gambling merchant, whatever the merchant's own limits.

import (
	"context"
	"strconv"
	"strings"

	"github.com/kassa/kassa/compliance"
	"github.com/kassa/kassa/identity"
	"github.com/kassa/kassa/money"
	"github.com/kassa/kassa/web"
)

// Limits keeps payers' limits (compliance.Service does).
type Limits interface {
	Limits(ctx context.Context, s compliance.Subject) (compliance.Limits, error)
	SetLimits(ctx context.Context, s compliance.Subject, req compliance.SetRequest) (compliance.Limits, error)
	Used(ctx context.Context, l compliance.Limits) (map[compliance.Period]money.Amount, error)
}

var _ Limits = (*compliance.Service)(nil)

// The limits the page sets are in the account's currency: that of the
// limits it has (changing it is a raise, which waits 7 days), else the
// currency of the country of its identity data's address, else euros.
var residenceCurrencies = map[string]money.Currency{
	"GB": "GBP", "SE": "SEK", "DK": "DKK", "NO": "NOK", "CH": "CHF", "PL": "PLN", "CZ": "CZK", "HU": "HUF",
}

// limitsCurrency is the currency the page shows and sets lim in for a
// payer residing in country ("" unknown).
func limitsCurrency(lim compliance.Limits, country string) money.Currency {
	for _, p := range compliance.Periods {
		if d, ok := lim.Deposit[p]; ok {
			return d.Currency
		}
	}
	for _, p := range compliance.Periods {
		if c, ok := lim.Pending[p]; ok && !c.Remove {
			return c.Currency
		}
	}
	if c, ok := residenceCurrencies[country]; ok {
		return c
	}
	return "EUR"
}

// accountCountry is the country of a payer's identity data ("" none).
func (h *Handler) accountCountry(ctx context.Context, cus string) (string, error) {
	c, err := h.id.Customer(ctx, cus)
	return c.Country, err
}

// coolOffs and exclusions are the choices the page offers.
var (
	coolOffs   = []string{"24h", "72h", "1w", "2w", "6w"}
	exclusions = []string{compliance.Exclude6Months, compliance.Exclude1Year, compliance.Exclude5Years, compliance.ExcludeIndefinite}
)

// limitsView is the limits section of the account page.
type limitsView struct {
	Currency string
	Periods  []limitRow
	// Excluded: a self-exclusion in force (ExcludedUntil "" when
	// indefinite); CoolOffUntil a cool-off in force ("" none).
	Excluded      bool
	ExcludedUntil string
	CoolOffUntil  string
	CoolOffs      []string
	Exclusions    []string
}

type limitRow struct {
	Period  string // day, week, month
	Value   string // the limit in force, in major units ("" none)
	Used    string
	Pending string // a raise waiting: "200.00 EUR from 17 March 2026, 12:00 UTC"
}

func (h *Handler) limitsView(ctx context.Context, l web.Lang, cus string) (*limitsView, error) {
	if h.cfg.Limits == nil {
		return nil, nil
	}
	lim, err := h.cfg.Limits.Limits(ctx, compliance.Subject{CustomerID: cus})
	if err != nil {
		return nil, err
	}
	used, err := h.cfg.Limits.Used(ctx, lim)
	if err != nil {
		return nil, err
	}
	country, err := h.accountCountry(ctx, cus)
	if err != nil {
		return nil, err
	}
	now := h.now().UTC()
	v := &limitsView{Currency: string(limitsCurrency(lim, country)), CoolOffs: coolOffs, Exclusions: exclusions}
	for _, p := range compliance.Periods {
		row := limitRow{Period: string(p)}
		if d, ok := lim.Deposit[p]; ok {
			row.Value = web.FormatAmount(d.Amount, d.Currency)
			row.Used = web.FormatMoney(used[p], d.Currency, l) + " " + string(d.Currency)
		}
		if c, ok := lim.Pending[p]; ok {
			if c.Remove {
				row.Pending = texts.T(l, "limits.pendingnone", web.FormatTime(c.EffectiveAt, l))
			} else {
				row.Pending = texts.T(l, "limits.pending", web.FormatMoney(c.Amount, c.Currency, l)+" "+string(c.Currency),
					web.FormatTime(c.EffectiveAt, l))
			}
		}
		v.Periods = append(v.Periods, row)
	}
	if barred, until, coolOff := lim.Excluded(now); barred {
		switch {
		case coolOff:
			v.CoolOffUntil = web.FormatTime(until, l)
		case until.IsZero():
			v.Excluded = true
		default:
			v.Excluded, v.ExcludedUntil = true, web.FormatTime(until, l)
		}
	}
	return v, nil
}

// setLimits is POST /account/limits: what=deposit sets the three limits
// (a field left empty: no limit), what=exclude starts or lengthens a
// self-exclusion (with the confirm box ticked), what=cooloff a cool-off.
func (h *Handler) setLimits(v *visit) {
	if !h.form(v, formBytesMax) {
		return
	}
	sess, ok := h.requireLogin(v)
	if !ok {
		return
	}
	if h.cfg.Limits == nil {
		h.redirect(v, "/account")
		return
	}
	sub := compliance.Subject{CustomerID: sess.CustomerID}
	var req compliance.SetRequest
	switch v.input("what") {
	case "deposit":
		cur, err := h.cfg.Limits.Limits(v.r.Context(), sub)
		if err != nil {
			h.fail(v, err)
			return
		}
		country, err := h.accountCountry(v.r.Context(), sess.CustomerID)
		if err != nil {
			h.fail(v, err)
			return
		}
		currency := limitsCurrency(cur, country)
		req.Deposit = map[compliance.Period]*compliance.Limit{}
		for _, p := range compliance.Periods {
			s := v.input("limit_" + string(p))
			var want *compliance.Limit
			if s != "" {
				a, ok := parseMajor(s, currency)
				if !ok {
					h.limitsError(v, sess, v.t("limits.bad"))
					return
				}
				want = &compliance.Limit{Amount: a, Currency: currency}
			}
			have, has := cur.Deposit[p]
			if (want == nil && !has) || (want != nil && has && *want == have) {
				continue // unchanged: a pending change stays
			}
			req.Deposit[p] = want
		}
	case "exclude":
		if v.input("confirm") != "yes" {
			h.limitsError(v, sess, v.t("limits.confirm"))
			return
		}
		req.SelfExclusion = v.input("period")
	case "cooloff":
		d, err := compliance.ParseCoolOff(v.input("duration"))
		if err != nil {
			h.limitsError(v, sess, v.t("limits.bad"))
			return
		}
		req.CoolOff = d
	default:
		h.limitsError(v, sess, v.t("limits.bad"))
		return
	}
	if _, err := h.cfg.Limits.SetLimits(v.r.Context(), sub, req); err != nil {
		e, ok := userFacing(err)
		if !ok {
			h.fail(v, err)
			return
		}
		h.log.InfoContext(v.r.Context(), "account page: limits refused", "customer", sess.CustomerID, "code", e.Code)
		h.limitsError(v, sess, v.payerText(e))
		return
	}
	h.log.InfoContext(v.r.Context(), "account page: limits changed", "customer", sess.CustomerID, "what", v.input("what"))
	h.redirect(v, "/account?done=limits#limits")
}

func (h *Handler) limitsError(v *visit, sess identity.Session, msg string) {
	pg, err := h.accountPage(v, sess)
	if err != nil {
		h.fail(v, err)
		return
	}
	pg.Errors["limits"] = msg
	h.render(v, 422, pg)
}

// parseMajor reads an amount in major units as a payer types it:
// "50", "50.5", "50,50" (a decimal comma), at most the currency's
// decimals, positive.
func parseMajor(s string, cur money.Currency) (money.Amount, bool) {
	exp, _ := cur.Exponent()
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", ".")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(whole) > 9 || len(frac) > exp {
		return 0, false
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", exp-len(frac)), 10, 64)
	}
	unit := int64(1)
	for range exp {
		unit *= 10
	}
	a := money.Amount(w*unit + f)
	return a, a > 0
}

func init() {
	for l, m := range limitsTexts {
		for k, v := range m {
			texts[l][k] = v
		}
	}
	for k, v := range limitsPayerTexts {
		payerTexts[k] = v
	}
	for k, v := range limitsPayerTextsDE {
		payerTextsDE[k] = v
	}
	notices["limits"] = true
}

var limitsTexts = web.Texts{
	web.LangEN: {
		"limits.title":       "Gambling limits",
		"limits.intro":       "Limits on what you deposit at gambling sites through Kassa, at every site together. A lower limit applies at once; a higher one, or none, after 7 days.",
		"limits.day":         "Per day",
		"limits.week":        "Per week",
		"limits.month":       "Per month",
		"limits.hint":        "Leave a field empty for no limit.",
		"limits.used":        "deposited so far: %[1]s",
		"limits.pending":     "%[1]s from %[2]s",
		"limits.pendingnone": "no limit from %[1]s",
		"limits.save":        "Save limits",
		"limits.break":       "Take a break",
		"limits.breakhint":   "No deposits for gambling until the break ends. It cannot be ended early.",
		"limits.duration":    "Length of the break",
		"limits.d24h":        "24 hours",
		"limits.d72h":        "3 days",
		"limits.d1w":         "1 week",
		"limits.d2w":         "2 weeks",
		"limits.d6w":         "6 weeks",
		"limits.startbreak":  "Start the break",
		"limits.exclude":     "Exclude yourself",
		"limits.excludehint": "No deposits for gambling for the whole period, at every site through Kassa. It cannot be shortened or lifted early.",
		"limits.period":      "Exclude me for",
		"limits.p6m":         "6 months",
		"limits.p1y":         "1 year",
		"limits.p5y":         "5 years",
		"limits.pindefinite": "Indefinitely",
		"limits.confirmbox":  "I understand that this cannot be undone before it ends.",
		"limits.excludebtn":  "Exclude me",
		"limits.excluded":    "You are excluded from gambling deposits until %[1]s.",
		"limits.excludedall": "You are excluded from gambling deposits indefinitely.",
		"limits.onbreak":     "You are on a break from gambling deposits until %[1]s.",
		"limits.help":        "If gambling is a problem for you, help is free and confidential: in Germany at check-dein-spiel.de (0800 1 37 27 00), in Great Britain at begambleaware.org (0808 8020 133).",
		"limits.bad":         "Enter each limit as an amount in the currency shown, like 50 or 25.50, and choose one of the offered lengths.",
		"limits.confirm":     "Tick the box to confirm that you understand the exclusion cannot be undone.",
		"done.limits":        "Your gambling limits were saved.",
	},
	web.LangDE: {
		"limits.title":       "Limits für Glücksspiel",
		"limits.intro":       "Limits für Ihre Einzahlungen bei Glücksspielanbietern über Kassa, bei allen Anbietern zusammen. Ein niedrigeres Limit gilt sofort, ein höheres oder keines erst nach 7 Tagen.",
		"limits.day":         "Pro Tag",
		"limits.week":        "Pro Woche",
		"limits.month":       "Pro Monat",
		"limits.hint":        "Lassen Sie ein Feld leer für kein Limit.",
		"limits.used":        "bisher eingezahlt: %[1]s",
		"limits.pending":     "%[1]s ab %[2]s",
		"limits.pendingnone": "kein Limit ab %[1]s",
		"limits.save":        "Limits speichern",
		"limits.break":       "Pause einlegen",
		"limits.breakhint":   "Keine Einzahlungen für Glücksspiel bis zum Ende der Pause. Sie kann nicht vorzeitig beendet werden.",
		"limits.duration":    "Dauer der Pause",
		"limits.d24h":        "24 Stunden",
		"limits.d72h":        "3 Tage",
		"limits.d1w":         "1 Woche",
		"limits.d2w":         "2 Wochen",
		"limits.d6w":         "6 Wochen",
		"limits.startbreak":  "Pause beginnen",
		"limits.exclude":     "Selbstsperre",
		"limits.excludehint": "Keine Einzahlungen für Glücksspiel für den ganzen Zeitraum, bei allen Anbietern über Kassa. Die Sperre kann nicht verkürzt oder vorzeitig aufgehoben werden.",
		"limits.period":      "Sperren für",
		"limits.p6m":         "6 Monate",
		"limits.p1y":         "1 Jahr",
		"limits.p5y":         "5 Jahre",
		"limits.pindefinite": "Unbefristet",
		"limits.confirmbox":  "Ich verstehe, dass dies vor Ablauf nicht rückgängig gemacht werden kann.",
		"limits.excludebtn":  "Mich sperren",
		"limits.excluded":    "Sie sind bis %[1]s von Einzahlungen für Glücksspiel ausgeschlossen.",
		"limits.excludedall": "Sie sind unbefristet von Einzahlungen für Glücksspiel ausgeschlossen.",
		"limits.onbreak":     "Sie machen bis %[1]s eine Pause von Einzahlungen für Glücksspiel.",
		"limits.help":        "Wenn Glücksspiel für Sie ein Problem ist, gibt es kostenlose und vertrauliche Hilfe: in Deutschland unter check-dein-spiel.de (0800 1 37 27 00), in Österreich unter spielsuchthilfe.at.",
		"limits.bad":         "Geben Sie jedes Limit als Betrag in der angezeigten Währung ein, etwa 50 oder 25,50, und wählen Sie eine der angebotenen Dauern.",
		"limits.confirm":     "Setzen Sie das Häkchen, um zu bestätigen, dass die Sperre nicht rückgängig gemacht werden kann.",
		"done.limits":        "Ihre Limits für Glücksspiel wurden gespeichert.",
	},
}

var limitsPayerTexts = map[string]string{
	"self_exclusion_cannot_be_shortened": "Your self-exclusion is in force and cannot be shortened or lifted before it ends.",
	"cool_off_cannot_be_shortened":       "Your break is in force and cannot be shortened.",
	"limit_invalid":                      "Enter each limit as a positive amount.",
	"self_exclusion_period_invalid":      "Choose one of the offered periods.",
	"cool_off_invalid":                   "Choose one of the offered lengths.",
}

var limitsPayerTextsDE = map[string]string{
	"self_exclusion_cannot_be_shortened": "Ihre Selbstsperre gilt und kann vor ihrem Ende nicht verkürzt oder aufgehoben werden.",
	"cool_off_cannot_be_shortened":       "Ihre Pause gilt und kann nicht verkürzt werden.",
	"limit_invalid":                      "Geben Sie jedes Limit als positiven Betrag ein.",
	"self_exclusion_period_invalid":      "Wählen Sie einen der angebotenen Zeiträume.",
	"cool_off_invalid":                   "Wählen Sie eine der angebotenen Dauern.",
}
