package risk

import (
	"context"
	"fmt"
	"strings"
)

// Blocked reports whether the voucher serial or card fingerprint of ev
// is on the merchant's or the platform's block list now, a lock
// included, without scoring or counting anything: for looking again at
// what a payment held while its payer was being challenged. It reads the
// lists from the store, not the cache, so a lock made on another node a
// moment ago counts.
func (e *Engine) Blocked(ctx context.Context, merchantID, voucherSerial, cardFingerprint string) (Reason, bool, error) {
	ls, err := e.loadLists(ctx, merchantID)
	if err != nil {
		return Reason{}, false, fmt.Errorf("risk: blocked: %w", err)
	}
	ev := Event{VoucherSerial: voucherSerial, CardFingerprint: cardFingerprint}
	typ, entry, ok := ls.match(ListBlock, &ev, e.now().UTC())
	if !ok {
		return Reason{}, false, nil
	}
	code := "list:" + typ
	if strings.HasPrefix(entry.Note, lockNotePrefix) {
		code = "lock:" + typ
	}
	return Reason{Code: code, Message: fmt.Sprintf("the %s is on the block list", strings.ReplaceAll(typ, "_", " "))}, true, nil
}
