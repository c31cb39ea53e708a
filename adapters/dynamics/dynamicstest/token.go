package dynamicstest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// tokens are the access tokens issued and not revoked.
type tokens struct {
	mu sync.Mutex
	m  map[string]tokenInfo
	// all lists every token issued, revoked ones included.
	all []string
}

type tokenInfo struct {
	clientID string
	expiry   time.Time
}

// issue returns a new random opaque token.
func (t *tokens) issue(clientID string, expiry time.Time) string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]tokenInfo{}
	}
	t.m[tok] = tokenInfo{clientID: clientID, expiry: expiry}
	t.all = append(t.all, tok)
	return tok
}

func (t *tokens) issued() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.all)
}

// check returns the client id of a token that is known and not expired.
func (t *tokens) check(tok string, now time.Time) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	info, ok := t.m[tok]
	if !ok || !now.Before(info.expiry) {
		return "", false
	}
	return info.clientID, true
}

func (t *tokens) revoke() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m = nil
}

// tokenError is an Entra ID failure: the error, the AADSTS number and the
// description after it.
type tokenError struct {
	status      int
	err         string
	aadsts      int
	description string
}

// serveToken is the client credentials grant of
// POST /{tenant}/oauth2/v2.0/token.
func (e *Emulator) serveToken(w http.ResponseWriter, r *http.Request, c *call, tenant string) {
	clientID, te := e.checkTokenRequest(w, r, tenant)
	if te != nil {
		e.writeTokenError(w, r, c, te)
		return
	}
	lifetime := int64(e.opts.TokenLifetime / time.Second)
	tok := e.tokens.issue(clientID, e.now().Add(e.opts.TokenLifetime))
	e.stats.tokenIssued()

	b := []byte(`{"token_type":"Bearer",`)
	switch {
	case c.fault != nil && c.fault.Kind == FaultNoExpiresIn:
	case c.fault != nil && c.fault.Kind == FaultNegativeExpiresIn:
		b = append(b, `"expires_in":`...)
		b = strconv.AppendInt(b, -lifetime, 10)
		b = append(b, ',')
	default:
		b = append(b, `"expires_in":`...)
		b = strconv.AppendInt(b, lifetime, 10)
		b = append(b, `,"ext_expires_in":`...)
		b = strconv.AppendInt(b, lifetime, 10)
		b = append(b, ',')
	}
	b = append(b, `"access_token":`...)
	b = appendString(b, tok)
	b = append(b, '}')
	tokenHeaders(w, c)
	writeBody(w, http.StatusOK, "application/json; charset=utf-8", b)
}

func tokenHeaders(w http.ResponseWriter, c *call) {
	h := w.Header()
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("x-ms-request-id", c.reqID)
}

// checkTokenRequest validates a token request and returns the client id.
func (e *Emulator) checkTokenRequest(w http.ResponseWriter, r *http.Request, tenant string) (string, *tokenError) {
	missing := func(name string) *tokenError {
		return &tokenError{http.StatusBadRequest, "invalid_request", 900144,
			"The request body must contain the following parameter: '" + name + "'."}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return "", &tokenError{http.StatusMethodNotAllowed, "invalid_request", 900561,
			"The endpoint only accepts POST requests. Received a " + r.Method + " request."}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return "", missing("grant_type")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return "", &tokenError{http.StatusBadRequest, "invalid_request", 900144, "The request body is not a valid form."}
	}
	form := r.PostForm
	grant := form.Get("grant_type")
	if grant == "" {
		return "", missing("grant_type")
	}
	if grant != "client_credentials" {
		return "", &tokenError{http.StatusBadRequest, "unsupported_grant_type", 70003,
			"The app requested an unsupported grant type '" + grant + "'."}
	}
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if bid, bsecret, ok := r.BasicAuth(); ok {
		// RFC 6749 2.3.1: both parts are form-encoded before Basic.
		if v, err := url.QueryUnescape(bid); err == nil {
			bid = v
		}
		if v, err := url.QueryUnescape(bsecret); err == nil {
			bsecret = v
		}
		if id != "" && id != bid {
			return "", &tokenError{http.StatusBadRequest, "invalid_request", 900023,
				"The client_id in the body does not match the one in the Authorization header."}
		}
		id, secret = bid, bsecret
	}
	if id == "" {
		return "", missing("client_id")
	}
	scope := form.Get("scope")
	if scope == "" {
		return "", missing("scope")
	}
	if !strings.EqualFold(tenant, e.opts.TenantID) {
		return "", &tokenError{http.StatusBadRequest, "invalid_request", 90002,
			"Tenant '" + tenant + "' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."}
	}
	if !strings.EqualFold(id, e.opts.ClientID) {
		return "", &tokenError{http.StatusBadRequest, "unauthorized_client", 700016,
			"Application with identifier '" + id + "' was not found in the directory '" + tenant + "'."}
	}
	if te := e.checkScope(scope); te != nil {
		return "", te
	}
	assertion, assertionType := form.Get("client_assertion"), form.Get("client_assertion_type")
	if assertion != "" || assertionType != "" {
		switch {
		case secret != "":
			return "", &tokenError{http.StatusBadRequest, "invalid_request", 700025,
				"Only one of 'client_assertion' or 'client_secret' may be presented."}
		case assertion == "":
			return "", missing("client_assertion")
		case assertionType != clientAssertionType:
			return "", &tokenError{http.StatusBadRequest, "invalid_request", 900144,
				"The request body must contain the following parameter: 'client_assertion_type' with the value '" + clientAssertionType + "'."}
		}
		if te := e.checkAssertion(assertion, id); te != nil {
			return "", te
		}
		return e.opts.ClientID, nil
	}
	if secret == "" {
		return "", &tokenError{http.StatusUnauthorized, "invalid_client", 7000216,
			"'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type."}
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(e.ClientSecret())) != 1 {
		return "", &tokenError{http.StatusUnauthorized, "invalid_client", 7000215,
			"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '" + e.opts.ClientID + "'."}
	}
	return e.opts.ClientID, nil
}

// checkScope accepts exactly one scope, the emulator's environment URL (on
// any host the certificate covers) followed by /.default.
func (e *Emulator) checkScope(scope string) *tokenError {
	notDefault := &tokenError{http.StatusBadRequest, "invalid_scope", 1002012,
		"The provided value for scope " + scope + " is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."}
	fields := strings.Fields(scope)
	if len(fields) != 1 {
		return notDefault
	}
	resource, ok := strings.CutSuffix(fields[0], "/.default")
	if !ok {
		return notDefault
	}
	unknown := &tokenError{http.StatusBadRequest, "invalid_scope", 500011,
		"The resource principal named " + resource + " was not found in the tenant named " + e.opts.TenantID + "."}
	u, err := url.Parse(strings.TrimSuffix(resource, "/"))
	if err != nil || u.Scheme != "https" || u.Path != "" || u.RawQuery != "" || u.User != nil || u.Port() != e.port {
		return unknown
	}
	host := strings.ToLower(u.Hostname())
	for _, h := range e.hosts {
		if host == h {
			return nil
		}
	}
	return unknown
}

// writeTokenError sends an Entra ID error body.
func (e *Emulator) writeTokenError(w http.ResponseWriter, r *http.Request, c *call, te *tokenError) {
	ts := e.now().UTC().Format("2006-01-02 15:04:05Z")
	corr := r.Header.Get("client-request-id")
	if _, err := uuid.Parse(corr); err != nil {
		corr = uuid.NewString()
	}
	code := strconv.Itoa(te.aadsts)
	b := []byte(`{"error":`)
	b = appendString(b, te.err)
	b = append(b, `,"error_description":`...)
	b = appendString(b, "AADSTS"+code+": "+te.description+" Trace ID: "+c.reqID+" Correlation ID: "+corr+" Timestamp: "+ts)
	b = append(b, `,"error_codes":[`...)
	b = append(b, code...)
	b = append(b, `],"timestamp":`...)
	b = appendString(b, ts)
	b = append(b, `,"trace_id":`...)
	b = appendString(b, c.reqID)
	b = append(b, `,"correlation_id":`...)
	b = appendString(b, corr)
	b = append(b, `,"error_uri":`...)
	b = appendString(b, e.AuthorityHost()+"/error?code="+code)
	b = append(b, '}')
	tokenHeaders(w, c)
	writeBody(w, te.status, "application/json; charset=utf-8", b)
}

// clientAssertionType is the client_assertion_type of a signed JWT client
// assertion (RFC 7523).
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
