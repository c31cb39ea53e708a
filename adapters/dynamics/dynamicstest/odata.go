package dynamicstest

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// listQuery is a parsed collection request.
type listQuery struct {
	cols       []int  // columns to send, key first, in table order
	selectList string // the $select as sent, for @odata.context
	conds      []cond
	byModified bool
	desc       bool
	after      *cursor // from $skiptoken
	pageNumber int     // of the page being served, from 1
	size       int
	sizeAsked  bool // Prefer: odata.maxpagesize was sent
	top        bool // $top: one page, no nextLink
}

type condOp int

const (
	modifiedGT condOp = iota
	modifiedGE
	stateEQ
)

// cond is one comparison of a $filter; they are joined with "and".
type cond struct {
	op condOp
	t  time.Time
	n  int
}

// cursor is the sort key of the last row of the previous page.
type cursor struct {
	id       string
	modified time.Time
}

// compare orders row r against the cursor in q's order.
func compare[R any](q *listQuery, s *schema[R], r *R) int {
	c := 0
	if q.byModified {
		c = s.modified(r).Compare(q.after.modified)
	}
	if c == 0 {
		c = strings.Compare(s.id(r), q.after.id)
	}
	if q.desc {
		c = -c
	}
	return c
}

func match[R any](q *listQuery, s *schema[R], r *R) bool {
	for _, c := range q.conds {
		switch c.op {
		case modifiedGT:
			if !s.modified(r).After(c.t) {
				return false
			}
		case modifiedGE:
			if s.modified(r).Before(c.t) {
				return false
			}
		case stateEQ:
			if s.state(r) != c.n {
				return false
			}
		}
	}
	return true
}

// parseQuery reads the OData system query options of a request. allowed
// names the options the route takes; any other one is refused, as is a
// repeated one.
func parseQuery(raw string, allowed ...string) (url.Values, *apiError) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, badRequest(codeNoSegment, "The query string is malformed.")
	}
	for k, v := range vals {
		if !contains(allowed, k) {
			return nil, badRequest(codeNoSegment, "The query parameter '"+k+"' is not supported.")
		}
		if len(v) > 1 {
			return nil, badRequest(codeNoSegment, "Query option '"+k+"' was specified more than once, but it must be specified at most once.")
		}
	}
	return vals, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// parseSelect turns a $select into column indices, the key always first
// (Dataverse returns the primary key whether selected or not). An absent
// $select selects every column.
func parseSelect[R any](s *schema[R], vals url.Values) ([]int, string, *apiError) {
	raw, ok := vals["$select"]
	if !ok {
		cols := make([]int, len(s.columns))
		for i := range cols {
			cols[i] = i
		}
		return cols, "", nil
	}
	want := make([]bool, len(s.columns))
	want[0] = true
	names := make([]string, 0, len(s.columns))
	for name := range strings.SplitSeq(raw[0], ",") {
		name = strings.TrimSpace(name)
		i := s.columnIndex(name)
		if i < 0 {
			return nil, "", badRequest(codeNoSegment, "Could not find a property named '"+name+"' on type 'Microsoft.Dynamics.CRM."+s.entity+"'.")
		}
		want[i] = true
		names = append(names, name)
	}
	var cols []int
	for i, ok := range want {
		if ok {
			cols = append(cols, i)
		}
	}
	return cols, strings.Join(names, ","), nil
}

// parseList reads a collection request: $select, $filter, $orderby, $top,
// $skiptoken and Prefer: odata.maxpagesize.
func parseList[R any](s *schema[R], r *http.Request) (*listQuery, *apiError) {
	vals, aerr := parseQuery(r.URL.RawQuery, "$select", "$filter", "$orderby", "$top", "$skiptoken")
	if aerr != nil {
		return nil, aerr
	}
	q := &listQuery{size: MaxPageSize, pageNumber: 1}
	if q.cols, q.selectList, aerr = parseSelect(s, vals); aerr != nil {
		return nil, aerr
	}
	if f, ok := vals["$filter"]; ok {
		if q.conds, aerr = parseFilter(f[0]); aerr != nil {
			return nil, aerr
		}
	}
	if o, ok := vals["$orderby"]; ok {
		if aerr = parseOrderBy(q, s, o[0]); aerr != nil {
			return nil, aerr
		}
	}
	if q.size, q.sizeAsked, aerr = maxPageSize(r.Header); aerr != nil {
		return nil, aerr
	}
	if t, ok := vals["$top"]; ok {
		if q.sizeAsked {
			return nil, badRequest(codeNoSegment, "The $top query option cannot be combined with the odata.maxpagesize preference.")
		}
		n, err := strconv.Atoi(t[0])
		if err != nil || n < 1 || n > MaxPageSize {
			return nil, badRequest(codeNoSegment, "The $top query option must be an integer from 1 to 5000.")
		}
		q.size, q.top = n, true
	}
	if t, ok := vals["$skiptoken"]; ok {
		if q.top {
			return nil, badRequest(codeNoSegment, "The $skiptoken query option cannot be combined with $top.")
		}
		if aerr = q.parseSkipToken(s.key, t[0]); aerr != nil {
			return nil, aerr
		}
	}
	return q, nil
}

// parseFilter accepts comparisons "modifiedon gt|ge <RFC 3339 timestamp>"
// and "statecode eq <integer>", joined with "and".
func parseFilter(f string) ([]cond, *apiError) {
	bad := badRequest(codeNoSegment, "The $filter '"+f+"' is not supported: use modifiedon gt|ge <timestamp> and statecode eq <n>, joined with and.")
	words := strings.Fields(f)
	if len(words) == 0 || len(words)%4 != 3 {
		return nil, bad
	}
	var conds []cond
	for i := 0; i < len(words); i += 4 {
		if i > 0 && words[i-1] != "and" {
			return nil, bad
		}
		field, op, value := words[i], words[i+1], words[i+2]
		switch {
		case field == "modifiedon" && (op == "gt" || op == "ge"):
			t, err := time.Parse(time.RFC3339Nano, value)
			if err != nil {
				return nil, bad
			}
			c := cond{op: modifiedGT, t: t}
			if op == "ge" {
				c.op = modifiedGE
			}
			conds = append(conds, c)
		case field == "statecode" && op == "eq":
			n, err := strconv.Atoi(value)
			if err != nil {
				return nil, bad
			}
			conds = append(conds, cond{op: stateEQ, n: n})
		default:
			return nil, bad
		}
	}
	return conds, nil
}

// parseOrderBy accepts "<key> [asc|desc]" or "modifiedon [asc|desc]",
// the latter optionally followed by "<key>" in the same direction.
func parseOrderBy[R any](q *listQuery, s *schema[R], o string) *apiError {
	bad := badRequest(codeNoSegment, "The $orderby '"+o+"' is not supported: order by "+s.key+" or modifiedon, asc or desc.")
	clauses := strings.Split(o, ",")
	if len(clauses) > 2 {
		return bad
	}
	for i, c := range clauses {
		f := strings.Fields(c)
		if len(f) == 0 || len(f) > 2 {
			return bad
		}
		desc := false
		if len(f) == 2 {
			switch f[1] {
			case "asc":
			case "desc":
				desc = true
			default:
				return bad
			}
		}
		switch {
		case i == 0 && f[0] == "modifiedon":
			q.byModified, q.desc = true, desc
		case i == 0 && f[0] == s.key:
			q.desc = desc
		case i == 1 && q.byModified && f[0] == s.key && desc == q.desc:
		default:
			return bad
		}
	}
	return nil
}

// maxPageSize reads Prefer: odata.maxpagesize=N. A size above MaxPageSize
// is capped; a size that is not a positive integer is refused.
func maxPageSize(h http.Header) (int, bool, *apiError) {
	for _, v := range h.Values("Prefer") {
		for p := range strings.SplitSeq(v, ",") {
			name, val, _ := strings.Cut(p, "=")
			if !strings.EqualFold(strings.TrimSpace(name), "odata.maxpagesize") {
				continue
			}
			n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
			if err != nil || n < 1 {
				return 0, false, badRequest(codeNoSegment, "The odata.maxpagesize preference must be a positive integer.")
			}
			return min(n, MaxPageSize), true, nil
		}
	}
	return MaxPageSize, false, nil
}

// prefers reports whether the Prefer header holds the preference p, such
// as "return=representation".
func prefers(h http.Header, p string) bool {
	for _, v := range h.Values("Prefer") {
		for got := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(got), p) {
				return true
			}
		}
	}
	return false
}

// A $skiptoken looks like the one Dataverse sends: a cookie element whose
// pagingcookie attribute holds, percent-encoded, a second cookie with the
// sort key of the last row served (and of the first, for show):
//
//	<cookie pagenumber="2" pagingcookie="%3Ccookie%20page%3D%221%22%3E%3Chlf_certificationid%20last%3D%22%7B1B5C...%7D%22 ..." istracking="False" />
//
// The cursor is a key, not an offset: a resumed listing sees current data.
type outerCookie struct {
	XMLName      xml.Name `xml:"cookie"`
	PageNumber   int      `xml:"pagenumber,attr"`
	PagingCookie string   `xml:"pagingcookie,attr"`
}

type innerCookie struct {
	XMLName xml.Name `xml:"cookie"`
	Keys    []struct {
		XMLName xml.Name
		Last    string `xml:"last,attr"`
	} `xml:",any"`
}

func (q *listQuery) parseSkipToken(key, token string) *apiError {
	bad := badRequest(codeNoSegment, "The $skiptoken is not valid for this query.")
	var outer outerCookie
	if xml.Unmarshal([]byte(token), &outer) != nil || outer.PageNumber < 2 {
		return bad
	}
	innerXML, err := url.PathUnescape(outer.PagingCookie)
	if err != nil {
		return bad
	}
	var inner innerCookie
	if xml.Unmarshal([]byte(innerXML), &inner) != nil {
		return bad
	}
	c := &cursor{}
	for _, k := range inner.Keys {
		switch k.XMLName.Local {
		case key:
			id, ok := parseGUID(strings.Trim(k.Last, "{}"))
			if !ok {
				return bad
			}
			c.id = id
		case "modifiedon":
			t, err := time.Parse(time.RFC3339, k.Last)
			if err != nil {
				return bad
			}
			c.modified = t
		}
	}
	if c.id == "" || q.byModified && c.modified.IsZero() {
		return bad
	}
	q.after, q.pageNumber = c, outer.PageNumber
	return nil
}

// skipToken returns the $skiptoken of the page after the one served, whose
// first and last rows are given.
func skipToken[R any](q *listQuery, s *schema[R], first, last *R) string {
	var b strings.Builder
	b.WriteString(`<cookie page="` + strconv.Itoa(q.pageNumber) + `">`)
	if q.byModified {
		b.WriteString(`<modifiedon last="` + s.modified(last).UTC().Format(timeLayout) +
			`" first="` + s.modified(first).UTC().Format(timeLayout) + `" />`)
	}
	b.WriteString("<" + s.key + ` last="{` + strings.ToUpper(s.id(last)) +
		`}" first="{` + strings.ToUpper(s.id(first)) + `}" />`)
	b.WriteString("</cookie>")
	outer := `<cookie pagenumber="` + strconv.Itoa(q.pageNumber+1) + `" pagingcookie="` +
		escape(b.String(), "") + `" istracking="False" />`
	return escape(outer, "=/")
}

// escape percent-encodes every byte of s but ASCII letters, digits, "-._~"
// and the bytes in keep.
func escape(s, keep string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._~", c) >= 0 || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&15])
	}
	return b.String()
}

// nextLink is the URL of the page after this one: the request's URL with
// the same query and a new $skiptoken.
func nextLink(origin string, r *http.Request, token string) string {
	var b strings.Builder
	b.WriteString(origin)
	b.WriteString(r.URL.EscapedPath())
	b.WriteByte('?')
	for part := range strings.SplitSeq(r.URL.RawQuery, "&") {
		if part == "" || strings.HasPrefix(part, "$skiptoken=") || strings.HasPrefix(strings.ToLower(part), "%24skiptoken=") {
			continue
		}
		b.WriteString(part)
		b.WriteByte('&')
	}
	b.WriteString("$skiptoken=")
	b.WriteString(token)
	return b.String()
}
