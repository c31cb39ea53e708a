// Package dynamicstest is a local stand-in for the HLF Dynamics 365 portal: a
// real TLS server that speaks the Entra ID token endpoint and the Dataverse
// Web API as the portal contract describes, with seeded data, service
// protection limits and fault injection. The end-to-end tests, the fault
// matrix, the benchmarks and `portalsync emulator` and `portalsync demo`
// run on it, and a host backend can be pointed at it.
//
//	emu, err := dynamicstest.Start(&dynamicstest.Options{Seed: 1})
//	if err != nil { … }
//	defer emu.Close()
//	// emu.BaseURL(), emu.AuthorityHost(), emu.TenantID(), emu.ClientID(),
//	// emu.ClientSecret(), emu.CAFile() or emu.Env() configure a client.
//
// # Options and defaults
//
// The zero Options give a working emulator: loopback address 127.0.0.1:0 (a
// free port), the fixed test credentials below, 300 certifications seeded
// from Seed 0, the real clock, one-hour tokens, no limits, no
// x-ms-dop-hint, a certificate for 127.0.0.1, ::1 and localhost. Each
// Start makes a new CA unless Options.CA hands in one (NewCA) to share
// between emulators, so that one SSL_CERT_FILE makes a process trust them
// all; CAFile, CAPEM, CertPool and HTTPClient hand it to clients, and Env
// gives the environment the command line reads.
//
// The fixed test credentials (DefaultTenantID, DefaultClientID,
// DefaultClientSecret) are:
//
//	tenant  8b0a3f2c-7d41-4e6a-9c15-2f4e6d8a1b3c
//	client  4c7e9a1b-2d3f-4a5b-8c6d-0e1f2a3b4c5d
//	secret  emulator-client-secret
//
// # Token endpoint
//
// POST {AuthorityHost}/{tenant}/oauth2/v2.0/token takes a form with
// grant_type=client_credentials, client_id and client_secret (or HTTP Basic
// authentication with both form-encoded) and scope={base URL}/.default on
// any host the certificate covers. It answers a random opaque bearer token
// with expires_in and ext_expires_in set to the token lifetime, which runs
// on the emulator clock. Failures have the Entra ID shape (error,
// error_description starting with an AADSTS code, error_codes, timestamp,
// trace_id, correlation_id, error_uri): invalid_request 400 (wrong tenant,
// missing parameter), unsupported_grant_type 400, unauthorized_client 400
// (unknown client id), invalid_scope 400, invalid_client 401 (missing or
// wrong secret). SetClientSecret rotates the secret (tokens already issued
// stay valid); RevokeTokens invalidates every issued token.
//
// In place of the secret the form may carry a client assertion
// (client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
// and client_assertion), of one of two kinds:
//
//   - a JWT signed with the key of a registered certificate
//     (Options.ClientCertificates, RegisterClientCertificate; make one with
//     NewClientCertificate): header x5t#S256 (or x5t) naming it, alg PS256
//     or RS256; iss and sub the client id; aud the token endpoint on any
//     host the server certificate covers;
//   - a federated workload token of the emulator's fake issuer
//     (FederatedIssuer; FederatedToken makes one, valid or not): ES256,
//     aud api://AzureADTokenExchange, sub Options.FederatedSubject.
//
// Both must hold exp, and nbf if present, around the emulator clock's now,
// without skew. A failed check is invalid_client 401 with Entra ID's code:
// AADSTS50027 (malformed), 700027 (unknown certificate, bad signature),
// 700021 (iss or sub not the client id), 700023 (wrong audience), 700024
// (expired or not yet valid), 700211 (unknown issuer), 50013 (federated
// token's signature), 700212 (federated audience), 70021 (federated
// subject). A secret and an assertion together, or a missing or other
// assertion type, are invalid_request 400. ReceivedAssertions lists every
// assertion received, so a test can check that no output holds one.
//
// # Web API
//
// Under {BaseURL}/api/data/v9.2/ the emulator serves GET WhoAmI, GET
// hlf_certifications, GET hlf_assignments, GET hlf_certifications({id})
// and PATCH hlf_certifications({id}). Every response carries a fresh
// x-ms-service-request-id; Web API responses carry OData-Version: 4.0, and
// JSON ones Content-Type: application/json; odata.metadata=minimal. Errors
// are {"error":{"code":"0x…","message":"…"}}. A missing, unknown, expired
// or revoked token gets 401 with WWW-Authenticate: Bearer and code
// 0x80048306 (the emulator's choice).
//
// Collections page with Prefer: odata.maxpagesize=N (default and maximum
// 5000, larger values are capped; echoed in Preference-Applied). The
// @odata.nextLink is an absolute URL on the host the client called, with
// the request's query unchanged plus a $skiptoken shaped like Dataverse's
// paging cookie. The cookie holds the sort key of the last row served, not
// an offset: a resumed listing sees current data, and ordered by key it
// neither skips nor repeats a record written meanwhile. Ordered by
// modifiedon a written record moves to the end and is listed again, which
// is why a sync pass orders by key.
//
// Query options, anything else being refused with 400 and code 0x80060888:
//   - $select: the listed columns; the key is always returned, as Dataverse
//     does, and so is @odata.etag. An unknown column is refused.
//   - $filter: "modifiedon gt|ge <RFC 3339 time>" and "statecode eq <n>",
//     joined with "and".
//   - $orderby: the key or modifiedon, asc (default) or desc; "modifiedon
//     asc,<key> asc" is accepted too. Default: key order.
//   - $top=N (1 to 5000): one page of at most N rows, no nextLink. It is
//     refused with Prefer: odata.maxpagesize, as the contract never
//     combines them.
//
// GET by id takes $select only; a missing record is 404 with code
// 0x80040217, a malformed GUID is 400.
//
// PATCH takes a JSON body holding only hlf_syncstatus (1 to 4, or null)
// and hlf_lastsyncedon (RFC 3339, or null; kept to the second). If-Match: *
// updates an existing record (404 when missing); If-Match: W/"n" also
// requires that row version (412, code 0x80060882); If-None-Match: * only
// creates (412, code 0x80040237, when the record exists); with neither
// header a missing record is created (Dataverse upsert; Write.Created
// tells). Each write takes a new row version and sets modifiedon to the
// emulator clock's now. Prefer: return=representation answers 200 (201
// when created) with the record (respecting $select), otherwise 204 with
// OData-EntityId. Every applied write is in Writes and Stats.
//
// # Seeded data
//
// Data depend only on Seed, the sizes and the emulator clock's date
// ("today") at Start. Certifications: about 10% inactive (statecode 1),
// 10% without expiry, 15% expired up to 400 days ago, 15% expiring in 1 to
// 29 days, 50% valid for 45 days or more; a quarter never synced
// (hlf_syncstatus null), half with the status a sync would compute today
// (1 valid, 2 expiring, 3 expired, 4 inactive), a quarter with a stale
// one. Each mentor (Options.Mentors) has one or two assignments with a
// coordinator, a chapter, hlf_status 1 active, 2 paused or 3 ended (ended
// ones have an end date and statecode 1). Certifications and Assignments
// return the current data for comparison.
//
// # Service protection limits
//
// With Options.Limits set, each user (client id) gets at most Requests
// requests per sliding Window, Concurrent requests at once and
// ExecutionTime of serving time per Window. Exceeding one answers 429 with
// Retry-After (whole seconds until the window frees up, at least 1) and
// code 0x80072322 (requests), 0x80072326 (concurrency) or 0x80072321
// (execution time). Responses then carry
// x-ms-ratelimit-burst-remaining-xrm-requests and
// x-ms-ratelimit-time-remaining-xrm-requests. The window runs on the
// emulator clock, so a test can advance it. The token endpoint is not
// limited. Execution time is the time measured serving each request, or,
// with OperationCost, a fixed cost per operation (a request, or each part
// of a $batch) charged on admission. A $batch counts as one request
// against Requests, or as one per part with BatchPerPart. As in Dataverse
// a request is refused only once a limit is reached, so one admitted
// batch may carry the window past it.
//
// # $batch
//
// POST $batch takes a multipart/mixed body of at most 1000 parts, each
// application/http holding one PATCH of a certification (request line,
// headers, a blank line, the JSON body; the path absolute, or relative to
// the Web API). Parts are served one after another, each with the latency
// and the faults of the patch route, and answered in request order in a
// multipart/mixed body whose boundary starts with batchresponse_, each
// part an HTTP/1.1 response. Without Prefer: odata.continue-on-error the
// batch stops after the first failed part. Change sets and parts other
// than a PATCH of a certification are not served (400, 501). A part
// takes the batch's correlation id unless it carries its own.
//
// # Faults
//
// Inject queues faults per route; each matching request takes the next
// one, then service is normal. SetFaultRate draws faults at random from a
// seed, SetLatency slows a route down, ClearFaults removes all of them. A
// faulted request applies no write, so write counts stay exact; latency
// alone delays a request and then serves it, applying a PATCH only if the
// client is still waiting when the latency ends. Faults act before
// authentication. On the batch route, truncate, malformed and fewer-parts
// serve the batch (its writes are applied) and then spoil the answer: cut
// short, a part that is no HTTP response, the last part left out. A batch
// part takes a patch-route status fault as its own answer; any other
// patch-route fault it draws acts on the whole batch after the parts
// before it were applied.
//
// The command line gives faults as ROUTE:ITEM[,ITEM...] (ParseFault), one
// fault per spec:
//
//	ROUTE   token | whoami | certifications | certification | patch | assignments | batch | *
//	NNN                    answer HTTP status NNN (400-599) with an error body
//	retry-after=S          with a status: Retry-After: S seconds (decimals allowed)
//	retry-after-date=S     with a status: Retry-After as an HTTP date S seconds from now
//	code=C                 with a status: the error code (code= sends an empty code)
//	message=M              with a status: the error message (no commas)
//	latency=D              wait D (a Go duration) first; alone: then serve normally
//	hang                   never answer; end when the client gives up
//	reset                  reset the TCP connection
//	truncate               declare a longer body than sent, then close
//	malformed              200 with invalid JSON
//	html                   200 with an HTML sign-in page
//	redirect[=URL]         302 to URL (default: the same URL over http://)
//	nextlink[=URL]         collections: a page whose nextLink is URL (default: another host)
//	no-expires-in          token: a token response without expires_in
//	negative-expires-in    token: a token response with a negative expires_in
//	fewer-parts            batch: serve it, then leave the last part out of the answer
//	times=N|always         the fault applies to N requests (default 1) or to all
//
// Examples: "certifications:503,retry-after=2,times=2" (two 503s, then
// normal service), "patch:latency=3s", "token:401,code=invalid_client",
// "assignments:429,retry-after-date=30", "*:reset,times=always".
//
// Go's HTTP client replays an idempotent request (GET) once, silently, when
// a reused keep-alive connection fails before the first response byte: a
// single reset fault on a GET over a reused connection is invisible to the
// caller. Inject it twice (times=2), or use a fresh connection, to see it.
//
// The server speaks HTTP/1.1 only, so that resets and truncated bodies
// reach the client as they are sent.
//
// # Counters
//
// Stats counts requests per route, token requests and issued tokens, TCP
// connections accepted, 401s, 429s of the limits, faults served and writes
// per record; Writes lists every applied write with its values, time and
// correlation id. ResetStats starts them over. IssuedTokens lists every
// access token handed out, so a test can check that no output holds one.
package dynamicstest
