package ledger

import "time"

// ResultCode is the outcome of one event (account creation or transfer) of
// a call. The values are stable snake_case strings that the HTTP API returns
// as they are.
type ResultCode string

// Result codes shared by accounts and transfers.
const (
	OK                   ResultCode = "ok"                      // committed
	Exists               ResultCode = "exists"                  // same id, same content: already committed (idempotent retry)
	IDInvalid            ResultCode = "id_invalid"              // id is not 1–64 of [A-Za-z0-9_.:-]
	OwnerMismatch        ResultCode = "owner_mismatch"          // Owner set and not the caller's owner
	TimestampMustBeZero  ResultCode = "timestamp_must_be_zero"  // Timestamp or LeafIndex set by the client
	FlagsInvalid         ResultCode = "flags_invalid"           // unknown flag bits
	CurrencyInvalid      ResultCode = "currency_invalid"        // not three upper-case letters
	MetadataInvalid      ResultCode = "metadata_invalid"        // not a JSON object
	MetadataTooLong      ResultCode = "metadata_too_long"       // more than MetadataLengthMax bytes
	LinkedEventFailed    ResultCode = "linked_event_failed"     // another member of its linked chain failed
	LinkedEventChainOpen ResultCode = "linked_event_chain_open" // the call ended inside a linked chain
)

// Result codes of account creation.
const (
	FlagsAreMutuallyExclusive   ResultCode = "flags_are_mutually_exclusive"   // both balance limits set
	BalancesMustBeZero          ResultCode = "balances_must_be_zero"          // a balance set by the client
	ExistsWithDifferentFlags    ResultCode = "exists_with_different_flags"    // same id, other flags
	ExistsWithDifferentCode     ResultCode = "exists_with_different_code"     // same id, other code
	ExistsWithDifferentCurrency ResultCode = "exists_with_different_currency" // same id, other currency
	ExistsWithDifferentMetadata ResultCode = "exists_with_different_metadata" // same id, other metadata
)

// Result codes of transfers, in the order they are checked.
const (
	TransferFlagsAreMutuallyExclusive ResultCode = "flags_are_mutually_exclusive" // more than one of pending, post_pending, void_pending
	PendingIDMustBeEmpty              ResultCode = "pending_id_must_be_empty"     // pending_id on a transfer that is not a post or void
	PendingIDRequired                 ResultCode = "pending_id_required"          // post or void without pending_id
	PendingIDInvalid                  ResultCode = "pending_id_invalid"           // pending_id is not a valid id
	PendingIDMustBeDifferent          ResultCode = "pending_id_must_be_different" // pending_id equals id
	TimeoutReservedForPending         ResultCode = "timeout_reserved_for_pending_transfer"
	TimeoutInvalid                    ResultCode = "timeout_invalid" // negative timeout
	DebitAccountIDInvalid             ResultCode = "debit_account_id_invalid"
	CreditAccountIDInvalid            ResultCode = "credit_account_id_invalid"
	AccountsMustBeDifferent           ResultCode = "accounts_must_be_different"
	AmountMustBePositive              ResultCode = "amount_must_be_positive"

	ExistsWithDifferentDebitAccountID  ResultCode = "exists_with_different_debit_account_id"
	ExistsWithDifferentCreditAccountID ResultCode = "exists_with_different_credit_account_id"
	ExistsWithDifferentAmount          ResultCode = "exists_with_different_amount"
	ExistsWithDifferentPendingID       ResultCode = "exists_with_different_pending_id"
	ExistsWithDifferentTimeout         ResultCode = "exists_with_different_timeout"
	// ExistsWithDifferentFlags, ExistsWithDifferentCode, ExistsWithDifferentCurrency
	// and ExistsWithDifferentMetadata apply to transfers too.

	PendingTransferNotFound             ResultCode = "pending_transfer_not_found"   // no transfer with pending_id
	PendingTransferNotPending           ResultCode = "pending_transfer_not_pending" // pending_id names a transfer without the pending flag
	PendingTransferHasDifferentAccounts ResultCode = "pending_transfer_has_different_accounts"
	PendingTransferHasDifferentCurrency ResultCode = "pending_transfer_has_different_currency"
	PendingTransferHasDifferentCode     ResultCode = "pending_transfer_has_different_code"
	PendingTransferHasDifferentAmount   ResultCode = "pending_transfer_has_different_amount" // a void's amount is neither 0 nor the pending amount
	ExceedsPendingTransferAmount        ResultCode = "exceeds_pending_transfer_amount"       // a post's amount is more than the pending amount
	PendingTransferAlreadyPosted        ResultCode = "pending_transfer_already_posted"
	PendingTransferAlreadyVoided        ResultCode = "pending_transfer_already_voided"
	PendingTransferExpired              ResultCode = "pending_transfer_expired"

	DebitAccountNotFound  ResultCode = "debit_account_not_found"
	CreditAccountNotFound ResultCode = "credit_account_not_found"
	CurrencyMismatch      ResultCode = "currency_mismatch" // the accounts' currencies differ from each other or from the transfer's

	OverflowDebitsPending  ResultCode = "overflow_debits_pending"
	OverflowCreditsPending ResultCode = "overflow_credits_pending"
	OverflowDebitsPosted   ResultCode = "overflow_debits_posted"
	OverflowCreditsPosted  ResultCode = "overflow_credits_posted"
	OverflowDebits         ResultCode = "overflow_debits"  // debits_pending + debits_posted would overflow
	OverflowCredits        ResultCode = "overflow_credits" // credits_pending + credits_posted would overflow
	OverflowTimeout        ResultCode = "overflow_timeout" // timestamp + timeout would overflow

	ExceedsCredits ResultCode = "exceeds_credits" // the debit account's debits would exceed its credits
	ExceedsDebits  ResultCode = "exceeds_debits"  // the credit account's credits would exceed its debits
)

// Result is the outcome of one event of a call, in the order of the call.
// For OK and Exists, LeafIndex and Timestamp are those of the committed
// event (for Exists: of the original).
type Result struct {
	Code      ResultCode
	LeafIndex int64
	Timestamp time.Time
}
