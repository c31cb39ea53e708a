package e2e

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/hlf/dynamicsportal/adapters/dynamics"
	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/adapters/memory"
	"github.com/hlf/dynamicsportal/core"
	"github.com/hlf/dynamicsportal/internal/leakscan"
	"github.com/hlf/dynamicsportal/internal/oteltest"
	"github.com/hlf/dynamicsportal/ports"
)

// TestMetricsMatchTheEmulatorsCounts runs a sync pass through the real
// adapter against the emulator with faults on the page reads, and checks
// the adapter's metrics against what the emulator counted itself.
func TestMetricsMatchTheEmulatorsCounts(t *testing.T) {
	e := startEmulator(t, nil)
	for _, spec := range []string{"certifications:503,times=2", "certifications:429,retry-after=0,times=1"} {
		route, f, err := dynamicstest.ParseFault(spec)
		if err != nil {
			t.Fatal(err)
		}
		e.Inject(route, f)
	}
	tel := oteltest.New(t)
	creds := ports.CredentialProviderFunc(func(context.Context) (ports.Credentials, error) {
		return ports.NewCredentials(e.ClientID(), e.ClientSecret()), nil
	})
	portal, err := dynamics.New(e.BaseURL(), creds, &dynamics.Options{
		Tenant: dynamicstest.DefaultTenantID, AuthorityHost: e.BaseURL(), HTTPClient: e.HTTPClient(),
		Retry:          dynamics.RetrySettings{BaseDelay: 1, MaxDelay: 1},
		TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer portal.Close()
	svc, err := core.NewSyncService(portal, memory.New(), &core.SyncOptions{PageSize: 100, TracerProvider: tel.TracerProvider, MeterProvider: tel.MeterProvider})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Run(t.Context()); err != nil {
		t.Fatal(err)
	}

	st := e.Stats()
	m := tel.Metrics(t)
	op := func(name string) attribute.KeyValue { return attribute.String("dynamics_portal.operation", name) }
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"page read attempts", m.Value(dynamics.MetricAttempts, op("ListCertifications")), float64(st.Requests[dynamicstest.RouteCertifications])},
		{"write attempts", m.Value(dynamics.MetricAttempts, op("WriteSyncMetadataBatch")) + m.Value(dynamics.MetricAttempts, op("WriteSyncMetadata")),
			float64(st.Requests[dynamicstest.RoutePatch] + st.Requests[dynamicstest.RouteBatch])},
		{"429 answers", m.Value(dynamics.MetricThrottled), float64(st.Throttled + st.Faults[dynamicstest.RouteCertifications] - 2)},
		{"page read retries", m.Value(dynamics.MetricRetries, op("ListCertifications")), float64(st.Faults[dynamicstest.RouteCertifications])},
		{"token fetches", m.Value(dynamics.MetricTokenFetches), float64(st.TokenRequests)},
		{"records written", m.Value(core.MetricWrites, attribute.String("portalsync.outcome", "written")), float64(st.TotalWrites())},
	} {
		if c.got != c.want {
			t.Errorf("%s: metrics say %v, the emulator %v", c.what, c.got, c.want)
		}
	}
	// Nothing exported holds the secret, a token or a query value.
	scan := leakscan.New()
	scan.Credentials(e.ClientID(), e.ClientSecret())
	scan.Tokens(e.IssuedTokens()...)
	scan.Text("$select", "a query")
	scan.Text("skiptoken", "a continuation")
	if hits := scan.Scan("exported telemetry", []byte(tel.Dump(t))); len(hits) > 0 || scan.TokenCount() == 0 {
		t.Errorf("leak scan of the exported telemetry (%d tokens looked for): %v", scan.TokenCount(), hits)
	}
	if st.Faults[dynamicstest.RouteCertifications] != 3 {
		t.Errorf("the emulator served %d faults, want 3: the test proves less than it says", st.Faults[dynamicstest.RouteCertifications])
	}
}
