package credentials

import (
	"errors"
	"strings"
	"testing"

	"github.com/hlf/dynamicsportal/ports"
)

func TestChoose(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want Kind
	}{
		{map[string]string{EnvFederatedTokenFile: "/var/run/token"}, KindFederated},
		{map[string]string{EnvClientCertificatePath: "/etc/cert.pem"}, KindCertificate},
		{map[string]string{EnvClientSecret: "s"}, KindSecret},
		{map[string]string{}, KindSecret},
		// A variable set to "" counts as not set.
		{map[string]string{EnvFederatedTokenFile: "", EnvClientCertificatePath: "/etc/cert.pem", EnvClientSecret: "", EnvClientCertificatePassword: ""}, KindCertificate},
	} {
		p, kind, err := Choose(lookupOf(tt.env), testAudience)
		if err != nil || kind != tt.want {
			t.Errorf("env %v: kind %q, %v; want %q", tt.env, kind, err, tt.want)
			continue
		}
		var ok bool
		switch kind {
		case KindFederated:
			_, ok = p.(*FederatedToken)
		case KindCertificate:
			var c *Certificate
			c, ok = p.(*Certificate)
			ok = ok && c.audience == testAudience && c.path == "/etc/cert.pem"
		case KindSecret:
			_, ok = p.(*Env)
		}
		if !ok {
			t.Errorf("env %v: provider %T does not match kind %q", tt.env, p, kind)
		}
	}
}

func TestChooseRefusesTwoKindsAndPasswords(t *testing.T) {
	const password = "pfx-password-value"
	for _, tt := range []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{EnvFederatedTokenFile: "/t", EnvClientSecret: "s3cr3t"}, []string{EnvFederatedTokenFile, EnvClientSecret, "one credential"}},
		{map[string]string{EnvClientCertificatePath: "/c", EnvClientSecret: "s3cr3t"}, []string{EnvClientCertificatePath, EnvClientSecret}},
		{map[string]string{EnvFederatedTokenFile: "/t", EnvClientCertificatePath: "/c"}, []string{EnvFederatedTokenFile, EnvClientCertificatePath}},
		{map[string]string{EnvFederatedTokenFile: "/t", EnvClientCertificatePath: "/c", EnvClientSecret: "s3cr3t"}, []string{EnvFederatedTokenFile, EnvClientCertificatePath, EnvClientSecret}},
		{map[string]string{EnvClientCertificatePath: "/c", EnvClientCertificatePassword: password}, []string{EnvClientCertificatePassword, "not supported"}},
	} {
		p, _, err := Choose(lookupOf(tt.env), testAudience)
		if p != nil || !errors.Is(err, ports.ErrInvalidConfig) {
			t.Errorf("env %v: %v, %v; want ErrInvalidConfig", tt.env, p, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("env %v: error %q does not say %q", tt.env, err, w)
			}
		}
		if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), password) {
			t.Errorf("error %q holds a value", err)
		}
	}
}
