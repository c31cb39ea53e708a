// Package ports holds the edges of the hexagon: the outbound interfaces the
// core depends on (the Dynamics portal, the credential provider, the record
// sink and the checkpoint store), the values they exchange, and the error type
// every adapter returns.
//
// Unlike some hexagonal layouts, "ports" here means the interfaces the core
// calls out through, not inbound HTTP handlers. The package imports the
// standard library only, so the core and every adapter can depend on it
// without depending on each other.
package ports
