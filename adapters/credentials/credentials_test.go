package credentials_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hlf/dynamicsportal/adapters/credentials"
	"github.com/hlf/dynamicsportal/ports"
)

const (
	clientID = "0b6f1e2a-4c3d-4e5f-8a9b-0c1d2e3f4a5b"
	secret   = "s3cr3t~Value.With-Chars_" // a value that must never show
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestEnvReadsAtEachCall(t *testing.T) {
	env := map[string]string{credentials.EnvClientID: clientID, credentials.EnvClientSecret: secret}
	p := credentials.FromEnvLookup(envOf(env))
	c, err := p.Credentials(t.Context())
	if err != nil || c.ClientID() != clientID || c.Secret() != secret {
		t.Fatalf("Credentials = %v, %v", c, err)
	}
	env[credentials.EnvClientSecret] = "rotated"
	c, err = p.Credentials(t.Context())
	if err != nil || c.Secret() != "rotated" {
		t.Errorf("after rotation: secret %q, %v; want the rotated value", c.Secret(), err)
	}
}

func TestFromEnvUsesProcessEnvironment(t *testing.T) {
	t.Setenv(credentials.EnvClientID, clientID)
	t.Setenv(credentials.EnvClientSecret, secret)
	c, err := credentials.FromEnv().Credentials(t.Context())
	if err != nil || c.ClientID() != clientID || c.Secret() != secret {
		t.Errorf("Credentials = %v, %v", c, err)
	}
}

func TestEnvMissingOrEmpty(t *testing.T) {
	tests := []struct {
		env      map[string]string
		wantName string
		wantWord string
	}{
		{map[string]string{credentials.EnvClientSecret: secret}, credentials.EnvClientID, "not set"},
		{map[string]string{credentials.EnvClientID: "", credentials.EnvClientSecret: secret}, credentials.EnvClientID, "empty"},
		{map[string]string{credentials.EnvClientID: clientID}, credentials.EnvClientSecret, "not set"},
		{map[string]string{credentials.EnvClientID: clientID, credentials.EnvClientSecret: ""}, credentials.EnvClientSecret, "empty"},
	}
	for _, tt := range tests {
		_, err := credentials.FromEnvLookup(envOf(tt.env)).Credentials(t.Context())
		if !errors.Is(err, ports.ErrInvalidConfig) {
			t.Fatalf("env %v: err = %v, want ErrInvalidConfig", tt.env, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.wantName) || !strings.Contains(msg, tt.wantWord) {
			t.Errorf("env %v: err %q, want it to name %s and say %q", tt.env, msg, tt.wantName, tt.wantWord)
		}
		if strings.Contains(msg, secret) || strings.Contains(msg, clientID) {
			t.Errorf("error %q holds a value", msg)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFilesTrimOneLineEnding(t *testing.T) {
	tests := []struct{ content, want string }{
		{secret, secret},
		{secret + "\n", secret},
		{secret + "\r\n", secret},
		{secret + "\n\n", secret + "\n"},
		{secret + " ", secret + " "},
		{secret + "\r", secret + "\r"},
	}
	idFile := writeFile(t, "id", clientID+"\n")
	for _, tt := range tests {
		p := credentials.FromFiles(idFile, writeFile(t, "secret", tt.content))
		c, err := p.Credentials(t.Context())
		if err != nil || c.ClientID() != clientID || c.Secret() != tt.want {
			t.Errorf("content %q: got %q, %q, %v; want %q", tt.content, c.ClientID(), c.Secret(), err, tt.want)
		}
	}
}

func TestFilesReadAtEachCall(t *testing.T) {
	secretFile := writeFile(t, "secret", secret)
	p := credentials.FromFiles(writeFile(t, "id", clientID), secretFile)
	if _, err := p.Credentials(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte("rotated\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := p.Credentials(t.Context())
	if err != nil || c.Secret() != "rotated" {
		t.Errorf("after rotation: %q, %v; want the rotated value", c.Secret(), err)
	}
}

func TestFilesErrors(t *testing.T) {
	idFile := writeFile(t, "id", clientID)
	secretFile := writeFile(t, "secret", secret)
	missing := filepath.Join(t.TempDir(), "missing")
	big := writeFile(t, "big", strings.Repeat(secret, credentials.MaxFileSize/len(secret)+1))
	exact := writeFile(t, "exact", strings.Repeat("x", credentials.MaxFileSize))
	tests := []struct {
		name, idFile, secretFile, want string
	}{
		{"no id file", "", secretFile, "no file named for the client id"},
		{"no secret file", idFile, "", "no file named for the client secret"},
		{"missing id file", missing, secretFile, missing},
		{"missing secret file", idFile, missing, missing},
		{"empty id", writeFile(t, "empty", "\n"), secretFile, "client id file"},
		{"empty secret", idFile, writeFile(t, "empty", ""), "is empty"},
		{"too large", idFile, big, "larger than"},
		{"directory", idFile, t.TempDir(), "client secret file"},
	}
	for _, tt := range tests {
		_, err := credentials.FromFiles(tt.idFile, tt.secretFile).Credentials(t.Context())
		if !errors.Is(err, ports.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig mentioning %q", tt.name, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), clientID) {
			t.Errorf("%s: error %q holds a value", tt.name, err)
		}
	}
	if c, err := credentials.FromFiles(idFile, exact).Credentials(t.Context()); err != nil || len(c.Secret()) != credentials.MaxFileSize {
		t.Errorf("file of exactly MaxFileSize: %d bytes, %v", len(c.Secret()), err)
	}
}

func TestCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	env := credentials.FromEnvLookup(envOf(map[string]string{credentials.EnvClientID: clientID, credentials.EnvClientSecret: secret}))
	if _, err := env.Credentials(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Env: %v, want context.Canceled", err)
	}
	files := credentials.FromFiles(writeFile(t, "id", clientID), writeFile(t, "secret", secret))
	if _, err := files.Credentials(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Files: %v, want context.Canceled", err)
	}
}

func ExampleFromFiles() {
	dir, _ := os.MkdirTemp("", "secrets")
	defer os.RemoveAll(dir)
	_ = os.WriteFile(filepath.Join(dir, "client-id"), []byte("0b6f1e2a-4c3d-4e5f-8a9b-0c1d2e3f4a5b\n"), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "client-secret"), []byte("example-secret\n"), 0o600)

	provider := credentials.FromFiles(filepath.Join(dir, "client-id"), filepath.Join(dir, "client-secret"))
	c, err := provider.Credentials(context.Background())
	fmt.Println(c, err)
	// Output: Credentials{ClientID: 0b6f1e2a-4c3d-4e5f-8a9b-0c1d2e3f4a5b, Secret: [REDACTED]} <nil>
}

func ExampleFromEnvLookup() {
	provider := credentials.FromEnvLookup(func(key string) (string, bool) {
		return map[string]string{"AZURE_CLIENT_ID": "0b6f1e2a-4c3d-4e5f-8a9b-0c1d2e3f4a5b"}[key], key == "AZURE_CLIENT_ID"
	})
	_, err := provider.Credentials(context.Background())
	fmt.Println(err)
	// Output: invalid configuration: environment variable AZURE_CLIENT_SECRET is not set
}

func ExampleChoose() {
	env := map[string]string{
		"AZURE_CLIENT_ID":            "0b6f1e2a-4c3d-4e5f-8a9b-0c1d2e3f4a5b",
		"AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token",
	}
	lookup := func(key string) (string, bool) { v, ok := env[key]; return v, ok }
	_, kind, err := credentials.Choose(lookup, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token")
	fmt.Println(kind, err)

	env["AZURE_CLIENT_SECRET"] = "also-set"
	_, _, err = credentials.Choose(lookup, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token")
	fmt.Println(err)
	// Output:
	// federated <nil>
	// invalid configuration: AZURE_FEDERATED_TOKEN_FILE and AZURE_CLIENT_SECRET are set at once: configure one credential only
}

func ExampleFromFederatedTokenFile() {
	dir, _ := os.MkdirTemp("", "workload-identity")
	defer os.RemoveAll(dir)
	// The platform writes and rotates this file; the token here only has
	// the shape of one.
	path := filepath.Join(dir, "azure-identity-token")
	_ = os.WriteFile(path, []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl\n"), 0o600)

	lookup := func(key string) (string, bool) {
		return "0b6f1e2a-4c3d-4e5f-8a9b-0c1d2e3f4a5b", key == "AZURE_CLIENT_ID"
	}
	c, err := credentials.FromFederatedTokenFile(lookup, path).Credentials(context.Background())
	fmt.Println(c, c.IsAssertion(), err)
	// Output: Credentials{ClientID: 0b6f1e2a-4c3d-4e5f-8a9b-0c1d2e3f4a5b, Assertion: [REDACTED]} true <nil>
}
