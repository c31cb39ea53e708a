package flags

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature/memprovider"
)

// readWithin runs readFlagsFile and fails the test when it has not returned
// within a few seconds (a FIFO would block it for good).
func readWithin(t *testing.T, path string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := readFlagsFile(path)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("reading %s has not returned after 5 s", path)
		return nil
	}
}

// Only a regular file is read: not a FIFO, which would block startup (and
// hold off SIGTERM), nor a device such as /dev/zero, which never ends.
func TestFlagsFileMustBeARegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "flags.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Unblock a reader left waiting by a broken implementation.
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	for _, path := range []string{fifo, "/dev/zero", t.TempDir()} {
		err := readWithin(t, path)
		if err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), path) {
			t.Errorf("read %s: %v, want a not-a-regular-file error naming it", path, err)
		}
	}
}

// A regular file is read under a 1 MiB cap.
func TestFlagsFileIsReadUnderACap(t *testing.T) {
	dir := t.TempDir()
	doc := `{"flags": {"dynamics-portal-enabled": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}}}`
	fits := filepath.Join(dir, "fits.json")
	// Padded with spaces to exactly the cap: still read and parsed.
	if err := os.WriteFile(fits, []byte(doc+strings.Repeat(" ", maxFlagsFile-len(doc))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := readWithin(t, fits); err != nil {
		t.Errorf("a file of exactly %d bytes: %v", maxFlagsFile, err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, []byte(doc+strings.Repeat(" ", maxFlagsFile+1-len(doc))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := readWithin(t, big); err == nil || !strings.Contains(err.Error(), "larger than 1048576 bytes") {
		t.Errorf("a file one byte over the cap: %v, want it refused", err)
	}
}

// The example flags files shipped for each environment must stay valid and
// say what their names promise.
func TestShippedExampleFiles(t *testing.T) {
	for file, want := range map[string]bool{"development.json": false, "staging.json": true, "production.json": true} {
		t.Run(file, func(t *testing.T) {
			p, err := NewProvider(&ProviderOptions{File: filepath.Join("..", "examples", "flags", file), LookupEnv: lookup(nil)})
			if err != nil {
				t.Fatal(err)
			}
			c, err := NewClient(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(t.Context())
			if on, reason, err := c.PortalEnabled(t.Context()); on != want || err != nil {
				t.Errorf("PortalEnabled = %v (%s, %v), want %v", on, reason, err, want)
			}
		})
	}
}

func TestFile(t *testing.T) {
	tests := []struct {
		name       string
		content    string
		wantOn     bool
		wantReason string
	}{
		{"on", portalFile("ENABLED", "on"), true, "STATIC variant=on source=file"},
		{"off", portalFile("ENABLED", "off"), false, "STATIC variant=off source=file"},
		// memprovider answers a DISABLED flag with the caller's default and
		// the reason DISABLED, without an error; the chain stops there.
		{"disabled", portalFile("DISABLED", "on"), false, "DISABLED source=file"},
		{
			"flag absent falls through to defaults",
			`{"flags": {"other": {"state": "ENABLED", "variants": {"a": "x"}, "defaultVariant": "a"}}}`,
			false, "STATIC variant=off source=defaults",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enabled, reason := evaluate(t, ProviderOptions{File: writeFile(t, tt.content), LookupEnv: lookup(nil)})
			if enabled != tt.wantOn || reason != tt.wantReason {
				t.Errorf("got %v, %q; want %v, %q", enabled, reason, tt.wantOn, tt.wantReason)
			}
		})
	}
}

func TestFileFromTestdata(t *testing.T) {
	enabled, reason := evaluate(t, ProviderOptions{File: filepath.Join("testdata", "portal-on.json"), LookupEnv: lookup(nil)})
	if !enabled || reason != "STATIC variant=on source=file" {
		t.Errorf("got %v, %q; want true from the file", enabled, reason)
	}
}

func TestFileUnreadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.json")
	_, err := NewProvider(&ProviderOptions{File: path, LookupEnv: lookup(nil)})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("error = %v; want a not-exist error naming %s", err, path)
	}
}

func TestFileErrors(t *testing.T) {
	const key = `"dynamics-portal-enabled"`
	flag := func(body string) string { return `{"flags": {"dynamics-portal-enabled": ` + body + `}}` }
	tests := []struct {
		name    string
		content string
		want    []string // substrings besides the file name
	}{
		{"empty", "", []string{"empty"}},
		{"blank", " \n\t", []string{"empty"}},
		{"invalid JSON", `{"flags": {`, []string{"invalid JSON"}},
		{"trailing data", `{"flags": {}} {}`, []string{"invalid JSON"}},
		{"array", `[]`, []string{"must be a JSON object"}},
		{"null", `null`, []string{"must be a JSON object"}},
		{"flags missing", `{}`, []string{`"flags" is missing`}},
		{"flags null", `{"flags": null}`, []string{`"flags": must be an object`}},
		{"flags array", `{"flags": []}`, []string{`"flags": must be an object`}},
		{"evaluators", `{"flags": {}, "$evaluators": {"x": {}}}`, []string{"$evaluators", "not supported"}},
		{"unknown top-level key", `{"flags": {}, "flagz": {}}`, []string{`unknown top-level key "flagz"`}},
		{"schema not a string", `{"$schema": 1, "flags": {}}`, []string{`"$schema": must be a string`}},
		{"top metadata object value", `{"flags": {}, "metadata": {"a": {}}}`, []string{"metadata", `"a"`}},
		{"top metadata not an object", `{"flags": {}, "metadata": "x"}`, []string{"metadata: must be an object"}},
		{"duplicate top key", `{"flags": {}, "flags": {}}`, []string{`duplicate key "flags" in the document`}},
		{"empty flag key", `{"flags": {"": {}}}`, []string{"flag key is empty"}},
		{"flag not an object", flag(`true`), []string{key, "must be an object"}},
		{"duplicate flag", `{"flags": {"dynamics-portal-enabled": {}, "dynamics-portal-enabled": {}}}`,
			[]string{`duplicate key "dynamics-portal-enabled" in "flags"`}},
		{"targeting", flag(`{"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "targeting": {"if": []}}`),
			[]string{key, "targeting rules are not supported"}},
		{"unknown flag key", flag(`{"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "comment": "x"}`),
			[]string{key, `unknown key "comment"`}},
		{"flag metadata array", flag(`{"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on", "metadata": {"m": []}}`),
			[]string{key, "metadata", `"m"`}},
		{"state missing", flag(`{"variants": {"on": true}, "defaultVariant": "on"}`), []string{key, `"state" is missing`}},
		{"state lower case", flag(`{"state": "enabled", "variants": {"on": true}, "defaultVariant": "on"}`),
			[]string{key, `"state" is "enabled"`}},
		{"state not a string", flag(`{"state": true, "variants": {"on": true}, "defaultVariant": "on"}`),
			[]string{key, `"state": must be a string`}},
		{"variants missing", flag(`{"state": "ENABLED", "defaultVariant": "on"}`), []string{key, `"variants" is missing`}},
		{"variants empty", flag(`{"state": "ENABLED", "variants": {}, "defaultVariant": "on"}`), []string{key, `"variants" is empty`}},
		{"variants array", flag(`{"state": "ENABLED", "variants": [true], "defaultVariant": "on"}`),
			[]string{key, `"variants": must be an object`}},
		{"duplicate variant", flag(`{"state": "ENABLED", "variants": {"on": true, "on": false}, "defaultVariant": "on"}`),
			[]string{`duplicate key "on" in "flags"."dynamics-portal-enabled"."variants"`}},
		{"default variant missing", flag(`{"state": "ENABLED", "variants": {"on": true}}`), []string{key, `"defaultVariant" is missing`}},
		{"default variant null", flag(`{"state": "ENABLED", "variants": {"on": true}, "defaultVariant": null}`),
			[]string{key, `"defaultVariant": must be a string`}},
		{"default variant not among variants", flag(`{"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "yes"}`),
			[]string{key, `"defaultVariant" "yes" is not among the variants`}},
		{"string variant for boolean flag", flag(`{"state": "ENABLED", "variants": {"on": "true"}, "defaultVariant": "on"}`),
			[]string{key, `variant "on" is a string, but the flag is boolean`}},
		{"number variant for boolean flag", flag(`{"state": "ENABLED", "variants": {"on": 1}, "defaultVariant": "on"}`),
			[]string{key, `variant "on" is a number, but the flag is boolean`}},
		{"null variant", flag(`{"state": "ENABLED", "variants": {"on": null}, "defaultVariant": "on"}`),
			[]string{key, `variant "on": null is not a value`}},
		{"array variant", `{"flags": {"other": {"state": "ENABLED", "variants": {"a": [1]}, "defaultVariant": "a"}}}`,
			[]string{`"other"`, `variant "a": arrays are not supported`}},
		{"mixed variants", `{"flags": {"other": {"state": "ENABLED", "variants": {"a": "x", "b": 2}, "defaultVariant": "a"}}}`,
			[]string{`"other"`, `variant "b" is a number, but variant "a" is a string`}},
		{"number out of range", `{"flags": {"other": {"state": "ENABLED", "variants": {"a": 1e400}, "defaultVariant": "a"}}}`,
			[]string{`"other"`, "out of range"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.content)
			p, err := NewProvider(&ProviderOptions{File: path, LookupEnv: lookup(nil)})
			if err == nil {
				t.Fatalf("NewProvider accepted %s (provider %v)", tt.content, p)
			}
			for _, want := range append([]string{path}, tt.want...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %s", err, want)
				}
			}
		})
	}
}

func TestParseFlagsFileAcceptsFlagdShapes(t *testing.T) {
	const doc = `{
	  "$schema": "https://flagd.dev/schema/v0/flags.json",
	  "metadata": {"owner": "mentors", "version": 3, "draft": false},
	  "flags": {
	    "dynamics-portal-enabled": {"state": "DISABLED", "variants": {"on": true, "off": false},
	      "defaultVariant": "off", "metadata": {"ticket": "x"}},
	    "greeting": {"state": "ENABLED", "variants": {"hi": "hello", "bye": "goodbye"}, "defaultVariant": "hi"},
	    "limit": {"state": "ENABLED", "variants": {"low": 10, "high": 2.5, "exp": 1e3}, "defaultVariant": "low"},
	    "theme": {"state": "ENABLED", "variants": {"dark": {"bg": "black", "depth": 2}}, "defaultVariant": "dark"}
	  }
	}`
	got, err := parseFlagsFile("flags.json", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	portal := got[PortalEnabled]
	if portal.Key != PortalEnabled || portal.State != memprovider.Disabled || portal.DefaultVariant != "off" ||
		portal.Variants["on"] != true || portal.Variants["off"] != false {
		t.Errorf("portal flag = %+v", portal)
	}
	if v := got["greeting"].Variants["bye"]; v != "goodbye" {
		t.Errorf("greeting bye = %#v", v)
	}
	limit := got["limit"].Variants
	if limit["low"] != int64(10) || limit["high"] != 2.5 || limit["exp"] != float64(1000) {
		t.Errorf("limit variants = %#v", limit)
	}
	theme, ok := got["theme"].Variants["dark"].(map[string]any)
	if !ok || theme["bg"] != "black" || theme["depth"] != float64(2) {
		t.Errorf("theme variant = %#v", got["theme"].Variants["dark"])
	}
	if len(got) != 4 {
		t.Errorf("got %d flags, want 4", len(got))
	}
}

func FuzzParseFlagsFile(f *testing.F) {
	f.Add([]byte(portalFile("ENABLED", "on")))
	f.Add([]byte(portalFile("DISABLED", "off")))
	f.Add([]byte(portalFile("ENABLED", "maybe")))
	f.Add([]byte(`{"$schema": "s", "metadata": {"a": 1}, "flags": {}}`))
	f.Add([]byte(`{"flags": {"n": {"state": "ENABLED", "variants": {"a": 1, "b": 2.5, "c": -0}, "defaultVariant": "b"}}}`))
	f.Add([]byte(`{"flags": {"o": {"state": "ENABLED", "variants": {"a": {"x": [1, {"y": null}]}}, "defaultVariant": "a"}}}`))
	f.Add([]byte(`{"flags": {"s": {"state": "ENABLED", "variants": {"a": "x"}, "defaultVariant": "a", "targeting": {}}}}`))
	f.Add([]byte(`{"flags": {"d": {}, "d": {}}}`))
	f.Add([]byte(`{"flags": {}, "$evaluators": {}}`))
	f.Add([]byte(`{"flags": {"x": {"state": "ENABLED", "variants": {"a": null}, "defaultVariant": "a"}}}`))
	f.Add([]byte(`[1, 2, {"a": 1, "a": 2}]`))
	f.Add([]byte(``))
	f.Add([]byte(`{"flags":`))
	f.Add([]byte("\xff"))

	f.Fuzz(func(t *testing.T, data []byte) {
		parsed, err := parseFlagsFile("fuzz.json", data)
		if err != nil {
			if parsed != nil {
				t.Errorf("an error came with flags: %v", parsed)
			}
			if !strings.Contains(err.Error(), `"fuzz.json"`) {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		for key, flag := range parsed {
			if key == "" || flag.Key != key {
				t.Errorf("flag %q has key %q", key, flag.Key)
			}
			if flag.State != memprovider.Enabled && flag.State != memprovider.Disabled {
				t.Errorf("flag %q has state %q", key, flag.State)
			}
			if _, ok := flag.Variants[flag.DefaultVariant]; !ok {
				t.Errorf("flag %q: default variant %q is not among %v", key, flag.DefaultVariant, flag.Variants)
			}
			if _, known := knownBoolFlags[key]; known {
				for name, value := range flag.Variants {
					if _, ok := value.(bool); !ok {
						t.Errorf("boolean flag %q has variant %q = %#v", key, name, value)
					}
				}
			}
		}
	})
}
