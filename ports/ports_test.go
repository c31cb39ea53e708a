package ports_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/ports"
)

func TestParseDate(t *testing.T) {
	d, err := ports.ParseDate("2025-03-01")
	if err != nil || d != (ports.Date{Year: 2025, Month: time.March, Day: 1}) {
		t.Fatalf("ParseDate = %+v, %v", d, err)
	}
	for _, bad := range []string{"", "2025-3-1", "01.03.2025", "2025-02-30", "2025-03-01T00:00:00Z"} {
		if _, err := ports.ParseDate(bad); err == nil || !strings.Contains(err.Error(), "YYYY-MM-DD") {
			t.Errorf("ParseDate(%q) = %v", bad, err)
		}
	}
}

func TestDateMethods(t *testing.T) {
	d := ports.DateOf(time.Date(2026, 12, 31, 23, 30, 0, 0, time.FixedZone("X", -5*3600)))
	if d != (ports.Date{Year: 2026, Month: 12, Day: 31}) || d.String() != "2026-12-31" || d.IsZero() {
		t.Errorf("DateOf = %+v (%s)", d, d)
	}
	next := d.AddDays(1)
	if next.String() != "2027-01-01" || !next.After(d) || next.Before(d) || !d.Before(next) || d.After(next) {
		t.Errorf("AddDays/Before/After: %s vs %s", next, d)
	}
	if d.AddDays(-365).String() != "2025-12-31" || d.After(d) || d.Before(d) {
		t.Errorf("AddDays(-365) = %s", d.AddDays(-365))
	}
	var zero ports.Date
	if !zero.IsZero() || zero.String() != "" {
		t.Errorf("zero Date: %v %q", zero.IsZero(), zero.String())
	}
}

func TestDateJSON(t *testing.T) {
	type rec struct {
		A ports.Date `json:"a"`
		B ports.Date `json:"b"`
	}
	b, err := json.Marshal(rec{A: ports.Date{Year: 2027, Month: 3, Day: 1}})
	if err != nil || string(b) != `{"a":"2027-03-01","b":null}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var r rec
	r.B = ports.Date{Year: 1, Month: 1, Day: 1}
	if err := json.Unmarshal([]byte(`{"a":"2025-03-01","b":null}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.A != (ports.Date{Year: 2025, Month: 3, Day: 1}) || !r.B.IsZero() {
		t.Errorf("Unmarshal = %+v", r)
	}
	for _, bad := range []string{`{"a":20250301}`, `{"a":"2025-13-01"}`, `{"a":"x"}`, `{"a":true}`} {
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("Unmarshal(%s) accepted", bad)
		}
	}
	var d ports.Date
	if err := d.UnmarshalJSON([]byte(`"`)); err == nil {
		t.Errorf("a lone quote accepted")
	}
}

const secret = "s3cr3t-VALUE-do-not-print"

func TestCredentialsNeverPrintTheSecret(t *testing.T) {
	for _, c := range []ports.Credentials{ports.NewCredentials("app-id", secret), ports.NewAssertionCredentials("app-id", secret)} {
		key := "secret"
		if c.IsAssertion() {
			key = "assertion"
		}
		t.Run(key, func(t *testing.T) { checkRedacted(t, c, key) })
	}
}

func checkRedacted(t *testing.T, c ports.Credentials, key string) {
	if c.ClientID() != "app-id" || c.Secret()+c.Assertion() != secret {
		t.Fatalf("accessors: %q", c.ClientID())
	}
	type holder struct {
		C   ports.Credentials
		Ptr *ports.Credentials
	}
	h := holder{C: c, Ptr: &c}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T", "%10.3v", "%-8s", "%t", "%e"} {
		outs = append(outs, fmt.Sprintf(verb, c), fmt.Sprintf(verb, h), fmt.Sprintf(verb, []any{c}))
	}
	outs = append(outs, fmt.Sprint(c), fmt.Sprintln(c, &c), c.String(), c.GoString())
	if !strings.Contains(c.String(), "app-id") || !strings.Contains(c.String(), "[REDACTED]") {
		t.Errorf("String() = %q", c.String())
	}

	var text, js bytes.Buffer
	for _, l := range []*slog.Logger{slog.New(slog.NewTextHandler(&text, nil)), slog.New(slog.NewJSONHandler(&js, nil))} {
		l.Info("creds", "c", c, "ptr", &c, slog.Any("any", c), slog.Group("g", "c", c))
	}
	if !strings.Contains(text.String(), "c."+key+"=[REDACTED]") || !strings.Contains(js.String(), `"client_id":"app-id"`) {
		t.Errorf("slog output:\n%s%s", text.String(), js.String())
	}
	outs = append(outs, text.String(), js.String())

	b, err := json.Marshal(h)
	if err != nil || !strings.Contains(string(b), `"clientId":"app-id","`+key+`":"[REDACTED]"`) {
		t.Errorf("JSON = %s, %v", b, err)
	}
	outs = append(outs, string(b))
	for _, o := range outs {
		if strings.Contains(o, secret) || strings.Contains(o, fmt.Sprintf("%x", secret)) {
			t.Errorf("output holds the secret: %s", o)
		}
	}
}

// %p of a non-pointer bypasses Format: fmt reports the bad verb and prints
// the struct's fields raw.
func TestCredentialsPointerVerb(t *testing.T) {
	for _, c := range []ports.Credentials{ports.NewCredentials("app-id", secret), ports.NewAssertionCredentials("app-id", secret)} {
		if out := fmt.Sprintf("%p", c); strings.Contains(out, secret) {
			t.Errorf("%%p of a value printed the secret: %s", out)
		}
		if out := fmt.Sprintf("%p", &c); strings.Contains(out, secret) {
			t.Errorf("%%p of a pointer printed the secret")
		}
	}
}

func TestCredentialsValidate(t *testing.T) {
	for _, tt := range []struct {
		c    ports.Credentials
		want string
	}{
		{ports.Credentials{}, "client id and client secret are empty"},
		{ports.NewCredentials("", ""), "client id and client secret are empty"},
		{ports.NewCredentials("", "x"), "client id is empty"},
		{ports.NewCredentials("x", ""), "client secret is empty"},
		{ports.NewAssertionCredentials("", ""), "client id and client assertion are empty"},
		{ports.NewAssertionCredentials("", "x"), "client id is empty"},
		{ports.NewAssertionCredentials("x", ""), "client assertion is empty"},
	} {
		err := tt.c.Validate()
		if !errors.Is(err, ports.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%v) = %v", tt.c, err)
		}
	}
	if err := ports.NewCredentials("x", "y").Validate(); err != nil {
		t.Errorf("valid credentials: %v", err)
	}
	if err := ports.NewAssertionCredentials("x", "a.b.c").Validate(); err != nil {
		t.Errorf("valid assertion credentials: %v", err)
	}
}

// A credential carries a secret or an assertion, never both: each accessor
// answers only for its own kind.
func TestCredentialsSecretOrAssertion(t *testing.T) {
	s := ports.NewCredentials("id", "the-secret")
	a := ports.NewAssertionCredentials("id", "the-assertion")
	if s.IsAssertion() || s.Secret() != "the-secret" || s.Assertion() != "" {
		t.Errorf("secret credentials: assertion %v, secret %q, assertion %q", s.IsAssertion(), s.Secret(), s.Assertion())
	}
	if !a.IsAssertion() || a.Assertion() != "the-assertion" || a.Secret() != "" {
		t.Errorf("assertion credentials: assertion %v, secret %q, assertion %q", a.IsAssertion(), a.Secret(), a.Assertion())
	}
}

func TestCredentialProviderFunc(t *testing.T) {
	boom := errors.New("boom")
	p := ports.CredentialProviderFunc(func(ctx context.Context) (ports.Credentials, error) {
		return ports.NewCredentials("id", "s"), boom
	})
	c, err := p.Credentials(t.Context())
	if c.ClientID() != "id" || err != boom {
		t.Errorf("Credentials() = %v, %v", c, err)
	}
}

func TestCorrelationID(t *testing.T) {
	if got := ports.CorrelationIDFrom(t.Context()); got != "" {
		t.Errorf("empty context gave %q", got)
	}
	ctx := ports.WithCorrelationID(t.Context(), "abc")
	if got := ports.CorrelationIDFrom(ctx); got != "abc" {
		t.Errorf("CorrelationIDFrom = %q", got)
	}
}

func TestPortalErrorString(t *testing.T) {
	cause := errors.New("connection refused")
	for _, tt := range []struct {
		e    *ports.PortalError
		want string
	}{
		{&ports.PortalError{}, "unknown"},
		{&ports.PortalError{Code: ports.CodeNotFound, Op: "GetCertification", StatusCode: 404, ServiceCode: "0x80040217",
			Message: "gone", CorrelationID: "c1", ServiceRequestID: "s1"},
			"notFound: GetCertification: HTTP 404 0x80040217: gone [correlation id c1, service request id s1]"},
		{&ports.PortalError{Code: ports.CodeRateLimited, Op: "WhoAmI", RetryAfter: 20 * time.Second, CorrelationID: "c2"},
			"rateLimited: WhoAmI (retry after 20s) [correlation id c2]"},
		{&ports.PortalError{Code: ports.CodeNetworkError, Op: "token", Err: cause, ServiceRequestID: "t1"},
			"networkError: token: connection refused [service request id t1]"},
		{&ports.PortalError{Code: ports.CodeAuthFailure, Message: "m", Err: cause}, "authFailure: m"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error()\n got %q\nwant %q", got, tt.want)
		}
	}
}

func TestPortalErrorIsAsCodeOf(t *testing.T) {
	cause := context.Canceled
	err := fmt.Errorf("sync: %w", &ports.PortalError{Code: ports.CodeCanceled, Op: "WhoAmI", Err: cause})
	if !errors.Is(err, ports.ErrCanceled) || !errors.Is(err, context.Canceled) || errors.Is(err, ports.ErrNotFound) {
		t.Errorf("errors.Is on %v", err)
	}
	if errors.Is(err, errors.New("canceled")) {
		t.Errorf("Is matched a plain error")
	}
	pe, ok := errors.AsType[*ports.PortalError](err)
	if !ok || pe.Op != "WhoAmI" || pe.Unwrap() != cause {
		t.Errorf("As = %+v", pe)
	}
	if ports.CodeOf(err) != ports.CodeCanceled || ports.CodeOf(io.EOF) != ports.CodeUnknown || ports.CodeOf(nil) != ports.CodeUnknown {
		t.Errorf("CodeOf")
	}
	sentinels := map[error]ports.ErrorCode{
		ports.ErrAuthFailure: ports.CodeAuthFailure, ports.ErrNotFound: ports.CodeNotFound, ports.ErrRateLimited: ports.CodeRateLimited,
		ports.ErrServerError: ports.CodeServerError, ports.ErrNetworkError: ports.CodeNetworkError,
		ports.ErrInvalidRequest: ports.CodeInvalidRequest, ports.ErrInvalidResponse: ports.CodeInvalidResponse, ports.ErrCanceled: ports.CodeCanceled,
	}
	for s, code := range sentinels {
		if ports.CodeOf(s) != code || !errors.Is(&ports.PortalError{Code: code, Message: "x"}, s) {
			t.Errorf("sentinel of %v", code)
		}
	}
}

func TestErrorCodeString(t *testing.T) {
	want := []string{"unknown", "authFailure", "notFound", "rateLimited", "serverError", "networkError", "invalidRequest", "invalidResponse", "canceled"}
	for i, w := range want {
		if got := ports.ErrorCode(i).String(); got != w {
			t.Errorf("ErrorCode(%d) = %q, want %q", i, got, w)
		}
	}
	if got := ports.ErrorCode(42).String(); got != "ErrorCode(42)" {
		t.Errorf("out of range: %q", got)
	}
	if got := ports.ErrorCode(-1).String(); got != "ErrorCode(-1)" {
		t.Errorf("negative: %q", got)
	}
}

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
		if got := ports.NormalizeServiceCode(in); got != want {
			t.Errorf("NormalizeServiceCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSyncStatus(t *testing.T) {
	want := map[ports.SyncStatus]string{0: "none", 1: "valid", 2: "expiring", 3: "expired", 4: "inactive", 5: "SyncStatus(5)", -1: "SyncStatus(-1)"}
	for s, name := range want {
		if s.String() != name {
			t.Errorf("SyncStatus(%d).String() = %q, want %q", int(s), s.String(), name)
		}
		if valid := s >= 0 && s <= 4; s.Valid() != valid {
			t.Errorf("SyncStatus(%d).Valid() = %v", int(s), s.Valid())
		}
	}
}
