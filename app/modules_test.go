package app_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"

	"github.com/hlf/dynamicsportal/adapters/dynamics"
	"github.com/hlf/dynamicsportal/adapters/stub"
	"github.com/hlf/dynamicsportal/app"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/flags"
	"github.com/hlf/dynamicsportal/internal/apptest"
	"github.com/hlf/dynamicsportal/internal/oteltest"
	"github.com/hlf/dynamicsportal/internal/pgtest"
	"github.com/hlf/dynamicsportal/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Wrap(m)) }

// liveConfig is a valid configuration for the real adapter; nothing listens
// at the address, and the wiring must not call it.
var liveConfig = app.Config{BaseURL: "https://portal.invalid", TenantID: "contoso.onmicrosoft.com"}

// closeCounter is a transport that counts CloseIdleConnections calls and
// refuses every request.
type closeCounter struct{ closed atomic.Int32 }

func (c *closeCounter) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no request expected")
}
func (c *closeCounter) CloseIdleConnections() { c.closed.Add(1) }

func TestFlagOnWiresTheRealAdapter(t *testing.T) {
	tr := &closeCounter{}
	var portal ports.DynamicsPortal
	var choice app.PortalChoice
	opts, logs := apptest.Options(t, liveConfig, apptest.FlagProvider(true),
		fx.Supply(&http.Client{Transport: tr}),
		fx.Populate(&portal, &choice))
	fxtest.New(t, opts).RequireStart().RequireStop()

	if _, ok := portal.(*dynamics.Client); !ok {
		t.Fatalf("portal is %T, want *dynamics.Client", portal)
	}
	if !choice.Live || !strings.Contains(choice.Reason, "variant=on") {
		t.Errorf("choice = %+v, want live with the flag's reason", choice)
	}
	if tr.closed.Load() == 0 {
		t.Error("the adapter's connections were not released when the app stopped")
	}
	if !strings.Contains(logs.String(), "using the live adapter") || !strings.Contains(logs.String(), "reason=") {
		t.Errorf("no startup line saying which portal and why:\n%s", logs)
	}
}

func TestFlagOffWiresTheStubWithoutCredentialsOrURL(t *testing.T) {
	var portal ports.DynamicsPortal
	var choice app.PortalChoice
	var svc *core.SyncService
	opts, logs := apptest.Options(t, app.Config{}, apptest.FlagProvider(false), fx.Populate(&portal, &choice, &svc))
	fxtest.New(t, opts).RequireStart().RequireStop()

	if _, ok := portal.(*stub.Portal); !ok {
		t.Fatalf("portal is %T, want *stub.Portal", portal)
	}
	if choice.Live {
		t.Errorf("choice = %+v, want the stub", choice)
	}
	rep, err := svc.Run(t.Context())
	if err != nil || !rep.Complete || rep.Read != 0 {
		t.Errorf("sync over the stub = %+v, %v; want an empty complete pass", rep, err)
	}
	if !strings.Contains(logs.String(), "using the stub") {
		t.Errorf("no startup line saying the stub is used:\n%s", logs)
	}
}

func TestDefaultFlagIsOff(t *testing.T) {
	t.Setenv(flags.EnvVar(flags.PortalEnabled), "") // unset below
	t.Setenv(flags.EnvVar(flags.PortalEnabled), "false")
	var portal ports.DynamicsPortal
	opts, _ := apptest.Options(t, app.Config{}, nil, fx.Populate(&portal))
	fxtest.New(t, opts).RequireStart().RequireStop()
	if _, ok := portal.(*stub.Portal); !ok {
		t.Fatalf("portal is %T, want the stub by default", portal)
	}
}

func TestFlagsFileAndEnvironmentOverride(t *testing.T) {
	file := t.TempDir() + "/flags.json"
	writeFile(t, file, `{"flags": {"dynamics-portal-enabled": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`)
	cfg := liveConfig
	cfg.FlagsFile = file

	for _, tc := range []struct {
		env  string
		live bool
	}{{"", true}, {"false", false}} {
		t.Run("override="+tc.env, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv(flags.EnvVar(flags.PortalEnabled), tc.env)
			}
			var choice app.PortalChoice
			opts, _ := apptest.Options(t, cfg, nil, fx.Populate(&choice))
			fxtest.New(t, opts).RequireStart().RequireStop()
			if choice.Live != tc.live {
				t.Errorf("live = %v, want %v (%s)", choice.Live, tc.live, choice.Reason)
			}
		})
	}
}

func TestBadConfigIsRefusedAtStart(t *testing.T) {
	file := t.TempDir() + "/flags.json"
	writeFile(t, file, `{"flags": {"dynamics-portal-enabled": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "targeting": {}}}}`)
	for name, tc := range map[string]struct {
		cfg      app.Config
		provider openfeature.FeatureProvider
	}{
		"http base URL":        {app.Config{BaseURL: "http://portal.invalid", TenantID: "t"}, apptest.FlagProvider(true)},
		"missing tenant":       {app.Config{BaseURL: "https://portal.invalid"}, apptest.FlagProvider(true)},
		"http authority":       {app.Config{BaseURL: "https://portal.invalid", TenantID: "t", AuthorityHost: "http://login.invalid"}, apptest.FlagProvider(true)},
		"unsupported flags":    {app.Config{FlagsFile: file}, nil},
		"missing flags file":   {app.Config{FlagsFile: file + ".missing"}, nil},
		"bad correlation name": {app.Config{BaseURL: "https://portal.invalid", TenantID: "t", CorrelationHeader: "bad header"}, apptest.FlagProvider(true)},
	} {
		t.Run(name, func(t *testing.T) {
			opts, _ := apptest.Options(t, tc.cfg, tc.provider)
			err := fx.New(opts).Err()
			if err == nil {
				t.Fatal("the app started")
			}
			if !errors.Is(err, ports.ErrInvalidConfig) || app.ErrorName(err) != "config" {
				t.Errorf("error %v: want a configuration error", err)
			}
		})
	}
}

func TestSyncSettingsChooseTheFiles(t *testing.T) {
	dir := t.TempDir()
	settings := app.SyncSettings{CheckpointFile: dir + "/cp.json", OutFile: dir + "/out.jsonl"}
	var svc *core.SyncService
	opts, _ := apptest.Options(t, app.Config{}, apptest.FlagProvider(false), apptest.LivePortal(t), fx.Supply(settings), fx.Populate(&svc))
	app := fxtest.New(t, opts).RequireStart()
	if _, err := svc.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	app.RequireStop()
	if b, err := os.ReadFile(dir + "/out.jsonl"); err != nil || !bytes.Contains(b, []byte(apptest.CertID)) {
		t.Errorf("the output file holds %q, %v; want the pass's record", b, err)
	}
}

// The stub's empty pass would cut an existing output file to nothing and
// end the checkpoint of a live pass that was interrupted: it leaves both
// alone.
func TestTheStubLeavesTheFilesAlone(t *testing.T) {
	dir := t.TempDir()
	out, cp := dir+"/out.jsonl", dir+"/cp.json"
	for path, content := range map[string]string{out: "a record of a live pass\n", cp: `{"next":"page-2","recordsSize":0}`} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var svc *core.SyncService
	opts, logs := apptest.Options(t, app.Config{}, apptest.FlagProvider(false), fx.Supply(app.SyncSettings{CheckpointFile: cp, OutFile: out}), fx.Populate(&svc))
	app := fxtest.New(t, opts).RequireStart()
	if _, err := svc.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	app.RequireStop()
	for path, want := range map[string]string{out: "a record of a live pass\n", cp: `{"next":"page-2","recordsSize":0}`} {
		if b, err := os.ReadFile(path); string(b) != want {
			t.Errorf("%s holds %q, %v after the stub's pass; want it untouched", path, b, err)
		}
	}
	if !bytes.Contains(logs.Bytes(), []byte("leaves the store and its outputs alone")) {
		t.Errorf("logs do not say the files were left alone:\n%s", logs)
	}
}

func TestSyncSettingsRefuseUnwritableOutput(t *testing.T) {
	settings := app.SyncSettings{OutFile: t.TempDir() + "/missing/dir/out.jsonl"}
	opts, _ := apptest.Options(t, app.Config{}, apptest.FlagProvider(false), fx.Supply(settings), fx.Invoke(func(*core.SyncService) {}))
	if err := fx.New(opts).Err(); app.ErrorName(err) != "config" {
		t.Errorf("error %v: want a configuration error", err)
	}
}

// failingProvider is a flag provider whose initialization fails.
type failingProvider struct{ openfeature.FeatureProvider }

func (failingProvider) Init(openfeature.EvaluationContext) error {
	return errors.New("flag service down")
}
func (failingProvider) Shutdown() {}

func TestUnevaluableFlagFallsBackToTheStub(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	p, choice, err := app.SelectPortal(t.Context(), liveConfig, failingProvider{apptest.FlagProvider(true)}, apptest.SilentCredentials(t), nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(*stub.Portal); !ok || choice.Live {
		t.Errorf("portal %T, choice %+v: want the stub", p, choice)
	}
	if !strings.Contains(logs.String(), "flag service down") {
		t.Errorf("the log does not say why the flag could not be evaluated:\n%s", logs.String())
	}
}

func TestHostProvidersReachTheSyncPass(t *testing.T) {
	tel := oteltest.New(t)
	var svc *core.SyncService
	opts, _ := apptest.Options(t, app.Config{}, apptest.FlagProvider(false),
		fx.Supply(fx.Annotate(tel.TracerProvider, fx.As(new(trace.TracerProvider)))),
		fx.Supply(fx.Annotate(tel.MeterProvider, fx.As(new(metric.MeterProvider)))),
		fx.Populate(&svc))
	fxtest.New(t, opts).RequireStart().RequireStop()
	if _, err := svc.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(tel.Named(core.SpanPass)); n != 1 {
		t.Errorf("%d pass spans reached the host's provider, want 1", n)
	}
	if got := tel.Metrics(t).Value(core.MetricPasses); got != 1 {
		t.Errorf("%s = %v at the host's provider, want 1", core.MetricPasses, got)
	}
}

func TestWithoutProvidersTheGlobalOnesAreNotUsed(t *testing.T) {
	tel := oteltest.New(t)
	prevTP, prevMP := otel.GetTracerProvider(), otel.GetMeterProvider()
	otel.SetTracerProvider(tel.TracerProvider)
	otel.SetMeterProvider(tel.MeterProvider)
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetMeterProvider(prevMP) })

	var svc *core.SyncService
	opts, _ := apptest.Options(t, app.Config{}, apptest.FlagProvider(false), fx.Populate(&svc))
	fxtest.New(t, opts).RequireStart().RequireStop()
	if _, err := svc.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(tel.Spans()); n != 0 {
		t.Errorf("%d spans reached the global provider, want none", n)
	}
	if ms := tel.Metrics(t); len(ms) != 0 {
		t.Errorf("metrics reached the global provider: %v", ms)
	}
}

// cannedPortal answers the token endpoint and WhoAmI with fixed bodies.
type cannedPortal struct{}

func (cannedPortal) RoundTrip(r *http.Request) (*http.Response, error) {
	body := `{"BusinessUnitId":"5a2f3c1e-8b7d-4e6f-9a0b-1c2d3e4f5a6b","UserId":"7e6d5c4b-3a29-4180-9f8e-7d6c5b4a3928","OrganizationId":"0f1e2d3c-4b5a-4697-8877-665544332211"}`
	if strings.HasSuffix(r.URL.Path, "/token") {
		body = `{"token_type":"Bearer","expires_in":3599,"access_token":"canned"}`
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
}

func TestHostProvidersReachTheAdapter(t *testing.T) {
	tel := oteltest.New(t)
	var portal ports.DynamicsPortal
	creds := ports.CredentialProviderFunc(func(context.Context) (ports.Credentials, error) {
		return ports.NewCredentials("4c7e9a1b-2d3f-4a5b-8c6d-0e1f2a3b4c5d", "s3cret"), nil
	})
	opts := fx.Options(
		fx.Supply(liveConfig, slog.New(slog.DiscardHandler)),
		app.Module,
		fx.Decorate(func() ports.CredentialProvider { return creds }),
		fx.Supply(fx.Annotate(apptest.FlagProvider(true), fx.As(new(openfeature.FeatureProvider)))),
		fx.Supply(&http.Client{Transport: cannedPortal{}}),
		fx.Supply(fx.Annotate(tel.TracerProvider, fx.As(new(trace.TracerProvider)))),
		fx.Supply(fx.Annotate(tel.MeterProvider, fx.As(new(metric.MeterProvider)))),
		fx.Populate(&portal))
	app := fxtest.New(t, opts).RequireStart()
	defer app.RequireStop()
	if _, err := portal.WhoAmI(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(tel.Named(dynamics.SpanCallPrefix + "WhoAmI")); n != 1 {
		t.Errorf("%d WhoAmI spans reached the host's provider, want 1", n)
	}
	if got := tel.Metrics(t).Value(dynamics.MetricTokenFetches); got != 1 {
		t.Errorf("%s = %v at the host's provider, want 1", dynamics.MetricTokenFetches, got)
	}
}
