package identity

import (
	"context"
	"regexp"
	"slices"
	"testing"
)

// TestMessageTextsComplete: every message key exists in every language,
// with the same arguments.
func TestMessageTextsComplete(t *testing.T) {
	verb := regexp.MustCompile(`%\[\d\][sd]`)
	args := func(s string) []string {
		vs := verb.FindAllString(s, -1)
		slices.Sort(vs)
		return slices.Compact(vs)
	}
	for lang, texts := range messageTexts {
		for key, en := range messageTexts[LanguageEnglish] {
			s, ok := texts[key]
			if !ok {
				t.Errorf("%s: no text for %q", lang, key)
				continue
			}
			if !slices.Equal(args(s), args(en)) {
				t.Errorf("%s %q: arguments %v, English has %v", lang, key, args(s), args(en))
			}
		}
		if len(texts) != len(messageTexts[LanguageEnglish]) {
			t.Errorf("%s has %d texts, English %d", lang, len(texts), len(messageTexts[LanguageEnglish]))
		}
	}
}

func TestLanguageOf(t *testing.T) {
	for tag, want := range map[string]string{"": "en", "de": "de", "de-AT": "de", "DE_ch": "de", "en-IE": "en", "fr": "en", "deu": "en"} {
		if got := languageOf(WithLanguage(context.Background(), tag)); got != want {
			t.Errorf("languageOf(%q) = %s, want %s", tag, got, want)
		}
	}
	if got := languageOf(context.Background()); got != LanguageEnglish {
		t.Errorf("no language: %s", got)
	}
}
