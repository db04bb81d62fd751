package invoice

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa/identity"
)

// schedule is when inv's customer is reminded: reminderBefore its due
// date (unless that is not after its finalization), then each of
// remindersAfter past it.
func schedule(inv Invoice) []time.Time {
	var out []time.Time
	if before := inv.DueAt.Add(-reminderBefore); before.After(inv.FinalizedAt) {
		out = append(out, before)
	}
	for _, d := range remindersAfter {
		out = append(out, inv.DueAt.Add(d))
	}
	return out
}

// nextReminder is the first reminder of inv's schedule after now (zero:
// none left). Reminders missed while no worker ran are not sent in a
// burst: only the latest due one goes, then the schedule goes on.
func nextReminder(inv Invoice, now time.Time) time.Time {
	for _, t := range schedule(inv) {
		if t.After(now) {
			return t
		}
	}
	return time.Time{}
}

// SendReminders reminds the customers of open invoices whose reminder is
// due (the leased job "invoices"). Each reminder is recorded (the
// invoice's next reminder moves on, with its invoice.reminder_sent event)
// before it is sent, so that two workers never send one twice; a send
// that fails is logged and not repeated. It returns how many it sent.
func (s *Service) SendReminders(ctx context.Context) (int, error) {
	now := s.now().UTC()
	due, err := s.store.RemindersDue(ctx, now, reminderBatchMax)
	if err != nil {
		return 0, err
	}
	sent := 0
	var errs []error
	for _, inv := range due {
		if inv, err = s.Sync(ctx, inv); err != nil {
			errs = append(errs, err)
			continue
		}
		if inv.Status != StatusOpen || inv.NextReminderAt.IsZero() || inv.NextReminderAt.After(now) {
			continue
		}
		next, err := s.remind(ctx, inv, now)
		if errors.Is(err, ErrReminderBudget) {
			// The merchant's reminders of the day are used up: this one
			// waits for the next day, and the pass goes on with others'.
			later := inv
			later.NextReminderAt = now.Truncate(24 * time.Hour).Add(24 * time.Hour)
			if _, err := s.write(ctx, inv, later); err != nil {
				errs = append(errs, fmt.Errorf("invoice %s: %w", inv.ID, err))
			}
			s.log.WarnContext(ctx, "invoice reminder deferred: the merchant's reminders of the day are used up",
				"invoice", inv.ID, "merchant", inv.MerchantID, "per_day", s.cfg.RemindersPerDay)
			continue
		} else if err != nil {
			errs = append(errs, fmt.Errorf("invoice %s: %w", inv.ID, err))
			continue
		}
		if s.cfg.Notifier == nil {
			continue
		}
		msg, err := s.reminder(ctx, next, now)
		if err == nil {
			err = s.cfg.Notifier.Send(ctx, msg)
		}
		if err != nil {
			s.log.WarnContext(ctx, "invoice reminder not sent", "invoice", inv.ID, "err", err)
			continue
		}
		sent++
	}
	return sent, errors.Join(errs...)
}

// remind records inv's reminder (its next reminder moves on, with its
// invoice.reminder_sent event), counted against the merchant's budget of
// the day; ErrReminderBudget when it is used up.
func (s *Service) remind(ctx context.Context, inv Invoice, now time.Time) (Invoice, error) {
	next := inv
	next.RemindersSent++
	next.NextReminderAt = nextReminder(inv, now)
	next.Version, next.Updated = inv.Version+1, now
	evs, err := s.events(next, now, EventReminderSent)
	if err != nil {
		return Invoice{}, err
	}
	if err := s.store.RemindInvoice(ctx, next, evs, now.Format(time.DateOnly), s.cfg.RemindersPerDay); err != nil {
		return Invoice{}, conflict(err)
	}
	return next, nil
}

// reminder is the message reminding inv's customer, in its language.
func (s *Service) reminder(ctx context.Context, inv Invoice, now time.Time) (identity.Message, error) {
	m, err := s.cfg.Merchants.Get(ctx, inv.MerchantID)
	if err != nil {
		return identity.Message{}, err
	}
	l := lang(inv.Locale)
	amount := FormatMoney(inv.Total-inv.AmountPaid, inv.Currency, inv.Locale)
	due := FormatDate(inv.DueAt, inv.Locale)
	var subject, body string
	if now.Before(inv.DueAt) {
		subject = fmt.Sprintf(l["remind.subject.before"], inv.Number, m.Name)
		body = fmt.Sprintf(l["remind.body.before"], inv.Customer.Name, inv.Number, amount, due, m.Name)
	} else {
		subject = fmt.Sprintf(l["remind.subject.after"], inv.Number, m.Name)
		body = fmt.Sprintf(l["remind.body.after"], inv.Customer.Name, inv.Number, amount, due, m.Name)
	}
	body += "\n\n" + fmt.Sprintf(l["remind.link"], s.PageURL(inv)) + "\n"
	return identity.Message{Channel: identity.ChannelEmail, To: inv.Customer.Email, Subject: subject, Body: body}, nil
}
