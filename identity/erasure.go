package identity

import (
	"context"
	"strconv"
	"time"
)

// SendErasureNotice tells the holder of an account whose erasure was
// just requested, at to (the address the account had: the erasure
// replaced it), that it is closed and on which day the sealed copy the
// law makes Kassa keep is destroyed, in ctx's language. Errors: kassa
// EUnavailable notification_failed.
func (s *Service) SendErasureNotice(ctx context.Context, to string, shredAt time.Time) error {
	return s.send(ctx, Message{Channel: ChannelEmail, To: to, Subject: text(ctx, "erasure.subject", s.issuer),
		Body: text(ctx, "erasure.body", s.issuer, messageDate(ctx, shredAt))}, "erasure_notice")
}

var messageMonths = map[string][12]string{
	LanguageEnglish: {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
	LanguageGerman:  {"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"},
}

// messageDate writes a day (in UTC) as ctx's language does: "7 December
// 2031", "7. Dezember 2031".
func messageDate(ctx context.Context, t time.Time) string {
	t = t.UTC()
	l := languageOf(ctx)
	day := strconv.Itoa(t.Day())
	if l == LanguageGerman {
		day += "."
	}
	return day + " " + messageMonths[l][t.Month()-1] + " " + strconv.Itoa(t.Year())
}
