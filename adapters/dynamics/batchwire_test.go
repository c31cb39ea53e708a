package dynamics

import (
	"errors"
	"mime"
	"mime/multipart"
	"strings"
	"testing"
)

func TestEncodeBatch(t *testing.T) {
	body := encodeBatch("batch_x1", []batchRequest{
		{url: "https://hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications(a)?$select=hlf_syncstatus", body: []byte(`{"hlf_syncstatus":1}`)},
		{url: "https://hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications(b)?$select=hlf_syncstatus", body: []byte(`{"hlf_syncstatus":2}`)},
	})
	want := "--batch_x1\r\nContent-Transfer-Encoding: binary\r\nContent-Type: application/http\r\n\r\n" +
		"PATCH https://hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications(a)?$select=hlf_syncstatus HTTP/1.1\r\n" +
		"Content-Type: application/json\r\nIf-Match: *\r\nPrefer: return=representation\r\n\r\n" +
		`{"hlf_syncstatus":1}` + "\r\n" +
		"--batch_x1\r\nContent-Transfer-Encoding: binary\r\nContent-Type: application/http\r\n\r\n" +
		"PATCH https://hlf.crm4.dynamics.com/api/data/v9.2/hlf_certifications(b)?$select=hlf_syncstatus HTTP/1.1\r\n" +
		"Content-Type: application/json\r\nIf-Match: *\r\nPrefer: return=representation\r\n\r\n" +
		`{"hlf_syncstatus":2}` + "\r\n--batch_x1--\r\n"
	if string(body) != want {
		t.Errorf("body:\n%q\nwant\n%q", body, want)
	}
}

// answer builds a $batch answer from raw HTTP responses, one part each.
func answer(parts ...string) (string, []byte) {
	var b strings.Builder
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		w, _ := mw.CreatePart(partHeader)
		_, _ = w.Write([]byte(p))
	}
	_ = mw.Close()
	return mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mw.Boundary()}), []byte(b.String())
}

const (
	part204 = "HTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\n\r\n"
	part200 = "HTTP/1.1 200 OK\r\nContent-Type: application/json; odata.metadata=minimal\r\n\r\n{\"hlf_syncstatus\":1}"
	part404 = "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"0x80040217\",\"message\":\"gone\"}}"
	part429 = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"0x80072321\",\"message\":\"slow down\"}}"
)

func TestDecodeBatch(t *testing.T) {
	ct, body := answer(part204, part200, part404, part429)
	got, err := decodeBatch(ct, body, 4, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus := []int{204, 200, 404, 429}
	for i, a := range got {
		if a.status != wantStatus[i] {
			t.Errorf("part %d: status %d, want %d", i, a.status, wantStatus[i])
		}
	}
	if string(got[1].body) != `{"hlf_syncstatus":1}` || got[3].header.Get("Retry-After") != "7" || len(got[0].body) != 0 {
		t.Errorf("parts: %q, Retry-After %q, %q", got[1].body, got[3].header.Get("Retry-After"), got[0].body)
	}
}

func TestDecodeBatchRefusesUnusableAnswers(t *testing.T) {
	for _, tt := range []struct {
		name    string
		parts   []string
		mangle  func(ct string, b []byte) (string, []byte)
		want    int
		maxPart int64
	}{
		{"fewer parts than requests", []string{part204, part204}, nil, 3, 1 << 10},
		{"more parts than requests", []string{part204, part204, part204}, nil, 2, 1 << 10},
		{"not multipart", nil, func(string, []byte) (string, []byte) { return "application/json", []byte("{}") }, 0, 1 << 10},
		{"no boundary", []string{part204}, func(_ string, b []byte) (string, []byte) { return "multipart/mixed", b }, 1, 1 << 10},
		{"cut short", []string{part204, part204}, func(ct string, b []byte) (string, []byte) { return ct, b[:len(b)/2] }, 2, 1 << 10},
		{"a change set", []string{part204}, func(ct string, b []byte) (string, []byte) {
			return ct, []byte(strings.Replace(string(b), "application/http", "multipart/mixed; boundary=changesetresponse_1", 1))
		}, 1, 1 << 10},
		{"a part that is no HTTP response", []string{"<html>sign in</html>"}, nil, 1, 1 << 10},
		{"a part over the cap", []string{part200}, nil, 1, 4},
	} {
		ct, body := answer(tt.parts...)
		if tt.mangle != nil {
			ct, body = tt.mangle(ct, body)
		}
		if _, err := decodeBatch(ct, body, tt.want, tt.maxPart); !errors.Is(err, errBatchAnswer) {
			t.Errorf("%s: %v, want errBatchAnswer", tt.name, err)
		}
	}
}

// A part's body exactly at the size cap is accepted; one byte more is
// refused.
func TestDecodeBatchPartSizeCapIsInclusive(t *testing.T) {
	const body = `{"hlf_syncstatus":1}`
	ct, b := answer(part200)
	got, err := decodeBatch(ct, b, 1, int64(len(body)))
	if err != nil || string(got[0].body) != body {
		t.Fatalf("a part of exactly the cap (%d bytes): %v; want it accepted", len(body), err)
	}
	if _, err := decodeBatch(ct, b, 1, int64(len(body))-1); !errors.Is(err, errBatchAnswer) {
		t.Errorf("a part one byte over the cap: %v, want errBatchAnswer", err)
	}
}

// Dataverse's own short form: a part whose headers run straight into the
// next boundary, with no blank line, is read; its REQ_ID is kept.
func TestDecodeBatchShortFormAndREQID(t *testing.T) {
	short := "HTTP/1.1 204 No Content\r\nOData-Version: 4.0\r\nREQ_ID: 5f9a1c2e-0d1b-4c8e-9a7f-3e2d1c0b9a87"
	ct, body := answer(short, part200)
	got, err := decodeBatch(ct, body, 2, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].status != 204 || len(got[0].body) != 0 || got[0].header.Get("REQ_ID") != "5f9a1c2e-0d1b-4c8e-9a7f-3e2d1c0b9a87" {
		t.Errorf("the short part: %+v", got[0])
	}
	if got[1].status != 200 || string(got[1].body) != `{"hlf_syncstatus":1}` {
		t.Errorf("the part after it: %+v", got[1])
	}
	// Nothing else is lenient: a part without a status line, or with one
	// that is not HTTP, is refused.
	for _, bad := range []string{"OData-Version: 4.0\r\n\r\n", "SMTP/1.0 250 OK\r\n\r\n", "HTTP/1.1 2x4 No\r\n\r\n"} {
		ct, body := answer(bad)
		if _, err := decodeBatch(ct, body, 1, 1<<10); !errors.Is(err, errBatchAnswer) {
			t.Errorf("%q: %v, want errBatchAnswer", bad, err)
		}
	}
}

// A part's headers are capped, in bytes and in lines.
func TestDecodeBatchCapsAPartsHeaders(t *testing.T) {
	many := "HTTP/1.1 204 No Content\r\n" + strings.Repeat("X-Filler: 1\r\n", MaxPartHeadLines) + "\r\n"
	long := "HTTP/1.1 204 No Content\r\nX-Filler: " + strings.Repeat("a", MaxPartHead) + "\r\n\r\n"
	for name, part := range map[string]string{"too many lines": many, "too many bytes": long} {
		ct, body := answer(part)
		if _, err := decodeBatch(ct, body, 1, 1<<10); !errors.Is(err, errBatchAnswer) || !strings.Contains(err.Error(), "header") {
			t.Errorf("%s: %v, want errBatchAnswer about the headers", name, err)
		}
	}
	ok := "HTTP/1.1 204 No Content\r\n" + strings.Repeat("X-Filler: 1\r\n", MaxPartHeadLines-2) + "\r\n"
	ct, body := answer(ok)
	if _, err := decodeBatch(ct, body, 1, 1<<10); err != nil {
		t.Errorf("headers within the caps: %v", err)
	}
}

// decodeBatch never panics, and what it accepts keeps its promises: as many
// parts as asked, each with a real status and a body within the cap.
func FuzzDecodeBatch(f *testing.F) {
	for _, parts := range [][]string{{part204}, {part200, part404}, {part429, part204},
		{"HTTP/1.1 204 No Content\r\nREQ_ID: 1"}, {"<html>sign in</html>"}} {
		ct, body := answer(parts...)
		f.Add(ct, body, uint8(len(parts)))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte, want uint8) {
		const maxPart = 1 << 10
		got, err := decodeBatch(ct, body, int(want), maxPart)
		if err != nil {
			if !errors.Is(err, errBatchAnswer) {
				t.Fatalf("error %v is not errBatchAnswer", err)
			}
			return
		}
		if len(got) != int(want) {
			t.Fatalf("%d parts for %d asked", len(got), want)
		}
		for i, a := range got {
			if a.status < 100 || a.status > 999 || len(a.body) > maxPart {
				t.Fatalf("part %d: status %d, %d bytes", i+1, a.status, len(a.body))
			}
		}
	})
}
