package flags_test

import (
	"context"
	"fmt"

	"github.com/hlf/dynamicsportal/flags"
	"github.com/open-feature/go-sdk/openfeature/memprovider"
)

// The command line builds the module's own provider (environment overrides,
// an optional flags file, the defaults) and evaluates the portal flag once at
// startup.
func Example() {
	ctx := context.Background()
	env := map[string]string{"FEATURE_DYNAMICS_PORTAL_ENABLED": "true"}

	provider, err := flags.NewProvider(&flags.ProviderOptions{
		File: "", // or the path of a flagd JSON file
		LookupEnv: func(name string) (string, bool) {
			v, ok := env[name]
			return v, ok
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := flags.NewClient(ctx, provider)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = client.Close(ctx) }()

	enabled, reason, err := client.PortalEnabled(ctx)
	fmt.Println(enabled, reason, err)
	// Output: true STATIC variant=on source=env <nil>
}

// A host backend hands in its own provider (flagd, a vendor's); an in-memory
// provider stands in for it here.
func ExampleNewClient() {
	ctx := context.Background()
	host := memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		flags.PortalEnabled: {
			Key:            flags.PortalEnabled,
			State:          memprovider.Enabled,
			DefaultVariant: "stub",
			Variants:       map[string]any{"live": true, "stub": false},
		},
	})

	client, err := flags.NewClient(ctx, host)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = client.Close(ctx) }()

	enabled, reason, _ := client.PortalEnabled(ctx)
	fmt.Println(enabled, reason)
	// Output: false STATIC variant=stub
}
