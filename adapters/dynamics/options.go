package dynamics

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/hlf/dynamicsportal/adapters/dynamics/internal/resilience"
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
	// DefaultCertificationEntity and DefaultAssignmentEntity are the
	// tables' logical names.
	DefaultCertificationEntity = "hlf_certification"
	DefaultAssignmentEntity    = "hlf_assignment"
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

// Options configure a Client: the one way to pass settings to New. The
// zero value of every field means its default; only Tenant is required.
// New validates every field and returns the first error, which wraps
// ports.ErrInvalidConfig and names the setting.
type Options struct {
	// Tenant is the Entra ID tenant, a GUID or a domain such as
	// contoso.onmicrosoft.com. It is required.
	Tenant string
	// AuthorityHost is the Entra ID authority, default
	// https://login.microsoftonline.com (sovereign clouds have their
	// own). It must be an https URL without user info, query or fragment.
	AuthorityHost string
	// CorrelationHeader names the header that carries the correlation id,
	// default x-correlation-id. See CheckCorrelationHeader for the names
	// refused.
	CorrelationHeader string
	// PageSize is the page size asked when a query leaves it zero, 1 to
	// 5000 (default 5000).
	PageSize int
	// EntitySets names the portal's tables (default hlf_certifications
	// and hlf_assignments).
	EntitySets EntitySets
	// Timeouts are the time limits of a call.
	Timeouts Timeouts
	// Retry describes the retry policy.
	Retry RetrySettings
	// MaxInFlight is the most Web API requests the client has in flight
	// at once, over all its calls, 1 to 1000 (default 52, the portal's
	// limit of concurrent requests per user). Calls beyond it wait their
	// turn. The client lowers it further to the portal's x-ms-dop-hint
	// when it sends one, halves it after a 429 and raises it back step by
	// step as requests succeed.
	MaxInFlight int
	// HTTPClient is used for the Web API and the token endpoint, for
	// example to trust a private certificate authority; nil means the
	// adapter's own client (TLS 1.2 or later, a pool of MaxInFlight
	// connections). Its transport and TLS settings are used as they are.
	// The adapter uses a copy that never follows redirects; the client
	// itself is not changed. Close releases the idle connections of its
	// transport.
	HTTPClient *http.Client
	// Location gives a date-time that the portal sends in a date column of
	// the behaviour UserLocal its date; nil means UTC. Use the zone the
	// sync's "today" uses. A DateOnly or TimeZoneIndependent column's date
	// is the date as written. The behaviours are read once per table from
	// the portal's metadata (EntityDefinitions), unless DateBehaviors says
	// them.
	Location *time.Location
	// DateBehaviors overrides the behaviour of date columns, by logical
	// name (hlf_issuedon, hlf_expireson, hlf_startdate, hlf_enddate). A
	// column neither the portal's metadata nor this names is read as
	// DefaultDateBehavior, with a warning.
	DateBehaviors map[string]DateBehavior
	// Logger receives the debug records of each attempt and token fetch;
	// nil discards them.
	Logger *slog.Logger
	// TracerProvider gets a span for each logical call and token fetch;
	// MeterProvider gets the call and token metrics (see the README's
	// Observability section). Nil means none: with neither, the adapter
	// records nothing, and only passes on the caller's trace context in
	// the traceparent header.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider

	// now is the clock the token cache judges expiry with (time.Now); the
	// package's tests set it.
	now func() time.Time
}

// EntitySets are the entity-set names of the two tables the adapter reads:
// names of letters, digits and _. An empty field takes its default.
type EntitySets struct {
	// Certifications is the entity set of hlf_certification (default
	// hlf_certifications).
	Certifications string
	// Assignments is the entity set of hlf_assignment (default
	// hlf_assignments).
	Assignments string
	// CertificationEntity and AssignmentEntity are the tables' logical
	// names, whose metadata gives their date columns' behaviours
	// (default hlf_certification and hlf_assignment).
	CertificationEntity, AssignmentEntity string
}

// Timeouts are the time limits of a call. A zero field takes its default.
type Timeouts struct {
	// Attempt limits one attempt: its wait for a turn, the token, the
	// exchange and the body (default 30 s).
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

// config is Options validated, with every default filled in.
type config struct {
	tenant        string
	authority     string
	corrHeader    string
	pageSize      int
	certSet       string
	assignSet     string
	timeouts      Timeouts
	retry         resilience.Settings
	hc            *http.Client
	loc           *time.Location
	certEntity    string
	assignEntity  string
	dateOverrides map[string]DateBehavior
	log           *slog.Logger
	now           func() time.Time
	tp            trace.TracerProvider
	mp            metric.MeterProvider
	maxPageBody   int64
	maxInFlight   int
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("dynamics: %w: "+format, append([]any{ports.ErrInvalidConfig}, args...)...)
}

// check validates o and returns it as a config with the defaults filled
// in. A nil o is the zero Options.
func (o *Options) check() (config, error) {
	if o == nil {
		o = &Options{}
	}
	c := config{
		authority:    DefaultAuthorityHost,
		corrHeader:   DefaultCorrelationHeader,
		pageSize:     DefaultPageSize,
		certSet:      DefaultCertificationSet,
		assignSet:    DefaultAssignmentSet,
		certEntity:   DefaultCertificationEntity,
		assignEntity: DefaultAssignmentEntity,
		timeouts:     Timeouts{Attempt: DefaultAttemptTimeout, Total: DefaultTotalTimeout, Token: DefaultTokenTimeout},
		hc:           o.HTTPClient,
		loc:          o.Location,
		log:          o.Logger,
		now:          o.now,
		tp:           o.TracerProvider,
		mp:           o.MeterProvider,
		maxPageBody:  MaxPageBody,
		maxInFlight:  DefaultMaxInFlight,
	}
	if !tenantName(o.Tenant) {
		if o.Tenant == "" {
			return config{}, invalid("tenant is required (Options.Tenant)")
		}
		return config{}, invalid("tenant: want a GUID or a domain name")
	}
	c.tenant = o.Tenant
	if o.AuthorityHost != "" {
		v, err := checkHTTPS("authority host", o.AuthorityHost)
		if err != nil {
			return config{}, err
		}
		c.authority = v.String()
	}
	if o.CorrelationHeader != "" {
		if err := CheckCorrelationHeader(o.CorrelationHeader); err != nil {
			return config{}, err
		}
		c.corrHeader = o.CorrelationHeader
	}
	if o.PageSize != 0 {
		if o.PageSize < 1 || o.PageSize > MaxPageSize {
			return config{}, invalid("page size: want 1 to %d, got %d", MaxPageSize, o.PageSize)
		}
		c.pageSize = o.PageSize
	}
	if err := o.EntitySets.Check(); err != nil {
		return config{}, err
	}
	if o.EntitySets.Certifications != "" {
		c.certSet = o.EntitySets.Certifications
	}
	if o.EntitySets.Assignments != "" {
		c.assignSet = o.EntitySets.Assignments
	}
	if o.EntitySets.CertificationEntity != "" {
		c.certEntity = o.EntitySets.CertificationEntity
	}
	if o.EntitySets.AssignmentEntity != "" {
		c.assignEntity = o.EntitySets.AssignmentEntity
	}
	if err := checkDateOverrides(o.DateBehaviors); err != nil {
		return config{}, err
	}
	c.dateOverrides = o.DateBehaviors
	t := o.Timeouts
	if t.Attempt < 0 || t.Total < 0 || t.Token < 0 {
		return config{}, invalid("timeouts: a limit is negative")
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
	c.retry = resilience.Settings(o.Retry)
	if err := c.retry.Validate(); err != nil {
		return config{}, invalid("%v", err)
	}
	if o.MaxInFlight != 0 {
		if o.MaxInFlight < 1 || o.MaxInFlight > 1000 {
			return config{}, invalid("max in flight: want 1 to 1000, got %d", o.MaxInFlight)
		}
		c.maxInFlight = o.MaxInFlight
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.loc == nil {
		c.loc = time.UTC
	}
	return c, nil
}

// Check reports an entity-set name that is not usable: longer than 128
// bytes, or holding anything but letters, digits and _. Empty names are
// valid: they take their defaults.
func (s EntitySets) Check() error {
	for _, n := range []string{s.Certifications, s.Assignments, s.CertificationEntity, s.AssignmentEntity} {
		if n != "" && !identifier(n) {
			return invalid("entity sets: want names of letters, digits and _")
		}
	}
	return nil
}

// CheckCorrelationHeader reports why name cannot carry the correlation id:
// it is not a valid header name (RFC 9110 token characters), or it is a
// header the adapter sets itself or one with a meaning to the portal or to
// HTTP: Authorization, Cookie, the OData and Prefer headers, If-Match, and
// the Dataverse impersonation headers CallerObjectId and MSCRMCallerID
// (a caller's UUID sent in one of them would act as another user). The
// error wraps ports.ErrInvalidConfig.
func CheckCorrelationHeader(name string) error {
	if !headerName(name) {
		return invalid("correlation header: %q is not a usable header name", cleanText(name, 64))
	}
	if reservedHeader(name) {
		return invalid("correlation header: %q is a header with a meaning to the portal or to HTTP", name)
	}
	return nil
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

// reservedHeaders are set by the adapter itself, change what the portal
// does (impersonation, preferences, concurrency) or belong to HTTP.
var reservedHeaders = []string{
	"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "Accept", "Accept-Encoding",
	"Content-Type", "Content-Length", "Content-Encoding", "Transfer-Encoding", "Connection", "Upgrade",
	"Host", "Te", "Trailer", "Expect", "Prefer", "If-Match", "If-None-Match", "Odata-Version",
	"Odata-Maxversion", "Odata-Isolation", "X-Ms-Client-Request-Id", "Callerobjectid", "Mscrmcallerid",
	"X-Http-Method", "X-Http-Method-Override", "X-Forwarded-For", "X-Forwarded-Host", "Forwarded",
}

// headerName reports whether s is a header name: 1 to 128 RFC 9110 token
// characters.
func headerName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := range len(s) {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0) {
			return false
		}
	}
	return true
}

// reservedHeader reports whether name is one of reservedHeaders, or an
// OData header (OData-*), whatever its case.
func reservedHeader(name string) bool {
	canon := textproto.CanonicalMIMEHeaderKey(name)
	if strings.HasPrefix(canon, "Odata-") {
		return true
	}
	for _, r := range reservedHeaders {
		if canon == r {
			return true
		}
	}
	return false
}
