// Package bench holds the module's performance benchmarks: the cost of one
// call through the Dynamics adapter against raw net/http and the usual Go
// combination of go-retryablehttp and oauth2, the token cache under a cold
// start, connection reuse, streaming pages, and whole sync passes against
// the portal emulator, with latency and with service protection limits.
//
// Run them all, with the repeated runs and the summary table, with
// test/bench/run.sh; each benchmark also runs on its own with go test
// -bench.
package bench
