// Package integration holds the test against a real Dynamics 365 portal. It
// runs only with the build tag "integration" and credentials in the
// environment:
//
//	DYNAMICS_BASE_URL=https://hlf.crm4.dynamics.com \
//	AZURE_TENANT_ID=… AZURE_CLIENT_ID=… AZURE_CLIENT_SECRET=… \
//	go test -tags integration -run TestLivePortal -v ./test/integration
//
// AZURE_AUTHORITY_HOST selects a sovereign cloud's authority. In place of
// AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or
// AZURE_FEDERATED_TOKEN_FILE choose a credential without a stored secret,
// as for portalsync. Without the variables the test skips and says which
// are missing.
package integration
