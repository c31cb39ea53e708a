// Package credentials provides the client credentials of the app
// registration to the portal adapter: a client secret from the environment
// or from mounted secret files, a federated workload token from a file
// (workload identity federation), or a client assertion signed with a
// certificate's private key. Every provider reads at every call, so a
// rotated secret, token or certificate is picked up at the next token fetch
// without a restart. Choose picks one from the environment, as Azure's SDKs
// do.
//
// A missing or empty value is an error that names the variable or the file
// and wraps ports.ErrInvalidConfig: the deployment is incomplete, and the
// command line reports it as a configuration error. It shows up at the first
// token fetch, before any request reaches the portal. No error ever holds a
// value that was read.
package credentials

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/hlf/dynamicsportal/ports"
)

// The environment variables Env reads.
const (
	EnvClientID     = "AZURE_CLIENT_ID"
	EnvClientSecret = "AZURE_CLIENT_SECRET"
)

// MaxFileSize is the largest credential file Files reads.
const MaxFileSize = 64 << 10

var (
	_ ports.CredentialProvider = (*Env)(nil)
	_ ports.CredentialProvider = (*Files)(nil)
)

// Env reads the client id and secret from AZURE_CLIENT_ID and
// AZURE_CLIENT_SECRET at every call. Values are used as they are, without
// trimming.
type Env struct {
	lookup func(string) (string, bool)
}

// FromEnv returns a provider reading the process environment.
func FromEnv() *Env { return FromEnvLookup(os.LookupEnv) }

// FromEnvLookup returns a provider that reads variables through lookup,
// which has the signature of os.LookupEnv.
func FromEnvLookup(lookup func(key string) (string, bool)) *Env {
	return &Env{lookup: lookup}
}

// Credentials implements ports.CredentialProvider.
func (e *Env) Credentials(ctx context.Context) (ports.Credentials, error) {
	if err := ctx.Err(); err != nil {
		return ports.Credentials{}, err
	}
	id, err := lookupVar(e.lookup, EnvClientID)
	if err != nil {
		return ports.Credentials{}, err
	}
	secret, err := lookupVar(e.lookup, EnvClientSecret)
	if err != nil {
		return ports.Credentials{}, err
	}
	return ports.NewCredentials(id, secret), nil
}

// lookupVar returns the value of the variable name, an error when it is
// not set or empty.
func lookupVar(lookup func(string) (string, bool), name string) (string, error) {
	v, ok := lookup(name)
	switch {
	case !ok:
		return "", fmt.Errorf("%w: environment variable %s is not set", ports.ErrInvalidConfig, name)
	case v == "":
		return "", fmt.Errorf("%w: environment variable %s is empty", ports.ErrInvalidConfig, name)
	}
	return v, nil
}

// Files reads the client id and secret from two files at every call, as
// Kubernetes and Docker mount secrets. One trailing line ending ("\n" or
// "\r\n") is removed; any other whitespace is part of the value. A file
// larger than MaxFileSize is refused.
type Files struct {
	clientIDFile string
	secretFile   string
}

// FromFiles returns a provider reading the client id from clientIDFile and
// the secret from secretFile. An empty path fails at the call.
func FromFiles(clientIDFile, secretFile string) *Files {
	return &Files{clientIDFile: clientIDFile, secretFile: secretFile}
}

// Credentials implements ports.CredentialProvider.
func (f *Files) Credentials(ctx context.Context) (ports.Credentials, error) {
	if err := ctx.Err(); err != nil {
		return ports.Credentials{}, err
	}
	id, err := readValue("client id", f.clientIDFile)
	if err != nil {
		return ports.Credentials{}, err
	}
	secret, err := readValue("client secret", f.secretFile)
	if err != nil {
		return ports.Credentials{}, err
	}
	return ports.NewCredentials(id, secret), nil
}

// readValue reads one credential file. Its errors name what and path and
// never include the content.
func readValue(what, path string) (string, error) {
	b, err := readFile(what, path)
	if err != nil {
		return "", err
	}
	if line, ok := bytes.CutSuffix(b, []byte("\n")); ok {
		b = bytes.TrimSuffix(line, []byte("\r"))
	}
	if len(b) == 0 {
		return "", fmt.Errorf("%w: %s file %s is empty", ports.ErrInvalidConfig, what, path)
	}
	return string(b), nil
}

// readFile reads one credential file, a regular file of at most
// MaxFileSize bytes, opened without blocking. Its errors name what and path
// and never include the content.
func readFile(what, path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: no file named for the %s", ports.ErrInvalidConfig, what)
	}
	// A symbolic link is followed: Kubernetes mounts a projected token as
	// one, and rotates it by swapping the link's target.
	file, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %s file: %w", ports.ErrInvalidConfig, what, err)
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %s file: %w", ports.ErrInvalidConfig, what, err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s file %s is not a regular file (%s)", ports.ErrInvalidConfig, what, path, info.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(file, MaxFileSize+1))
	switch {
	case err != nil:
		// Read errors from the os package name the operation and the
		// path, never the data.
		return nil, fmt.Errorf("%w: %s file: %w", ports.ErrInvalidConfig, what, err)
	case len(b) > MaxFileSize:
		return nil, fmt.Errorf("%w: %s file %s is larger than %d bytes", ports.ErrInvalidConfig, what, path, MaxFileSize)
	}
	return b, nil
}
