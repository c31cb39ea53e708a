// Package dynamics is the real ports.DynamicsPortal: it talks to a Dynamics
// 365 (Dataverse) environment over its Web API with OAuth2 client
// credentials from Entra ID. It holds HTTP mechanics only, no business rules.
//
// What one call does: it runs in one failsafe-go executor,
// failsafe.With(total, retry, perAttempt), and no attempt runs outside it.
//
//   - total, a timeout policy (45 s by default), bounds the whole call,
//     every retry and wait included; the caller's context ends it at once.
//   - retry (package resilience) repeats 429, 500, 502, 503, 504, transient
//     network failures and attempts cut by their own limit: 1 s then ×2, at
//     most 3 retries, no wait over 16 s. Only idempotent calls get it: GETs,
//     and the PATCH of sync metadata, which always carries If-Match: *.
//   - perAttempt, a timeout policy (30 s by default), bounds one attempt:
//     its wait for a turn (below), the token, the exchange and the body.
//   - Each attempt waits its turn in the throttle the client's calls share,
//     takes a token from the in-memory cache (fetched with credentials
//     asked from the provider at that moment; shared by concurrent callers,
//     replaced 60 s before expiry, dropped after a 401; each fetch runs in
//     its own executor with a 2 s timeout policy, which releases the
//     waiting callers at the limit even when the provider ignores its
//     context), sends the request with the OData headers and the call's
//     correlation id, and reads the answer under a size cap.
//   - Failures are *ports.PortalError values classified as in the portal
//     contract; redirects are never followed.
//
// A throttled call (429, or 503 with Retry-After) goes this way, and
// Client.mayWait is the one place that decides:
//
//  1. The answer's Retry-After is shared: the throttle holds every attempt
//     of every call of the client until it has passed (a later, shorter
//     Retry-After never shortens it), and halves the requests in flight.
//  2. The call that got it asks mayWait: a pause within the retry cap
//     (16 s) and within the time the call has left is waited by the retry
//     policy, then the call is sent again; a longer one fails the call at
//     once with rateLimited and the pause in RetryAfter.
//  3. Any attempt that meets a pause still in force asks mayWait the same
//     question before it sends: wait, or fail at once with rateLimited
//     without sending anything.
//  4. The caller learns only rateLimited with RetryAfter. The sync pass
//     (package core) then waits it if its budget allows, or stops with its
//     checkpoint saved; nothing below the pass waits longer than a call's
//     own time limit.
//
// At most 52 requests are in flight (WithMaxInFlight), fewer when the
// portal's x-ms-dop-hint says so; a 429 halves that number and it grows
// back by one after each run of as many successes. Calls beyond it queue in
// arrival order.
//
// At debug level each attempt logs one record with the keys method, url
// (query values redacted except $select, $orderby, $top, $count and
// $expand), status, duration, correlation_id, attempt, and
// service_request_id when the portal sent one. Each token fetch logs one
// record with method, url, status and duration. Headers, bodies, the
// secret and tokens are never logged. With debug disabled no logging work
// is done.
package dynamics
