package dynamics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hlf/dynamicsportal/ports"
	"golang.org/x/oauth2"
)

// cleanMessage reports whether s is fit for an error string: short, valid
// UTF-8, no control characters.
func cleanMessage(s string, n int) bool {
	if len(s) > n || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

func FuzzErrorBody(f *testing.F) {
	for _, name := range []string{"error-not-found.json", "error-throttled-decimal.json", "error-empty-code.json", "signin-page.html"} {
		f.Add(404, []byte(fixture(f, name)))
	}
	f.Add(429, []byte(`{"error":{"code":-2147015902,"message":"a\nb"}}`))
	f.Add(500, []byte(`{"error":{"code":"0xZZ","message":"\u0000"}}`))
	f.Add(302, []byte(`{"error":null}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		status = 100 + abs(status)%900
		k := call{op: "Op", corr: []string{"id"}}
		pe := statusError(k, reply{status: status, body: body, requestID: "r"})
		if pe.Code != statusCode(status) || pe.StatusCode != status || pe.Op != "Op" || pe.CorrelationID != "id" {
			t.Fatalf("status %d mapped to %+v", status, pe)
		}
		if !cleanMessage(pe.Message, maxMessage) || !cleanMessage(pe.ServiceCode, 64) {
			t.Fatalf("unclean message %q or code %q", pe.Message, pe.ServiceCode)
		}
		if normalizeServiceCode(pe.ServiceCode) != pe.ServiceCode {
			t.Fatalf("service code %q is not normalised", pe.ServiceCode)
		}
		if len(body) > 2*maxMessage && strings.Contains(pe.Error(), string(body)) {
			t.Fatalf("the error quotes the whole body")
		}
		// A clean message of a Dataverse error body is kept as it is.
		var eb struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if status >= 400 && status < 600 && json.Unmarshal(body, &eb) == nil && eb.Error.Message != "" &&
			cleanMessage(eb.Error.Message, maxMessage) && isASCII(eb.Error.Message) && pe.Message != eb.Error.Message {
			t.Fatalf("message %q became %q", eb.Error.Message, pe.Message)
		}
	})
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func FuzzTokenError(f *testing.F) {
	f.Add(401, []byte(fixture(f, "token-error-invalid-client.json")))
	f.Add(400, []byte(`{"error":"temporarily_unavailable","trace_id":"t\n"}`))
	f.Add(429, []byte(`{"error":"","error_description":7}`))
	f.Add(503, []byte(`<html>busy</html>`))
	f.Add(302, []byte(``))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		status = 100 + abs(status)%900
		// Fill the error code as oauth2 does: from the JSON "error" field.
		var tj struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &tj)
		re := &oauth2.RetrieveError{Response: &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {string(body)}}},
			Body: body, ErrorCode: tj.Error}
		tf := tokenRetrieveFailure(re)
		pe := tf.pe
		if pe.Op != "token" || pe.StatusCode != status || pe.RetryAfter < 0 {
			t.Fatalf("%+v", pe)
		}
		checkTokenRetry(t, tf, "token failure")
		switch tj.Error {
		case "invalid_client", "unauthorized_client", "invalid_scope":
			if pe.Code != ports.CodeAuthFailure {
				t.Fatalf("%s mapped to %v", tj.Error, pe.Code)
			}
		}
		if !cleanMessage(pe.Message, maxMessage) || !cleanMessage(pe.ServiceRequestID, 128) || !cleanMessage(pe.ServiceCode, 128) {
			t.Fatalf("unclean %+v", pe)
		}
		if len(body) > 4*maxMessage && strings.Contains(pe.Error(), string(body)) {
			t.Fatalf("the error quotes the whole body")
		}
	})
}

func FuzzDecodePage(f *testing.F) {
	for _, name := range []string{"certifications-page1.json", "certifications-page2.json", "assignments-page.json", "whoami.json", "signin-page.html"} {
		f.Add([]byte(fixture(f, name)))
	}
	f.Add([]byte(`{"value":[{"hlf_certificationid":"` + certID + `","hlf_issuedon":null}],"@odata.nextLink":"https://hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications?x"}`))
	f.Add([]byte(`{"value":[],"@odata.nextLink":"https://evil.example/api/data/v9.2/hlf_certifications"}`))
	c, err := New(testBase, goodCreds(), &Options{Tenant: testTenant})
	if err != nil {
		f.Fatal(err)
	}
	k := call{op: "ListCertifications", url: c.cert.list, corr: []string{"id"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := reply{status: 200, contentType: "application/json", body: body}
		p, err := decodePage(c, &c.cert, k, r, utcDates, (*wireCertification).certification)
		if err != nil {
			if pe, ok := errors.AsType[*ports.PortalError](err); !ok || pe.Code != ports.CodeInvalidResponse {
				t.Fatalf("decode error %v is not invalidResponse", err)
			}
			if !cleanMessage(err.Error(), 1024) {
				t.Fatalf("unclean error %q", err)
			}
			return
		}
		var raw struct {
			Value []json.RawMessage `json:"value"`
		}
		if json.Unmarshal(body, &raw) != nil || len(raw.Value) != len(p.Items) {
			t.Fatalf("%d items from a body of %d values", len(p.Items), len(raw.Value))
		}
		for _, cert := range p.Items {
			if !ports.IsID(cert.ID) || !optionalGUID(cert.ContactID) {
				t.Fatalf("record with a malformed GUID: %+v", cert)
			}
		}
		if p.Next != "" {
			u, err := url.Parse(p.Next)
			if err != nil || u.Scheme != "https" || !strings.EqualFold(u.Host, "hlf.crm4.dynamics.com") || u.Path != c.cert.path || p.Next == k.url {
				t.Fatalf("accepted nextLink %q", p.Next)
			}
		}
	})
}

func FuzzContinuation(f *testing.F) {
	f.Add(testBase + "/api/data/v9.2/hlf_certifications?$skiptoken=%3Ccookie%20pagenumber=%222%22%20/%3E")
	f.Add("https://elsewhere.example/api/data/v9.2/hlf_certifications")
	f.Add("https://hlf.crm4.dynamics.com@evil.example/api/data/v9.2/hlf_certifications")
	f.Add("https://hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications/../WhoAmI")
	f.Add("//hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications")
	f.Add(certPage("%3Ccookie%20pagenumber=%222%22%20/%3E"))
	f.Add(certPage("2") + "&$filter=modifiedon%20gt%202026-11-01T00:00:00Z")
	f.Add(certPage("2") + "&$filter=statecode%20eq%2099")
	c, err := New(testBase, goodCreds(), &Options{Tenant: testTenant})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, cont string) {
		u, err := c.pageURL("ListCertifications", &c.cert, ports.PageQuery{Continuation: cont})
		if err != nil {
			if pe, ok := errors.AsType[*ports.PortalError](err); !ok || pe.Code != ports.CodeInvalidRequest ||
				strings.Contains(cont, "://") && strings.Contains(pe.Error(), cont) {
				t.Fatalf("refusal %v", err)
			}
			return
		}
		if cont == "" {
			if u != c.cert.list {
				t.Fatalf("first page URL %q", u)
			}
			return
		}
		p, err := url.Parse(u)
		if err != nil || u != cont || p.Scheme != "https" || !strings.EqualFold(p.Host, "hlf.crm4.dynamics.com") ||
			p.User != nil || p.Path != "/api/data/v9.2/hlf_certifications" {
			t.Fatalf("accepted continuation %q", cont)
		}
		// It reads the listing's own columns, in its own order, and
		// nothing but what the client's own filter lets through.
		q := p.Query()
		if q.Get("$select") != certificationColumns || q.Get("$orderby") != "hlf_certificationid asc" || q.Get("$skiptoken") == "" ||
			q.Has("$filter") && !strings.HasPrefix(q.Get("$filter"), "modifiedon gt ") || len(q) > 4 {
			t.Fatalf("accepted continuation %q changes the listing: %v", cont, q)
		}
		// A request to it goes to the portal's host only.
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil || !strings.EqualFold(req.URL.Host, "hlf.crm4.dynamics.com") {
			t.Fatalf("request to %v (%v)", req, err)
		}
	})
}

func FuzzNew(f *testing.F) {
	f.Add(testBase, DefaultAuthorityHost)
	f.Add("http://hlf.crm4.dynamics.com", "https://login.microsoftonline.us/")
	f.Add("https://user:"+secretMarker+"@hlf.crm4.dynamics.com", "https://login.partner.microsoftonline.cn")
	f.Add("https://hlf.crm4.dynamics.com/org/", "https://login.microsoftonline.com?x")
	f.Add("HTTPS://hlf.crm4.dynamics.com:443", "https://[::1]:8443")
	f.Fuzz(func(t *testing.T, base, authority string) {
		c, err := New(base, goodCreds(), &Options{Tenant: testTenant, AuthorityHost: authority})
		if err != nil {
			if c != nil || !errors.Is(err, ports.ErrInvalidConfig) {
				t.Fatalf("refusal returned %v, %v", c, err)
			}
			for _, in := range []string{base, authority} {
				if strings.Contains(in, "://") && len(in) > 10 && strings.Contains(err.Error(), in) {
					t.Fatalf("error %q echoes the URL", err)
				}
			}
			return
		}
		for _, s := range []string{c.whoAmIURL, c.tokens.tokenURL, c.tokens.scope} {
			u, err := url.Parse(s)
			if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
				t.Fatalf("accepted %q, %q: built %q", base, authority, s)
			}
		}
		if !strings.HasSuffix(c.tokens.tokenURL, "/"+testTenant+"/oauth2/v2.0/token") || strings.Contains(c.whoAmIURL, "//api") {
			t.Fatalf("built %q and %q", c.tokens.tokenURL, c.whoAmIURL)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		if n == -n { // the smallest int
			return 0
		}
		return -n
	}
	return n
}

// FuzzNextLink puts any string into the nextLink of an otherwise good page.
// An accepted nextLink sends the next request to the portal's host, over
// https, to the certification collection; a refused one is
// invalidResponse and its error never quotes the link.
func FuzzNextLink(f *testing.F) {
	set := testBase + "/api/data/v9.2/hlf_certifications"
	for _, s := range []string{
		"",
		set + "?$skiptoken=%3Ccookie%20pagenumber=%222%22%20/%3E",
		"https://HLF.crm4.dynamics.com/api/data/v9.2/hlf_certifications?$skiptoken=2",
		"http://hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications?$skiptoken=2",
		"https://evil.example/api/data/v9.2/hlf_certifications",
		"https://hlf.crm4.dynamics.com@evil.example/api/data/v9.2/hlf_certifications",
		"https://evil.example#@hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications",
		"https://hlf.crm4.dynamics.com:8443/api/data/v9.2/hlf_certifications",
		"https://hlf.crm4.dynamics.com./api/data/v9.2/hlf_certifications",
		"https://hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications/../WhoAmI",
		"https://hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications%2F..%2FWhoAmI",
		"//evil.example/api/data/v9.2/hlf_certifications",
		"/api/data/v9.2/hlf_certifications?$skiptoken=2",
		"https:/api/data/v9.2/hlf_certifications",
		"https://[::1]/api/data/v9.2/hlf_certifications",
		"https://hlf.crm4.dynamics.com\\@evil.example/api/data/v9.2/hlf_certifications",
	} {
		f.Add(s)
	}
	c, err := New(testBase, goodCreds(), &Options{Tenant: testTenant})
	if err != nil {
		f.Fatal(err)
	}
	k := call{op: "ListCertifications", url: c.cert.list, corr: []string{"id"}}
	f.Fuzz(func(t *testing.T, next string) {
		if !utf8.ValidString(next) {
			t.Skip("JSON carries only valid UTF-8")
		}
		body, err := json.Marshal(map[string]any{
			"value":           []map[string]string{{"hlf_certificationid": certID}},
			"@odata.nextLink": next,
		})
		if err != nil {
			t.Skip("not encodable as JSON")
		}
		r := reply{status: 200, contentType: "application/json", body: body}
		p, err := decodePage(c, &c.cert, k, r, utcDates, (*wireCertification).certification)
		if err != nil {
			pe, ok := errors.AsType[*ports.PortalError](err)
			if !ok || pe.Code != ports.CodeInvalidResponse || !strings.Contains(pe.Message, "nextLink") {
				t.Fatalf("nextLink %q refused with %v", next, err)
			}
			if strings.Contains(next, "://") && len(next) > 12 && strings.Contains(err.Error(), next) {
				t.Fatalf("error %q quotes the nextLink", err)
			}
			return
		}
		if len(p.Items) != 1 || p.Items[0].ID != certID {
			t.Fatalf("items %+v", p.Items)
		}
		if next == "" {
			if p.Next != "" {
				t.Fatalf("Next %q without a nextLink", p.Next)
			}
			return
		}
		if p.Next != next || next == k.url {
			t.Fatalf("nextLink %q gave Next %q", next, p.Next)
		}
		req, err := http.NewRequest(http.MethodGet, p.Next, nil)
		if err != nil {
			t.Fatalf("accepted nextLink %q is no request: %v", next, err)
		}
		if req.URL.Scheme != "https" || !strings.EqualFold(req.URL.Hostname(), "hlf.crm4.dynamics.com") ||
			req.URL.Port() != "" || req.URL.User != nil || req.URL.Path != c.cert.path || req.Host != req.URL.Host {
			t.Fatalf("accepted nextLink %q sends the token to %s://%s%s", next, req.URL.Scheme, req.URL.Host, req.URL.Path)
		}
	})
}

// FuzzRedactURL builds a URL whose last query value holds a marker. The
// debug log's URL shows the marker only when the value belongs to one of
// the allow-listed parameters, and never shows a fragment.
func FuzzRedactURL(f *testing.F) {
	f.Add("$select=a,b", "$skiptoken", "x")
	f.Add("", "$select", "")
	f.Add("a=1&b", "%24filter", "modifiedon%20gt%20x")
	f.Add("x#frag", "code", "y")
	f.Add("", "$top&token", "1")
	f.Add("", "$orderby=k&client_secret", "z")
	f.Add("", "%zz", "v")
	f.Add("", "%24%73elect", "v")
	f.Add("", "$select=", "v")
	f.Add("", "", "")
	const prefix = testBase + "/api/data/v9.2/hlf_certifications?"
	safe := map[string]bool{"$select": true, "$orderby": true, "$top": true, "$count": true, "$expand": true}
	f.Fuzz(func(t *testing.T, before, key, value string) {
		u := prefix + before + "&" + key + "=" + secretMarker + value
		got := redactURL(u)
		if strings.Contains(got, "#") {
			t.Fatalf("redactURL(%q) = %q keeps a fragment", u, got)
		}
		if !strings.HasPrefix(got, prefix) && !strings.Contains(before, "#") {
			t.Fatalf("redactURL(%q) = %q lost the path", u, got)
		}
		if !strings.Contains(got, secretMarker) {
			return
		}
		// The marker shows: the pair holding it must be an allow-listed
		// parameter, not cut off by a fragment.
		pair := key[strings.LastIndex(key, "&")+1:]
		name, _, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if !safe[name] || strings.Contains(before+key, "#") {
			t.Fatalf("redactURL(%q) = %q shows the value of %q", u, got, name)
		}
	})
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzTokenResponse answers a token request with any status, content type
// and body. A success is a bearer token fit for a header, taken from the
// body, cached only with a known lifetime; a failure is a token error of a
// known code whose retry verdict matches the code and whose text is clean
// and never holds the client secret or the whole body.
func FuzzTokenResponse(f *testing.F) {
	f.Add(200, "application/json", []byte(fixture(f, "token-success.json")))
	f.Add(200, "application/json", []byte(`{"token_type":"Bearer","access_token":"abc"}`))
	f.Add(200, "application/json", []byte(`{"token_type":"Bearer","expires_in":-5,"access_token":"abc"}`))
	f.Add(200, "application/json", []byte(`{"token_type":"Bearer","expires_in":"3599","access_token":"a b"}`))
	f.Add(200, "text/plain", []byte(`access_token=abc&token_type=bearer&expires_in=3600`))
	f.Add(200, "text/html", []byte(`<html>sign in</html>`))
	f.Add(200, "application/json", []byte(`{"access_token":""}`))
	f.Add(401, "application/json", []byte(fixture(f, "token-error-invalid-client.json")))
	f.Add(400, "application/json", []byte(`{"error":"invalid_scope","error_description":"x\u0000y","trace_id":"t"}`))
	f.Add(429, "application/json", []byte(`{"error":"temporarily_unavailable"}`))
	f.Add(503, "text/plain", []byte(`busy`))
	f.Add(302, "", []byte(``))
	f.Fuzz(func(t *testing.T, code int, ctype string, body []byte) {
		code = 100 + abs(code)%500
		if code == http.StatusSwitchingProtocols {
			code = http.StatusOK // http.Client handles 101 itself
		}
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Body != nil {
				_, _ = io.Copy(io.Discard, r.Body)
				r.Body.Close()
			}
			h := http.Header{"Retry-After": {"2"}}
			if ctype != "" {
				h.Set("Content-Type", ctype)
			}
			return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(bytes.NewReader(body)),
				ContentLength: int64(len(body)), Request: r}, nil
		})}
		c, err := New(testBase, goodCreds(), &Options{Tenant: testTenant, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		tok, tf := c.tokens.fetch(context.Background())
		if tf == nil {
			if code < 200 || code > 299 {
				t.Fatalf("status %d gave a token", code)
			}
			v, ok := strings.CutPrefix(tok.header[0], "Bearer ")
			if !ok || !headerSafe(v) || !bytes.Contains(body, []byte(v)) && !bytes.Contains(body, []byte(url.QueryEscape(v))) {
				t.Fatalf("token header %q from body %q", tok.header[0], body)
			}
			// encoding/json matches keys without regard to case.
			if !tok.expiry.IsZero() && !bytes.Contains(bytes.ToLower(body), []byte("expires_in")) {
				t.Fatalf("a token without expires_in got the expiry %v", tok.expiry)
			}
			return
		}
		pe := tf.pe
		if pe.Op != tokenOp || pe.RetryAfter < 0 {
			t.Fatalf("token failure %+v", pe)
		}
		checkTokenRetry(t, tf, fmt.Sprintf("status %d", code))
		msg := pe.Error()
		if !cleanMessage(pe.Message, maxMessage) || !cleanMessage(pe.ServiceRequestID, 128) || !cleanMessage(pe.ServiceCode, 128) {
			t.Fatalf("unclean %+v", pe)
		}
		if strings.Contains(msg, secretMarker) || strings.Contains(msg, url.QueryEscape(secretMarker)) {
			t.Fatalf("error %q holds the client secret", msg)
		}
		if len(body) > 4*maxMessage && strings.Contains(msg, string(body)) {
			t.Fatalf("the error quotes the whole body")
		}
		if c.tokens.cur.Load() != nil {
			t.Fatalf("a failed fetch cached a token")
		}
	})
}

// checkTokenRetry fails the test unless a token failure has one of the
// codes a token fetch may end with, and is retried exactly when its code
// is one a retry can cure (rateLimited, serverError).
func checkTokenRetry(t *testing.T, tf *tokenFailure, what string) {
	t.Helper()
	switch pe := tf.pe; pe.Code {
	case ports.CodeRateLimited, ports.CodeServerError:
		if !tf.retry {
			t.Fatalf("%v not retried", pe.Code)
		}
	case ports.CodeAuthFailure, ports.CodeInvalidResponse:
		if tf.retry {
			t.Fatalf("%v retried", pe.Code)
		}
	default:
		t.Fatalf("%s mapped to %v", what, pe.Code)
	}
}
