package dynamicstest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/hlf/dynamicsportal/ports"
)

// The fixed test credentials an emulator accepts unless Options say
// otherwise. They are not secrets: they open nothing but an emulator.
const (
	DefaultTenantID     = "8b0a3f2c-7d41-4e6a-9c15-2f4e6d8a1b3c"
	DefaultClientID     = "4c7e9a1b-2d3f-4a5b-8c6d-0e1f2a3b4c5d"
	DefaultClientSecret = "emulator-client-secret"
)

// Defaults of Options.
const (
	DefaultAddr              = "127.0.0.1:0"
	DefaultCertifications    = 300
	DefaultTokenLifetime     = time.Hour
	DefaultCorrelationHeader = "x-correlation-id"
	// MaxPageSize is the largest page the Web API serves, and the page size
	// when the client asks for none.
	MaxPageSize = 5000
)

// APIPath is the path of the Web API under the base URL.
const APIPath = "/api/data/v9.2/"

// Options configure an emulator. The zero value is a working emulator on a
// random loopback port with 300 seeded certifications.
type Options struct {
	// Addr is the listen address; default "127.0.0.1:0" (loopback, a free
	// port). Listening beyond loopback is the caller's explicit choice.
	Addr string
	// TenantID, ClientID and ClientSecret are the credentials the token
	// endpoint accepts; defaults DefaultTenantID, DefaultClientID and
	// DefaultClientSecret.
	TenantID, ClientID, ClientSecret string
	// Certifications is the number of seeded certifications; 0 means
	// DefaultCertifications, a negative number seeds none.
	Certifications int
	// Mentors is the number of peer mentors (contacts) the certifications
	// belong to; each mentor has one or two assignments. Default: half the
	// certifications, at least one.
	Mentors int
	// Seed makes the seeded data: the same Seed and the same day of Now
	// give the same records.
	Seed int64
	// NeverSynced seeds every certification without sync metadata, as a
	// portal is before the module's first pass: every record then needs a
	// write.
	NeverSynced bool
	// Now is the emulator's clock: "today" for seeded dates, token expiry,
	// modifiedon of writes, the service protection window. Default
	// time.Now. Latency and hangs use real time.
	Now func() time.Time
	// TokenLifetime is the lifetime of issued tokens; default one hour.
	TokenLifetime time.Duration
	// Limits are the service protection limits; the zero value turns them
	// off.
	Limits Limits
	// DOPHint, when positive, is sent as x-ms-dop-hint on Web API responses.
	DOPHint int
	// DateBehaviors gives date columns (hlf_issuedon, hlf_expireson,
	// hlf_startdate, hlf_enddate) a Dataverse behaviour other than the
	// default DateOnly: "TimeZoneIndependent" (sent as midnight UTC of the
	// date) or "UserLocal" (midnight in UserLocalZone, sent in UTC). The
	// metadata route (RouteMetadata) answers with them.
	DateBehaviors map[string]string
	// UserLocalZone is the zone of a UserLocal column's dates; nil is UTC.
	UserLocalZone *time.Location
	// NoWriteLog keeps no log of the writes (Writes and the per-record
	// counts of Stats stay empty), so the emulator's memory does not grow
	// with a pass: for benchmarks that measure a pass's memory beside it.
	NoWriteLog bool
	// CertHosts are the DNS names and IP addresses the server certificate
	// is valid for; default 127.0.0.1, ::1 and localhost. When Addr listens
	// on every interface, the first entry is the host of BaseURL.
	CertHosts []string
	// CorrelationHeader names the request header whose value the write log
	// keeps; default "x-correlation-id", with x-ms-client-request-id as the
	// fallback.
	CorrelationHeader string
	// CA signs the server certificate; nil makes a new CA for this
	// emulator. Share one CA between emulators so that a client trusts
	// them all (see CA).
	CA *CA
	// ClientCertificates are the certificate credentials of the app
	// registration: the token endpoint accepts client assertions signed
	// with their keys (see RegisterClientCertificate).
	ClientCertificates []*ClientCertificate
	// FederatedSubject is the subject of the federated credential: the
	// token endpoint accepts federated tokens of the emulator's fake
	// issuer (FederatedToken) for this subject. Default
	// DefaultFederatedSubject.
	FederatedSubject string
	// Logger, when set, receives one debug record per request (method,
	// route, path, whether a listing is continued with a $skiptoken,
	// status, duration, ids). Query strings, bodies, secrets and tokens
	// are never logged.
	Logger *slog.Logger
}

// Limits are Dataverse-style service protection limits, counted per user
// (the client id a token was issued to). A zero field is no limit.
type Limits struct {
	// Requests is the most requests per Window.
	Requests int
	// Window is the sliding window of Requests and ExecutionTime, measured
	// on the emulator clock; default 300 s.
	Window time.Duration
	// Concurrent is the most requests in progress at once.
	Concurrent int
	// ExecutionTime is the most execution time per Window: the time spent
	// serving requests (added latency included, measured in real time when
	// they end), or OperationCost per operation when that is set.
	ExecutionTime time.Duration
	// OperationCost, when positive, is the execution time each operation
	// is charged instead of the time measured: a request is one operation,
	// a $batch request one per part. It is charged when the request is
	// admitted, since its cost is known then.
	OperationCost time.Duration
	// BatchPerPart counts a $batch request as one request per part against
	// Requests. By default a batch counts as one request, as Dataverse
	// documents.
	BatchPerPart bool
}

func (l Limits) on() bool { return l.Requests > 0 || l.Concurrent > 0 || l.ExecutionTime > 0 }

// Emulator is a running portal emulator. Its methods are safe for
// concurrent use.
type Emulator struct {
	opts     Options
	dates    dateForms
	now      func() time.Time
	hosts    []string
	port     string
	baseURL  string
	caPEM    []byte
	caFile   string
	tmpDir   string
	pool     *x509.CertPool
	identity ports.Identity
	log      *slog.Logger

	srv      *http.Server
	serveErr chan error

	store  *store
	tokens tokens
	creds  *credentials
	limits *limiter
	faults faults
	stats  counters

	secretMu sync.Mutex
	secret   string

	lifeMu     sync.Mutex
	closed     bool
	handlers   sync.WaitGroup
	done       chan struct{}
	transports []*http.Transport
	closeOnce  sync.Once
	closeErr   error
}

// Start seeds the data, creates a certificate authority and a server
// certificate, and serves the token endpoint and the Web API over TLS. It
// returns once the emulator is listening. Close stops it. A nil opts
// means every default.
func Start(opts *Options) (*Emulator, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.TenantID == "" {
		o.TenantID = DefaultTenantID
	}
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.ClientSecret == "" {
		o.ClientSecret = DefaultClientSecret
	}
	switch {
	case o.Certifications == 0:
		o.Certifications = DefaultCertifications
	case o.Certifications < 0:
		o.Certifications = 0
	}
	if o.Mentors <= 0 {
		o.Mentors = max(1, (o.Certifications+1)/2)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TokenLifetime <= 0 {
		o.TokenLifetime = DefaultTokenLifetime
	}
	if o.Limits.Window <= 0 {
		o.Limits.Window = 300 * time.Second
	}
	if len(o.CertHosts) == 0 {
		o.CertHosts = []string{"127.0.0.1", "::1", "localhost"}
	}
	if o.CorrelationHeader == "" {
		o.CorrelationHeader = DefaultCorrelationHeader
	}
	if o.Limits.Requests < 0 || o.Limits.Concurrent < 0 || o.Limits.ExecutionTime < 0 || o.Limits.OperationCost < 0 {
		return nil, errors.New("emulator: negative limit")
	}
	if o.FederatedSubject == "" {
		o.FederatedSubject = DefaultFederatedSubject
	}
	creds, err := newCredentials(o.FederatedSubject, o.ClientCertificates)
	if err != nil {
		return nil, fmt.Errorf("emulator: federated issuer key: %w", err)
	}

	for col, b := range o.DateBehaviors {
		ci, ai := certSchema.columnIndex(col), assignSchema.columnIndex(col)
		isDate := ci >= 0 && certSchema.columns[ci].date != nil || ai >= 0 && assignSchema.columns[ai].date != nil
		if !isDate || b != "DateOnly" && b != "TimeZoneIndependent" && b != "UserLocal" {
			return nil, fmt.Errorf("emulator: date behaviour %s=%s: want a date column and DateOnly, TimeZoneIndependent or UserLocal", col, b)
		}
	}
	zone := o.UserLocalZone
	if zone == nil {
		zone = time.UTC
	}
	e := &Emulator{
		dates:    newDateForms(o.DateBehaviors, zone),
		opts:     o,
		now:      o.Now,
		secret:   o.ClientSecret,
		done:     make(chan struct{}),
		serveErr: make(chan error, 1),
		limits:   newLimiter(o.Limits),
		creds:    creds,
		log:      o.Logger,
	}
	for _, h := range o.CertHosts {
		e.hosts = append(e.hosts, strings.ToLower(strings.Trim(h, "[]")))
	}
	e.store, e.identity = seed(o.Seed, o.Certifications, o.Mentors, ports.DateOf(o.Now().UTC()))
	e.store.noWriteLog = o.NoWriteLog
	if o.NeverSynced {
		for i := range e.store.certs.rows {
			e.store.certs.rows[i].status, e.store.certs.rows[i].lastSynced = 0, time.Time{}
		}
	}

	ca := o.CA
	if ca == nil {
		var err error
		if ca, err = NewCA(); err != nil {
			return nil, fmt.Errorf("emulator: certificates: %w", err)
		}
	}
	cert, err := ca.serverCert(e.hosts)
	if err != nil {
		return nil, fmt.Errorf("emulator: certificates: %w", err)
	}
	e.caPEM = ca.pem
	e.pool = ca.CertPool()

	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	host, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("emulator: %w", err)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = e.hosts[0]
	}
	e.port = port
	e.baseURL = "https://" + net.JoinHostPort(host, port)

	e.tmpDir, err = os.MkdirTemp("", "portal-emulator-")
	if err == nil {
		e.caFile = filepath.Join(e.tmpDir, "ca.pem")
		err = os.WriteFile(e.caFile, e.caPEM, 0o600)
	}
	if err != nil {
		_ = ln.Close()
		if e.tmpDir != "" {
			_ = os.RemoveAll(e.tmpDir)
		}
		return nil, fmt.Errorf("emulator: %w", err)
	}

	errLog := log.New(io.Discard, "", 0)
	if e.log != nil {
		errLog = slog.NewLogLogger(e.log.Handler(), slog.LevelDebug)
	}
	e.srv = &http.Server{
		Handler:           e,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 30 * time.Second,
		ConnState:         e.connState,
		ErrorLog:          errLog,
		// HTTP/1.1 only, so that resets and truncated bodies are what a
		// client sees on the wire.
		Protocols: new(http.Protocols),
	}
	e.srv.Protocols.SetHTTP1(true)
	go func() { e.serveErr <- e.srv.ServeTLS(ln, "", "") }()
	return e, nil
}

// Close stops the server, ends hung requests, closes every connection,
// waits for the request handlers to return and removes the CA file. It is
// safe to call more than once.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		e.lifeMu.Lock()
		e.closed = true
		transports := e.transports
		e.lifeMu.Unlock()
		// Connections first, so that the requests woken next cannot
		// answer anything.
		err := e.srv.Close()
		close(e.done)
		if serr := <-e.serveErr; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		e.handlers.Wait()
		for _, t := range transports {
			t.CloseIdleConnections()
		}
		if rerr := os.RemoveAll(e.tmpDir); rerr != nil {
			err = errors.Join(err, rerr)
		}
		e.closeErr = err
	})
	return e.closeErr
}

// BaseURL is the environment URL, such as https://127.0.0.1:41234 (no
// trailing slash). The Web API is under BaseURL + APIPath.
func (e *Emulator) BaseURL() string { return e.baseURL }

// AuthorityHost is the token endpoint's authority; the emulator serves it
// on the same address as the Web API.
func (e *Emulator) AuthorityHost() string { return e.baseURL }

// TokenURL is the full token endpoint URL of the emulator's tenant.
func (e *Emulator) TokenURL() string {
	return e.baseURL + "/" + e.opts.TenantID + "/oauth2/v2.0/token"
}

// Scope is the scope a client credentials request must ask for.
func (e *Emulator) Scope() string { return e.baseURL + "/.default" }

// TenantID is the tenant the token endpoint accepts.
func (e *Emulator) TenantID() string { return e.opts.TenantID }

// ClientID is the client id the token endpoint accepts.
func (e *Emulator) ClientID() string { return e.opts.ClientID }

// ClientSecret is the client secret the token endpoint currently accepts.
func (e *Emulator) ClientSecret() string {
	e.secretMu.Lock()
	defer e.secretMu.Unlock()
	return e.secret
}

// SetClientSecret rotates the client secret: from now on only s gets new
// tokens. Tokens issued before stay valid until they expire.
func (e *Emulator) SetClientSecret(s string) {
	e.secretMu.Lock()
	defer e.secretMu.Unlock()
	e.secret = s
}

// Identity is what WhoAmI answers.
func (e *Emulator) Identity() ports.Identity { return e.identity }

// CAPEM is the emulator's CA certificate in PEM form.
func (e *Emulator) CAPEM() []byte { return append([]byte(nil), e.caPEM...) }

// CAFile is the path of a PEM file holding the CA certificate, for
// SSL_CERT_FILE. Close removes it.
func (e *Emulator) CAFile() string { return e.caFile }

// CertPool is a pool holding the emulator's CA.
func (e *Emulator) CertPool() *x509.CertPool { return e.pool.Clone() }

// HTTPClient returns a new client, with its own connection pool, that
// trusts the emulator's CA and does not follow redirects (a 3xx is
// returned as is). Close closes its idle connections.
func (e *Emulator) HTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: e.CertPool(), MinVersion: tls.VersionTLS12}
	t.ForceAttemptHTTP2 = false
	t.Proxy = nil
	// Keep as many idle connections as a client may have calls in flight
	// (the portal's 52 concurrent requests), so concurrent writers reuse
	// their connections instead of opening new ones.
	t.MaxIdleConnsPerHost = 52
	e.lifeMu.Lock()
	e.transports = append(e.transports, t)
	e.lifeMu.Unlock()
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Env returns the environment a client of the emulator needs, one
// NAME=value per entry: DYNAMICS_BASE_URL, AZURE_TENANT_ID,
// AZURE_AUTHORITY_HOST, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET (the test
// secret), SSL_CERT_FILE and FEATURE_DYNAMICS_PORTAL_ENABLED=true (so the
// live adapter, not the stub, talks to the emulator).
func (e *Emulator) Env() []string {
	return []string{
		"DYNAMICS_BASE_URL=" + e.BaseURL(),
		"AZURE_TENANT_ID=" + e.TenantID(),
		"AZURE_AUTHORITY_HOST=" + e.AuthorityHost(),
		"AZURE_CLIENT_ID=" + e.ClientID(),
		"AZURE_CLIENT_SECRET=" + e.ClientSecret(),
		"SSL_CERT_FILE=" + e.CAFile(),
		"FEATURE_DYNAMICS_PORTAL_ENABLED=true",
	}
}

// Certifications returns the current certifications in key order.
func (e *Emulator) Certifications() []ports.Certification { return e.store.certifications() }

// Assignments returns the assignments in key order (the order the Web API
// lists them by default).
func (e *Emulator) Assignments() []ports.Assignment { return e.store.assignments() }

// DeleteCertification removes a certification, as if someone deleted it in
// the portal. It reports whether the record existed.
func (e *Emulator) DeleteCertification(id string) bool {
	return e.store.deleteCertification(strings.ToLower(id))
}

// DeleteRecords removes certifications and assignments, as if someone
// deleted them in the portal, each table in one pass (for many at once),
// and returns how many of each existed.
func (e *Emulator) DeleteRecords(certIDs, assignIDs []string) (certs, assigns int) {
	set := func(ids []string) map[string]bool {
		m := make(map[string]bool, len(ids))
		for _, id := range ids {
			m[strings.ToLower(id)] = true
		}
		return m
	}
	return e.store.deleteMany(set(certIDs), set(assignIDs))
}

// EndAssignment ends an assignment on the given date, as a coordinator
// would in the portal: end date set, status ended (3), state inactive, a
// new row version. It reports whether the assignment exists.
func (e *Emulator) EndAssignment(id string, on ports.Date) bool {
	return e.store.endAssignment(strings.ToLower(id), on, e.now())
}

// RevokeTokens makes every token issued so far invalid: the Web API
// answers 401 to them. New tokens work.
func (e *Emulator) RevokeTokens() { e.tokens.revoke() }

// IssuedTokens returns every access token the token endpoint handed out
// since Start, revoked and expired ones included, in the order issued, so
// a test can check that no output holds one.
func (e *Emulator) IssuedTokens() []string { return e.tokens.issued() }

// connState counts the TCP connections the server accepts.
func (e *Emulator) connState(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		e.stats.connection()
	}
}

// call is the state of one request as it moves through the pipeline.
type call struct {
	route Route
	reqID string
	// fault is the fault drawn for the request, if any; the list and token
	// handlers read it for the faults that change a normal answer.
	fault *Fault
	// body is a PATCH body, read before anything else: only once it is
	// read does the server notice a client that gives up.
	body    []byte
	bodyErr error
}

// enter registers a request handler, or reports false once Close began.
func (e *Emulator) enter() bool {
	e.lifeMu.Lock()
	defer e.lifeMu.Unlock()
	if e.closed {
		return false
	}
	e.handlers.Add(1)
	return true
}

// ServeHTTP implements http.Handler: route, fault, then the token endpoint
// or the Web API.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !e.enter() {
		http.Error(w, "emulator closed", http.StatusServiceUnavailable)
		return
	}
	defer e.handlers.Done()
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	c := &call{reqID: uuid.NewString()}
	rec.Header().Set("x-ms-service-request-id", c.reqID)
	defer func() { e.logRequest(r, c, rec, start) }()

	route, id, rerr := e.route(r)
	if rerr != nil {
		writeAPIError(rec, rerr)
		return
	}
	c.route = route
	e.stats.request(route)
	switch route {
	case RoutePatch:
		c.body, c.bodyErr = io.ReadAll(io.LimitReader(r.Body, maxPatchBody+1))
	case RouteBatch:
		c.body, c.bodyErr = io.ReadAll(io.LimitReader(r.Body, maxBatchBody+1))
	}

	if f, ok := e.faults.next(route); ok {
		e.stats.fault(route)
		if e.serveFault(rec, r, c, f) {
			return
		}
	}
	if route == RouteToken {
		if !e.wait(rec, r, e.faults.latencyOf(route)) {
			return
		}
		e.serveToken(rec, r, c, id)
		return
	}
	e.serveAPI(rec, r, c, id)
}

// serveAPI authenticates a Web API request, applies the service protection
// limits and the route's latency, and serves it.
func (e *Emulator) serveAPI(w http.ResponseWriter, r *http.Request, c *call, id string) {
	w.Header().Set("OData-Version", "4.0")
	if e.opts.DOPHint > 0 {
		w.Header().Set("x-ms-dop-hint", strconv.Itoa(e.opts.DOPHint))
	}
	user, ok := e.authenticate(w, r)
	if !ok {
		return
	}
	ops := 1
	var parts []batchPart
	if c.route == RouteBatch {
		var aerr *apiError
		if parts, aerr = e.readBatch(w, r, c); aerr != nil {
			if aerr.status != 0 {
				writeAPIError(w, aerr)
			}
			return
		}
		ops = len(parts)
	}
	release, ok := e.limits.acquire(w, user, e.now(), ops)
	if !ok {
		e.stats.throttled()
		return
	}
	start := time.Now()
	defer func() { release(e.now(), time.Since(start)) }()
	// A client that gave up during the latency gets nothing, and a PATCH
	// it gave up on is not applied.
	if !e.wait(w, r, e.faults.latencyOf(c.route)) {
		return
	}
	switch c.route {
	case RouteWhoAmI:
		e.serveWhoAmI(w, r)
	case RouteMetadata:
		e.serveDateMetadata(w, id)
	case RouteCertifications:
		serveList(e, w, r, c, &certSchema)
	case RouteAssignments:
		serveList(e, w, r, c, &assignSchema)
	case RouteCertification:
		e.serveGet(w, r, id)
	case RoutePatch:
		e.servePatch(w, r, c, id)
	case RouteBatch:
		e.serveBatch(w, r, c, parts)
	}
}

// wait waits d of real time before a request is served. When the client
// gives up or the emulator closes first, it drops the connection, so that
// nothing (not even an empty answer) reaches the client, and reports
// false.
func (e *Emulator) wait(w http.ResponseWriter, r *http.Request, d time.Duration) bool {
	ok := r.Context().Err() == nil
	if d > 0 && ok {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			ok = r.Context().Err() == nil
		case <-r.Context().Done():
			ok = false
		case <-e.done:
			ok = false
		}
	}
	if !ok {
		dropConnection(w, false)
	}
	return ok
}

// route maps a request to its route. For the token route id is the tenant
// path segment; for a single certification it is the raw key.
func (e *Emulator) route(r *http.Request) (Route, string, *apiError) {
	p := r.URL.Path
	if tenant, ok := strings.CutSuffix(p, "/oauth2/v2.0/token"); ok && strings.Count(tenant, "/") == 1 && len(tenant) > 1 {
		return RouteToken, tenant[1:], nil
	}
	seg, ok := strings.CutPrefix(p, APIPath)
	if !ok {
		return "", "", &apiError{http.StatusNotFound, codeNoSegment, "Resource not found for the segment '" + p + "'."}
	}
	notAllowed := &apiError{http.StatusMethodNotAllowed, codeNoSegment,
		"The requested resource does not support http method '" + r.Method + "'."}
	if seg == "$batch" {
		if r.Method != http.MethodPost {
			return "", "", notAllowed
		}
		return RouteBatch, "", nil
	}
	if entity, ok := strings.CutPrefix(seg, "EntityDefinitions(LogicalName='"); ok {
		entity, rest, _ := strings.Cut(entity, "')")
		if rest != "/Attributes/Microsoft.Dynamics.CRM.DateTimeAttributeMetadata" {
			return "", "", &apiError{http.StatusNotFound, codeNoSegment, "Resource not found for the segment '" + seg + "'."}
		}
		if r.Method != http.MethodGet {
			return "", "", notAllowed
		}
		return RouteMetadata, entity, nil
	}
	var collection Route
	switch seg {
	case "WhoAmI", "WhoAmI()":
		collection = RouteWhoAmI
	case certSchema.entitySet:
		collection = RouteCertifications
	case assignSchema.entitySet:
		collection = RouteAssignments
	}
	if collection != "" {
		if r.Method != http.MethodGet {
			return "", "", notAllowed
		}
		return collection, "", nil
	}
	if key, ok := strings.CutPrefix(seg, certSchema.entitySet+"("); ok && strings.HasSuffix(key, ")") {
		key = key[:len(key)-1]
		switch r.Method {
		case http.MethodGet:
			return RouteCertification, key, nil
		case http.MethodPatch:
			return RoutePatch, key, nil
		}
		return "", "", notAllowed
	}
	return "", "", &apiError{http.StatusNotFound, codeNoSegment, "Resource not found for the segment '" + seg + "'."}
}

// origin is the scheme and host Web API links use: the host the client
// called when the certificate covers it, else BaseURL.
func (e *Emulator) origin(r *http.Request) string {
	host, port, err := net.SplitHostPort(r.Host)
	if err == nil && port == e.port {
		h := strings.ToLower(strings.Trim(host, "[]"))
		for _, ok := range e.hosts {
			if h == ok {
				return "https://" + r.Host
			}
		}
	}
	return e.baseURL
}

func (e *Emulator) correlationID(r *http.Request) string {
	if v := r.Header.Get(e.opts.CorrelationHeader); v != "" {
		return v
	}
	return r.Header.Get("x-ms-client-request-id")
}

func (e *Emulator) logRequest(r *http.Request, c *call, rec *recorder, start time.Time) {
	if e.log == nil {
		return
	}
	status := rec.status
	if status == 0 {
		status = -1 // no answer: the connection was dropped
	}
	e.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
		slog.String("method", r.Method),
		slog.String("route", string(c.route)),
		slog.String("path", r.URL.Path),
		slog.Bool("continued", r.URL.Query().Has("$skiptoken")),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
		slog.String("service_request_id", c.reqID),
		slog.String("correlation_id", e.correlationID(r)),
	)
}

// recorder remembers the status of a response; Unwrap lets
// http.ResponseController reach the connection for Hijack and Flush.
type recorder struct {
	http.ResponseWriter
	status int
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
