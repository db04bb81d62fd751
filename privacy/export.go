package privacy

import (
	"archive/zip"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kassa/kassa"
	"github.com/kassa/kassa/identity"
)

// Export is everything Kassa holds on a subject.
type Export struct {
	Subject     Subject                `json:"-"`
	GeneratedAt time.Time              `json:"generated_at"`
	KYC         *identity.IdentityData `json:"kyc,omitempty"`
	Tables      []Table                `json:"tables"`
	// Erasure is the subject's erasure request, if any; Archive what was
	// held when it was made (kept until ShredAt for the anti-money-
	// laundering retention), nil once shredded.
	Erasure *Erasure `json:"erasure,omitempty"`
	Archive *Export  `json:"archive,omitempty"`
}

// Export collects everything held on sub: the live rows, the opened
// identity data of a Kassa account, and during an erasure's retention the
// archive made at the request. Errors: kassa EInvalid, ENotFound
// subject_not_found (nothing is held).
func (s *Service) Export(ctx context.Context, sub Subject) (Export, error) {
	if err := sub.Validate(); err != nil {
		return Export{}, err
	}
	tables, err := s.cfg.Store.Collect(ctx, sub)
	if err != nil {
		return Export{}, fmt.Errorf("privacy: collect %s: %w", sub.Key(), err)
	}
	x := Export{Subject: sub, GeneratedAt: s.now(), Tables: tables}
	if x.KYC, err = s.kyc(ctx, sub); err != nil {
		return Export{}, err
	}
	e, err := s.cfg.Store.Erasure(ctx, sub.Key())
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return Export{}, err
	default:
		x.Erasure = &e
		if !e.Shredded() {
			a, err := s.openArchive(e)
			if err != nil {
				return Export{}, err
			}
			x.Archive = &a
		}
	}
	if x.Erasure == nil && !holdsData(tables) {
		return Export{}, kassa.Errorf(kassa.ENotFound, CodeNotFound, "Kassa holds nothing on %s", sub.Key())
	}
	return x, nil
}

const exportReadme = `This archive holds the personal data Kassa keeps on one person
(GDPR Art. 15 and 20). subject.json names the person and when the archive was
made; kyc.json is the identity data given for KYC (opened from its sealed
form); every other file is one table, one JSON object per row. Secrets
(password hashes, one-time code hashes, session tokens, TOTP secrets, card
numbers) are never included. archive/ holds what was kept, sealed under a key
of the person's own, after an erasure request, until the retention date in
erasure.json; after that date the key is destroyed and nothing can open it.
docs/privacy.md of Kassa explains each table.
`

// WriteZIP writes x as a ZIP of JSON files.
func WriteZIP(w io.Writer, x Export) error {
	z := zip.NewWriter(w)
	if err := writeExport(z, "", x); err != nil {
		return err
	}
	return z.Close()
}

func writeExport(z *zip.Writer, dir string, x Export) error {
	put := func(name string, v any) error {
		f, err := z.CreateHeader(&zip.FileHeader{Name: dir + name, Method: zip.Deflate, Modified: x.GeneratedAt})
		if err != nil {
			return err
		}
		if s, ok := v.(string); ok {
			_, err = io.WriteString(f, s)
			return err
		}
		enc := json.NewEncoder(f)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	if dir == "" {
		if err := put("README.txt", exportReadme); err != nil {
			return err
		}
	}
	subject := map[string]any{"customer_id": x.Subject.CustomerID, "generated_at": x.GeneratedAt}
	if x.Subject.MerchantID != "" {
		subject["merchant_id"] = x.Subject.MerchantID
	}
	if err := put("subject.json", subject); err != nil {
		return err
	}
	if x.KYC != nil {
		k := x.KYC
		if err := put("kyc.json", map[string]any{"given_name": k.GivenName, "family_name": k.FamilyName,
			"birth_date": k.BirthDate.Format(time.DateOnly), "address": map[string]string{"line1": k.Address.Line1,
				"line2": k.Address.Line2, "city": k.Address.City, "postal_code": k.Address.PostalCode,
				"region": k.Address.Region, "country": k.Address.Country},
			"document_type": k.DocumentType, "document_country": k.DocumentCountry, "document_number": k.DocumentNumber}); err != nil {
			return err
		}
	}
	for _, t := range x.Tables {
		if err := put(t.Name+".json", t.Rows); err != nil {
			return err
		}
	}
	if x.Erasure != nil {
		if err := put("erasure.json", x.Erasure); err != nil {
			return err
		}
	}
	if x.Archive != nil {
		x.Archive.Subject = x.Subject
		return writeExport(z, dir+"archive/", *x.Archive)
	}
	return nil
}

// The archive: the export as JSON, sealed with AES-256-GCM under the
// subject's own data key, which is sealed with the vault's KEKs.

const dataKeyLength = 32

func archiveAAD(subject string) []byte { return []byte("kassa/privacy/archive/v1/" + subject) }

// KeyAAD is what a subject's sealed data key is bound to: the erasure's
// id (identity.SealAAD, so the vault's rewrap finds the column).
func KeyAAD(erasureID string) []byte { return identity.SealAAD(erasureID, "privacy_key") }

func (s *Service) random(b []byte) error {
	r := s.cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	_, err := io.ReadFull(r, b)
	return err
}

func (s *Service) sealArchive(erasureID, subject string, x Export) (key, archive []byte, err error) {
	plain, err := json.Marshal(x)
	if err != nil {
		return nil, nil, err
	}
	defer clear(plain)
	dek := make([]byte, dataKeyLength)
	defer clear(dek)
	if err := s.random(dek); err != nil {
		return nil, nil, err
	}
	a, err := gcm(dek)
	if err != nil {
		return nil, nil, err
	}
	nonce := make([]byte, a.NonceSize())
	if err := s.random(nonce); err != nil {
		return nil, nil, err
	}
	archive = a.Seal(nonce, nonce, plain, archiveAAD(subject))
	if key, err = s.cfg.Sealer.Seal(dek, KeyAAD(erasureID)); err != nil {
		return nil, nil, fmt.Errorf("privacy: seal data key: %w", err)
	}
	return key, archive, nil
}

func (s *Service) openArchive(e Erasure) (Export, error) {
	dek, err := s.cfg.Sealer.Open(e.KeySealed, KeyAAD(e.ID))
	if err != nil {
		return Export{}, fmt.Errorf("privacy: open data key of %s: %w", e.ID, err)
	}
	defer clear(dek)
	a, err := gcm(dek)
	if err != nil {
		return Export{}, err
	}
	n := a.NonceSize()
	if len(e.Archive) < n {
		return Export{}, fmt.Errorf("privacy: archive of %s is truncated", e.ID)
	}
	plain, err := a.Open(nil, e.Archive[:n], e.Archive[n:], archiveAAD(e.Subject))
	if err != nil {
		return Export{}, fmt.Errorf("privacy: archive of %s does not open", e.ID)
	}
	defer clear(plain)
	var x Export
	if err := json.Unmarshal(plain, &x); err != nil {
		return Export{}, fmt.Errorf("privacy: archive of %s: %w", e.ID, err)
	}
	return x, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// WriteAccountZIP writes the export of a Kassa account as a ZIP (the
// account page's download).
func (s *Service) WriteAccountZIP(ctx context.Context, customerID string, w io.Writer) error {
	x, err := s.Export(ctx, Subject{CustomerID: customerID})
	if err != nil {
		return err
	}
	return WriteZIP(w, x)
}

// EraseAccount erases a Kassa account at its payer's request (the
// account page) and returns when the sealed archive is destroyed.
func (s *Service) EraseAccount(ctx context.Context, customerID string) (time.Time, error) {
	e, err := s.Erase(ctx, Subject{CustomerID: customerID}, "payer")
	return e.ShredAt, err
}
