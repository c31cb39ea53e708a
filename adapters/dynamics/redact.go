package dynamics

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
)

// safeQueryKeys are the query parameters whose values the debug log shows:
// they name columns and the order, never data. Every other value,
// $skiptoken and $filter included, is shown as [REDACTED].
var safeQueryKeys = []string{"$select", "$orderby", "$top", "$count", "$expand"}

const redacted = "[REDACTED]"

// redactURL returns u for the debug log: the path as it is, every query
// value hidden unless its key is in safeQueryKeys (a bare parameter without
// "=" counts as a value), and no fragment.
func redactURL(u string) string {
	u, _, _ = strings.Cut(u, "#")
	base, query, found := strings.Cut(u, "?")
	if !found {
		return u
	}
	var b strings.Builder
	b.Grow(len(u))
	b.WriteString(base)
	b.WriteByte('?')
	for i, pair := range strings.Split(query, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		key, _, hasValue := strings.Cut(pair, "=")
		if !hasValue {
			if safeKey(pair) {
				b.WriteString(pair)
			} else {
				b.WriteString(redacted)
			}
			continue
		}
		b.WriteString(key)
		b.WriteByte('=')
		if safeKey(key) {
			b.WriteString(pair[len(key)+1:])
		} else {
			b.WriteString(redacted)
		}
	}
	return b.String()
}

func safeKey(key string) bool {
	if k, err := url.QueryUnescape(key); err == nil {
		key = k
	}
	for _, s := range safeQueryKeys {
		if key == s {
			return true
		}
	}
	return false
}

// String, GoString, Format and LogValue print a token without its value,
// as ports.Credentials does, so a token in a %v, a %#v or a log record
// shows only that it is there.
func (t token) String() string { return "token{" + redacted + "}" }

// GoString hides the token from %#v.
func (t token) GoString() string { return t.String() }

// Format hides the token from every fmt verb.
func (t token) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, t.String()) }

// LogValue hides the token from log/slog.
func (t token) LogValue() slog.Value { return slog.StringValue(t.String()) }
