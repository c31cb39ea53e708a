package dynamics

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/timeout"

	"github.com/hlf/dynamicsportal/adapters/dynamics/internal/resilience"
	"github.com/hlf/dynamicsportal/ports"
)

var _ ports.DynamicsPortal = (*Client)(nil)

// Client is the DynamicsPortal of a live Dynamics 365 (Dataverse)
// environment. It is safe for concurrent use. Build it with New and release
// it with Close.
type Client struct {
	hc       *http.Client
	log      *slog.Logger
	tokens   *tokenCache
	throttle *throttle
	// The time limits of every call's executor (see do), built once; the
	// retry policy is built for each call from retry.
	total      timeout.Timeout[reply]
	perAttempt timeout.Timeout[reply]
	retry      resilience.Settings
	timeouts   Timeouts
	corrKey    string         // canonical name of the correlation header
	loc        *time.Location // the zone of the dates in date-time form
	tel        *telemetry     // nil without providers

	scheme, host string // of the base URL, for continuation checks
	whoAmIURL    string
	batchURL     string
	// noBatch is set once the portal answered that it has no $batch.
	noBatch atomic.Bool
	cert    entitySet
	assign  entitySet
	// apiBase is the Web API's root URL, ending in "/".
	apiBase string
	// dateOverrides are the date columns' behaviours the options set.
	dateOverrides map[string]DateBehavior
	// certDates and assignDates resolve the tables' date columns once.
	certDates, assignDates *dateBehaviors

	pageSize      int
	defaultPrefer []string
	maxPageBody   int64
}

// entitySet holds the prebuilt URLs of one table.
type entitySet struct {
	path     string        // URL path of the collection, for continuation checks
	columns  string        // the $select of a listing
	orderBy  string        // the $orderby of a listing, decoded
	list     string        // first page: $select and $orderby
	item     string        // collection URL followed by "(": the id, ")" and a query follow
	lastPage *atomic.Int64 // body size of the last page read
	links    *pageLinks    // which page links to which, against cycles
}

// New returns a client for the environment at baseURL (for example
// https://hlf.crm4.dynamics.com; a trailing slash is dropped, and a path,
// if any, prefixes the Web API's), taking its client credentials from
// creds at each token fetch. opts carries every other setting; opts.Tenant
// is required, and a nil opts is refused for that reason.
//
// New validates everything and makes no request: a base URL or authority
// that is not https, holds user info, a query or a fragment, or has no
// host, a missing tenant, a nil provider or a bad setting fail with an
// error wrapping ports.ErrInvalidConfig that names the setting and never
// echoes a URL.
func New(baseURL string, creds ports.CredentialProvider, opts *Options) (*Client, error) {
	base, err := checkHTTPS("base URL", baseURL)
	if err != nil {
		return nil, err
	}
	if f, ok := creds.(ports.CredentialProviderFunc); creds == nil || ok && f == nil {
		return nil, invalid("credential provider is nil")
	}
	cfg, err := opts.check()
	if err != nil {
		return nil, err
	}
	logger := cfg.log

	hc := defaultHTTPClient(cfg.maxInFlight)
	if cfg.hc != nil {
		cp := *cfg.hc
		cp.CheckRedirect = noRedirects
		hc = &cp
	}

	baseStr := base.String()
	api := baseStr + "/api/data/v9.2/"
	apiPath := base.Path + "/api/data/v9.2/"
	c := &Client{
		hc:            hc,
		log:           logger,
		total:         timeout.New[reply](cfg.timeouts.Total),
		perAttempt:    timeout.New[reply](cfg.timeouts.Attempt),
		throttle:      newThrottle(cfg.maxInFlight),
		retry:         cfg.retry.WithDefaults(),
		timeouts:      cfg.timeouts,
		corrKey:       textproto.CanonicalMIMEHeaderKey(cfg.corrHeader),
		loc:           cfg.loc,
		scheme:        base.Scheme,
		host:          base.Host,
		whoAmIURL:     api + "WhoAmI",
		batchURL:      api + "$batch",
		cert:          newEntitySet(api, apiPath, cfg.certSet, certificationKey, certificationColumns),
		assign:        newEntitySet(api, apiPath, cfg.assignSet, assignmentKey, assignmentColumns),
		pageSize:      cfg.pageSize,
		defaultPrefer: []string{maxPageSizePrefer(cfg.pageSize)},
		maxPageBody:   cfg.maxPageBody,
		apiBase:       api,
		dateOverrides: cfg.dateOverrides,
		certDates:     &dateBehaviors{entity: cfg.certEntity, columns: certificationDates},
		assignDates:   &dateBehaviors{entity: cfg.assignEntity, columns: assignmentDates},
	}
	if c.tel, err = newTelemetry(cfg.tp, cfg.mp, baseStr, TokenURL(cfg.authority, cfg.tenant)); err != nil {
		return nil, err
	}
	c.tokens = &tokenCache{
		tel:      c.tel,
		now:      cfg.now,
		timeout:  cfg.timeouts.Token,
		tokenURL: TokenURL(cfg.authority, cfg.tenant),
		scope:    baseStr + "/.default",
		creds:    creds,
		hc:       tokenClient(hc),
		log:      logger,
	}
	return c, nil
}

// TokenURL is the token endpoint of tenant at the Entra ID authority host
// (DefaultAuthorityHost when empty), as the client posts to it: the
// audience of a certificate's client assertion
// (credentials.FromCertificateFile).
func TokenURL(authorityHost, tenant string) string {
	if authorityHost == "" {
		authorityHost = DefaultAuthorityHost
	}
	return strings.TrimRight(authorityHost, "/") + "/" + tenant + "/oauth2/v2.0/token"
}

// Close releases the idle connections of the client's HTTP transport. The
// client stays usable; a later call opens new connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

func newEntitySet(api, apiPath, set, key, columns string) entitySet {
	return entitySet{
		path:     apiPath + set,
		columns:  columns,
		orderBy:  key + " asc",
		list:     api + set + "?$select=" + columns + "&$orderby=" + key + "%20asc",
		item:     api + set + "(",
		lastPage: new(atomic.Int64),
		links:    newPageLinks(),
	}
}

func maxPageSizePrefer(n int) string { return "odata.maxpagesize=" + strconv.Itoa(n) }

// checkHTTPS parses an https URL without user info, query or fragment and
// returns it without a trailing slash. Errors name the setting and never
// echo the URL, which could hold a password.
func checkHTTPS(setting, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Opaque != "":
		return nil, invalid("%s: not a URL", setting)
	case u.Scheme != "https":
		return nil, invalid("%s: must use https", setting)
	case u.User != nil:
		return nil, invalid("%s: must not hold user info", setting)
	case u.RawQuery != "" || u.ForceQuery:
		return nil, invalid("%s: must not have a query", setting)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, invalid("%s: must not have a fragment", setting)
	case u.Hostname() == "":
		return nil, invalid("%s: has no host", setting)
	case u.RawPath != "" || strings.ContainsAny(u.Path, " %()?'\"\\"):
		return nil, invalid("%s: path must be plain", setting)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// defaultHTTPClient is the one client of an adapter: TLS 1.2 or later,
// keep-alives, no redirects, and a pool of at most maxConns connections
// per host, all kept when idle. The adapter never has more requests in
// flight; the cap also stops the transport from dialling extra
// connections in the moment between an answer read and its connection
// returned to the pool, which it would then close again.
func defaultHTTPClient(maxConns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   10 * time.Second,
			MaxIdleConns:          2 * maxConns,
			MaxIdleConnsPerHost:   maxConns,
			MaxConnsPerHost:       maxConns,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: noRedirects,
	}
}

// noRedirects hands a 3xx to the adapter, which refuses it: following it
// would carry the bearer token to wherever the answer points.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
