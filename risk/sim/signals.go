package sim

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/kassa/kassa/risk"
)

// Form sizes: the characters a payer types into the hosted page.
const (
	charsCardNew   = 16 + 4 + 3 + 14 // number, expiry, CVC, name on card
	charsCardSaved = 3               // CVC of a card the page remembers
	charsPIN       = 16              // a voucher PIN
	charsEmail     = 22              // a guest's e-mail address
	charsAmount    = 4               // a withdrawal's amount
)

// Form fields: the fields a payer moves into (each a focusin).
const (
	fieldsCardNew   = 4 // number, expiry, CVC, name on card
	fieldsCardSaved = 1 // the CVC
	fieldsCardFill  = 2 // the number (the browser fills the rest), the CVC
	fieldsPIN       = 1 // one PIN field per voucher
	fieldsEmail     = 1
	fieldsAmount    = 1
)

// Pointer and focus habits of people (docs/risk-events.md).
const (
	// keyboardOnly is the share of desktop sessions without a pointer
	// (keyboard navigation, screen readers).
	keyboardOnly = 0.01
	// touchStill is the share of touch sessions without a touchmove:
	// the form fit the screen, and the taps did not slide.
	touchStill = 0.03
	// refocusPerField is the mean times a person goes back into a field
	// (to correct it, or a tap after the keyboard closed), per field.
	refocusPerField, refocusPerFieldTouch = 0.12, 0.2
	// awayAfterPaste is the chance that a paste came from another app or
	// tab (a password manager's own menu does not leave the page).
	awayAfterPaste = 0.75
	// backInField is the chance that the person was in a field when
	// they left the window, which takes the focus again on return.
	backInField = 0.7
	// Window blurs besides pastes, mean per attempt: a glance at
	// another tab or app (awayUsual), looking up a voucher's PIN in a
	// text message or e-mail (awayPIN), one typed field (awayShort).
	awayUsual, awayPIN, awayShort = 0.35, 0.6, 0.2
)

// typing is what a person had to enter and how they go about it.
type typing struct {
	chars   int     // characters to type
	longest int     // the field a paste fills (card number, PIN)
	paste   float64 // chance they paste it
	// fields is how many of the form's fields they move into; prefocused
	// says the page put the focus in the first one itself (after a
	// refused attempt, the field at fault), so that one is not counted.
	fields     int
	prefocused bool
	// away is the mean times they leave the window besides pastes.
	away float64
	// hurry scales their times: about 1 for an ordinary payer (each has
	// their own pace), below 1 for someone who has done this fifty times
	// today.
	hurry float64
}

// humanSignals is what the page measures while a person fills the form:
// seconds of reading and typing, a pointer that wanders on a desktop,
// fewer touch movements on a touch screen (scrolling, a tap that
// slides), a focus for each field moved into and some more for going
// back and for leaving the window and coming back.
func humanSignals(r *rand.Rand, d *device, t typing) risk.Signals {
	return classic.humanSignals(r, d, t)
}

// humanSignals is humanSignals in world w: its people's pace, the floor
// of their time to submit, and the irregularity of their intervals.
func (w *world) humanSignals(r *rand.Rand, d *device, t typing) risk.Signals {
	s := pageSignals(d)
	chars := t.chars
	if r.Float64() < t.paste && t.longest > 0 {
		s.PasteEvents = 1
		if r.Float64() < 0.2 {
			s.PasteEvents = 2
		}
		chars = max(chars-t.longest, 0)
	}
	s.KeyEvents = chars
	if r.Float64() < 0.7 { // corrections: backspace and type again
		s.KeyEvents = int(math.Round(float64(chars) * (1.03 + 0.35*r.Float64())))
	}
	perKey := lognormal(r, w.perKeyMS, 0.25)
	if d.kind.touch {
		perKey *= 1.3
	}
	hurry := t.hurry
	if hurry == 0 {
		hurry = 1
	}
	submit := (float64(s.KeyEvents)*perKey + lognormal(r, w.readMS, 0.6) + float64(s.PasteEvents)*1200) * hurry
	s.TimeToSubmitMS = clampMS(submit, w.humanFloorMS)
	s.TimeOnPageMS = clampMS(float64(s.TimeToSubmitMS)+lognormal(r, 9000, 0.7)*hurry, 2500)
	secs := float64(s.TimeOnPageMS) / 1000
	switch {
	case d.kind.touch:
		if r.Float64() >= touchStill {
			s.PointerMoves = max(1, int(lognormal(r, 10+1.2*secs, 0.8)))
		}
	case r.Float64() >= keyboardOnly:
		s.PointerMoves = max(3, int(lognormal(r, 40+3*secs, 0.5)))
	}
	s.FocusChanges = humanFocus(r, d, t, s.PasteEvents)
	// People type in bursts and pauses, and move a pointer in flicks:
	// their intervals vary, some people's less than others'.
	if s.KeyEvents >= intervalsMin {
		s.KeyIntervalCV = cv(lognormal(r, w.humanKeyCV, 0.35))
		s.KeyIntervalMS = int64(math.Round(perKey * lognormal(r, 0.75, 0.15)))
	}
	if s.PointerMoves >= intervalsMin {
		s.PointerIntervalCV = cv(lognormal(r, w.humanPointerCV, 0.3))
	}
	return s
}

// intervalsMin is the fewest events whose intervals the page script
// measures (web/pay.js).
const intervalsMin = 6

// humanFocus is focus_changes: the fields moved into, going back into
// some, and the window's blurs (each paste from elsewhere is one, and
// coming back into a field another focusin).
func humanFocus(r *rand.Rand, d *device, t typing, pastes int) int {
	n := t.fields
	if t.prefocused {
		n = max(n-1, 0)
	}
	per := refocusPerField
	if d.kind.touch {
		per = refocusPerFieldTouch
	}
	n += poisson(r, per*float64(t.fields))
	blurs := poisson(r, t.away)
	for range pastes {
		if r.Float64() < awayAfterPaste {
			blurs++
		}
	}
	for range blurs {
		n++
		if r.Float64() < backInField {
			n++
		}
	}
	return n
}

// scriptSignals is what the page measures when a program fills the form
// of the given fields: no pointer, values set without key events or
// focus (or typed, exactly one key per character, into each field it
// clicks: exactly one focus per field), submitted within a second. A
// mimicking script moves a synthetic pointer, clicks each field, waits a
// little, but types without a mistake and seldom leaves the window.
func scriptSignals(r *rand.Rand, d *device, chars, fields int, webdriver float64, mimic bool) risk.Signals {
	return classic.scriptSignals(r, d, chars, fields, webdriver, mimic)
}

// scriptSignals is scriptSignals in world w: how long its mimics take,
// and how much jitter they add to their timers.
func (w *world) scriptSignals(r *rand.Rand, d *device, chars, fields int, webdriver float64, mimic bool) risk.Signals {
	s := pageSignals(d)
	s.Webdriver = r.Float64() < webdriver
	s.FocusChanges = fields
	if mimic {
		s.PointerMoves = 5 + r.IntN(40)
		if r.Float64() < w.stealth {
			s.Webdriver = false
			s.PointerMoves = max(3, int(lognormal(r, 60, 0.5)))
			s.FocusChanges += poisson(r, 0.3*float64(fields))
		}
		s.KeyEvents = chars
		s.TimeToSubmitMS = int64(w.mimicSubmitLo + w.mimicSubmitSpn*r.Float64())
		s.TimeOnPageMS = s.TimeToSubmitMS + 1000 + r.Int64N(6000)
		// A timer with jitter: intervals vary, but less than a person's.
		s.KeyIntervalCV = cv(0.02 + (w.botJitter-0.02)*r.Float64())
		s.KeyIntervalMS = int64(float64(s.TimeToSubmitMS) / float64(chars+2))
		if s.PointerMoves >= intervalsMin {
			s.PointerIntervalCV = cv(0.02 + w.botJitter*r.Float64())
		}
		if r.Float64() < 0.2 { // a synthetic blur, and back
			s.FocusChanges += 2
		}
		return s
	}
	if r.IntN(2) == 0 {
		s.KeyEvents = chars
		s.KeyIntervalCV = cv(0.02 * r.Float64()) // one key per timer tick
		s.KeyIntervalMS = 1 + r.Int64N(20)
	} else if r.Float64() < 0.75 {
		s.FocusChanges = 0 // values set: no field ever had the focus
	}
	s.TimeToSubmitMS = 40 + r.Int64N(860)
	s.TimeOnPageMS = s.TimeToSubmitMS + 200 + r.Int64N(2800)
	return s
}

// pageSignals are the browser's properties the script reads.
func pageSignals(d *device) risk.Signals {
	return risk.Signals{
		Present:     true,
		Fingerprint: d.fingerprint,
		Timezone:    d.timezone,
		Language:    d.language,
		Screen:      d.screen,
		Platform:    d.kind.platform,
		Touch:       d.kind.touch,
	}
}

func clampMS(ms, lo float64) int64 {
	const hi = float64(30 * time.Minute / time.Millisecond)
	return int64(math.Round(math.Min(math.Max(ms, lo), hi)))
}

// lognormal has the given median and log-space spread.
func lognormal(r *rand.Rand, median, sigma float64) float64 {
	return median * math.Exp(sigma*r.NormFloat64())
}

// poisson samples by Knuth's method, for the small means used here; it
// is bounded so that a large mean cannot loop for long.
func poisson(r *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 30 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*r.NormFloat64())))
	}
	l := math.Exp(-mean)
	k, prod := 0, r.Float64()
	for prod > l && k < 200 {
		k++
		prod *= r.Float64()
	}
	return k
}

// uniformDuration is a duration between lo and hi.
func uniformDuration(r *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.Int64N(int64(hi-lo)))
}
