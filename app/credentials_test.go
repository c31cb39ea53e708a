package app

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hlf/dynamicsportal/ports"
)

func TestNewCredentialProviderLogsTheKindOnly(t *testing.T) {
	cfg := Config{TenantID: "contoso.onmicrosoft.com", AuthorityHost: "https://login.microsoftonline.us/"}
	for _, tt := range []struct {
		env  map[string]string
		kind string
	}{
		{map[string]string{"AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/token-file-path"}, "federated"},
		{map[string]string{"AZURE_CLIENT_CERTIFICATE_PATH": "/etc/cert-file-path.pem"}, "certificate"},
		{map[string]string{"AZURE_CLIENT_SECRET": "secret-value-x"}, "secret"},
	} {
		var logs bytes.Buffer
		p, err := newCredentialProvider(cfg, slog.New(slog.NewTextHandler(&logs, nil)), func(k string) (string, bool) {
			v, ok := tt.env[k]
			return v, ok
		})
		if err != nil || p == nil {
			t.Fatalf("env %v: %v", tt.env, err)
		}
		if !strings.Contains(logs.String(), `msg="client credential" kind=`+tt.kind+"\n") {
			t.Errorf("env %v: log %q does not name the kind %q", tt.env, logs.String(), tt.kind)
		}
		for _, v := range tt.env {
			if strings.Contains(logs.String(), v) {
				t.Errorf("log %q holds the value %q", logs.String(), v)
			}
		}
	}
}

func TestNewCredentialProviderRefusesTwoKinds(t *testing.T) {
	var logs bytes.Buffer
	env := map[string]string{"AZURE_FEDERATED_TOKEN_FILE": "/t", "AZURE_CLIENT_SECRET": "secret-value-x"}
	_, err := newCredentialProvider(Config{}, slog.New(slog.NewTextHandler(&logs, nil)), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if !errors.Is(err, ports.ErrInvalidConfig) || strings.Contains(err.Error(), "secret-value-x") {
		t.Errorf("err = %v, want ErrInvalidConfig without the value", err)
	}
	if logs.Len() != 0 {
		t.Errorf("logged %q for a refused configuration", logs.String())
	}
}
