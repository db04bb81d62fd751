package account

import (
	"html/template"
	"net/url"
	"strings"

	"github.com/kassa/kassa/web"
)

// recoveryFile is the recovery codes as a text file in a data: URL, for
// the page's download link: they are shown once and kept nowhere in
// clear, so the file is made from the page itself, not served later. It
// says in l what they are for.
func recoveryFile(l web.Lang, codes []string) template.URL {
	var b strings.Builder
	b.WriteString(texts.T(l, "recovery.filehead"))
	b.WriteString("\r\n\r\n")
	for _, c := range codes {
		b.WriteString(c)
		b.WriteString("\r\n")
	}
	// PathEscape leaves nothing a URL or the attribute could misread.
	return template.URL("data:text/plain;charset=utf-8," + url.PathEscape(b.String()))
}
