package dynamicstest

import (
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxPatchBody is the largest PATCH body read.
const maxPatchBody = 1 << 20

// authenticate checks the bearer token of a Web API request and returns
// the client id it was issued to. It answers 401 itself when the token is
// missing, unknown, expired or revoked.
func (e *Emulator) authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(h, " ")
	var msg, user string
	switch {
	case h == "":
		msg = "The request has no Authorization header."
	case !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "":
		msg = "The Authorization header does not hold a bearer token."
	default:
		var ok bool
		user, ok = e.tokens.check(strings.TrimSpace(tok), e.now())
		if !ok {
			msg = "The access token is invalid, expired or revoked."
		}
	}
	if msg == "" {
		return user, true
	}
	e.stats.unauthorized()
	w.Header().Set("WWW-Authenticate", "Bearer authorization_uri="+e.AuthorityHost()+"/"+e.opts.TenantID+
		"/oauth2/authorize, resource_id="+e.baseURL+"/")
	writeAPIError(w, &apiError{http.StatusUnauthorized, codeUnauthorized, msg})
	return "", false
}

func (e *Emulator) serveWhoAmI(w http.ResponseWriter, r *http.Request) {
	var b []byte
	b = append(b, `{"@odata.context":`...)
	b = appendString(b, e.origin(r)+APIPath+"$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse")
	b = append(b, `,"BusinessUnitId":`...)
	b = appendString(b, e.identity.BusinessUnitID)
	b = append(b, `,"UserId":`...)
	b = appendString(b, e.identity.UserID)
	b = append(b, `,"OrganizationId":`...)
	b = appendString(b, e.identity.OrganizationID)
	b = append(b, '}')
	writeBody(w, http.StatusOK, contentTypeOData, b)
}

// contextURL is the @odata.context of a response.
func contextURL(origin, entitySet, selectList, suffix string) string {
	u := origin + APIPath + "$metadata#" + entitySet
	if selectList != "" {
		u += "(" + selectList + ")"
	}
	return u + suffix
}

// foreignNextLink is where a nextlink fault without a Location points.
const foreignNextLink = "https://elsewhere.example/api/data/v9.2/"

func serveList[R any](e *Emulator, w http.ResponseWriter, r *http.Request, c *call, s *schema[R]) {
	q, aerr := parseList(s, r)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	rows, more := list(e.store, s, q)
	origin := e.origin(r)

	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], `{"@odata.context":`...)
	b = appendString(b, contextURL(origin, s.entitySet, q.selectList, ""))
	b = append(b, `,"value":[`...)
	for i := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendRecord(b, s, &rows[i], q.cols, e.dates)
	}
	b = append(b, ']')
	link := ""
	if more && !q.top {
		link = nextLink(origin, r, skipToken(q, s, &rows[0], &rows[len(rows)-1]))
	}
	if c.fault != nil && c.fault.Kind == FaultNextLink {
		link = c.fault.Location
		if link == "" {
			link = foreignNextLink + s.entitySet + "?$skiptoken=foreign"
		}
	}
	if link != "" {
		b = append(b, `,"@odata.nextLink":`...)
		b = appendString(b, link)
	}
	b = append(b, '}')
	*bp = b
	if q.sizeAsked {
		w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(q.size))
	}
	writeBody(w, http.StatusOK, contentTypeOData, b)
}

// certKey validates the key of a single-certification path.
func certKey(raw string) (string, *apiError) {
	id, ok := parseGUID(raw)
	if !ok {
		return "", badRequest(codeNoSegment, "Bad Request - Error in query syntax: '"+raw+"' is not a valid key of "+certSchema.entity+".")
	}
	return id, nil
}

func (e *Emulator) serveGet(w http.ResponseWriter, r *http.Request, raw string) {
	id, aerr := certKey(raw)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	cols, sel, aerr := selectOnly(r)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	row, ok := e.store.getCert(id)
	if !ok {
		writeAPIError(w, notFound(id))
		return
	}
	e.writeEntity(w, r, http.StatusOK, &row, cols, sel)
}

// selectOnly reads the query of a single-record request, which may only
// hold $select.
func selectOnly(r *http.Request) ([]int, string, *apiError) {
	vals, aerr := parseQuery(r.URL.RawQuery, "$select")
	if aerr != nil {
		return nil, "", aerr
	}
	return parseSelect(&certSchema, vals)
}

func (e *Emulator) writeEntity(w http.ResponseWriter, r *http.Request, status int, row *certRow, cols []int, sel string) {
	var b []byte
	b = append(b, `{"@odata.context":`...)
	b = appendString(b, contextURL(e.origin(r), certSchema.entitySet, sel, "/$entity"))
	b = append(b, ',')
	b = appendFields(b, &certSchema, row, cols, e.dates)
	b = append(b, '}')
	w.Header().Set("ETag", etag(row.version))
	writeBody(w, status, contentTypeOData, b)
}

// servePatch applies a PATCH of the sync columns with Dataverse's
// conditional semantics: If-Match: * updates an existing record (404 when
// missing), If-Match: <etag> also requires that row version (412),
// If-None-Match: * only creates (412 when the record exists), and neither
// header upserts.
func (e *Emulator) servePatch(w http.ResponseWriter, r *http.Request, c *call, raw string) {
	id, aerr := certKey(raw)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	cols, sel, aerr := selectOnly(r)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeAPIError(w, &apiError{http.StatusUnsupportedMediaType, codeBadPayload, "The request body must be application/json."})
		return
	}
	p := patch{
		id:          id,
		ifMatch:     strings.TrimSpace(r.Header.Get("If-Match")),
		ifNoneMatch: strings.TrimSpace(r.Header.Get("If-None-Match")) != "",
	}
	if p.ifNoneMatch && strings.TrimSpace(r.Header.Get("If-None-Match")) != "*" {
		writeAPIError(w, badRequest(codeBadPayload, "If-None-Match on a PATCH accepts only *."))
		return
	}
	if p.ifNoneMatch && p.ifMatch != "" {
		writeAPIError(w, badRequest(codeBadPayload, "If-Match and If-None-Match cannot be combined."))
		return
	}
	switch {
	case c.bodyErr != nil && r.Context().Err() != nil:
		dropConnection(w, false)
		return
	case c.bodyErr != nil:
		writeAPIError(w, badRequest(codeBadPayload, "The request body could not be read."))
		return
	case len(c.body) > maxPatchBody:
		writeAPIError(w, &apiError{http.StatusRequestEntityTooLarge, codeBadPayload, "The request body is too large."})
		return
	}
	if aerr := parsePatchBody(c.body, &p); aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	if r.Context().Err() != nil {
		dropConnection(w, false) // the client gave up: nothing is written
		return
	}
	p.at = e.now().UTC().Truncate(time.Second)
	p.correlation = e.correlationID(r)
	row, created, aerr := e.store.apply(p)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	if prefers(r.Header, "return=representation") {
		w.Header().Set("Preference-Applied", "return=representation")
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		e.writeEntity(w, r, status, &row, cols, sel)
		return
	}
	w.Header().Set("ETag", etag(row.version))
	w.Header().Set("OData-EntityId", e.origin(r)+APIPath+certSchema.entitySet+"("+id+")")
	w.WriteHeader(http.StatusNoContent)
}

// parsePatchBody reads a PATCH body: a JSON object holding only the
// writable columns hlf_syncstatus (1 to 4, or null) and hlf_lastsyncedon
// (an RFC 3339 timestamp, or null; kept to the second).
func parsePatchBody(body []byte, p *patch) *apiError {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return badRequest(codeBadPayload, "Error identified in Payload provided by the user for Entity :'"+certSchema.entitySet+"': the body is not a JSON object.")
	}
	for name, v := range fields {
		null := string(v) == "null"
		switch name {
		case "hlf_syncstatus":
			p.setStatus = true
			if null {
				p.status = 0
				continue
			}
			var n int
			if err := json.Unmarshal(v, &n); err != nil {
				return badRequest(codeBadPayload, "Cannot convert the literal '"+string(v)+"' to the expected type 'Edm.Int32'.")
			}
			if n < 1 || n > 4 {
				return badRequest(codeOutOfRange, "A validation error occurred. The value "+strconv.Itoa(n)+
					" of 'hlf_syncstatus' on record of type '"+certSchema.entity+"' is outside the valid range.")
			}
			p.status = n
		case "hlf_lastsyncedon":
			p.setSynced = true
			if null {
				p.synced = time.Time{}
				continue
			}
			var s string
			t, err := time.Time{}, json.Unmarshal(v, &s)
			if err == nil {
				t, err = time.Parse(time.RFC3339Nano, s)
			}
			if err != nil {
				return badRequest(codeBadPayload, "Cannot convert the literal '"+string(v)+"' to the expected type 'Edm.DateTimeOffset'.")
			}
			p.synced = t.UTC().Truncate(time.Second)
		default:
			if certSchema.columnIndex(name) >= 0 {
				return badRequest(codeBadPayload, "The column '"+name+"' is not writable here: only hlf_syncstatus and hlf_lastsyncedon are.")
			}
			return badRequest(codeNoSegment, "The property '"+name+"' does not exist on type 'Microsoft.Dynamics.CRM."+certSchema.entity+"'.")
		}
	}
	return nil
}

// serveDateMetadata answers the read of a table's date columns: each with
// its behaviour (Options.DateBehaviors, else DateOnly) and format. An
// entity the emulator does not have is 404, as Dataverse answers.
func (e *Emulator) serveDateMetadata(w http.ResponseWriter, entity string) {
	var cols []string
	switch entity {
	case certSchema.entity:
		cols = []string{"hlf_issuedon", "hlf_expireson"}
	case assignSchema.entity:
		cols = []string{"hlf_startdate", "hlf_enddate"}
	default:
		writeAPIError(w, &apiError{http.StatusNotFound, codeNoSegment, "Could not find an entity with the name '" + entity + "'."})
		return
	}
	b := []byte(`{"@odata.context":"` + e.baseURL + APIPath + `$metadata#EntityDefinitions('` + entity +
		`')/Attributes/Microsoft.Dynamics.CRM.DateTimeAttributeMetadata(LogicalName,DateTimeBehavior,Format)","value":[`)
	for i, col := range cols {
		behavior, format := "DateOnly", "DateOnly"
		if v := e.opts.DateBehaviors[col]; v != "" {
			behavior = v
		}
		if behavior == "UserLocal" {
			format = "DateAndTime"
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"LogicalName":`...)
		b = appendString(b, col)
		b = append(b, `,"DateTimeBehavior":{"Value":`...)
		b = appendString(b, behavior)
		b = append(b, `},"Format":`...)
		b = appendString(b, format)
		b = append(b, '}')
	}
	b = append(b, ']', '}')
	writeBody(w, http.StatusOK, contentTypeOData, b)
}
