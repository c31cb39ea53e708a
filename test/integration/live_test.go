//go:build integration

package integration

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hlf/dynamicsportal/adapters/credentials"
	"github.com/hlf/dynamicsportal/adapters/dynamics"
	"github.com/hlf/dynamicsportal/ports"
)

// TestLivePortal fetches a real token and calls WhoAmI, then reads one page
// of certifications. It writes nothing.
func TestLivePortal(t *testing.T) {
	var missing []string
	for _, name := range []string{"DYNAMICS_BASE_URL", "AZURE_TENANT_ID", "AZURE_CLIENT_ID"} {
		if os.Getenv(name) == "" {
			missing = append(missing, name)
		}
	}
	if os.Getenv(credentials.EnvClientSecret)+os.Getenv(credentials.EnvClientCertificatePath)+os.Getenv(credentials.EnvFederatedTokenFile) == "" {
		missing = append(missing, "one of AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH or AZURE_FEDERATED_TOKEN_FILE")
	}
	if len(missing) > 0 {
		t.Skipf("no live portal configured: set %s to run this test", strings.Join(missing, ", "))
	}

	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	creds, kind, err := credentials.Choose(os.LookupEnv, dynamics.TokenURL(os.Getenv("AZURE_AUTHORITY_HOST"), os.Getenv("AZURE_TENANT_ID")))
	if err != nil {
		t.Fatalf("credentials: %v", err)
	}
	t.Logf("client credential: %s", kind)
	portal, err := dynamics.New(os.Getenv("DYNAMICS_BASE_URL"), creds, &dynamics.Options{
		Tenant:        os.Getenv("AZURE_TENANT_ID"),
		AuthorityHost: os.Getenv("AZURE_AUTHORITY_HOST"), // empty: the public cloud's
		Logger:        logger,
	})
	if err != nil {
		t.Fatalf("configuration: %v", err)
	}
	defer portal.Close()

	ctx := t.Context()
	id, err := portal.WhoAmI(ctx)
	if err != nil {
		t.Fatalf("WhoAmI: %v", err)
	}
	if id.UserID == "" || id.OrganizationID == "" {
		t.Fatalf("WhoAmI returned empty ids: %+v", id)
	}
	t.Logf("signed in as application user %s in organization %s", id.UserID, id.OrganizationID)

	page, err := portal.ListCertifications(ctx, ports.PageQuery{PageSize: 5, ModifiedSince: time.Now().AddDate(-10, 0, 0)})
	if err != nil {
		t.Fatalf("ListCertifications: %v", err)
	}
	t.Logf("first page: %d certifications, more pages: %v", len(page.Items), page.Next != "")
}
