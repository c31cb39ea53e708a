// Command vulnreport reads govulncheck's JSON output (-format json) on
// stdin and sorts its findings for CI:
//
//   - a finding in a third-party module, at any level (called, imported or
//     only required), fails the run: upgrade the module;
//   - a finding in the standard library (or the toolchain) is listed with
//     the Go release that fixes it, without failing: it is fixed by building
//     with a newer Go, which SECURITY.md names for production builds.
//
// Run it as `go run .ci/vulnreport.go < findings.json`; it exits 1 when a
// third-party module is affected and 2 when the input cannot be read.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/mod/semver"
)

// message is one object of govulncheck's JSON stream; only the fields used
// here are decoded.
type message struct {
	Config *struct {
		GoVersion string `json:"go_version"`
		DB        string `json:"db"`
	} `json:"config"`
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string `json:"osv"`
		FixedVersion string `json:"fixed_version"`
		Trace        []struct {
			Module   string `json:"module"`
			Version  string `json:"version"`
			Package  string `json:"package"`
			Function string `json:"function"`
		} `json:"trace"`
	} `json:"finding"`
}

// finding is one vulnerability in one module, at the closest level
// govulncheck found it.
type finding struct {
	id, module, version, fixed, level, summary string
}

// The levels of a finding, closest first.
var levels = []string{"called", "imported", "required"}

func main() {
	code, err := report(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vulnreport:", err)
	}
	os.Exit(code)
}

// report writes the sorted findings to w and returns the exit status.
func report(r io.Reader, w io.Writer) (int, error) {
	byKey := map[string]*finding{}
	summaries := map[string]string{}
	goVersion, configs := "", 0
	dec := json.NewDecoder(r)
	for {
		var m message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 2, fmt.Errorf("read govulncheck output: %w", err)
		}
		switch {
		case m.Config != nil:
			goVersion, configs = m.Config.GoVersion, configs+1
		case m.OSV != nil:
			summaries[m.OSV.ID] = m.OSV.Summary
		case m.Finding != nil && len(m.Finding.Trace) > 0:
			t := m.Finding.Trace[0]
			level := "required"
			switch {
			case t.Function != "":
				level = "called"
			case t.Package != "":
				level = "imported"
			}
			key := m.Finding.OSV + " " + t.Module
			f, ok := byKey[key]
			if !ok {
				f = &finding{id: m.Finding.OSV, module: t.Module, version: t.Version, fixed: m.Finding.FixedVersion, level: level}
				byKey[key] = f
			}
			if slices.Index(levels, level) < slices.Index(levels, f.level) {
				f.level = level
			}
		}
	}
	if configs == 0 {
		return 2, errors.New("no govulncheck config message: is this govulncheck -format json output?")
	}

	var std, third []finding
	for _, f := range byKey {
		f.summary = summaries[f.id]
		if f.module == "stdlib" || f.module == "toolchain" {
			std = append(std, *f)
		} else {
			third = append(third, *f)
		}
	}
	order := func(a, b finding) int {
		if d := slices.Index(levels, a.level) - slices.Index(levels, b.level); d != 0 {
			return d
		}
		return strings.Compare(a.module+" "+a.id, b.module+" "+b.id)
	}
	slices.SortFunc(std, order)
	slices.SortFunc(third, order)

	fmt.Fprintf(w, "Go in use: %s\n", goVersion)
	fmt.Fprintf(w, "standard library: %d vulnerabilities (listed, not failing)\n", len(std))
	need := ""
	for _, f := range std {
		fmt.Fprintf(w, "  %-14s %-8s fixed in %-9s %s\n", f.id, f.level, orNone(f.fixed), f.summary)
		if f.level == "called" && f.fixed != "" && (need == "" || semver.Compare(f.fixed, need) > 0) {
			need = f.fixed
		}
	}
	if need != "" {
		fmt.Fprintf(w, "  build production binaries with Go %s or later (the last fix of a called vulnerability)\n", strings.TrimPrefix(need, "v"))
	}
	fmt.Fprintf(w, "third-party modules: %d vulnerabilities\n", len(third))
	for _, f := range third {
		fmt.Fprintf(w, "  %-14s %-8s %s@%s, fixed in %s: %s\n", f.id, f.level, f.module, f.version, orNone(f.fixed), f.summary)
	}
	if len(third) > 0 {
		fmt.Fprintln(w, "FAIL: upgrade the modules above (go get module@fixed-version && go mod tidy)")
		return 1, nil
	}
	return 0, nil
}

func orNone(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}
