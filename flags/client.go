package flags

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"
	"github.com/open-feature/go-sdk/openfeature/multi"
)

// cleanupTimeout bounds the shutdown NewClient runs after a provider failed
// to initialize, when the caller's context may already be done.
const cleanupTimeout = 5 * time.Second

// errClosed is returned by evaluations on a closed Client.
var errClosed = errors.New("flags: client is closed")

// Client evaluates the module's flags through one provider, registered on an
// isolated OpenFeature API instance of its own. It is safe for concurrent
// use.
type Client struct {
	api    *openfeature.EvaluationAPI
	client *openfeature.Client

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// NewClient registers p on a new isolated OpenFeature API instance, waits
// until p is initialized (or ctx is done), and returns a client bound to it.
// p may be the module's own provider from [NewProvider] or any provider a
// host backend hands in (flagd, a vendor's). The global OpenFeature API is
// never touched.
//
// The client owns p from then on; [Client.Close] shuts both down. The SDK
// binds a provider to one API instance at a time, so p cannot serve a second
// client until the first is closed.
//
// If p fails to initialize, NewClient shuts the instance (and p) down and
// returns the error; the caller treats it like a flag that cannot be
// evaluated and keeps the default.
func NewClient(ctx context.Context, p openfeature.FeatureProvider) (*Client, error) {
	if p == nil {
		return nil, errors.New("flags: provider is nil")
	}
	api := isolated.NewAPI()
	if err := api.SetProviderAndWait(ctx, p); err != nil {
		// Stop the instance's event goroutines and the provider even when ctx
		// is already done; the initialization error is the one to report.
		cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		_ = api.Shutdown(cleanupCtx)
		return nil, fmt.Errorf("flags: initialize provider %q: %w", p.Metadata().Name, err)
	}
	return &Client{api: api, client: api.NewClient()}, nil
}

// PortalEnabled evaluates [PortalEnabled] with the default false. reason
// tells why the value was chosen, for the startup log line: the evaluation
// reason (STATIC, DISABLED, ERROR, ...), then the variant, the source that
// answered within the module's provider chain, and the error code and
// message when there is one, e.g. "STATIC variant=on source=env".
//
// Any evaluation error (provider not ready or fatal, flag not found, type
// mismatch, a closed client) gives false, a reason that says why, and the
// error; the caller then wires in the stub.
func (c *Client) PortalEnabled(ctx context.Context) (enabled bool, reason string, err error) {
	if c.closed.Load() {
		return PortalEnabledDefault, "ERROR client closed", errClosed
	}
	details, err := c.client.BooleanValueDetails(ctx, PortalEnabled, PortalEnabledDefault, openfeature.EvaluationContext{})
	reason = describe(details)
	if err != nil {
		return PortalEnabledDefault, reason, fmt.Errorf("flags: evaluate %q: %w", PortalEnabled, err)
	}
	return details.Value, reason, nil
}

// Close shuts the provider and the isolated API instance down and stops the
// SDK's event goroutines. ctx bounds providers that honour it. Calling Close
// again returns the first result; evaluations after Close return the
// default with an error.
func (c *Client) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		if err := c.api.Shutdown(ctx); err != nil {
			c.closeErr = fmt.Errorf("flags: shut down: %w", err)
		}
	})
	return c.closeErr
}

// describe renders why an evaluation gave its value, in one line.
func describe(d openfeature.BooleanEvaluationDetails) string {
	reason := d.Reason
	if reason == "" {
		reason = openfeature.UnknownReason
	}
	parts := []string{string(reason)}
	if d.Variant != "" {
		parts = append(parts, "variant="+d.Variant)
	}
	if source, err := d.FlagMetadata.GetString(multi.MetadataProviderName); err == nil {
		parts = append(parts, "source="+source)
	}
	if d.ErrorCode != "" {
		parts = append(parts, "error="+string(d.ErrorCode))
	}
	if d.ErrorMessage != "" {
		parts = append(parts, fmt.Sprintf("message=%q", d.ErrorMessage))
	}
	return strings.Join(parts, " ")
}
