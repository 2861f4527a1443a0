package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// version overrides the module version for builds from a checkout, where the go
// command stamps only a pseudo-version: the Makefile and Dockerfile set it with
// -ldflags "-X main.version=$(git describe …)". `go install …@v1.2.0` needs nothing:
// the module version is in the binary's build info.
var version string

// revision overrides the VCS commit in the same builds: Docker's build context has
// no .git to stamp it from.
var revision string

// buildInfo is what `tickerboard version`, the startup log and the
// tickerboard_build_info metric say this binary is.
type buildInfo struct {
	Version   string // v1.2.0, a pseudo-version, or "devel"
	GoVersion string // the toolchain that built it, e.g. go1.26.10
	Revision  string // the VCS commit, with "+dirty" for uncommitted changes; "" if unknown
}

// String is one line for people: "v1.2.0 (go1.26.10, revision 0b6ded2…)".
func (b buildInfo) String() string {
	s := b.Version + " (" + b.GoVersion
	if b.Revision != "" {
		s += ", revision " + b.Revision
	}
	return s + ")"
}

// currentBuild reads this binary's build info.
func currentBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return readBuild(bi, version, revision)
}

// readBuild combines the build info the go command stamped (nil when there is none,
// as under some test runners) with the -ldflags overrides.
func readBuild(bi *debug.BuildInfo, overrideVersion, overrideRevision string) buildInfo {
	b := buildInfo{Version: "devel", GoVersion: "unknown"}
	if bi != nil {
		b.GoVersion = bi.GoVersion
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			b.Version = v
		}
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if b.Revision != "" && modified {
			b.Revision += "+dirty"
		}
	}
	if overrideVersion != "" {
		b.Version = overrideVersion
	}
	if overrideRevision != "" {
		b.Revision = overrideRevision
	}
	return b
}

// runVersion is `tickerboard version`.
func runVersion(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("version: unexpected argument %q", args[0])
	}
	_, err := fmt.Fprintln(stdout, "tickerboard", currentBuild())
	return err
}
