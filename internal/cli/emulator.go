package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/open-feature/go-sdk/openfeature"
	"go.uber.org/fx"

	"github.com/hlf/dynamicsportal/adapters/dynamics/dynamicstest"
	"github.com/hlf/dynamicsportal/app"
	"github.com/hlf/dynamicsportal/flags"
	"github.com/hlf/dynamicsportal/ports"
)

// emulatorOptions are the flags of the emulator command.
type emulatorOptions struct {
	addr            string
	public          bool
	seed            int64
	certifications  int
	tokenLifetime   time.Duration
	limitRequests   int
	limitWindow     time.Duration
	limitConcurrent int
	limitExecution  time.Duration
	operationCost   time.Duration
	batchPerPart    bool
	dopHint         int
	faults          faultList
	credential      string
}

// faultList collects repeated --fault flags.
type faultList []string

func (f *faultList) String() string     { return strings.Join(*f, " ") }
func (f *faultList) Set(s string) error { *f = append(*f, s); return nil }

func emulatorFlags(fs *flag.FlagSet, e *env) {
	o := &e.emulator
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8443", "address to listen on; loopback only unless --public")
	fs.BoolVar(&o.public, "public", false, "allow a non-loopback --addr: anyone who reaches it gets tokens with the emulator's fixed, published credentials")
	fs.Int64Var(&o.seed, "seed", 1, "seed of the generated data")
	fs.IntVar(&o.certifications, "certifications", dynamicstest.DefaultCertifications, "number of certifications to seed")
	fs.DurationVar(&o.tokenLifetime, "token-lifetime", dynamicstest.DefaultTokenLifetime, "lifetime of issued tokens")
	fs.IntVar(&o.limitRequests, "limit-requests", 0, "service protection: requests per window and user (0: off)")
	fs.DurationVar(&o.limitWindow, "limit-window", 300*time.Second, "service protection: the sliding window")
	fs.IntVar(&o.limitConcurrent, "limit-concurrent", 0, "service protection: concurrent requests per user (0: off)")
	fs.DurationVar(&o.limitExecution, "limit-execution", 0, "service protection: execution time per window and user (0: off)")
	fs.DurationVar(&o.operationCost, "operation-cost", 0, "execution time charged per operation, a $batch part being one (0: the time measured)")
	fs.BoolVar(&o.batchPerPart, "batch-per-part", false, "count a $batch as one request per part against --limit-requests (default: one request)")
	fs.IntVar(&o.dopHint, "dop-hint", 0, "x-ms-dop-hint sent on responses (0: none)")
	fs.StringVar(&o.credential, "credential", "secret", "the credential of the printed environment: secret, certificate (a PEM file the emulator writes and trusts) or federated (a token file the emulator writes and renews)")
	fs.Var(&o.faults, "fault", "inject a fault, repeatable (syntax in the emulator package documentation), e.g. certifications:503,503")
	fs.StringVar(&e.settings.logLevel, "log-level", "", "debug logs every request (env "+app.EnvLogLevel+")")
	fs.StringVar(&e.settings.logFormat, "log-format", "", "text or json (env "+app.EnvLogFormat+")")
}

func runEmulator(ctx context.Context, e *env, _ []string) error {
	cfg, err := e.settings.config()
	if err != nil {
		return err
	}
	o := e.emulator
	logger := app.NewLogger(cfg, e.stderr)
	if !isLoopback(o.addr) {
		if !o.public {
			return usageError{fmt.Sprintf("--addr %q is not a loopback address: the emulator's credentials are fixed and published; add --public to listen there anyway", o.addr)}
		}
		logger.Warn("the emulator listens beyond loopback: anyone who reaches it gets tokens with its fixed, published credentials",
			slog.String("addr", o.addr))
	}
	opts := dynamicstest.Options{
		Addr:           o.addr,
		Seed:           o.seed,
		Certifications: o.certifications,
		TokenLifetime:  o.tokenLifetime,
		Limits: dynamicstest.Limits{Requests: o.limitRequests, Window: o.limitWindow, Concurrent: o.limitConcurrent,
			ExecutionTime: o.limitExecution, OperationCost: o.operationCost, BatchPerPart: o.batchPerPart},
		DOPHint: o.dopHint,
		Logger:  logger,
	}
	switch o.credential {
	case "secret", "federated":
	case "certificate":
		cc, err := dynamicstest.NewClientCertificate()
		if err != nil {
			return fmt.Errorf("emulator: client certificate: %w", err)
		}
		opts.ClientCertificates = []*dynamicstest.ClientCertificate{cc}
	default:
		return usageError{fmt.Sprintf("--credential %q: want secret, certificate or federated", o.credential)}
	}
	type injection struct {
		route dynamicstest.Route
		fault dynamicstest.Fault
	}
	var faults []injection
	for _, spec := range o.faults {
		r, f, err := dynamicstest.ParseFault(spec)
		if err != nil {
			return usageError{fmt.Sprintf("--fault %q: %v", spec, err)}
		}
		faults = append(faults, injection{r, f})
	}
	em, err := dynamicstest.Start(&opts)
	if err != nil {
		return usageError{fmt.Sprintf("start the emulator: %v", err)}
	}
	defer em.Close()
	for _, f := range faults {
		em.Inject(f.route, f.fault)
	}
	credLine, err := emulatorCredential(ctx, em, o.credential, opts.ClientCertificates)
	if err != nil {
		return err
	}
	for _, line := range em.Env() {
		if strings.HasPrefix(line, "AZURE_CLIENT_SECRET=") {
			line = credLine
		}
		fmt.Fprintln(e.stdout, line)
	}
	fmt.Fprintf(e.stderr, "portal emulator serving %s with %d certifications; interrupt to stop\n", em.BaseURL(), o.certifications)
	<-ctx.Done()
	return nil
}

// isLoopback reports whether addr (host:port) names a loopback address:
// localhost or a loopback IP. An empty host means every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// The demo's roster, and its default page size: small enough that the pass
// shows several pages.
const (
	demoCertifications = 300
	demoPageSize       = 100
)

func runDemo(ctx context.Context, e *env, _ []string) error {
	cfg, err := e.settings.config()
	if err != nil {
		return err
	}
	em, err := dynamicstest.Start(&dynamicstest.Options{Certifications: demoCertifications, Seed: 1})
	if err != nil {
		return err
	}
	defer em.Close()
	fmt.Fprintf(e.stderr, "demo: portal emulator at %s with %d certifications; running one sync pass through the live adapter\n",
		em.BaseURL(), demoCertifications)

	cfg.BaseURL, cfg.TenantID, cfg.AuthorityHost = em.BaseURL(), em.TenantID(), em.AuthorityHost()
	if e.sync.pageSize == 0 {
		e.sync.pageSize = demoPageSize
	}
	on, err := flags.NewProvider(&flags.ProviderOptions{LookupEnv: func(name string) (string, bool) {
		if name == flags.EnvVar(flags.PortalEnabled) {
			return "true", true
		}
		return "", false
	}})
	if err != nil {
		return err
	}
	creds := ports.NewCredentials(em.ClientID(), em.ClientSecret())
	opts := []fx.Option{
		fx.Supply(fx.Annotate(on, fx.As(new(openfeature.FeatureProvider)))),
		fx.Supply(em.HTTPClient()),
		fx.Decorate(func() ports.CredentialProvider {
			return ports.CredentialProviderFunc(func(context.Context) (ports.Credentials, error) { return creds, nil })
		}),
	}
	if !e.demoStore {
		return e.syncPass(ctx, cfg, opts)
	}
	return e.demoIntoStore(ctx, cfg, em, opts)
}

// emulatorCredential returns the environment line of the emulator's
// credential of kind. For a certificate it writes the PEM file (the
// emulator's own test key, which opens nothing but this emulator); for a
// federated token it writes the token file and renews it every half hour,
// as a platform does, until ctx ends. The files live in the emulator's
// temporary directory, which Close removes.
func emulatorCredential(ctx context.Context, em *dynamicstest.Emulator, kind string, certs []*dynamicstest.ClientCertificate) (string, error) {
	dir := filepath.Dir(em.CAFile())
	switch kind {
	case "certificate":
		path := filepath.Join(dir, "client.pem")
		if err := os.WriteFile(path, certs[0].PEM(), 0o600); err != nil {
			return "", fmt.Errorf("emulator: %w", err)
		}
		return "AZURE_CLIENT_CERTIFICATE_PATH=" + path, nil
	case "federated":
		path := filepath.Join(dir, "azure-identity-token")
		write := func() error {
			tmp := path + ".new"
			if err := os.WriteFile(tmp, []byte(em.FederatedToken(dynamicstest.FederatedTokenOptions{})), 0o600); err != nil {
				return err
			}
			return os.Rename(tmp, path)
		}
		if err := write(); err != nil {
			return "", fmt.Errorf("emulator: %w", err)
		}
		go func() {
			t := time.NewTicker(30 * time.Minute)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					_ = write()
				}
			}
		}()
		return "AZURE_FEDERATED_TOKEN_FILE=" + path, nil
	}
	return "AZURE_CLIENT_SECRET=" + em.ClientSecret(), nil
}
