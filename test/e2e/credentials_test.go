package e2e

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/ports"
)

var (
	certMu     sync.Mutex
	clientCert *dynamicstest.ClientCertificate
)

// sharedClientCert returns the tests' client certificate, made on first
// use (an RSA key takes a moment).
func sharedClientCert(t *testing.T) *dynamicstest.ClientCertificate {
	t.Helper()
	certMu.Lock()
	defer certMu.Unlock()
	if clientCert == nil {
		c, err := dynamicstest.NewClientCertificate()
		if err != nil {
			t.Fatal(err)
		}
		clientCert = c
	}
	return clientCert
}

// madeClientCert returns the tests' client certificate, or nil when no
// test made it yet.
func madeClientCert() *dynamicstest.ClientCertificate {
	certMu.Lock()
	defer certMu.Unlock()
	return clientCert
}

// The kinds of credential, as the startup log names them.
var credentialKinds = []string{"secret", "certificate", "federated"}

// startTrustingCertificate starts an emulator that also trusts the tests'
// client certificate; mod may change the options further.
func startTrustingCertificate(t *testing.T, mod func(*dynamicstest.Options)) *dynamicstest.Emulator {
	t.Helper()
	cc := sharedClientCert(t)
	return startEmulator(t, func(o *dynamicstest.Options) {
		o.ClientCertificates = []*dynamicstest.ClientCertificate{cc}
		if mod != nil {
			mod(o)
		}
	})
}

// credentialEnv is the environment of portalsync for e with a credential
// of kind: the client secret, the certificate's PEM file or a federated
// token file (fed, or a valid token when empty), in a directory of their
// own.
func credentialEnv(t *testing.T, e *dynamicstest.Emulator, kind, fed string) []string {
	t.Helper()
	env := binaryEnv(e)
	if kind == "secret" {
		return env
	}
	env = withoutVar(env, "AZURE_CLIENT_SECRET")
	dir := t.TempDir()
	switch kind {
	case "certificate":
		env = append(env, "AZURE_CLIENT_CERTIFICATE_PATH="+writeFile(t, dir, "client.pem", string(sharedClientCert(t).PEM())))
	case "federated":
		if fed == "" {
			fed = e.FederatedToken(dynamicstest.FederatedTokenOptions{})
		}
		env = append(env, "AZURE_FEDERATED_TOKEN_FILE="+writeFile(t, dir, "azure-identity-token", fed+"\n"))
	default:
		t.Fatalf("unknown kind %q", kind)
	}
	return env
}

// checkAssertionsSent checks that e received n client assertions for an
// assertion kind, and none for the secret.
func checkAssertionsSent(t *testing.T, e *dynamicstest.Emulator, kind string, n int) {
	t.Helper()
	if kind == "secret" {
		n = 0
	}
	if got := len(e.ReceivedAssertions()); got != n {
		t.Errorf("the token endpoint received %d client assertions, want %d", got, n)
	}
}

// Each kind of credential works through `portalsync check` and `sync`
// against the emulator: the startup log names the kind (never a value),
// one token is fetched, and no output holds the secret, an assertion, the
// private key or a token.
func TestEachCredentialThroughCheckAndSync(t *testing.T) {
	for _, kind := range credentialKinds {
		t.Run(kind, func(t *testing.T) {
			t.Run("check", func(t *testing.T) {
				e := startTrustingCertificate(t, nil)
				r := runBinary(t, credentialEnv(t, e, kind, ""), "check")
				r.wantExit(t, 0, "")
				var id ports.Identity
				if err := json.Unmarshal([]byte(r.stdout), &id); err != nil || id != e.Identity() {
					t.Errorf("stdout %q (%v), want the identity %+v", r.stdout, err, e.Identity())
				}
				if !strings.Contains(r.stderr, `msg="client credential" kind=`+kind+"\n") {
					t.Errorf("stderr does not name the credential kind %q:\n%s", kind, r.stderr)
				}
				if s := e.Stats(); s.TokenRequests != 1 || s.TokensIssued != 1 {
					t.Errorf("token requests %d, issued %d; want 1, 1", s.TokenRequests, s.TokensIssued)
				}
				checkAssertionsSent(t, e, kind, 1)
				scanRun(t, e, r)
			})
			t.Run("sync", func(t *testing.T) {
				e := startTrustingCertificate(t, nil)
				x := expect(e.Certifications(), time.UTC, pageSize)
				dir := t.TempDir()
				r := runBinary(t, credentialEnv(t, e, kind, ""), "sync", "--page-size", "3",
					"--out", filepath.Join(dir, "records.jsonl"), "--checkpoint", filepath.Join(dir, "checkpoint.json"))
				r.wantExit(t, 0, "")
				checkComplete(t, parseReport(t, r.stdout), x, 0)
				if n := checkWrites(t, e, x, false); n != len(x.needs) {
					t.Errorf("%d writes, want %d", n, len(x.needs))
				}
				if s := e.Stats(); s.TokenRequests != 1 {
					t.Errorf("token requests %d, want 1 for the whole pass", s.TokenRequests)
				}
				checkAssertionsSent(t, e, kind, 1)
				scanRun(t, e, r, dir)
			})
		})
	}
}

// An assertion the token endpoint refuses (expired, for another audience
// or subject, signed by an unregistered certificate) ends the command at
// once with authFailure and the AADSTS code: one token request, no retry,
// no Web API call.
func TestRefusedAssertionsFailAtOnce(t *testing.T) {
	for _, tt := range []struct {
		name, kind string
		fed        dynamicstest.FederatedTokenOptions
		mod        func(*dynamicstest.Options)
		cert       bool // the emulator trusts the client certificate
		command    string
		aadsts     int
	}{
		{name: "federated token expired", kind: "federated", fed: dynamicstest.FederatedTokenOptions{Lifetime: -time.Minute}, command: "check", aadsts: 700024},
		{name: "federated token expired, sync", kind: "federated", fed: dynamicstest.FederatedTokenOptions{Lifetime: -time.Minute}, command: "sync", aadsts: 700024},
		{name: "federated token for another audience", kind: "federated", fed: dynamicstest.FederatedTokenOptions{Audience: "api://another-audience"}, command: "check", aadsts: 700212},
		{name: "federated token of another subject", kind: "federated", fed: dynamicstest.FederatedTokenOptions{Subject: "system:serviceaccount:other:app"}, command: "sync", aadsts: 70021},
		// The portal's clock is an hour ahead: the five-minute assertion
		// has expired when it arrives.
		{name: "certificate assertion expired", kind: "certificate", cert: true, command: "check", aadsts: 700024,
			mod: func(o *dynamicstest.Options) { o.Now = func() time.Time { return time.Now().Add(time.Hour) } }},
		{name: "certificate not registered", kind: "certificate", command: "check", aadsts: 700027},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var e *dynamicstest.Emulator
			if tt.cert {
				e = startTrustingCertificate(t, tt.mod)
			} else {
				e = startEmulator(t, tt.mod)
			}
			fed := ""
			if tt.kind == "federated" {
				fed = e.FederatedToken(tt.fed)
			}
			r := runBinary(t, credentialEnv(t, e, tt.kind, fed), tt.command)
			r.wantExit(t, 1, "authFailure")
			if !strings.Contains(lastLine(r.stderr), "AADSTS"+strconv.Itoa(tt.aadsts)+":") {
				t.Errorf("last stderr line %q does not give AADSTS%d", lastLine(r.stderr), tt.aadsts)
			}
			s := e.Stats()
			if s.TokenRequests != 1 || s.TokensIssued != 0 || s.Requests[dynamicstest.RouteWhoAmI]+s.Requests[dynamicstest.RouteCertifications] != 0 {
				t.Errorf("token requests %d, issued %d, Web API requests %v; want one refused token request and nothing else",
					s.TokenRequests, s.TokensIssued, s.Requests)
			}
			checkAssertionsSent(t, e, tt.kind, 1)
			scanRun(t, e, r)
		})
	}
}
