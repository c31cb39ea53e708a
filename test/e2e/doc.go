// Package e2e holds the module's end-to-end tests; it has no code of its
// own.
//
//   - The portalsync command runs as a user runs it: the binary, built
//     once, in a clean environment, against the portal emulator; its
//     output and exit status are checked against the command's documented
//     interface.
//   - The portal contract suite runs over the emulator and over the stub.
//   - A matrix of faults of the token endpoint and the Web API runs in
//     process, through the same public packages the command uses, so that
//     every row can also check that no secret reached any output and that
//     no goroutine outlived the run. With -e2e.binary the same rows run
//     through the built binary instead.
//
// All emulators of the test binary share one certificate authority, which
// TestMain names in SSL_CERT_FILE before anything loads the system roots,
// so the code under test trusts them exactly as it would trust a real
// portal, without a test hook.
package e2e
