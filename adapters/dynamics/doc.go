// Package dynamics is the real ports.DynamicsPortal: it talks to a Dynamics
// 365 (Dataverse) environment over its Web API with OAuth2 client
// credentials from Entra ID. It holds HTTP mechanics only, no business rules.
//
// What one call does:
//
//   - A total time guard (45 s by default) bounds the whole call, every
//     retry and wait included; the caller's context ends it at once.
//   - The retry policy (package resilience) repeats 429, 500, 502, 503, 504
//     and transient network failures, 1 s then ×2, at most 3 retries, no
//     wait over 16 s; a Retry-After is honoured up to that cap, and one
//     beyond the cap or the time left fails the call at once. Only
//     idempotent calls are repeated: GETs, and the PATCH of sync metadata,
//     which always carries If-Match: *.
//   - Calls pace themselves together. A Retry-After on a failed answer holds
//     every attempt of every call until it has passed; an attempt that
//     would have to wait longer than the retry cap or the time its call
//     has left fails at once with rateLimited and the time still to wait
//     in RetryAfter, without being sent. At most 52 requests are in flight
//     (WithMaxInFlight), fewer when the portal's x-ms-dop-hint says so;
//     a 429 halves that number and it grows back by one after each run
//     of as many successes. Calls beyond it queue in arrival order.
//   - Each attempt, bounded by its own limit (30 s by default), takes a
//     token from the in-memory cache (fetched with credentials asked from
//     the provider at that moment, at most 2 s, shared by concurrent
//     callers, replaced 60 s before expiry, dropped after a 401), sends the
//     request with the OData headers and the call's correlation id, and
//     reads the answer under a size cap.
//   - Failures are *ports.PortalError values classified as in the portal
//     contract; redirects are never followed.
//
// At debug level each attempt logs one record with the keys method, url
// (query values redacted except $select, $orderby, $top, $count and
// $expand), status, duration, correlation_id, attempt, and
// service_request_id when the portal sent one. Each token fetch logs one
// record with method, url, status and duration. Headers, bodies, the
// secret and tokens are never logged. With debug disabled no logging work
// is done.
package dynamics
