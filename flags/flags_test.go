package flags

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
	"go.uber.org/goleak"
)

// The SDK starts goroutines (the event executor, the multi-provider's event
// forwarder); every test closes its clients, and nothing may be left running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// lookup returns an environment lookup over vars.
func lookup(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// writeFile writes content to a fresh file and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flags.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// newTestClient builds a client over p and closes it when the test ends.
func newTestClient(t *testing.T, p openfeature.FeatureProvider) *Client {
	t.Helper()
	c, err := NewClient(t.Context(), p)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// evaluate builds the module's provider from opts and evaluates the portal
// flag through a client over it.
func evaluate(t *testing.T, opts ProviderOptions) (bool, string) {
	t.Helper()
	p, err := NewProvider(&opts)
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	enabled, reason, err := newTestClient(t, p).PortalEnabled(t.Context())
	if err != nil {
		t.Fatalf("PortalEnabled: %v (reason %s)", err, reason)
	}
	return enabled, reason
}

// portalFile is a flags file defining the portal flag with the given state
// and default variant.
func portalFile(state, defaultVariant string) string {
	return `{"flags": {"dynamics-portal-enabled": {"state": "` + state +
		`", "variants": {"on": true, "off": false}, "defaultVariant": "` + defaultVariant + `"}}}`
}

func TestEnvVar(t *testing.T) {
	if got, want := EnvVar(PortalEnabled), "FEATURE_DYNAMICS_PORTAL_ENABLED"; got != want {
		t.Errorf("EnvVar(%q) = %q, want %q", PortalEnabled, got, want)
	}
}

func TestDefaults(t *testing.T) {
	enabled, reason := evaluate(t, ProviderOptions{LookupEnv: lookup(nil)})
	if enabled != PortalEnabledDefault || enabled {
		t.Errorf("enabled = %v, want false", enabled)
	}
	if want := "STATIC variant=off source=defaults"; reason != want {
		t.Errorf("reason = %q, want %q", reason, want)
	}
}

func TestDefaultLookupIsProcessEnvironment(t *testing.T) {
	t.Setenv(EnvVar(PortalEnabled), "true")
	enabled, reason := evaluate(t, ProviderOptions{})
	if !enabled || reason != "STATIC variant=on source=env" {
		t.Errorf("got %v, %q; want true from env", enabled, reason)
	}
}

func TestFile(t *testing.T) {
	tests := []struct {
		name       string
		content    string
		wantOn     bool
		wantReason string
	}{
		{"on", portalFile("ENABLED", "on"), true, "STATIC variant=on source=file"},
		{"off", portalFile("ENABLED", "off"), false, "STATIC variant=off source=file"},
		// memprovider answers a DISABLED flag with the caller's default and
		// the reason DISABLED, without an error; the chain stops there.
		{"disabled", portalFile("DISABLED", "on"), false, "DISABLED source=file"},
		{
			"flag absent falls through to defaults",
			`{"flags": {"other": {"state": "ENABLED", "variants": {"a": "x"}, "defaultVariant": "a"}}}`,
			false, "STATIC variant=off source=defaults",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enabled, reason := evaluate(t, ProviderOptions{File: writeFile(t, tt.content), LookupEnv: lookup(nil)})
			if enabled != tt.wantOn || reason != tt.wantReason {
				t.Errorf("got %v, %q; want %v, %q", enabled, reason, tt.wantOn, tt.wantReason)
			}
		})
	}
}

func TestFileFromTestdata(t *testing.T) {
	enabled, reason := evaluate(t, ProviderOptions{File: filepath.Join("testdata", "portal-on.json"), LookupEnv: lookup(nil)})
	if !enabled || reason != "STATIC variant=on source=file" {
		t.Errorf("got %v, %q; want true from the file", enabled, reason)
	}
}

func TestEnvOverridesFile(t *testing.T) {
	tests := []struct {
		name   string
		value  string
		file   string
		wantOn bool
	}{
		{"true beats off", "true", portalFile("ENABLED", "off"), true},
		{"false beats on", "false", portalFile("ENABLED", "on"), false},
		{"TRUE beats disabled", "TRUE", portalFile("DISABLED", "off"), true},
		{"1 beats off", "1", portalFile("ENABLED", "off"), true},
		{"0 beats on", "0", portalFile("ENABLED", "on"), false},
		{"False beats on", "False", portalFile("ENABLED", "on"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enabled, reason := evaluate(t, ProviderOptions{
				File:      writeFile(t, tt.file),
				LookupEnv: lookup(map[string]string{"FEATURE_DYNAMICS_PORTAL_ENABLED": tt.value}),
			})
			if enabled != tt.wantOn || !strings.HasSuffix(reason, "source=env") {
				t.Errorf("got %v, %q; want %v from env", enabled, reason, tt.wantOn)
			}
		})
	}
}

func TestBadEnvValue(t *testing.T) {
	for _, value := range []string{"yes", " true", "2", "on", "t"} {
		t.Run(value, func(t *testing.T) {
			p, err := NewProvider(&ProviderOptions{LookupEnv: lookup(map[string]string{"FEATURE_DYNAMICS_PORTAL_ENABLED": value})})
			if err == nil {
				t.Fatalf("NewProvider accepted %q (provider %v)", value, p)
			}
			for _, want := range []string{"FEATURE_DYNAMICS_PORTAL_ENABLED", `"` + value + `"`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %s", err, want)
				}
			}
		})
	}
}

func TestEmptyEnvValueIsNoOverride(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "on.json")
	if err := os.WriteFile(file, []byte(`{"flags": {"dynamics-portal-enabled": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := NewProvider(&ProviderOptions{File: file, LookupEnv: lookup(map[string]string{"FEATURE_DYNAMICS_PORTAL_ENABLED": ""})})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(t.Context())
	if on, reason, err := c.PortalEnabled(t.Context()); !on || err != nil || !strings.Contains(reason, "source=file") {
		t.Errorf("PortalEnabled = %v, %q, %v; want on from the file", on, reason, err)
	}
}

func TestFileUnreadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.json")
	_, err := NewProvider(&ProviderOptions{File: path, LookupEnv: lookup(nil)})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("error = %v; want a not-exist error naming %s", err, path)
	}
}

func TestFileErrors(t *testing.T) {
	const key = `"dynamics-portal-enabled"`
	flag := func(body string) string { return `{"flags": {"dynamics-portal-enabled": ` + body + `}}` }
	tests := []struct {
		name    string
		content string
		want    []string // substrings besides the file name
	}{
		{"empty", "", []string{"empty"}},
		{"blank", " \n\t", []string{"empty"}},
		{"invalid JSON", `{"flags": {`, []string{"invalid JSON"}},
		{"trailing data", `{"flags": {}} {}`, []string{"invalid JSON"}},
		{"array", `[]`, []string{"must be a JSON object"}},
		{"null", `null`, []string{"must be a JSON object"}},
		{"flags missing", `{}`, []string{`"flags" is missing`}},
		{"flags null", `{"flags": null}`, []string{`"flags": must be an object`}},
		{"flags array", `{"flags": []}`, []string{`"flags": must be an object`}},
		{"evaluators", `{"flags": {}, "$evaluators": {"x": {}}}`, []string{"$evaluators", "not supported"}},
		{"unknown top-level key", `{"flags": {}, "flagz": {}}`, []string{`unknown top-level key "flagz"`}},
		{"schema not a string", `{"$schema": 1, "flags": {}}`, []string{`"$schema": must be a string`}},
		{"top metadata object value", `{"flags": {}, "metadata": {"a": {}}}`, []string{"metadata", `"a"`}},
		{"top metadata not an object", `{"flags": {}, "metadata": "x"}`, []string{"metadata: must be an object"}},
		{"duplicate top key", `{"flags": {}, "flags": {}}`, []string{`duplicate key "flags" in the document`}},
		{"empty flag key", `{"flags": {"": {}}}`, []string{"flag key is empty"}},
		{"flag not an object", flag(`true`), []string{key, "must be an object"}},
		{"duplicate flag", `{"flags": {"dynamics-portal-enabled": {}, "dynamics-portal-enabled": {}}}`,
			[]string{`duplicate key "dynamics-portal-enabled" in "flags"`}},
		{"targeting", flag(`{"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "targeting": {"if": []}}`),
			[]string{key, "targeting rules are not supported"}},
		{"unknown flag key", flag(`{"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "comment": "x"}`),
			[]string{key, `unknown key "comment"`}},
		{"flag metadata array", flag(`{"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "metadata": {"m": []}}`),
			[]string{key, "metadata", `"m"`}},
		{"state missing", flag(`{"variants": {"on": true}, "defaultVariant": "on"}`), []string{key, `"state" is missing`}},
		{"state lower case", flag(`{"state": "enabled", "variants": {"on": true}, "defaultVariant": "on"}`),
			[]string{key, `"state" is "enabled"`}},
		{"state not a string", flag(`{"state": true, "variants": {"on": true}, "defaultVariant": "on"}`),
			[]string{key, `"state": must be a string`}},
		{"variants missing", flag(`{"state": "ENABLED", "defaultVariant": "on"}`), []string{key, `"variants" is missing`}},
		{"variants empty", flag(`{"state": "ENABLED", "variants": {}, "defaultVariant": "on"}`), []string{key, `"variants" is empty`}},
		{"variants array", flag(`{"state": "ENABLED", "variants": [true], "defaultVariant": "on"}`),
			[]string{key, `"variants": must be an object`}},
		{"duplicate variant", flag(`{"state": "ENABLED", "variants": {"on": true, "on": false}, "defaultVariant": "on"}`),
			[]string{`duplicate key "on" in "flags"."dynamics-portal-enabled"."variants"`}},
		{"default variant missing", flag(`{"state": "ENABLED", "variants": {"on": true}}`), []string{key, `"defaultVariant" is missing`}},
		{"default variant null", flag(`{"state": "ENABLED", "variants": {"on": true}, "defaultVariant": null}`),
			[]string{key, `"defaultVariant": must be a string`}},
		{"default variant not among variants", flag(`{"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "yes"}`),
			[]string{key, `"defaultVariant" "yes" is not among the variants`}},
		{"string variant for boolean flag", flag(`{"state": "ENABLED", "variants": {"on": "true"}, "defaultVariant": "on"}`),
			[]string{key, `variant "on" is a string, but the flag is boolean`}},
		{"number variant for boolean flag", flag(`{"state": "ENABLED", "variants": {"on": 1}, "defaultVariant": "on"}`),
			[]string{key, `variant "on" is a number, but the flag is boolean`}},
		{"null variant", flag(`{"state": "ENABLED", "variants": {"on": null}, "defaultVariant": "on"}`),
			[]string{key, `variant "on": null is not a value`}},
		{"array variant", `{"flags": {"other": {"state": "ENABLED", "variants": {"a": [1]}, "defaultVariant": "a"}}}`,
			[]string{`"other"`, `variant "a": arrays are not supported`}},
		{"mixed variants", `{"flags": {"other": {"state": "ENABLED", "variants": {"a": "x", "b": 2}, "defaultVariant": "a"}}}`,
			[]string{`"other"`, `variant "b" is a number, but variant "a" is a string`}},
		{"number out of range", `{"flags": {"other": {"state": "ENABLED", "variants": {"a": 1e400}, "defaultVariant": "a"}}}`,
			[]string{`"other"`, "out of range"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.content)
			p, err := NewProvider(&ProviderOptions{File: path, LookupEnv: lookup(nil)})
			if err == nil {
				t.Fatalf("NewProvider accepted %s (provider %v)", tt.content, p)
			}
			for _, want := range append([]string{path}, tt.want...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %s", err, want)
				}
			}
		})
	}
}

func TestParseFlagsFileAcceptsFlagdShapes(t *testing.T) {
	const doc = `{
	  "$schema": "https://flagd.dev/schema/v0/flags.json",
	  "metadata": {"owner": "mentors", "version": 3, "draft": false},
	  "flags": {
	    "dynamics-portal-enabled": {"state": "DISABLED", "variants": {"on": true, "off": false},
	      "defaultVariant": "off", "metadata": {"ticket": "x"}},
	    "greeting": {"state": "ENABLED", "variants": {"hi": "hello", "bye": "goodbye"}, "defaultVariant": "hi"},
	    "limit": {"state": "ENABLED", "variants": {"low": 10, "high": 2.5, "exp": 1e3}, "defaultVariant": "low"},
	    "theme": {"state": "ENABLED", "variants": {"dark": {"bg": "black", "depth": 2}}, "defaultVariant": "dark"}
	  }
	}`
	got, err := parseFlagsFile("flags.json", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	portal := got[PortalEnabled]
	if portal.Key != PortalEnabled || portal.State != memprovider.Disabled || portal.DefaultVariant != "off" ||
		portal.Variants["on"] != true || portal.Variants["off"] != false {
		t.Errorf("portal flag = %+v", portal)
	}
	if v := got["greeting"].Variants["bye"]; v != "goodbye" {
		t.Errorf("greeting bye = %#v", v)
	}
	limit := got["limit"].Variants
	if limit["low"] != int64(10) || limit["high"] != 2.5 || limit["exp"] != float64(1000) {
		t.Errorf("limit variants = %#v", limit)
	}
	theme, ok := got["theme"].Variants["dark"].(map[string]any)
	if !ok || theme["bg"] != "black" || theme["depth"] != float64(2) {
		t.Errorf("theme variant = %#v", got["theme"].Variants["dark"])
	}
	if len(got) != 4 {
		t.Errorf("got %d flags, want 4", len(got))
	}
}

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

func FuzzParseFlagsFile(f *testing.F) {
	f.Add([]byte(portalFile("ENABLED", "on")))
	f.Add([]byte(portalFile("DISABLED", "off")))
	f.Add([]byte(portalFile("ENABLED", "maybe")))
	f.Add([]byte(`{"$schema": "s", "metadata": {"a": 1}, "flags": {}}`))
	f.Add([]byte(`{"flags": {"n": {"state": "ENABLED", "variants": {"a": 1, "b": 2.5, "c": -0}, "defaultVariant": "b"}}}`))
	f.Add([]byte(`{"flags": {"o": {"state": "ENABLED", "variants": {"a": {"x": [1, {"y": null}]}}, "defaultVariant": "a"}}}`))
	f.Add([]byte(`{"flags": {"s": {"state": "ENABLED", "variants": {"a": "x"}, "defaultVariant": "a", "targeting": {}}}}`))
	f.Add([]byte(`{"flags": {"d": {}, "d": {}}}`))
	f.Add([]byte(`{"flags": {}, "$evaluators": {}}`))
	f.Add([]byte(`{"flags": {"x": {"state": "ENABLED", "variants": {"a": null}, "defaultVariant": "a"}}}`))
	f.Add([]byte(`[1, 2, {"a": 1, "a": 2}]`))
	f.Add([]byte(``))
	f.Add([]byte(`{"flags":`))
	f.Add([]byte("\xff"))

	f.Fuzz(func(t *testing.T, data []byte) {
		parsed, err := parseFlagsFile("fuzz.json", data)
		if err != nil {
			if parsed != nil {
				t.Errorf("an error came with flags: %v", parsed)
			}
			if !strings.Contains(err.Error(), `"fuzz.json"`) {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		for key, flag := range parsed {
			if key == "" || flag.Key != key {
				t.Errorf("flag %q has key %q", key, flag.Key)
			}
			if flag.State != memprovider.Enabled && flag.State != memprovider.Disabled {
				t.Errorf("flag %q has state %q", key, flag.State)
			}
			if _, ok := flag.Variants[flag.DefaultVariant]; !ok {
				t.Errorf("flag %q: default variant %q is not among %v", key, flag.DefaultVariant, flag.Variants)
			}
			if _, known := knownBoolFlags[key]; known {
				for name, value := range flag.Variants {
					if _, ok := value.(bool); !ok {
						t.Errorf("boolean flag %q has variant %q = %#v", key, name, value)
					}
				}
			}
		}
	})
}
