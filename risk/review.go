package risk

import (
	"context"
	"strconv"
	"unicode/utf8"

	"github.com/kassa/kassa"
)

// Review queue limits.
const (
	ReviewNoteMax  = 1000
	ReviewsListMax = 100
)

// OpenReview puts a payment in the merchant's review queue and tells the
// merchant (risk.review.opened).
func (e *Engine) OpenReview(ctx context.Context, ev Evaluation, paymentID string) (ReviewCase, error) {
	reason := "score " + strconv.Itoa(ev.Score)
	if len(ev.Reasons) > 0 {
		reason = ev.Reasons[0].Message
	}
	c := ReviewCase{ID: e.cfg.IDs.New("rvw"), MerchantID: ev.MerchantID, PaymentID: paymentID, EvaluationID: ev.ID,
		Status: ReviewOpen, Reason: reason, Created: e.now().UTC()}
	if err := e.store.CreateReview(ctx, c); err != nil {
		return ReviewCase{}, err
	}
	e.notify(ctx, c.MerchantID, EventReviewOpened, PublicReview(c))
	return c, nil
}

// Reviews lists a merchant's review cases.
func (e *Engine) Reviews(ctx context.Context, merchantID, status, startingAfter string, limit int) ([]ReviewCase, bool, error) {
	switch status {
	case "", ReviewOpen, ReviewApproved, ReviewRejected:
	default:
		return nil, false, kassa.Invalid("status", "status_invalid", "status must be open, approved or rejected")
	}
	if limit <= 0 || limit > ReviewsListMax {
		limit = ReviewsListMax
	}
	return e.store.Reviews(ctx, merchantID, status, startingAfter, limit)
}

// Review returns one case of the merchant.
func (e *Engine) Review(ctx context.Context, merchantID, id string) (ReviewCase, error) {
	return e.store.Review(ctx, merchantID, id)
}

// ReviewByPayment returns the case of a payment.
func (e *Engine) ReviewByPayment(ctx context.Context, paymentID string) (ReviewCase, error) {
	return e.store.ReviewByPayment(ctx, paymentID)
}

// CloseReview records the analyst's verdict on an open case (the payment
// service has acted on the payment already); a rejection labels the
// payment's evaluations fraud.
func (e *Engine) CloseReview(ctx context.Context, c ReviewCase, status, note string) (ReviewCase, error) {
	if len(note) > ReviewNoteMax || !utf8.ValidString(note) {
		return ReviewCase{}, kassa.Invalid("note", "note_invalid", "note may be at most %d bytes of UTF-8", ReviewNoteMax)
	}
	now := e.now().UTC()
	if err := e.store.CloseReview(ctx, c.ID, status, note, now); err != nil {
		return ReviewCase{}, err
	}
	c.Status, c.Note, c.Closed = status, note, now
	label := LabelLegit
	if status == ReviewRejected {
		label = LabelFraud
	}
	if _, err := e.Label(ctx, c.MerchantID, c.PaymentID, label, SourceAnalyst); err != nil {
		return ReviewCase{}, err
	}
	e.notify(ctx, c.MerchantID, EventReviewClosed, PublicReview(c))
	return c, nil
}

// ReviewJSON is a review case as the API and its events show it.
type ReviewJSON struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Payment    string `json:"payment"`
	Evaluation string `json:"evaluation"`
	Status     string `json:"status"`
	Reason     string `json:"reason"`
	Note       string `json:"note,omitempty"`
	Created    string `json:"created"`
	Closed     string `json:"closed,omitempty"`
}

// PublicReview returns the case's public form.
func PublicReview(c ReviewCase) ReviewJSON {
	return ReviewJSON{ID: c.ID, Object: "review", Payment: c.PaymentID, Evaluation: c.EvaluationID, Status: c.Status,
		Reason: c.Reason, Note: c.Note, Created: rfc3339(c.Created), Closed: rfc3339(c.Closed)}
}
