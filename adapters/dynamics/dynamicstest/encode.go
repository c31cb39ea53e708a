package dynamicstest

import (
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hlf/dynamicsportal/ports"
)

// The Web API's JSON content type.
const contentTypeOData = "application/json; odata.metadata=minimal"

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			} else {
				b = append(b, `\ufffd`...) // invalid UTF-8
			}
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendStringOrNull(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return appendString(b, s)
}

// appendChoice appends a choice value; 0 is null.
func appendChoice(b []byte, v int) []byte {
	if v == 0 {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, int64(v), 10)
}

// appendDate appends a date-only value "2006-01-02", or null.
func appendDate(b []byte, d ports.Date) []byte {
	if d.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = appendDigits(b, d.Year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(d.Month), 2)
	b = append(b, '-')
	b = appendDigits(b, d.Day, 2)
	return append(b, '"')
}

func appendDigits(b []byte, v, width int) []byte {
	var buf [8]byte
	i := len(buf)
	for ; width > 0 || v > 0; width-- {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[i:]...)
}

// timeLayout is how Dataverse writes timestamps: UTC, whole seconds.
const timeLayout = "2006-01-02T15:04:05Z"

// appendTime appends a timestamp in timeLayout, or null for the zero time.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	b = append(b, '"')
	b = appendDigits(b, y, 4)
	b = append(b, '-')
	b = appendDigits(b, int(mo), 2)
	b = append(b, '-')
	b = appendDigits(b, d, 2)
	b = append(b, 'T')
	b = appendDigits(b, h, 2)
	b = append(b, ':')
	b = appendDigits(b, mi, 2)
	b = append(b, ':')
	b = appendDigits(b, s, 2)
	return append(b, 'Z', '"')
}

// appendRecord appends one row as a JSON object.
func appendRecord[R any](b []byte, s *schema[R], r *R, cols []int, dates dateForms) []byte {
	b = append(b, '{')
	b = appendFields(b, s, r, cols, dates)
	return append(b, '}')
}

// dateForms sends the date columns that are not DateOnly in their
// behaviour's form (see Options.DateBehaviors); nil sends every date as a
// date only.
type dateForms map[string]func(b []byte, d ports.Date) []byte

// newDateForms returns the forms of the behaviours: TimeZoneIndependent
// sends the date at midnight UTC, as written; UserLocal sends the instant of
// midnight in zone, in UTC, as Dataverse stores a user's local date.
func newDateForms(behaviors map[string]string, zone *time.Location) dateForms {
	forms := dateForms{}
	for col, b := range behaviors {
		switch b {
		case "TimeZoneIndependent":
			forms[col] = func(b []byte, d ports.Date) []byte { return appendDateTime(b, d, time.UTC) }
		case "UserLocal":
			forms[col] = func(b []byte, d ports.Date) []byte { return appendDateTime(b, d, zone) }
		}
	}
	return forms
}

// appendDateTime appends midnight of d in zone as a UTC date-time, or null.
func appendDateTime(b []byte, d ports.Date, zone *time.Location) []byte {
	if d.IsZero() {
		return append(b, "null"...)
	}
	return appendTime(b, time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, zone))
}

// appendFields appends the members of a row: the entity tag, then the
// columns cols (indices into s.columns) in table order.
func appendFields[R any](b []byte, s *schema[R], r *R, cols []int, dates dateForms) []byte {
	b = append(b, `"@odata.etag":"W/\"`...)
	b = strconv.AppendInt(b, s.version(r), 10)
	b = append(b, `\""`...)
	for _, i := range cols {
		c := &s.columns[i]
		b = append(b, ',', '"')
		b = append(b, c.name...)
		b = append(b, '"', ':')
		if form := dates[c.name]; form != nil && c.date != nil {
			b = form(b, c.date(r))
			continue
		}
		b = c.value(b, r)
	}
	return b
}

// Response buffers are reused; a page of 5000 records is about 2 MB.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

const maxPooledBuf = 16 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// writeBody sends body with the given status and content type.
func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// apiError is a Web API failure, sent as {"error":{"code","message"}}.
type apiError struct {
	status  int
	code    string
	message string
}

// Dataverse error codes the emulator answers with.
const (
	codeNotFound        = "0x80040217" // record does not exist
	codeNoSegment       = "0x80060888" // bad path, query option, column or filter
	codeVersionMismatch = "0x80060882" // If-Match did not hold
	codeDuplicate       = "0x80040237" // If-None-Match: * and the record exists
	codeBadPayload      = "0x80048d19" // malformed or mistyped request body
	codeOutOfRange      = "0x8004431a" // choice value outside its range
	codeUnauthorized    = "0x80048306" // missing, unknown, expired or revoked token
	codeRequestLimit    = "0x80072322" // service protection: request count
	codeExecutionLimit  = "0x80072321" // service protection: execution time
	codeConcurrency     = "0x80072326" // service protection: concurrent requests
	codeUnexpected      = "0x80040216" // generic server failure
)

func notFound(id string) *apiError {
	return &apiError{http.StatusNotFound, codeNotFound, certSchema.entity + " With Id = " + id + " Does Not Exist"}
}

func badRequest(code, message string) *apiError {
	return &apiError{http.StatusBadRequest, code, message}
}

func appendAPIError(b []byte, code, message string) []byte {
	b = append(b, `{"error":{"code":`...)
	b = appendString(b, code)
	b = append(b, `,"message":`...)
	b = appendString(b, message)
	return append(b, "}}"...)
}

// writeAPIError sends a Dataverse-shaped error.
func writeAPIError(w http.ResponseWriter, err *apiError) {
	w.Header().Set("OData-Version", "4.0")
	writeBody(w, err.status, contentTypeOData, appendAPIError(nil, err.code, err.message))
}
