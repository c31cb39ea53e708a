package dynamics

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/hlf/dynamicsportal/ports"
)

func rawAnswer(code int, ctype, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

func TestUnusableSuccessIsInvalidResponse(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)
	tests := []struct {
		name string
		h    http.HandlerFunc
		call func(ctx context.Context, c *Client) error
	}{
		{"sign-in page", rawAnswer(200, "text/html; charset=utf-8", fixture(t, "signin-page.html")), listCerts},
		{"no content type", rawAnswer(200, "", `{"value":[]}`), listCerts},
		{"HTML labelled JSON", rawAnswer(200, "application/json", fixture(t, "signin-page.html")), listCerts},
		{"truncated JSON", okJSON(`{"value":[{"hlf_certificationid":"` + certID), listCerts},
		{"empty body", okJSON(``), listCerts},
		{"no value array", okJSON(`{}`), listCerts},
		{"null value", okJSON(`{"value":null}`), listCerts},
		{"an array", okJSON(`[]`), listCerts},
		{"null", okJSON(`null`), whoAmI},
		{"wrong type", okJSON(`{"value":[{"hlf_certificationid":5}]}`), listCerts},
		{"bad date", okJSON(`{"value":[{"hlf_certificationid":"` + certID + `","hlf_issuedon":"01.03.2025"}]}`), listCerts},
		{"malformed key", okJSON(`{"value":[{"hlf_certificationid":"abc"}]}`), listCerts},
		{"malformed lookup", okJSON(`{"value":[{"hlf_assignmentid":"` + certID + `","_hlf_mentor_value":"x"}]}`), listAssignments},
		{"deeply nested", okJSON(`{"value":[],"x":` + deep + `}`), listCerts},
		{"WhoAmI without ids", okJSON(`{"UserId":"` + certID + `"}`), whoAmI},
		{"record without key", okJSON(`{"hlf_name":"x"}`), getCert},
		{"write answer without key", okJSON(`{"hlf_syncstatus":2}`), writeSync},
		{"write answer as HTML", rawAnswer(200, "text/html", "<html></html>"), writeSync},
		{"1xx", rawAnswer(199, "application/json", `{}`), whoAmI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeNet{api: tt.h}
			c := newNetClient(t, f)
			err := tt.call(t.Context(), c)
			pe := wantCode(t, err, ports.CodeInvalidResponse)
			if len(f.apiSeen()) != 1 {
				t.Errorf("%d requests, want 1 (no retry)", len(f.apiSeen()))
			}
			if strings.Contains(err.Error(), "<html") || strings.Contains(err.Error(), "Sign in") || pe.Message == "" {
				t.Errorf("error %q", err)
			}
		})
	}
}

func listCerts(ctx context.Context, c *Client) error {
	_, err := c.ListCertifications(ctx, ports.PageQuery{})
	return err
}

func listAssignments(ctx context.Context, c *Client) error {
	_, err := c.ListAssignments(ctx, ports.PageQuery{})
	return err
}

func whoAmI(ctx context.Context, c *Client) error {
	_, err := c.WhoAmI(ctx)
	return err
}

func getCert(ctx context.Context, c *Client) error {
	_, err := c.GetCertification(ctx, certID)
	return err
}

func writeSync(ctx context.Context, c *Client) error {
	_, err := c.WriteSyncMetadata(ctx, certID, ports.SyncMetadata{Status: 1, LastSyncedOn: time.Now()})
	return err
}

func TestErrorBodyMapping(t *testing.T) {
	long := strings.Repeat("é", 600) // 1200 bytes
	tests := []struct {
		name    string
		status  int
		body    string
		code    ports.ErrorCode
		service string
		message string
	}{
		{"not found, hex code", 404, fixture(t, "error-not-found.json"), ports.CodeNotFound, "0x80040217",
			"hlf_certification With Id = 9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f Does Not Exist"},
		{"throttled, decimal code", 429, fixture(t, "error-throttled-decimal.json"), ports.CodeRateLimited, "0x80072322",
			"Number of requests exceeded the limit of 6000 over time window of 300 seconds."},
		{"empty code", 500, fixture(t, "error-empty-code.json"), ports.CodeServerError, "", "An unexpected error occurred."},
		{"numeric code", 400, `{"error":{"code":-2147220969,"message":"m"}}`, ports.CodeInvalidRequest, "0x80040217", "m"},
		{"null code", 400, `{"error":{"code":null,"message":"m"}}`, ports.CodeInvalidRequest, "", "m"},
		{"object code", 400, `{"error":{"code":{"x":1},"message":"m"}}`, ports.CodeInvalidRequest, "", "m"},
		{"upper-case hex", 412, `{"error":{"code":"0X80060882","message":"m"}}`, ports.CodeInvalidRequest, "0x80060882", "m"},
		{"odd code kept", 409, `{"error":{"code":"DuplicateRecord","message":"m"}}`, ports.CodeInvalidRequest, "DuplicateRecord", "m"},
		{"forbidden", 403, `{"error":{"code":"0x80040220","message":"no privilege"}}`, ports.CodeAuthFailure, "0x80040220", "no privilege"},
		{"HTML error page", 502, `<html><body>Bad gateway</body></html>`, ports.CodeServerError, "", ""},
		{"bad escape", 400, `{"error":{"code":"\x","message":"m"}}`, ports.CodeInvalidRequest, "", ""},
		{"control characters", 400, `{"error":{"code":"0x1","message":"line1\nline2\u001b[31m"}}`, ports.CodeInvalidRequest, "0x00000001", "line1 line2 [31m"},
		{"long message", 422, `{"error":{"code":"","message":"` + long + `"}}`, ports.CodeInvalidRequest, "", strings.Repeat("é", 256)},
		{"405", 405, `{}`, ports.CodeInvalidRequest, "", ""},
		{"413", 413, ``, ports.CodeInvalidRequest, "", ""},
		{"418", 418, ``, ports.CodeInvalidRequest, "", ""},
		{"501", 501, ``, ports.CodeServerError, "", ""},
		{"505", 505, ``, ports.CodeServerError, "", ""},
		{"304", 304, ``, ports.CodeInvalidResponse, "", "redirect not followed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeNet{api: func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("x-ms-service-request-id", "srv-"+strconv.Itoa(tt.status))
					w.Header().Set("Retry-After", "30")
					writeJSON(w, tt.status, tt.body)
				}}
				c := newNetClient(t, f)
				_, err := c.GetCertification(t.Context(), certID)
				pe := wantCode(t, err, tt.code)
				if pe.ServiceCode != tt.service || pe.Message != tt.message || pe.StatusCode != tt.status ||
					pe.ServiceRequestID != "srv-"+strconv.Itoa(tt.status) || pe.Op != "GetCertification" || pe.RetryAfter != 30*time.Second {
					t.Errorf("error %+v", pe)
				}
				if len(pe.Message) > maxMessage || !utf8.ValidString(pe.Message) {
					t.Errorf("message of %d bytes, valid UTF-8 %v", len(pe.Message), utf8.ValidString(pe.Message))
				}
			})
		})
	}
}

func TestBodyCaps(t *testing.T) {
	page := `{"value":[` + strings.Repeat(`{"hlf_certificationid":"`+certID+`"},`, 40) + `{"hlf_certificationid":"` + certID + `"}]}`
	errorBody := `{"error":{"code":"0x80040217","message":"` + strings.Repeat("x", MaxErrorBody) + `"}}`
	atCap := `{"error":{"code":"0x80040217","message":"` + strings.Repeat("x", MaxErrorBody-44) + `"}}`
	if len(atCap) != MaxErrorBody {
		t.Fatalf("at-cap body is %d bytes", len(atCap))
	}
	tests := []struct {
		name   string
		h      http.HandlerFunc
		code   ports.ErrorCode
		status int
	}{
		{"page over the cap", okJSON(page), ports.CodeInvalidResponse, 200},
		{"page over the cap, no length", rawAnswer(200, "application/json", page), ports.CodeInvalidResponse, 200},
		{"page under the cap", okJSON(page[:1000] + `"}]}`), ports.CodeInvalidResponse, 200},
		{"error body over the cap", status(404, errorBody), ports.CodeInvalidResponse, 404},
		{"error body over the cap, no length", rawAnswer(503, "application/json", errorBody), ports.CodeInvalidResponse, 503},
		{"error body at the cap", status(404, atCap), ports.CodeNotFound, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeNet{api: tt.h}
			c := newNetClient(t, f)
			c.maxPageBody = 1024
			_, err := c.ListCertifications(t.Context(), ports.PageQuery{})
			pe := wantCode(t, err, tt.code)
			if pe.StatusCode != tt.status || len(f.apiSeen()) != 1 {
				t.Errorf("error %+v after %d requests", pe, len(f.apiSeen()))
			}
		})
	}
	t.Run("a page at the cap is read", func(t *testing.T) {
		f := &fakeNet{api: rawAnswer(200, "application/json", page)}
		c := newNetClient(t, f)
		c.maxPageBody = int64(len(page))
		p, err := c.ListCertifications(t.Context(), ports.PageQuery{})
		if err != nil || len(p.Items) != 41 {
			t.Fatalf("%d items, %v", len(p.Items), err)
		}
	})
}

func TestNextLinkChecks(t *testing.T) {
	set := testBase + "/api/data/v9.2/hlf_certifications"
	firstPage := set + "?$select=" + certificationColumns + "&$orderby=hlf_certificationid%20asc"
	page := func(next string) http.HandlerFunc {
		return okJSON(`{"value":[{"hlf_certificationid":"` + certID + `"}],"@odata.nextLink":"` + next + `"}`)
	}
	for name, next := range map[string]string{
		"foreign host":     "https://elsewhere.example/api/data/v9.2/hlf_certifications?$skiptoken=2",
		"http scheme":      "http://hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications?$skiptoken=2",
		"other collection": testBase + "/api/data/v9.2/hlf_assignments?$skiptoken=2",
		"user info":        "https://x@hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications?$skiptoken=2",
		"not a URL":        "%zz",
		"the same page":    firstPage,
	} {
		t.Run(name, func(t *testing.T) {
			f := &fakeNet{api: page(next)}
			c := newNetClient(t, f)
			_, err := c.ListCertifications(t.Context(), ports.PageQuery{})
			pe := wantCode(t, err, ports.CodeInvalidResponse)
			if !strings.Contains(pe.Message, "nextLink") {
				t.Errorf("error %+v", pe)
			}
			for _, s := range f.seen() {
				if s.host != "hlf.crm4.dynamics.com" && s.host != "login.microsoftonline.com" {
					t.Errorf("request sent to %s", s.host)
				}
			}
			if len(f.apiSeen()) != 1 {
				t.Errorf("%d requests, want 1", len(f.apiSeen()))
			}
		})
	}
	t.Run("a continuation answered with itself", func(t *testing.T) {
		cont := certPage("5")
		f := &fakeNet{api: page(cont)}
		c := newNetClient(t, f)
		_, err := c.ListCertifications(t.Context(), ports.PageQuery{Continuation: cont})
		wantCode(t, err, ports.CodeInvalidResponse)
	})
	t.Run("a good nextLink", func(t *testing.T) {
		next := strings.Replace(certPage("5"), "hlf.crm4", "HLF.crm4", 1)
		f := &fakeNet{api: page(next)}
		c := newNetClient(t, f)
		p, err := c.ListCertifications(t.Context(), ports.PageQuery{})
		if err != nil || p.Next != next {
			t.Fatalf("page %+v, %v", p, err)
		}
	})
}
