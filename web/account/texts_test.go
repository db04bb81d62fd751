package account

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/kassa/kassa/web"
)

// TestAccountTextsComplete: every key of the account pages' texts exists
// in every language with the same arguments, and every key the pages use
// is in the catalogue.
func TestAccountTextsComplete(t *testing.T) {
	verbRE := regexp.MustCompile(`%\[\d+\][a-z]`)
	verbs := func(s string) string {
		v := verbRE.FindAllString(s, -1)
		sort.Strings(v)
		return strings.Join(v, ",")
	}
	en := texts[web.LangEN]
	for _, l := range web.Langs {
		for key, text := range texts[l] {
			if _, ok := en[key]; !ok {
				t.Errorf("%s has %q, English does not", l, key)
			}
			if strings.TrimSpace(text) == "" {
				t.Errorf("%s %q is empty", l, key)
			}
		}
		for key, text := range en {
			got, ok := texts[l][key]
			if !ok {
				t.Errorf("%s lacks %q", l, key)
				continue
			}
			if a, b := verbs(text), verbs(got); a != b {
				t.Errorf("%s %q has arguments %s, English %s", l, key, b, a)
			}
		}
	}
	// The keys used: {{.T "key"}}, {{.HTML "key"}}, v.t("key"),
	// texts.T(l, "key") and the maps of keys in words.go.
	usedRE := regexp.MustCompile(`(?:\.T |\.HTML |\bt\(|texts\.T\([a-z]+, |:\s+)"([a-z]+\.[a-z_]+)"`)
	files, _ := filepath.Glob("*.go")
	files = append(files, "account.html")
	n := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || name == "texts.go" {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range usedRE.FindAllStringSubmatch(string(b), -1) {
			n++
			if _, ok := en[m[1]]; !ok {
				t.Errorf("%s uses %q, which the catalogue lacks", name, m[1])
			}
		}
	}
	t.Logf("%d uses of catalogue keys", n)
	if n < 80 {
		t.Errorf("found %d uses of catalogue keys; the pattern no longer finds them", n)
	}
	for done := range notices {
		if _, ok := en["done."+done]; !ok {
			t.Errorf("notice %q has no text", done)
		}
	}
}
