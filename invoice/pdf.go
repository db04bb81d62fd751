package invoice

import (
	"context"
	"fmt"
	"io"
	"strings"

	"codeberg.org/go-pdf/fpdf"

	"github.com/kassa/kassa/money"
)

// Layout of the PDF (A4, millimetres).
const (
	pdfMargin   = 20.0
	pdfWidth    = 210.0 - 2*pdfMargin
	pdfLineH    = 5.0
	colDesc     = 80.0
	colQty      = 15.0
	colUnit     = 30.0
	colRate     = 15.0
	colAmount   = 30.0
	labelColumn = 120.0 // the totals' labels end here; their values fill the rest
)

// PDF writes the invoice as a PDF document (a draft is marked as one).
// The core fonts carry Windows-1252: text outside it (another script) is
// printed as question marks; the API and the page keep it as it was.
func (s *Service) PDF(ctx context.Context, merchantID, id string, w io.Writer) (Invoice, error) {
	inv, err := s.Get(ctx, merchantID, id)
	if err != nil {
		return Invoice{}, err
	}
	if inv, err = s.Sync(ctx, inv); err != nil {
		return Invoice{}, err
	}
	m, err := s.cfg.Merchants.Get(ctx, merchantID)
	if err != nil {
		return Invoice{}, err
	}
	set, err := s.Settings(ctx, merchantID)
	if err != nil {
		return Invoice{}, err
	}
	doc := pdfDoc{inv: inv, seller: m.Name, set: set, l: lang(inv.Locale), payURL: s.PageURL(inv)}
	return inv, doc.write(w)
}

// PagePDF writes the PDF of the invoice the hosted page shows (the
// page's key opens it).
func (s *Service) PagePDF(ctx context.Context, id, key string, w io.Writer) (Invoice, error) {
	inv, err := s.Page(ctx, id, key)
	if err != nil {
		return Invoice{}, err
	}
	return s.PDF(ctx, inv.MerchantID, inv.ID, w)
}

type pdfDoc struct {
	inv    Invoice
	seller string
	set    Settings
	l      map[string]string
	payURL string
	f      *fpdf.Fpdf
	tr     func(string) string
}

func (d *pdfDoc) money(a money.Amount) string { return FormatMoney(a, d.inv.Currency, d.inv.Locale) }

func (d *pdfDoc) write(w io.Writer) error {
	inv := d.inv
	f := fpdf.New("P", "mm", "A4", "")
	d.f, d.tr = f, f.UnicodeTranslatorFromDescriptor("")
	f.SetMargins(pdfMargin, pdfMargin, pdfMargin)
	f.SetAutoPageBreak(true, pdfMargin)
	f.SetCatalogSort(true)
	created := inv.Created
	if !inv.FinalizedAt.IsZero() {
		created = inv.FinalizedAt
	}
	f.SetCreationDate(created)
	f.SetModificationDate(created)
	title := d.l["invoice"] + " " + inv.Number
	if inv.Number == "" {
		title = d.l["draft"]
	}
	f.SetTitle(title, true)
	f.SetAuthor(d.seller, true)
	f.SetCreator("Kassa", true)
	f.AliasNbPages("{nb}")
	f.SetFooterFunc(func() {
		f.SetY(-15)
		f.SetFont("Helvetica", "", 8)
		f.CellFormat(0, 10, d.tr(fmt.Sprintf(d.l["page"], f.PageNo())), "", 0, "C", false, 0, "")
	})
	f.AddPage()
	d.header()
	d.lines()
	d.totals()
	d.notes()
	return f.Output(w)
}

func (d *pdfDoc) text(w float64, s, style string, size float64, align string) {
	d.f.SetFont("Helvetica", style, size)
	d.f.CellFormat(w, pdfLineH+size/4, d.tr(s), "", 1, align, false, 0, "")
}

func (d *pdfDoc) header() {
	inv, f := d.inv, d.f
	d.text(0, d.seller, "B", 14, "L")
	f.SetFont("Helvetica", "", 9)
	for _, line := range strings.Split(strings.ReplaceAll(d.set.SellerAddress, "\r", ""), "\n") {
		if line != "" {
			d.text(0, line, "", 9, "L")
		}
	}
	if d.set.SellerVATID != "" {
		d.text(0, d.l["vat_id"]+": "+d.set.SellerVATID, "", 9, "L")
	}
	f.Ln(6)
	top := f.GetY()
	d.text(90, d.l["bill_to"], "B", 10, "L")
	c := inv.Customer
	for _, line := range []string{c.Name, c.Address.Line1, c.Address.Line2,
		strings.TrimSpace(c.Address.PostalCode + " " + c.Address.City), c.Address.State, c.Address.Country} {
		if line != "" {
			d.text(90, line, "", 10, "L")
		}
	}
	if c.VATID != "" {
		d.text(90, d.l["vat_id"]+": "+c.VATID, "", 10, "L")
	}
	bottom := f.GetY()
	f.SetXY(pdfMargin+95, top)
	heading := d.l["invoice"]
	if inv.Status == StatusDraft {
		heading = d.l["draft"]
	}
	f.SetFont("Helvetica", "B", 16)
	f.MultiCell(pdfWidth-95, 8, d.tr(heading), "", "L", false)
	rows := [][2]string{}
	if inv.Number != "" {
		rows = append(rows, [2]string{d.l["number"], inv.Number})
		rows = append(rows, [2]string{d.l["date"], FormatDate(inv.FinalizedAt, inv.Locale)})
		rows = append(rows, [2]string{d.l["due"], FormatDate(inv.DueAt, inv.Locale)})
	}
	rows = append(rows, [2]string{d.l["status"], d.l["st."+string(inv.Status)]})
	for _, r := range rows {
		f.SetX(pdfMargin + 95)
		f.SetFont("Helvetica", "", 10)
		f.CellFormat(35, 6, d.tr(r[0]), "", 0, "L", false, 0, "")
		f.SetFont("Helvetica", "B", 10)
		f.CellFormat(pdfWidth-130, 6, d.tr(r[1]), "", 1, "L", false, 0, "")
	}
	f.SetY(max(bottom, f.GetY()) + 8)
}

func (d *pdfDoc) lines() {
	f := d.f
	f.SetFont("Helvetica", "B", 9)
	f.SetFillColor(235, 235, 235)
	for _, h := range []struct {
		w     float64
		key   string
		align string
	}{{colDesc, "description", "L"}, {colQty, "quantity", "R"}, {colUnit, "unit", "R"}, {colRate, "rate", "R"}, {colAmount, "amount", "R"}} {
		f.CellFormat(h.w, 7, d.tr(d.l[h.key]), "B", 0, h.align, true, 0, "")
	}
	f.Ln(-1)
	f.SetFont("Helvetica", "", 9)
	for _, l := range d.inv.Lines {
		wrapped := f.SplitText(d.tr(l.Description), colDesc-2)
		h := float64(len(wrapped)) * pdfLineH
		if f.GetY()+h > 297-pdfMargin-10 {
			f.AddPage()
		}
		x, y := f.GetX(), f.GetY()
		f.MultiCell(colDesc, pdfLineH, strings.Join(wrapped, "\n"), "", "L", false)
		f.SetXY(x+colDesc, y)
		f.CellFormat(colQty, pdfLineH, fmt.Sprint(l.Quantity), "", 0, "R", false, 0, "")
		f.CellFormat(colUnit, pdfLineH, d.tr(d.money(l.UnitAmount)), "", 0, "R", false, 0, "")
		rate := FormatRate(l.TaxRate, d.inv.Locale) + " %"
		if d.inv.ReverseCharge {
			rate = "0 %"
		}
		f.CellFormat(colRate, pdfLineH, rate, "", 0, "R", false, 0, "")
		f.CellFormat(colAmount, pdfLineH, d.tr(d.money(l.Amount)), "", 0, "R", false, 0, "")
		f.SetXY(x, y+h+1)
	}
	f.Line(pdfMargin, f.GetY(), pdfMargin+pdfWidth, f.GetY())
	f.Ln(2)
}

func (d *pdfDoc) total(label, value string, bold bool) {
	style := ""
	if bold {
		style = "B"
	}
	d.f.SetFont("Helvetica", style, 10)
	d.f.CellFormat(labelColumn, 6, d.tr(label), "", 0, "R", false, 0, "")
	d.f.CellFormat(pdfWidth-labelColumn, 6, d.tr(value), "", 1, "R", false, 0, "")
}

func (d *pdfDoc) totals() {
	inv := d.inv
	d.total(d.l["subtotal"], d.money(inv.Subtotal), false)
	for _, t := range TaxBreakdown(inv.Lines) {
		rate := FormatRate(t.Rate, inv.Locale)
		if inv.ReverseCharge {
			rate = "0"
		}
		d.total(fmt.Sprintf(d.l["tax_at"], rate, d.money(t.Net)), d.money(t.Amount), false)
	}
	d.total(d.l["total"], d.money(inv.Total), true)
	if inv.AmountPaid > 0 {
		d.total(d.l["paid"], d.money(inv.AmountPaid), false)
	}
	if inv.AmountCredited > 0 {
		d.total(d.l["credited"], d.money(inv.AmountCredited), false)
	}
	d.f.Ln(6)
}

func (d *pdfDoc) notes() {
	inv, f := d.inv, d.f
	f.SetFont("Helvetica", "", 9)
	if inv.ReverseCharge {
		f.SetFont("Helvetica", "B", 9)
		f.MultiCell(0, pdfLineH, d.tr(d.l["reverse_charge"]), "", "L", false)
		f.SetFont("Helvetica", "", 9)
	} else {
		f.MultiCell(0, pdfLineH, d.tr(d.l["rounding"]), "", "L", false)
	}
	if inv.Status == StatusOpen || inv.Status == StatusUncollectible {
		f.Ln(2)
		f.MultiCell(0, pdfLineH, d.tr(fmt.Sprintf(d.l["pay_online"], d.payURL)), "", "L", false)
	}
	if inv.Footer != "" {
		f.Ln(4)
		f.MultiCell(0, pdfLineH, d.tr(strings.ReplaceAll(inv.Footer, "\r", "")), "", "L", false)
	}
}
