#!/usr/bin/env bash
# Vets for macOS every package that needs no cgo, tests included, so that
# Linux-only code without a build tag (a syscall, an ioctl number) fails
# here rather than on a Mac. The packages left out are those that are, or
# import, a package with cgo files: imagex (libjpeg-turbo) and
# onnxruntime_go (ONNX Runtime), and everything above them; they cannot be
# cross-compiled without a C toolchain for the target.
set -euo pipefail
GO=${GO:-go}
export GOOS=darwin
# Listing needs no C compiler: with cgo on, CgoFiles names what needs it.
cgo=$(CGO_ENABLED=1 "$GO" list -deps -test -f '{{if and .CgoFiles (not .Standard)}}{{.ImportPath}}{{end}}' ./... | sort -u)
pkgs=$(CGO_ENABLED=1 "$GO" list -test -f '{{.ImportPath}}|{{join .Deps ","}}' ./... | awk -F'|' -v cgo="$cgo" '
	BEGIN { n = split(cgo, c, "\n"); for (i = 1; i <= n; i++) if (c[i] != "") needs[c[i]] = 1 }
	{
		# "p", "p [p.test]", "p_test [p.test]" and "p.test" all belong to p.
		p = $1; sub(/ \[.*/, "", p); sub(/\.test$/, "", p); sub(/_test$/, "", p)
		pkg[p] = 1
		if (p in needs) bad[p] = 1
		m = split($2, d, ",")
		for (i = 1; i <= m; i++) { q = d[i]; sub(/ \[.*/, "", q); if (q in needs) bad[p] = 1 }
	}
	END { for (p in pkg) if (!(p in bad)) print p }' | sort)
echo "vet for $GOOS without cgo:" $(echo "$pkgs" | sed 's|.*/framecast/framecast/||') >&2
CGO_ENABLED=0 "$GO" vet $pkgs
