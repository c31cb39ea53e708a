package dynamics

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// A token printed in any way, as a value or a pointer, shows no part of
// its value.
func TestTokenIsRedacted(t *testing.T) {
	tok := &token{header: []string{"Bearer " + tokenMarker}}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out = append(out, fmt.Sprintf(verb, tok), fmt.Sprintf(verb, *tok))
	}
	out = append(out, fmt.Sprint(tok), fmt.Sprintf("%v", []*token{tok}), fmt.Sprintf("%+v", struct{ T *token }{tok}))
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "token", tok, "value", *tok)
	out = append(out, logged.String())
	for _, s := range out {
		if strings.Contains(s, tokenMarker) || strings.Contains(s, "Bearer") {
			t.Errorf("printed token %q", s)
		}
	}
	if !strings.Contains(out[0], redacted) {
		t.Errorf("%%v of a token = %q, want it to say %s", out[0], redacted)
	}
}
