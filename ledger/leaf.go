package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/kassa/kassa/money"
)

// Leaf encoding, version 1.
//
// Every committed event is one leaf of the Merkle log; its leaf data (the
// input of the RFC 6962 leaf hash SHA-256(0x00 || data)) is this canonical
// binary encoding. Exactly one byte string encodes a given event, so a
// verifier can re-encode what a store returns and compare hashes.
//
//	leaf     = version type body
//	version  = 0x01
//	type     = 0x01 (account) / 0x02 (transfer)
//
//	account body (type 0x01):
//	  owner      string
//	  id         string
//	  currency   string     three upper-case ASCII letters
//	  code       uint16
//	  flags      uint16     bit 0 debits_must_not_exceed_credits, bit 1 credits_must_not_exceed_debits
//	  timestamp  int64      Unix nanoseconds
//	  metadata   string     JSON object bytes as submitted, or empty
//
//	transfer body (type 0x02):
//	  owner              string
//	  id                 string
//	  debit_account_id   string
//	  credit_account_id  string
//	  amount             int64   minor units, > 0
//	  currency           string
//	  code               uint16
//	  flags              uint16  bit 0 linked, bit 1 pending, bit 2 post_pending, bit 3 void_pending
//	  pending_id         string  empty unless post_pending or void_pending
//	  timeout            int64   nanoseconds, 0 unless pending
//	  timestamp          int64   Unix nanoseconds
//	  metadata           string
//
//	string   = uvarint(len) bytes    length as an unsigned LEB128 varint in
//	                                 its shortest form, then the bytes
//	uint16   = 2 bytes big-endian
//	int64    = 8 bytes big-endian two's complement
//
// A decoder rejects unknown versions and types, non-shortest varints,
// truncated input and trailing bytes. The leaf index is not encoded: it is
// the leaf's position in the tree. Account balances are not encoded either:
// they are derived from the transfers. A committed post or void carries the
// effective accounts, amount, currency and code, never the client's
// omissions. New versions will only be added, never change this one.
const (
	LeafVersion1     = 0x01
	leafTypeAccount  = 0x01
	leafTypeTransfer = 0x02
)

// Record is one leaf of the log: an account creation or a transfer.
type Record struct {
	LeafIndex int64
	Account   *Account  // set for an account creation
	Transfer  *Transfer // set for a transfer
}

// Key returns the (owner, id) of the record's account or transfer.
func (r *Record) Key() Key {
	if r.Account != nil {
		return Key{r.Account.Owner, r.Account.ID}
	}
	return Key{r.Transfer.Owner, r.Transfer.ID}
}

// AppendAccountLeaf appends the leaf encoding of a's creation to dst.
func AppendAccountLeaf(dst []byte, a *Account) []byte {
	dst = append(dst, LeafVersion1, leafTypeAccount)
	dst = appendString(dst, a.Owner)
	dst = appendString(dst, a.ID)
	dst = appendString(dst, string(a.Currency))
	dst = binary.BigEndian.AppendUint16(dst, a.Code)
	dst = binary.BigEndian.AppendUint16(dst, uint16(a.Flags))
	dst = binary.BigEndian.AppendUint64(dst, uint64(nanos(a.Timestamp)))
	return appendString(dst, string(a.Metadata))
}

// AppendTransferLeaf appends the leaf encoding of t to dst.
func AppendTransferLeaf(dst []byte, t *Transfer) []byte {
	dst = append(dst, LeafVersion1, leafTypeTransfer)
	dst = appendString(dst, t.Owner)
	dst = appendString(dst, t.ID)
	dst = appendString(dst, t.DebitAccountID)
	dst = appendString(dst, t.CreditAccountID)
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.Amount))
	dst = appendString(dst, string(t.Currency))
	dst = binary.BigEndian.AppendUint16(dst, t.Code)
	dst = binary.BigEndian.AppendUint16(dst, uint16(t.Flags))
	dst = appendString(dst, t.PendingID)
	dst = binary.BigEndian.AppendUint64(dst, uint64(t.Timeout))
	dst = binary.BigEndian.AppendUint64(dst, uint64(nanos(t.Timestamp)))
	return appendString(dst, string(t.Metadata))
}

// AppendLeaf appends r's leaf encoding to dst.
func AppendLeaf(dst []byte, r *Record) []byte {
	if r.Account != nil {
		return AppendAccountLeaf(dst, r.Account)
	}
	return AppendTransferLeaf(dst, r.Transfer)
}

// EncodeLeaf returns r's leaf encoding.
func EncodeLeaf(r *Record) []byte { return AppendLeaf(nil, r) }

func appendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

var errLeaf = errors.New("ledger: malformed leaf")

// DecodeLeaf decodes leaf data. The LeafIndex of the result is zero.
func DecodeLeaf(data []byte) (Record, error) {
	var v leafView
	if err := v.parse(data); err != nil {
		return Record{}, err
	}
	return v.record(), nil
}

// TransferLeafKeys returns the owner, id and account ids of a transfer's
// leaf encoding without decoding the rest of it, for a store to check the
// keys it looks the transfer up by; ok is false when data does not start
// like a transfer leaf. The slices point into data.
func TransferLeafKeys(data []byte) (owner, id, debitAccountID, creditAccountID []byte, ok bool) {
	if len(data) < 2 || data[0] != LeafVersion1 || data[1] != leafTypeTransfer {
		return nil, nil, nil, nil, false
	}
	d := decoder{b: data[2:]}
	owner, id, debitAccountID, creditAccountID = d.bytes(), d.bytes(), d.bytes(), d.bytes()
	return owner, id, debitAccountID, creditAccountID, !d.bad
}

// leafView is a decoded leaf whose strings point into the leaf data, so
// that Verify can decode millions of leaves without allocating.
type leafView struct {
	typ                           byte
	owner, id, currency, metadata []byte
	debit, credit, pendingID      []byte // transfers only
	code, flags                   uint16
	amount, timeout, timestamp    int64
}

// parse decodes data into v. It rejects unknown versions and types,
// non-shortest varints, truncated input and trailing bytes, so that only
// the canonical encoding of a record decodes.
func (v *leafView) parse(data []byte) error {
	if len(data) < 2 {
		return errLeaf
	}
	if data[0] != LeafVersion1 {
		return fmt.Errorf("ledger: unknown leaf version %d", data[0])
	}
	*v = leafView{typ: data[1]}
	d := decoder{b: data[2:]}
	switch data[1] {
	case leafTypeAccount:
		v.owner, v.id, v.currency = d.bytes(), d.bytes(), d.bytes()
		v.code, v.flags = d.uint16(), d.uint16()
		v.timestamp = int64(d.uint64())
		v.metadata = d.bytes()
	case leafTypeTransfer:
		v.owner, v.id, v.debit, v.credit = d.bytes(), d.bytes(), d.bytes(), d.bytes()
		v.amount = int64(d.uint64())
		v.currency = d.bytes()
		v.code, v.flags = d.uint16(), d.uint16()
		v.pendingID = d.bytes()
		v.timeout = int64(d.uint64())
		v.timestamp = int64(d.uint64())
		v.metadata = d.bytes()
	default:
		return fmt.Errorf("ledger: unknown leaf type %d", data[1])
	}
	if d.bad || len(d.b) != 0 {
		return errLeaf
	}
	return nil
}

// record copies v into a Record.
func (v *leafView) record() Record {
	if v.typ == leafTypeAccount {
		return Record{Account: &Account{
			Owner: string(v.owner), ID: string(v.id), Currency: money.Currency(v.currency),
			Code: v.code, Flags: AccountFlags(v.flags), Timestamp: fromNanos(v.timestamp), Metadata: cloneMetadata(v.metadata),
		}}
	}
	return Record{Transfer: &Transfer{
		Owner: string(v.owner), ID: string(v.id), DebitAccountID: string(v.debit), CreditAccountID: string(v.credit),
		Amount: money.Amount(v.amount), Currency: money.Currency(v.currency), Code: v.code, Flags: TransferFlags(v.flags),
		PendingID: string(v.pendingID), Timeout: time.Duration(v.timeout), Timestamp: fromNanos(v.timestamp), Metadata: cloneMetadata(v.metadata),
	}}
}

// cloneMetadata copies metadata; empty metadata decodes as nil.
func cloneMetadata(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

type decoder struct {
	b   []byte
	bad bool
}

// bytes returns the next string, pointing into the input.
func (d *decoder) bytes() []byte {
	var n uint64
	var k int
	if len(d.b) > 0 && d.b[0] < 0x80 {
		n, k = uint64(d.b[0]), 1 // the common length below 128, in its only form
	} else {
		n, k = binary.Uvarint(d.b)
	}
	if k <= 0 || k != uvarintLen(n) || n > uint64(len(d.b)-k) {
		d.bad = true
		d.b = nil
		return nil
	}
	s := d.b[k : k+int(n) : k+int(n)]
	d.b = d.b[k+int(n):]
	return s
}

func (d *decoder) uint16() uint16 {
	if len(d.b) < 2 {
		d.bad = true
		return 0
	}
	v := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	return v
}

func (d *decoder) uint64() uint64 {
	if len(d.b) < 8 {
		d.bad = true
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
