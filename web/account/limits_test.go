package account

import "testing"

func TestParseMajor(t *testing.T) {
	for in, want := range map[string]int64{"50": 5000, "50.5": 5050, "25,50": 2550, " 1 ": 100, "0.01": 1} {
		if got, ok := parseMajor(in, "EUR"); !ok || int64(got) != want {
			t.Errorf("parseMajor(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "0", "-5", "1.234", "1e3", "abc", "12345678901", ".5", "1 000"} {
		if got, ok := parseMajor(in, "EUR"); ok {
			t.Errorf("parseMajor(%q) = %d, want refused", in, got)
		}
	}
}
