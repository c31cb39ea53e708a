package dynamics

import (
	"fmt"
	"net/http"
	"net/textproto"
	"time"

	"github.com/hlf/dynamicsportal/adapters/dynamics/resilience"
	"github.com/hlf/dynamicsportal/ports"
)

// Defaults of the options, and the page size limit of the portal.
const (
	// DefaultAuthorityHost is the Entra ID authority of the public cloud.
	DefaultAuthorityHost = "https://login.microsoftonline.com"
	// DefaultCorrelationHeader carries the correlation id of each call.
	DefaultCorrelationHeader = "x-correlation-id"
	// DefaultPageSize is the page size asked when a query leaves it zero.
	DefaultPageSize = 5000
	// MaxPageSize is the largest page the portal serves; larger asks are
	// cut to it.
	MaxPageSize = 5000
	// DefaultCertificationSet is the entity set of hlf_certification.
	DefaultCertificationSet = "hlf_certifications"
	// DefaultAssignmentSet is the entity set of hlf_assignment.
	DefaultAssignmentSet = "hlf_assignments"
	// DefaultAttemptTimeout limits one HTTP exchange.
	DefaultAttemptTimeout = 30 * time.Second
	// DefaultTotalTimeout limits a whole call, retries and waits included.
	DefaultTotalTimeout = 45 * time.Second
	// DefaultTokenTimeout limits one token fetch.
	DefaultTokenTimeout = 2 * time.Second
	// DefaultMaxInFlight is the most Web API requests a client has in
	// flight at once: the portal's limit of concurrent requests per user.
	DefaultMaxInFlight = 52
)

// Size caps of the bodies the adapter reads.
const (
	// MaxPageBody caps a successful answer (a page of records).
	MaxPageBody = 64 << 20
	// MaxErrorBody caps the body of a failed answer.
	MaxErrorBody = 64 << 10
)

// Option configures a Client. Options validate their argument; New returns
// the first error, which wraps ports.ErrInvalidConfig.
type Option func(*config) error

// Timeouts are the time limits of a call. A zero field takes its default.
type Timeouts struct {
	// Attempt limits one HTTP exchange, body included (default 30 s).
	Attempt time.Duration
	// Total limits a whole call, every retry and wait included (default
	// 45 s).
	Total time.Duration
	// Token limits one token fetch, the credential provider included
	// (default 2 s).
	Token time.Duration
}

// RetrySettings describe the retry policy. A zero field takes its default:
// at most 3 retries, a first delay of 1 s multiplied by 2 after each retry,
// and no wait over 16 s, Retry-After included.
type RetrySettings struct {
	MaxRetries int
	BaseDelay  time.Duration
	MaxDelay   time.Duration
	Factor     float64
}

type config struct {
	tenant      string
	authority   string
	corrHeader  string
	pageSize    int
	certSet     string
	assignSet   string
	timeouts    Timeouts
	retry       resilience.Settings
	hc          *http.Client
	now         func() time.Time
	maxPageBody int64
	maxInFlight int
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("dynamics: %w: "+format, append([]any{ports.ErrInvalidConfig}, args...)...)
}

// WithTenant sets the Entra ID tenant, a GUID or a domain such as
// contoso.onmicrosoft.com. It is required.
func WithTenant(id string) Option {
	return func(c *config) error {
		if !tenantName(id) {
			return invalid("tenant: want a GUID or a domain name")
		}
		c.tenant = id
		return nil
	}
}

// WithAuthorityHost sets the Entra ID authority, default
// https://login.microsoftonline.com (sovereign clouds have their own). It
// must be an https URL without user info, query or fragment.
func WithAuthorityHost(u string) Option {
	return func(c *config) error {
		v, err := checkHTTPS("authority host", u)
		if err != nil {
			return err
		}
		c.authority = v.String()
		return nil
	}
}

// WithCorrelationHeader sets the name of the header that carries the
// correlation id, default x-correlation-id. It must be a plain header name
// (letters, digits, - and _) and not one of the headers the adapter sets
// itself, such as Authorization or x-ms-client-request-id.
func WithCorrelationHeader(name string) Option {
	return func(c *config) error {
		if !headerName(name) {
			return invalid("correlation header: %q is not a usable header name", name)
		}
		c.corrHeader = name
		return nil
	}
}

// WithPageSize sets the page size asked when a query leaves it zero,
// 1 to 5000 (default 5000).
func WithPageSize(n int) Option {
	return func(c *config) error {
		if n < 1 || n > MaxPageSize {
			return invalid("page size: want 1 to %d, got %d", MaxPageSize, n)
		}
		c.pageSize = n
		return nil
	}
}

// WithEntitySets sets the entity-set names of the certification and
// assignment tables, default hlf_certifications and hlf_assignments.
func WithEntitySets(certifications, assignments string) Option {
	return func(c *config) error {
		if !identifier(certifications) || !identifier(assignments) {
			return invalid("entity sets: want names of letters, digits and _")
		}
		c.certSet, c.assignSet = certifications, assignments
		return nil
	}
}

// WithTimeouts sets the time limits; zero fields keep their defaults.
func WithTimeouts(t Timeouts) Option {
	return func(c *config) error {
		if t.Attempt < 0 || t.Total < 0 || t.Token < 0 {
			return invalid("timeouts: a limit is negative")
		}
		if t.Attempt != 0 {
			c.timeouts.Attempt = t.Attempt
		}
		if t.Total != 0 {
			c.timeouts.Total = t.Total
		}
		if t.Token != 0 {
			c.timeouts.Token = t.Token
		}
		return nil
	}
}

// WithRetry sets the retry policy; zero fields keep their defaults.
func WithRetry(r RetrySettings) Option {
	return func(c *config) error {
		s := resilience.Settings(r)
		if err := s.Validate(); err != nil {
			return invalid("%v", err)
		}
		c.retry = s
		return nil
	}
}

// WithMaxInFlight sets the most Web API requests the client has in flight
// at once, over all its calls, 1 to 1000 (default 52, the portal's limit of
// concurrent requests per user). Calls beyond it wait their turn. The
// client lowers it further to the portal's x-ms-dop-hint when it sends one,
// halves it after a 429 and raises it back step by step as requests
// succeed.
func WithMaxInFlight(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 1000 {
			return invalid("max in flight: want 1 to 1000, got %d", n)
		}
		c.maxInFlight = n
		return nil
	}
}

// WithHTTPClient sets the client used for the Web API and the token
// endpoint, for example to trust a private certificate authority. Its
// transport and TLS settings are used as they are. The adapter uses a copy
// that never follows redirects; hc itself is not changed. Close releases
// the idle connections of hc's transport.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return invalid("http client is nil")
		}
		c.hc = hc
		return nil
	}
}

// WithClock sets the clock the token cache uses to judge expiry (default
// time.Now).
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return invalid("clock is nil")
		}
		c.now = now
		return nil
	}
}

func identifier(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := range len(s) {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_') {
			return false
		}
	}
	return true
}

func tenantName(s string) bool {
	if s == "" || len(s) > 253 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for i := range len(s) {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.') {
			return false
		}
	}
	return true
}

// reservedHeaders are set by the adapter itself.
var reservedHeaders = []string{
	"Authorization", "Accept", "Content-Type", "Content-Length", "Host", "Prefer",
	"If-Match", "Odata-Version", "Odata-Maxversion", "X-Ms-Client-Request-Id",
}

func headerName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := range len(s) {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	canon := textproto.CanonicalMIMEHeaderKey(s)
	for _, r := range reservedHeaders {
		if canon == r {
			return false
		}
	}
	return true
}
