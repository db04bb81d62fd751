package ledgertest

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kassa/kassa/ledger"
	"github.com/kassa/kassa/money"
)

func AccountResultCodes(t *testing.T, open Opener) {
	eur := money.Currency("EUR")
	tests := []struct {
		name string
		in   ledger.Account
		want ledger.ResultCode
	}{
		{"ok", ledger.Account{ID: "new", Currency: eur, Metadata: []byte(`{"k":1}`)}, ledger.OK},
		{"exists", ledger.Account{ID: "x", Currency: eur, Code: 7, Flags: ledger.DebitsMustNotExceedCredits, Metadata: []byte(`{"a":1}`)}, ledger.Exists},
		{"exists flags", ledger.Account{ID: "x", Currency: eur, Code: 7, Metadata: []byte(`{"a":1}`)}, ledger.ExistsWithDifferentFlags},
		{"exists code", ledger.Account{ID: "x", Currency: eur, Code: 8, Flags: ledger.DebitsMustNotExceedCredits, Metadata: []byte(`{"a":1}`)}, ledger.ExistsWithDifferentCode},
		{"exists currency", ledger.Account{ID: "x", Currency: "USD", Code: 7, Flags: ledger.DebitsMustNotExceedCredits, Metadata: []byte(`{"a":1}`)}, ledger.ExistsWithDifferentCurrency},
		{"exists metadata", ledger.Account{ID: "x", Currency: eur, Code: 7, Flags: ledger.DebitsMustNotExceedCredits}, ledger.ExistsWithDifferentMetadata},
		{"owner", ledger.Account{Owner: "other", ID: "n", Currency: eur}, ledger.OwnerMismatch},
		{"timestamp", ledger.Account{ID: "n", Currency: eur, Timestamp: time.Unix(1, 0)}, ledger.TimestampMustBeZero},
		{"leaf index", ledger.Account{ID: "n", Currency: eur, LeafIndex: 3}, ledger.TimestampMustBeZero},
		{"id empty", ledger.Account{ID: "", Currency: eur}, ledger.IDInvalid},
		{"id char", ledger.Account{ID: "a b", Currency: eur}, ledger.IDInvalid},
		{"id long", ledger.Account{ID: strings.Repeat("a", 65), Currency: eur}, ledger.IDInvalid},
		{"flags unknown", ledger.Account{ID: "n", Currency: eur, Flags: 4}, ledger.FlagsInvalid},
		{"flags both", ledger.Account{ID: "n", Currency: eur, Flags: ledger.DebitsMustNotExceedCredits | ledger.CreditsMustNotExceedDebits}, ledger.FlagsAreMutuallyExclusive},
		{"balances", ledger.Account{ID: "n", Currency: eur, CreditsPosted: 1}, ledger.BalancesMustBeZero},
		{"currency", ledger.Account{ID: "n", Currency: "eur"}, ledger.CurrencyInvalid},
		{"metadata array", ledger.Account{ID: "n", Currency: eur, Metadata: []byte(`[1]`)}, ledger.MetadataInvalid},
		{"metadata broken", ledger.Account{ID: "n", Currency: eur, Metadata: []byte(`{"a":`)}, ledger.MetadataInvalid},
		{"metadata long", ledger.Account{ID: "n", Currency: eur, Metadata: []byte(`{"a":"` + strings.Repeat("x", 4096) + `"}`)}, ledger.MetadataTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEnv(t, open)
			e.Accounts(t, "m", ledger.Account{ID: "x", Currency: eur, Code: 7, Flags: ledger.DebitsMustNotExceedCredits, Metadata: []byte(`{"a":1}`)})
			if got := e.Accounts(t, "m", tt.in)[0].Code; got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			e.Verify(t)
		})
	}
}

func TransferResultCodes(t *testing.T, open Opener) {
	const eur = money.Currency("EUR")
	tr := func(id, dr, cr string, amount money.Amount) ledger.Transfer {
		return ledger.Transfer{ID: id, DebitAccountID: dr, CreditAccountID: cr, Amount: amount, Currency: eur}
	}
	with := func(t ledger.Transfer, f func(*ledger.Transfer)) ledger.Transfer { f(&t); return t }
	pending := func(id string, amount money.Amount, timeout time.Duration) ledger.Transfer {
		return with(tr(id, "a", "b", amount), func(t *ledger.Transfer) { t.Flags = ledger.FlagPending; t.Timeout = timeout })
	}
	post := func(id, pid string, amount money.Amount) ledger.Transfer {
		return ledger.Transfer{ID: id, PendingID: pid, Amount: amount, Flags: ledger.FlagPostPending}
	}
	void := func(id, pid string) ledger.Transfer {
		return ledger.Transfer{ID: id, PendingID: pid, Flags: ledger.FlagVoidPending}
	}
	linked := func(t ledger.Transfer) ledger.Transfer { t.Flags |= ledger.FlagLinked; return t }
	base := tr("t0", "a", "b", 10)
	tests := []struct {
		name    string
		setup   []ledger.Transfer
		advance time.Duration
		in      []ledger.Transfer
		want    []ledger.ResultCode
	}{
		{"ok", nil, 0, []ledger.Transfer{tr("t", "a", "b", 1)}, []ledger.ResultCode{ledger.OK}},
		{"exists", []ledger.Transfer{base}, 0, []ledger.Transfer{base}, []ledger.ResultCode{ledger.Exists}},
		{"exists in batch", nil, 0, []ledger.Transfer{base, base}, []ledger.ResultCode{ledger.OK, ledger.Exists}},
		{"exists flags", []ledger.Transfer{base}, 0, []ledger.Transfer{with(base, func(t *ledger.Transfer) { t.Flags = ledger.FlagPending })}, []ledger.ResultCode{ledger.ExistsWithDifferentFlags}},
		{"exists debit", []ledger.Transfer{base}, 0, []ledger.Transfer{tr("t0", "c", "b", 10)}, []ledger.ResultCode{ledger.ExistsWithDifferentDebitAccountID}},
		{"exists credit", []ledger.Transfer{base}, 0, []ledger.Transfer{tr("t0", "a", "c", 10)}, []ledger.ResultCode{ledger.ExistsWithDifferentCreditAccountID}},
		{"exists amount", []ledger.Transfer{base}, 0, []ledger.Transfer{tr("t0", "a", "b", 11)}, []ledger.ResultCode{ledger.ExistsWithDifferentAmount}},
		{"exists currency", []ledger.Transfer{base}, 0, []ledger.Transfer{with(base, func(t *ledger.Transfer) { t.Currency = "USD" })}, []ledger.ResultCode{ledger.ExistsWithDifferentCurrency}},
		{"exists code", []ledger.Transfer{base}, 0, []ledger.Transfer{with(base, func(t *ledger.Transfer) { t.Code = 3 })}, []ledger.ResultCode{ledger.ExistsWithDifferentCode}},
		{"exists metadata", []ledger.Transfer{base}, 0, []ledger.Transfer{with(base, func(t *ledger.Transfer) { t.Metadata = []byte(`{}`) })}, []ledger.ResultCode{ledger.ExistsWithDifferentMetadata}},
		{"exists timeout", []ledger.Transfer{pending("p", 5, time.Hour)}, 0, []ledger.Transfer{pending("p", 5, time.Minute)}, []ledger.ResultCode{ledger.ExistsWithDifferentTimeout}},
		{"exists pending id", []ledger.Transfer{pending("p", 5, 0), pending("q", 5, 0), post("x", "p", 0)}, 0, []ledger.Transfer{post("x", "q", 0)}, []ledger.ResultCode{ledger.ExistsWithDifferentPendingID}},
		{"exists post omitted fields", []ledger.Transfer{pending("p", 5, 0), post("x", "p", 0)}, 0, []ledger.Transfer{post("x", "p", 0), post("x", "p", 5)}, []ledger.ResultCode{ledger.Exists, ledger.Exists}},
		{"owner", nil, 0, []ledger.Transfer{with(base, func(t *ledger.Transfer) { t.Owner = "z" })}, []ledger.ResultCode{ledger.OwnerMismatch}},
		{"timestamp", nil, 0, []ledger.Transfer{with(base, func(t *ledger.Transfer) { t.Timestamp = time.Unix(5, 0) })}, []ledger.ResultCode{ledger.TimestampMustBeZero}},
		{"id", nil, 0, []ledger.Transfer{tr("~x", "a", "b", 1)}, []ledger.ResultCode{ledger.IDInvalid}},
		{"flags unknown", nil, 0, []ledger.Transfer{with(base, func(t *ledger.Transfer) { t.Flags = 1 << 7 })}, []ledger.ResultCode{ledger.FlagsInvalid}},
		{"flags exclusive", nil, 0, []ledger.Transfer{with(base, func(t *ledger.Transfer) { t.Flags = ledger.FlagPending | ledger.FlagVoidPending })}, []ledger.ResultCode{ledger.TransferFlagsAreMutuallyExclusive}},
		{"pending id required", nil, 0, []ledger.Transfer{post("x", "", 0)}, []ledger.ResultCode{ledger.PendingIDRequired}},
		{"pending id invalid", nil, 0, []ledger.Transfer{post("x", "a b", 0)}, []ledger.ResultCode{ledger.PendingIDInvalid}},
		{"pending id same", nil, 0, []ledger.Transfer{post("x", "x", 0)}, []ledger.ResultCode{ledger.PendingIDMustBeDifferent}},
		{"pending id empty", nil, 0, []ledger.Transfer{with(base, func(t *ledger.Transfer) { t.PendingID = "p" })}, []ledger.ResultCode{ledger.PendingIDMustBeEmpty}},
		{"timeout reserved", nil, 0, []ledger.Transfer{with(base, func(t *ledger.Transfer) { t.Timeout = time.Second })}, []ledger.ResultCode{ledger.TimeoutReservedForPending}},
		{"timeout negative", nil, 0, []ledger.Transfer{pending("p", 1, -time.Second)}, []ledger.ResultCode{ledger.TimeoutInvalid}},
		{"metadata", nil, 0, []ledger.Transfer{with(base, func(t *ledger.Transfer) { t.Metadata = []byte(`"s"`) })}, []ledger.ResultCode{ledger.MetadataInvalid}},
		{"metadata long", nil, 0, []ledger.Transfer{with(base, func(t *ledger.Transfer) { t.Metadata = []byte(`{"a":"` + strings.Repeat("x", 4096) + `"}`) })}, []ledger.ResultCode{ledger.MetadataTooLong}},
		{"debit id", nil, 0, []ledger.Transfer{tr("t", "", "b", 1)}, []ledger.ResultCode{ledger.DebitAccountIDInvalid}},
		{"credit id", nil, 0, []ledger.Transfer{tr("t", "a", "b c", 1)}, []ledger.ResultCode{ledger.CreditAccountIDInvalid}},
		{"same accounts", nil, 0, []ledger.Transfer{tr("t", "a", "a", 1)}, []ledger.ResultCode{ledger.AccountsMustBeDifferent}},
		{"amount zero", nil, 0, []ledger.Transfer{tr("t", "a", "b", 0)}, []ledger.ResultCode{ledger.AmountMustBePositive}},
		{"amount negative", nil, 0, []ledger.Transfer{tr("t", "a", "b", -1)}, []ledger.ResultCode{ledger.AmountMustBePositive}},
		{"post amount negative", []ledger.Transfer{pending("p", 5, 0)}, 0, []ledger.Transfer{post("x", "p", -1)}, []ledger.ResultCode{ledger.AmountMustBePositive}},
		{"currency invalid", nil, 0, []ledger.Transfer{with(base, func(t *ledger.Transfer) { t.Currency = "E" })}, []ledger.ResultCode{ledger.CurrencyInvalid}},
		{"debit not found", nil, 0, []ledger.Transfer{tr("t", "nope", "b", 1)}, []ledger.ResultCode{ledger.DebitAccountNotFound}},
		{"credit not found", nil, 0, []ledger.Transfer{tr("t", "a", "nope", 1)}, []ledger.ResultCode{ledger.CreditAccountNotFound}},
		{"currency vs accounts", nil, 0, []ledger.Transfer{with(base, func(t *ledger.Transfer) { t.Currency = "USD" })}, []ledger.ResultCode{ledger.CurrencyMismatch}},
		{"currency between accounts", nil, 0, []ledger.Transfer{tr("t", "a", "usd", 1)}, []ledger.ResultCode{ledger.CurrencyMismatch}},
		{"exceeds credits", nil, 0, []ledger.Transfer{tr("t", "lim", "b", 1)}, []ledger.ResultCode{ledger.ExceedsCredits}},
		{"exceeds credits pending counts", []ledger.Transfer{tr("f", "a", "lim", 10), with(tr("p", "lim", "b", 6), func(t *ledger.Transfer) { t.Flags = ledger.FlagPending })}, 0,
			[]ledger.Transfer{tr("t", "lim", "b", 5), tr("u", "lim", "b", 4)}, []ledger.ResultCode{ledger.ExceedsCredits, ledger.OK}},
		{"exceeds debits", nil, 0, []ledger.Transfer{tr("t", "a", "climit", 1)}, []ledger.ResultCode{ledger.ExceedsDebits}},
		{"overflow debits posted", []ledger.Transfer{tr("big", "a", "b", math.MaxInt64)}, 0, []ledger.Transfer{tr("t", "a", "c", 1)}, []ledger.ResultCode{ledger.OverflowDebitsPosted}},
		{"overflow credits posted", []ledger.Transfer{tr("big", "a", "b", math.MaxInt64)}, 0, []ledger.Transfer{tr("t", "c", "b", 1)}, []ledger.ResultCode{ledger.OverflowCreditsPosted}},
		{"overflow debits pending", []ledger.Transfer{pending("big", math.MaxInt64, 0)}, 0, []ledger.Transfer{with(tr("t", "a", "c", 1), func(t *ledger.Transfer) { t.Flags = ledger.FlagPending })}, []ledger.ResultCode{ledger.OverflowDebitsPending}},
		{"overflow credits pending", []ledger.Transfer{pending("big", math.MaxInt64, 0)}, 0, []ledger.Transfer{with(tr("t", "c", "b", 1), func(t *ledger.Transfer) { t.Flags = ledger.FlagPending })}, []ledger.ResultCode{ledger.OverflowCreditsPending}},
		{"overflow debits", []ledger.Transfer{pending("big", math.MaxInt64, 0)}, 0, []ledger.Transfer{tr("t", "a", "c", 1)}, []ledger.ResultCode{ledger.OverflowDebits}},
		{"overflow credits", []ledger.Transfer{pending("big", math.MaxInt64, 0)}, 0, []ledger.Transfer{tr("t", "c", "b", 1)}, []ledger.ResultCode{ledger.OverflowCredits}},
		{"overflow timeout", nil, 0, []ledger.Transfer{pending("p", 1, math.MaxInt64)}, []ledger.ResultCode{ledger.OverflowTimeout}},
		{"pending not found", nil, 0, []ledger.Transfer{post("x", "nope", 0)}, []ledger.ResultCode{ledger.PendingTransferNotFound}},
		{"pending not pending", []ledger.Transfer{base}, 0, []ledger.Transfer{post("x", "t0", 0)}, []ledger.ResultCode{ledger.PendingTransferNotPending}},
		{"pending not pending in batch", nil, 0, []ledger.Transfer{base, void("x", "t0")}, []ledger.ResultCode{ledger.OK, ledger.PendingTransferNotPending}},
		{"pending different accounts", []ledger.Transfer{pending("p", 5, 0)}, 0, []ledger.Transfer{with(post("x", "p", 0), func(t *ledger.Transfer) { t.CreditAccountID = "c" })}, []ledger.ResultCode{ledger.PendingTransferHasDifferentAccounts}},
		{"pending different currency", []ledger.Transfer{pending("p", 5, 0)}, 0, []ledger.Transfer{with(post("x", "p", 0), func(t *ledger.Transfer) { t.Currency = "USD" })}, []ledger.ResultCode{ledger.PendingTransferHasDifferentCurrency}},
		{"pending different code", []ledger.Transfer{pending("p", 5, 0)}, 0, []ledger.Transfer{with(post("x", "p", 0), func(t *ledger.Transfer) { t.Code = 9 })}, []ledger.ResultCode{ledger.PendingTransferHasDifferentCode}},
		{"void different amount", []ledger.Transfer{pending("p", 5, 0)}, 0, []ledger.Transfer{with(void("x", "p"), func(t *ledger.Transfer) { t.Amount = 4 })}, []ledger.ResultCode{ledger.PendingTransferHasDifferentAmount}},
		{"post exceeds", []ledger.Transfer{pending("p", 5, 0)}, 0, []ledger.Transfer{post("x", "p", 6)}, []ledger.ResultCode{ledger.ExceedsPendingTransferAmount}},
		{"post partial then again", []ledger.Transfer{pending("p", 5, 0)}, 0, []ledger.Transfer{post("x", "p", 3), post("y", "p", 0)}, []ledger.ResultCode{ledger.OK, ledger.PendingTransferAlreadyPosted}},
		{"already voided", []ledger.Transfer{pending("p", 5, 0), void("v", "p")}, 0, []ledger.Transfer{post("x", "p", 0)}, []ledger.ResultCode{ledger.PendingTransferAlreadyVoided}},
		{"expired", []ledger.Transfer{pending("p", 5, time.Minute)}, time.Minute + time.Second, []ledger.Transfer{post("x", "p", 0)}, []ledger.ResultCode{ledger.PendingTransferExpired}},
		{"not yet expired", []ledger.Transfer{pending("p", 5, time.Minute)}, time.Minute - time.Second, []ledger.Transfer{post("x", "p", 0)}, []ledger.ResultCode{ledger.OK}},
		{"linked ok", nil, 0, []ledger.Transfer{linked(tr("t1", "a", "b", 1)), tr("t2", "a", "b", 1)}, []ledger.ResultCode{ledger.OK, ledger.OK}},
		{"linked failed", nil, 0, []ledger.Transfer{linked(tr("t1", "a", "b", 1)), linked(tr("t2", "lim", "b", 1)), tr("t3", "a", "b", 1), tr("t4", "a", "b", 1)},
			[]ledger.ResultCode{ledger.LinkedEventFailed, ledger.ExceedsCredits, ledger.LinkedEventFailed, ledger.OK}},
		{"linked chain open", nil, 0, []ledger.Transfer{tr("t0", "a", "b", 1), linked(tr("t1", "a", "b", 1)), linked(tr("t2", "a", "b", 1))},
			[]ledger.ResultCode{ledger.OK, ledger.LinkedEventFailed, ledger.LinkedEventChainOpen}},
		{"linked rollback frees id", nil, 0, []ledger.Transfer{linked(tr("t1", "a", "b", 1)), tr("t2", "a", "nope", 1), tr("t1", "a", "b", 1)},
			[]ledger.ResultCode{ledger.LinkedEventFailed, ledger.CreditAccountNotFound, ledger.OK}},
		{"linked rollback restores balance", []ledger.Transfer{tr("f", "a", "lim", 5)}, 0,
			[]ledger.Transfer{linked(tr("t1", "lim", "b", 5)), tr("t2", "a", "nope", 1), tr("t3", "lim", "b", 5)},
			[]ledger.ResultCode{ledger.LinkedEventFailed, ledger.CreditAccountNotFound, ledger.OK}},
		{"linked rollback restores pending", []ledger.Transfer{pending("p", 5, 0)}, 0,
			[]ledger.Transfer{linked(post("x", "p", 0)), tr("t2", "a", "nope", 1), void("v", "p")},
			[]ledger.ResultCode{ledger.LinkedEventFailed, ledger.CreditAccountNotFound, ledger.OK}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEnv(t, open)
			for _, a := range []ledger.Account{
				{ID: "a", Currency: eur}, {ID: "b", Currency: eur}, {ID: "c", Currency: eur}, {ID: "usd", Currency: "USD"},
				{ID: "lim", Currency: eur, Flags: ledger.DebitsMustNotExceedCredits},
				{ID: "climit", Currency: eur, Flags: ledger.CreditsMustNotExceedDebits},
			} {
				if r := e.Accounts(t, "m", a); r[0].Code != ledger.OK {
					t.Fatalf("account %s: %s", a.ID, r[0].Code)
				}
			}
			for _, s := range tt.setup {
				if r := e.Transfers(t, "m", s); r[0].Code != ledger.OK {
					t.Fatalf("setup %s: %s", s.ID, r[0].Code)
				}
			}
			e.Clock.Advance(tt.advance)
			if got := Codes(e.Transfers(t, "m", tt.in...)); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			e.Verify(t)
		})
	}
}
