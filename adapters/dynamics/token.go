package dynamics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/timeout"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/hlf/dynamicsportal/adapters/dynamics/internal/resilience"
	"github.com/hlf/dynamicsportal/ports"
)

// tokenMargin: a token this close to its expiry is replaced before a call.
const tokenMargin = 60 * time.Second

const tokenOp = "token"

// token is an access token as the cache holds it.
type token struct {
	header []string  // the Authorization header value: "Bearer …"
	expiry time.Time // zero when the endpoint gave no usable lifetime
}

// tokenFailure is a failed fetch as the cache hands it to every caller that
// waited for it. pe is shared between them: copy it before changing it.
type tokenFailure struct {
	pe    *ports.PortalError
	retry bool // worth another attempt of the call
}

func (f *tokenFailure) Error() string { return f.pe.Error() }

// tokenCache holds one access token in memory and fetches a new one when it
// is missing or within tokenMargin of its expiry. Concurrent callers share
// one fetch. A fetch runs in its own goroutine, on a context detached from
// the caller's cancellation, so one caller giving up does not fail the
// fetch for the others; each caller stops waiting when its own context
// ends.
//
// A fetch runs in a failsafe-go executor with one timeout policy, limit.
// When the limit passes, the policy's listener hands every waiting caller
// the failure at once and lets the next caller start a new fetch, even if
// the credential provider or the endpoint ignores its cancelled context and
// keeps the fetch's goroutine busy; what that fetch brings later is
// dropped.
//
// A token whose answer carried no expires_in, or a zero or negative one, has
// no known lifetime: it serves the callers that waited for that fetch and is
// never cached, so the next call fetches again. The same holds for a
// lifetime under tokenMargin.
type tokenCache struct {
	now      func() time.Time
	timeout  time.Duration
	tokenURL string
	scope    string
	creds    ports.CredentialProvider
	hc       *http.Client
	log      *slog.Logger
	tel      *telemetry // nil without providers

	cur      atomic.Pointer[token]
	mu       sync.Mutex
	inflight *tokenFetch
}

type tokenFetch struct {
	once sync.Once
	done chan struct{}
	tok  *token
	err  *tokenFailure
	span trace.Span // nil without telemetry
}

func (tc *tokenCache) fresh(t *token) bool {
	return !t.expiry.IsZero() && tc.now().Add(tokenMargin).Before(t.expiry)
}

// get returns a usable token. Its error is a *tokenFailure, or ctx's error
// when ctx ended first.
func (tc *tokenCache) get(ctx context.Context) (*token, error) {
	if t := tc.cur.Load(); t != nil && tc.fresh(t) {
		return t, nil
	}
	tc.mu.Lock()
	if t := tc.cur.Load(); t != nil && tc.fresh(t) {
		tc.mu.Unlock()
		return t, nil
	}
	f := tc.inflight
	if f == nil {
		f = &tokenFetch{done: make(chan struct{})}
		tc.inflight = f
		go tc.run(context.WithoutCancel(ctx), f)
	}
	tc.mu.Unlock()
	select {
	case <-f.done:
		if f.err != nil {
			return nil, f.err
		}
		return f.tok, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// invalidate drops t if it is still the cached token (after a 401).
func (tc *tokenCache) invalidate(t *token) { tc.cur.CompareAndSwap(t, nil) }

// run makes the fetch f within the time limit and hands its outcome to the
// callers.
func (tc *tokenCache) run(ctx context.Context, f *tokenFetch) {
	if tc.tel != nil {
		ctx, f.span = tc.tel.startToken(ctx)
	}
	limit := timeout.NewBuilder[*token](tc.timeout).
		OnTimeoutExceeded(func(failsafe.ExecutionDoneEvent[*token]) { tc.finish(f, nil, tc.timedOut()) }).
		Build()
	tok, err := failsafe.With(limit).WithContext(ctx).GetWithExecution(func(e failsafe.Execution[*token]) (*token, error) {
		tok, tf := tc.fetch(e.Context())
		if tf != nil {
			return nil, tf
		}
		return tok, nil
	})
	tf, _ := err.(*tokenFailure)
	if err != nil && tf == nil {
		tf = tc.timedOut() // timeout.ErrExceeded: finish was already called
	}
	tc.finish(f, tok, tf)
}

// finish ends the fetch f once, with its token or its failure: the first
// of the fetch itself and its time limit wins.
func (tc *tokenCache) finish(f *tokenFetch, tok *token, err *tokenFailure) {
	f.once.Do(func() {
		tc.mu.Lock()
		if err == nil && tc.fresh(tok) {
			tc.cur.Store(tok)
		}
		if tc.inflight == f {
			tc.inflight = nil
		}
		tc.mu.Unlock()
		f.tok, f.err = tok, err
		if f.span != nil {
			tc.tel.endToken(f.span, err)
		}
		close(f.done)
	})
}

// fetch asks the provider for the credentials, which live only as long as
// this call, and exchanges them for a token: a secret goes in the form's
// client_secret, an assertion in client_assertion (RFC 7523).
func (tc *tokenCache) fetch(ctx context.Context) (*token, *tokenFailure) {
	creds, err := tc.creds.Credentials(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, tc.timedOut()
		}
		return nil, &tokenFailure{pe: &ports.PortalError{Code: ports.CodeAuthFailure, Op: tokenOp, Err: err}}
	}
	if err := creds.Validate(); err != nil {
		return nil, &tokenFailure{pe: &ports.PortalError{Code: ports.CodeAuthFailure, Op: tokenOp, Err: err}}
	}
	cfg := clientcredentials.Config{
		ClientID:     creds.ClientID(),
		ClientSecret: creds.Secret(), // "" for an assertion: oauth2 then sends none
		TokenURL:     tc.tokenURL,
		Scopes:       []string{tc.scope},
		AuthStyle:    oauth2.AuthStyleInParams,
	}
	if creds.IsAssertion() {
		cfg.EndpointParams = url.Values{
			"client_assertion_type": {clientAssertionType},
			"client_assertion":      {creds.Assertion()},
		}
	}
	debug := tc.log.Enabled(ctx, slog.LevelDebug)
	var start time.Time
	if debug {
		start = time.Now()
	}
	ot, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, tc.hc))
	span := trace.SpanFromContext(ctx)
	if debug || span.IsRecording() {
		status := http.StatusOK
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok && re.Response != nil {
			status = re.Response.StatusCode
		} else if err != nil {
			status = 0
		}
		if status != 0 {
			span.SetAttributes(attrStatusCode.Int(status))
		}
		if debug {
			tc.log.LogAttrs(ctx, slog.LevelDebug, "token fetch",
				slog.String("method", http.MethodPost), slog.String("url", tc.tokenURL),
				slog.Int("status", status), slog.Duration("duration", time.Since(start)))
		}
	}
	if err != nil {
		return nil, tc.failure(ctx, err)
	}
	if !headerSafe(ot.AccessToken) {
		return nil, &tokenFailure{pe: &ports.PortalError{Code: ports.CodeInvalidResponse, Op: tokenOp,
			StatusCode: http.StatusOK, Message: "the token endpoint sent an unusable access token"}}
	}
	t := &token{header: []string{"Bearer " + ot.AccessToken}}
	if !ot.Expiry.IsZero() {
		t.expiry = tc.now().Add(time.Until(ot.Expiry))
	}
	return t, nil
}

func (tc *tokenCache) timedOut() *tokenFailure {
	return &tokenFailure{retry: true, pe: &ports.PortalError{Code: ports.CodeNetworkError, Op: tokenOp,
		Message: "no token within " + tc.timeout.String(), Err: context.DeadlineExceeded}}
}

// failure maps a failed token request. It never keeps the raw body nor
// oauth2's error text, which can hold it.
func (tc *tokenCache) failure(ctx context.Context, err error) *tokenFailure {
	if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok {
		return tokenRetrieveFailure(re)
	}
	if ctx.Err() != nil {
		return tc.timedOut() // the fetch's own context ends only at its time limit
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return &tokenFailure{retry: resilience.TransientNetworkError(ue.Err), pe: &ports.PortalError{
			Code: ports.CodeNetworkError, Op: tokenOp, Message: "token endpoint unreachable", Err: ue.Err}}
	}
	// A success that is not a token: not JSON, or no access_token.
	return &tokenFailure{pe: &ports.PortalError{Code: ports.CodeInvalidResponse, Op: tokenOp,
		StatusCode: http.StatusOK, Message: "the token endpoint's answer holds no token"}}
}

// tokenRetrieveFailure maps an error answer of the token endpoint:
// invalid_client, unauthorized_client, invalid_scope and other 4xx are
// authFailure; 429 (rateLimited), 5xx and temporarily_unavailable
// (serverError) are worth another attempt; a 3xx is invalidResponse.
func tokenRetrieveFailure(re *oauth2.RetrieveError) *tokenFailure {
	pe := &ports.PortalError{Op: tokenOp, ServiceCode: normalizeServiceCode(cleanText(re.ErrorCode, 128))}
	var status int
	if re.Response != nil {
		status = re.Response.StatusCode
		pe.StatusCode = status
		if ra := re.Response.Header.Get("Retry-After"); ra != "" {
			pe.RetryAfter, _ = resilience.ParseRetryAfter(ra, time.Now())
		}
	}
	var w wireTokenError
	if json.Unmarshal(re.Body, &w) == nil {
		pe.Message = cleanText(w.Description, maxMessage)
		pe.ServiceRequestID = cleanText(w.TraceID, maxRequestID)
	}
	retry := false
	switch {
	case re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client" || re.ErrorCode == "invalid_scope":
		pe.Code = ports.CodeAuthFailure
	case status == http.StatusTooManyRequests:
		pe.Code, retry = ports.CodeRateLimited, true
	case status >= 500 || re.ErrorCode == "temporarily_unavailable":
		pe.Code, retry = ports.CodeServerError, true
	case status >= 400 || re.ErrorCode != "":
		pe.Code = ports.CodeAuthFailure
	default:
		pe.Code = ports.CodeInvalidResponse
		if status >= 300 && status < 400 {
			pe.Message = "the token endpoint answered with a redirect, not followed"
		}
	}
	return &tokenFailure{pe: pe, retry: retry}
}

// maxTokenBody caps a token endpoint answer, as oauth2 itself does.
const maxTokenBody = 1 << 20

// tokenClient returns a copy of hc for the token endpoint whose transport
// reads each answer in full before oauth2 sees it. A body cut short then
// fails as a transport error (a networkError that is retried, like a
// truncated Web API answer) instead of inside oauth2's own read, whose
// error keeps no cause.
func tokenClient(hc *http.Client) *http.Client {
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	tc := *hc
	tc.Transport = readingTransport{next: next}
	return &tc
}

// readingTransport reads the whole answer body (up to maxTokenBody) inside
// RoundTrip.
type readingTransport struct{ next http.RoundTripper }

func (t readingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody))
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// headerSafe reports whether s can go into a header as it is: printable
// ASCII without spaces.
func headerSafe(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// clientAssertionType is the client_assertion_type of a signed JWT client
// assertion (RFC 7523).
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
