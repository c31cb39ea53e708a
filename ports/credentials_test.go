package ports_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/hlf/dynamicsportal/ports"
)

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
