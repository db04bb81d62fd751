package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/kassa/kassa/money"
)

// Lang is a language the hosted pages are written in: every key of the
// catalogue (catalogue.go) has a text in each of them.
type Lang string

// The pages' languages. English is the default.
const (
	LangEN Lang = "en"
	LangDE Lang = "de"
)

// Langs lists the pages' languages, the default first.
var Langs = []Lang{LangEN, LangDE}

var langMatcher = language.NewMatcher([]language.Tag{language.English, language.German})

// acceptLanguageMax bounds the Accept-Language header the pages read.
const acceptLanguageMax = 512

// ParseLang reads a BCP 47 tag ("de-AT", "en_IE", "de") as one of the
// pages' languages; ok is false for a tag that is not well formed or a
// language the pages do not have.
func ParseLang(tag string) (Lang, bool) {
	t, err := language.Parse(strings.ReplaceAll(tag, "_", "-"))
	if err != nil {
		return LangEN, false
	}
	switch base, _ := t.Base(); base.String() {
	case "en":
		return LangEN, true
	case "de":
		return LangDE, true
	}
	return LangEN, false
}

// RequestLang is the payer's language: the one the merchant named on the
// payment (locale, when it is a language the pages have), else the
// best match of the browser's Accept-Language, else English. A merchant's
// locale comes first: it is the language the payer chose in the shop.
func RequestLang(r *http.Request, locale string) Lang {
	if locale != "" {
		if l, ok := ParseLang(locale); ok {
			return l
		}
	}
	al := r.Header.Get("Accept-Language")
	if al == "" || len(al) > acceptLanguageMax {
		return LangEN
	}
	tags, _, err := language.ParseAcceptLanguage(al)
	if err != nil || len(tags) == 0 {
		return LangEN
	}
	_, i, conf := langMatcher.Match(tags...)
	if conf == language.No {
		return LangEN
	}
	return Langs[i]
}

// T is the catalogue's text of key in l, with args filled in as
// fmt.Sprintf does. A key the catalogue does not have in l falls back to
// English, then to the key itself (TestCatalogueComplete keeps both from
// happening).
func (l Lang) T(key string, args ...any) string {
	return Texts(catalogue).T(l, key, args...)
}

// Texts is a catalogue of payer-visible texts by language and key: the
// payment pages' (catalogue.go), and the account pages' (package
// web/account). Both are looked up the same way, in the same languages.
type Texts map[Lang]map[string]string

// T is the text of key in l, with args filled in as fmt.Sprintf does. A
// key c does not have in l falls back to English, then to the key itself
// (each catalogue's completeness test keeps both from happening).
func (c Texts) T(l Lang, key string, args ...any) string {
	s, ok := c[l][key]
	if !ok {
		if s, ok = c[LangEN][key]; !ok {
			return key
		}
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// currencySymbols are the signs the pages write for currencies that have
// one every payer reads; others are written with their ISO code.
var currencySymbols = map[money.Currency]string{
	"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥",
}

// FormatMoney writes an amount of minor units as a payer of language l
// reads it: "€25.00" and "€1,234.56" in English, "25,00 €" and
// "1.234,56 €" in German (a no-break space before the sign, so that a
// line never breaks between them). A currency without a sign is written
// with its code: "CHF 25.00", "25,00 CHF".
func FormatMoney(a money.Amount, c money.Currency, l Lang) string {
	num := FormatAmount(a, c) // "1,234.56"
	neg := strings.HasPrefix(num, "-")
	num = strings.TrimPrefix(num, "-")
	sym, ok := currencySymbols[c]
	if !ok {
		sym = string(c)
	}
	sign := ""
	if neg {
		sign = "-"
	}
	if l == LangDE {
		num = strings.NewReplacer(",", ".", ".", ",").Replace(num)
		return sign + num + "\u00a0" + sym
	}
	if !ok {
		return sign + sym + "\u00a0" + num
	}
	return sign + sym + num
}

var monthNames = map[Lang][12]string{
	LangEN: {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
	LangDE: {"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"},
}

// FormatTime writes a time in UTC as a payer of language l reads it:
// "7 December 2026, 15:04 UTC", "7. Dezember 2026, 15:04 UTC". The pages'
// script rewrites it in the payer's own time zone (the browser's), which
// the server does not know.
func FormatTime(t time.Time, l Lang) string {
	t = t.UTC()
	month := monthNames[l][t.Month()-1]
	if l == LangDE {
		return strconv.Itoa(t.Day()) + ". " + month + " " + t.Format("2006, 15:04") + " UTC"
	}
	return strconv.Itoa(t.Day()) + " " + month + " " + t.Format("2006, 15:04") + " UTC"
}
