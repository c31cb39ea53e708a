package dynamics

import "testing"

func TestNormalizeServiceCode(t *testing.T) {
	for in, want := range map[string]string{
		"0x80040217":     "0x80040217",
		"0X80040217":     "0x80040217",
		" 0x80040217 ":   "0x80040217",
		"0x1":            "0x00000001",
		"-2147220969":    "0x80040217",
		"-2147015902":    "0x80072322",
		"2147746327":     "0x80040217",
		"0":              "0x00000000",
		"":               "",
		"   ":            "",
		"invalid_client": "invalid_client",
		"0xZZ":           "0xZZ",
		"0x100000000":    "0x100000000",
		"4294967296":     "4294967296",
		"-2147483649":    "-2147483649",
		"12abc":          "12abc",
	} {
		if got := normalizeServiceCode(in); got != want {
			t.Errorf("normalizeServiceCode(%q) = %q, want %q", in, got, want)
		}
	}
}
