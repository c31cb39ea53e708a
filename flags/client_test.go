package flags

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"go.uber.org/goleak"
)

// fakeProvider is a host provider whose lifecycle and answer a test sets.
type fakeProvider struct {
	openfeature.NoopProvider
	result      openfeature.BoolResolutionDetail
	initErr     error
	release     chan struct{} // when set, initialization waits for it (or ctx)
	shutdownErr error
	shutdowns   atomic.Int32
}

var _ openfeature.ContextAwareStateHandler = (*fakeProvider)(nil)

func (f *fakeProvider) Metadata() openfeature.Metadata { return openfeature.Metadata{Name: "fake"} }

func (f *fakeProvider) BooleanEvaluation(context.Context, string, bool, openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	return f.result
}

func (f *fakeProvider) Init(openfeature.EvaluationContext) error {
	return f.InitWithContext(context.Background(), openfeature.EvaluationContext{})
}

func (f *fakeProvider) InitWithContext(ctx context.Context, _ openfeature.EvaluationContext) error {
	if f.release != nil {
		select {
		case <-f.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return f.initErr
}

func (f *fakeProvider) Shutdown() { _ = f.ShutdownWithContext(context.Background()) }

func (f *fakeProvider) ShutdownWithContext(context.Context) error {
	f.shutdowns.Add(1)
	return f.shutdownErr
}

func TestHostProviderIsHonoured(t *testing.T) {
	host := memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		PortalEnabled: {
			Key: PortalEnabled, State: memprovider.Enabled, DefaultVariant: "live",
			Variants: map[string]any{"live": true, "stub": false},
		},
	})
	enabled, reason, err := newTestClient(t, host).PortalEnabled(t.Context())
	if err != nil || !enabled || reason != "STATIC variant=live" {
		t.Errorf("got %v, %q, %v; want true, STATIC variant=live, nil", enabled, reason, err)
	}
}

func TestEvaluationErrorsGiveFalse(t *testing.T) {
	tests := []struct {
		name       string
		provider   openfeature.FeatureProvider
		wantReason string
	}{
		{
			"flag not found",
			memprovider.NewInMemoryProvider(nil),
			`ERROR error=FLAG_NOT_FOUND message="flag for key dynamics-portal-enabled not found"`,
		},
		{
			"type mismatch",
			memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
				PortalEnabled: {Key: PortalEnabled, State: memprovider.Enabled, DefaultVariant: "on", Variants: map[string]any{"on": "yes"}},
			}),
			`ERROR variant=on error=TYPE_MISMATCH message="incorrect type association"`,
		},
		{
			"provider error with a true value",
			&fakeProvider{result: openfeature.BoolResolutionDetail{
				Value:                    true,
				ProviderResolutionDetail: openfeature.ProviderResolutionDetail{ResolutionError: openfeature.NewGeneralResolutionError("backend down")},
			}},
			`ERROR error=GENERAL message="backend down"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enabled, reason, err := newTestClient(t, tt.provider).PortalEnabled(t.Context())
			if enabled || err == nil || reason != tt.wantReason {
				t.Errorf("got %v, %q, %v; want false, %q and an error", enabled, reason, err, tt.wantReason)
			}
		})
	}
}

func TestReasonUnknownWhenProviderGivesNone(t *testing.T) {
	p := &fakeProvider{result: openfeature.BoolResolutionDetail{Value: true}}
	enabled, reason, err := newTestClient(t, p).PortalEnabled(t.Context())
	if err != nil || !enabled || reason != "UNKNOWN" {
		t.Errorf("got %v, %q, %v; want true, UNKNOWN, nil", enabled, reason, err)
	}
}

func TestProviderNotReady(t *testing.T) {
	// NewClient waits for readiness, so register the provider without waiting
	// to see what an evaluation gives before the provider is ready.
	api := isolated.NewAPI()
	p := &fakeProvider{release: make(chan struct{}), result: openfeature.BoolResolutionDetail{Value: true}}
	if err := api.SetProvider(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	c := &Client{api: api, client: api.NewClient()}
	enabled, reason, err := c.PortalEnabled(t.Context())
	close(p.release)
	if closeErr := c.Close(context.Background()); closeErr != nil {
		t.Error(closeErr)
	}
	if enabled || !errors.Is(err, openfeature.ProviderNotReadyError) ||
		reason != `ERROR error=PROVIDER_NOT_READY message="provider not yet initialized"` {
		t.Errorf("got %v, %q, %v; want false and PROVIDER_NOT_READY", enabled, reason, err)
	}
}

func TestNewClientInitFailure(t *testing.T) {
	p := &fakeProvider{initErr: errors.New("cannot reach flag service")}
	c, err := NewClient(t.Context(), p)
	if c != nil || err == nil || !strings.Contains(err.Error(), "cannot reach flag service") || !strings.Contains(err.Error(), `"fake"`) {
		t.Fatalf("got %v, %v; want no client and the init error naming the provider", c, err)
	}
	if n := p.shutdowns.Load(); n != 1 {
		t.Errorf("provider shut down %d times, want 1", n)
	}
}

func TestNewClientContextDone(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	c, err := NewClient(ctx, &fakeProvider{release: make(chan struct{})})
	if c != nil || !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, %v; want no client and context.Canceled", c, err)
	}
}

func TestNewClientNilProvider(t *testing.T) {
	if c, err := NewClient(t.Context(), nil); c != nil || err == nil {
		t.Errorf("got %v, %v; want an error", c, err)
	}
}

func TestIsolation(t *testing.T) {
	globalBefore := openfeature.ProviderMetadata().Name

	on, err := NewProvider(&ProviderOptions{LookupEnv: lookup(map[string]string{"FEATURE_DYNAMICS_PORTAL_ENABLED": "1"})})
	if err != nil {
		t.Fatal(err)
	}
	off := memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{PortalEnabled: boolFlag(PortalEnabled, false)})
	a, b := newTestClient(t, on), newTestClient(t, off)

	for range 3 {
		if got, _, err := a.PortalEnabled(t.Context()); !got || err != nil {
			t.Errorf("client a = %v, %v; want true", got, err)
		}
		if got, _, err := b.PortalEnabled(t.Context()); got || err != nil {
			t.Errorf("client b = %v, %v; want false", got, err)
		}
	}
	if got := openfeature.ProviderMetadata().Name; got != globalBefore || got != "NoopProvider" {
		t.Errorf("global provider is %q (was %q); want the untouched NoopProvider", got, globalBefore)
	}
}

func TestProviderServesOneClientAtATime(t *testing.T) {
	p := memprovider.NewInMemoryProvider(nil)
	first, err := NewClient(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := NewClient(t.Context(), p); err == nil {
		_ = c.Close(context.Background())
		t.Fatal("a provider bound to an open client served a second one")
	}
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := newTestClient(t, p)
	if _, reason, _ := second.PortalEnabled(t.Context()); !strings.Contains(reason, "FLAG_NOT_FOUND") {
		t.Errorf("reason = %q; want FLAG_NOT_FOUND from the empty provider", reason)
	}
}

func TestCloseStopsGoroutinesAndIsFinal(t *testing.T) {
	p, err := NewProvider(&ProviderOptions{File: writeFile(t, portalFile("ENABLED", "on")), LookupEnv: lookup(nil)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t)

	if err := c.Close(t.Context()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	enabled, reason, err := c.PortalEnabled(t.Context())
	if enabled || !errors.Is(err, errClosed) || reason != "ERROR client closed" {
		t.Errorf("after Close: %v, %q, %v; want false and errClosed", enabled, reason, err)
	}
}

func TestCloseReportsProviderShutdownError(t *testing.T) {
	p := &fakeProvider{shutdownErr: errors.New("flush failed")}
	c, err := NewClient(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Close(t.Context())
	if err == nil || !strings.Contains(err.Error(), "flush failed") {
		t.Errorf("Close = %v; want the provider's shutdown error", err)
	}
	if again := c.Close(t.Context()); again != err {
		t.Errorf("second Close = %v; want the first result %v", again, err)
	}
}
