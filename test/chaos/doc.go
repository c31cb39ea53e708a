// Package chaos holds the module's chaos tests; it has no code of its own.
//
// A sync pass of 10,000 certifications runs in process through the real
// adapter against the portal emulator while about one request in ten is
// faulted at random from a fixed seed (503s, 429s with Retry-After,
// connection resets, slow answers) and the token endpoint fails for a
// while, twice; the pass is also cut off twice in the middle of a page. A
// pass that stops is run again from its checkpoint until it completes.
// Then the built portalsync command runs a pass of 2,000 certifications
// under the same kind of faults and is killed with SIGKILL five times at
// random points, and is run again until it completes.
//
// Each test checks, against the emulator's write log and data, that every
// record whose sync metadata needed writing was written exactly once and
// with the status core.Classify gives, that no other record was written,
// that the final report's counts equal those computed from the seeded data
// before the pass, and that the record file holds every record once. Every
// byte the runs printed, logged, returned as an error or wrote to a file
// is searched for the client secret, the issued access tokens, an
// Authorization header, a bearer token and the Basic form of the
// credentials.
package chaos
