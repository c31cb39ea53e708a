package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
)

// The OpenTelemetry variables the command line reads itself; the exporters
// read the other OTEL_EXPORTER_OTLP_* variables (headers, timeouts, per
// signal endpoints, TLS files), and OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES name the resource.
const (
	envOTLPEndpoint = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envSDKDisabled  = "OTEL_SDK_DISABLED"
)

// flushTimeout bounds the last export when a command ends.
const flushTimeout = 10 * time.Second

// telemetry is the command's OpenTelemetry providers, and what must happen
// to them when the command ends.
type telemetry struct {
	tp       trace.TracerProvider
	mp       metric.MeterProvider
	shutdown []func(context.Context) error
}

// otelWanted reports whether the command exports over OTLP: --otel, or
// OTEL_EXPORTER_OTLP_ENDPOINT set, unless OTEL_SDK_DISABLED=true.
func otelWanted(flag bool) bool {
	if strings.EqualFold(strings.TrimSpace(os.Getenv(envSDKDisabled)), "true") {
		return false
	}
	return flag || strings.TrimSpace(os.Getenv(envOTLPEndpoint)) != ""
}

// newTelemetry builds the providers the command's module reports to:
// OTLP/HTTP traces and metrics when otlp is true, plus the extra metric
// readers (the Prometheus exporter of serve). With neither it returns
// no providers, and nothing is exported. The global providers are never
// set.
func newTelemetry(ctx context.Context, otlp bool, readers ...sdkmetric.Reader) (*telemetry, error) {
	t := &telemetry{}
	if !otlp && len(readers) == 0 {
		return t, nil
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName("portalsync"), semconv.ServiceVersion(version())),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil {
		return nil, usageError{fmt.Sprintf("OpenTelemetry resource: %v", err)}
	}
	mopts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	for _, r := range readers {
		mopts = append(mopts, sdkmetric.WithReader(r))
	}
	if otlp {
		texp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, usageError{fmt.Sprintf("OTLP trace exporter: %v", err)}
		}
		mexp, err := otlpmetrichttp.New(ctx)
		if err != nil {
			return nil, usageError{fmt.Sprintf("OTLP metric exporter: %v", err)}
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(texp), sdktrace.WithResource(res))
		t.tp = tp
		t.shutdown = append(t.shutdown, tp.Shutdown)
		mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp)))
	}
	mp := sdkmetric.NewMeterProvider(mopts...)
	t.mp = mp
	t.shutdown = append(t.shutdown, mp.Shutdown)
	return t, nil
}

// options supplies the providers to the module's fx graph.
func (t *telemetry) options() []fx.Option {
	var opts []fx.Option
	if t.tp != nil {
		opts = append(opts, fx.Supply(fx.Annotate(t.tp, fx.As(new(trace.TracerProvider)))))
	}
	if t.mp != nil {
		opts = append(opts, fx.Supply(fx.Annotate(t.mp, fx.As(new(metric.MeterProvider)))))
	}
	return opts
}

// close exports what is left and stops the providers. An export that fails
// is reported on stderr but does not change the command's outcome.
func (t *telemetry) close(ctx context.Context, e *env) {
	if len(t.shutdown) == 0 {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(sctx))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(e.stderr, "portalsync: telemetry export failed: %v\n", err)
	}
}
