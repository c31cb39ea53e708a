package dynamics_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/hlf/dynamicsportal/adapters/dynamics"
	"github.com/hlf/dynamicsportal/ports"
)

// A stand-in for Entra ID and the portal, so the example runs offline.
func portal() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /contoso.onmicrosoft.com/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"example-token"}`)
	})
	mux.HandleFunc("GET /api/data/v9.2/WhoAmI", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
		fmt.Fprint(w, `{"BusinessUnitId":"6f202e6c-e471-ec11-8943-000d3a3a3c3d",`+
			`"UserId":"88057198-a9b1-ec11-9840-00224829f2b7","OrganizationId":"e34c95a5-f34c-430c-a05e-a23437e5b9fa"}`)
	})
	return httptest.NewTLSServer(mux)
}

// creds stands for a provider that reads the secret from wherever it is
// kept; the adapter asks it at each token fetch.
var creds = ports.CredentialProviderFunc(func(context.Context) (ports.Credentials, error) {
	return ports.NewCredentials("5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d", "example-secret"), nil
})

func ExampleNew() {
	srv := portal()
	defer srv.Close()

	// In production: the environment URL and the default authority host.
	client, err := dynamics.New(srv.URL, creds, &dynamics.Options{
		Tenant:        "contoso.onmicrosoft.com",
		AuthorityHost: srv.URL,        // omit for https://login.microsoftonline.com
		HTTPClient:    srv.Client(),   // omit for the adapter's own client
		Logger:        slog.Default(), // omit to discard the debug records
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	id, err := client.WhoAmI(context.Background())
	if err != nil {
		fmt.Println(ports.CodeOf(err), err)
		return
	}
	fmt.Println("acting as user", id.UserID)
	// Output: acting as user 88057198-a9b1-ec11-9840-00224829f2b7
}

func ExampleNew_refused() {
	_, err := dynamics.New("http://hlf.crm4.dynamics.com", creds, &dynamics.Options{Tenant: "contoso.onmicrosoft.com"})
	fmt.Println(err)
	// Output: dynamics: invalid configuration: base URL: must use https
}
