package e2e

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hlf/dynamicsportal/adapters/dynamics"
	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/internal/pgtest"
	"github.com/hlf/dynamicsportal/ports"
)

// A portal that never answers. The command line has no setting for the
// adapter's time limits (30 s per attempt, 45 s per call), too long for a
// test, so hung Web API answers are tested on the adapter itself with
// short limits; the token endpoint's own 2 s limit is in the fault matrix.
func TestHungAnswers(t *testing.T) {
	const guard = 2 * time.Second
	for _, tt := range []struct {
		name     string
		fault    string
		timeouts dynamics.Timeouts
		call     func(ctx context.Context, p *dynamics.Client, e *dynamicstest.Emulator) error
		route    dynamicstest.Route
		code     ports.ErrorCode // CodeUnknown: success
		message  string
		attempts int
		writes   int
		// within bounds the call's duration.
		within time.Duration
	}{
		{name: "a hang once, then an answer", fault: "whoami:hang",
			timeouts: dynamics.Timeouts{Attempt: 200 * time.Millisecond, Total: guard}, call: whoAmI,
			route: dynamicstest.RouteWhoAmI, attempts: 2, within: guard},
		{name: "hangs until the retries run out", fault: "whoami:hang,times=always",
			timeouts: dynamics.Timeouts{Attempt: 100 * time.Millisecond, Total: guard}, call: whoAmI,
			route: dynamicstest.RouteWhoAmI, code: ports.CodeNetworkError, message: "attempt time limit reached", attempts: 4,
			within: guard},
		{name: "a hang longer than the call's guard", fault: "certifications:hang,times=always",
			timeouts: dynamics.Timeouts{Attempt: time.Minute, Total: 300 * time.Millisecond}, call: firstPage,
			route: dynamicstest.RouteCertifications, code: ports.CodeNetworkError, message: "no answer within 300ms", attempts: 1,
			within: time.Second},
		{name: "a hung write is not applied, and retried", fault: "patch:hang",
			timeouts: dynamics.Timeouts{Attempt: 200 * time.Millisecond, Total: guard}, call: writeFirst,
			route: dynamicstest.RoutePatch, attempts: 2, writes: 1, within: guard},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := startEmulator(t, nil)
			route, fault, err := dynamicstest.ParseFault(tt.fault)
			if err != nil {
				t.Fatal(err)
			}
			e.Inject(route, fault)
			var logs lockedBuffer
			creds := ports.CredentialProviderFunc(func(context.Context) (ports.Credentials, error) {
				return ports.NewCredentials(e.ClientID(), e.ClientSecret()), nil
			})
			p, err := dynamics.New(e.BaseURL(), creds, &dynamics.Options{Tenant: e.TenantID(), AuthorityHost: e.AuthorityHost(), Timeouts: tt.timeouts, Retry: dynamics.RetrySettings{BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}, Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err != nil {
				t.Fatal(err)
			}

			start := time.Now()
			err = tt.call(t.Context(), p, e)
			elapsed := time.Since(start)
			switch {
			case tt.code == ports.CodeUnknown && err != nil:
				t.Errorf("call: %v, want success", err)
			case tt.code != ports.CodeUnknown && (ports.CodeOf(err) != tt.code || !strings.Contains(err.Error(), tt.message)):
				t.Errorf("call: %v, want %s with %q", err, tt.code, tt.message)
			}
			if elapsed > tt.within {
				t.Errorf("the call took %s, want at most %s", elapsed, tt.within)
			}
			if got := e.Stats().Requests[tt.route]; got != tt.attempts {
				t.Errorf("%d requests on %s, want %d", got, tt.route, tt.attempts)
			}
			if got := len(e.Writes()); got != tt.writes {
				t.Errorf("%d writes applied, want %d", got, tt.writes)
			}
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			otherScan.scan(t, []*dynamicstest.Emulator{e}, nil, map[string]string{"log": logs.String(), "error": msg})
			_ = p.Close()
			if err := e.Close(); err != nil {
				t.Errorf("close emulator: %v", err)
			}
			goleak.VerifyNone(t, pgtest.IgnoreCluster())
		})
	}
}

func whoAmI(ctx context.Context, p *dynamics.Client, _ *dynamicstest.Emulator) error {
	_, err := p.WhoAmI(ctx)
	return err
}

func firstPage(ctx context.Context, p *dynamics.Client, _ *dynamicstest.Emulator) error {
	_, err := p.ListCertifications(ctx, ports.PageQuery{PageSize: pageSize})
	return err
}

func writeFirst(ctx context.Context, p *dynamics.Client, e *dynamicstest.Emulator) error {
	certs := e.Certifications()
	if len(certs) == 0 {
		return errors.New("no record to write")
	}
	m := ports.SyncMetadata{Status: ports.SyncStatusValid, LastSyncedOn: time.Now()}
	_, err := p.WriteSyncMetadata(ctx, certs[0].ID, m)
	return err
}

// The final line is last: whatever the command left running when it
// failed (a token fetch abandoned at its 2 s limit, a Web API call past
// its guard) writes nothing after the "portalsync: <code>: …" line that
// scripts read, even with debug logging. Each case runs the binary 50
// times, 25 at a time; the process's end closes its stderr, so the last
// line read is the last it wrote. The Web API's guard is scaled down with
// DYNAMICS_CALL_TIMEOUT.
func TestTheFinalLineIsLastAfterAHang(t *testing.T) {
	for _, tc := range []struct {
		name, fault string
		env         []string
	}{
		{name: "a hanging token endpoint", fault: "token:hang,times=always"},
		{name: "a hanging Web API call past its guard", fault: "whoami:hang,times=always", env: []string{"DYNAMICS_CALL_TIMEOUT=300ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEmulator(t, nil)
			route, fault, err := dynamicstest.ParseFault(tc.fault)
			if err != nil {
				t.Fatal(err)
			}
			e.Inject(route, fault)
			env := append(append(binaryEnv(e), "LOG_LEVEL=debug", "LOG_FORMAT=json"), tc.env...)
			const runs, together = 50, 25
			lasts := make([]string, runs)
			codes := make([]int, runs)
			sem := make(chan struct{}, together)
			var wg sync.WaitGroup
			for i := range runs {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; wg.Done() }()
					r := runBinary(t, env, "check")
					lasts[i], codes[i] = lastLine(r.stderr), r.code
				}()
			}
			wg.Wait()
			bad := 0
			for i := range runs {
				if codes[i] != 1 || !strings.HasPrefix(lasts[i], "portalsync: networkError: ") {
					bad++
					if bad <= 3 {
						t.Errorf("run %d: exit %d, last line %q", i+1, codes[i], lasts[i])
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d runs did not end with the networkError line", bad, runs)
			}
		})
	}
}
