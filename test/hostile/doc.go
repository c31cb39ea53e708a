// Package hostile holds tests of the real Dynamics adapter against a
// hostile portal; it has no code of its own. TLS servers on loopback
// answer with bodies over the size caps or that never end, deeply nested
// JSON, redirects to plain http, nextLinks to another host or to http,
// tokens without a usable lifetime and certificates for another name. Each
// test checks that the adapter fails with a clear error code, that its
// memory stays bounded, and that the bearer token never reaches a server
// it must not reach.
package hostile
