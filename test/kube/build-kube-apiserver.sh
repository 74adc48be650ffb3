#!/usr/bin/env bash
# Builds kube-apiserver from the Go module proxy (it is not packaged in Debian),
# for the tests that run a real API server (test/kube, docs/kubernetes.md).
# usage: build-kube-apiserver.sh OUT_DIR [KUBERNETES_VERSION]
# Writes OUT_DIR/kube-apiserver. About 10-20 minutes on 2 cores the first time;
# reuses Go's build cache after that. etcd comes from Debian: apt-get install etcd-server.
# `make kube-apiserver` and .ci/run call it; the result does not depend on this
# repository's go.mod (it builds in a scratch module).
set -euo pipefail
out=$(mkdir -p "$1" && cd "$1" && pwd)
ver=${2:-v1.37.2}
staging=v0.${ver#v1.}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
go mod init kas >/dev/null 2>&1
cat > tools.go <<'GO'
//go:build tools

package kas

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
gomod=$(go mod download -json "k8s.io/kubernetes@$ver" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
# kubernetes' go.mod replaces its staging modules with ./staging/...; use their published versions.
for m in $(awk '/=> \.\/staging/ {print $1}' "$gomod"); do
  go mod edit -replace "$m=$m@$staging"
done
go mod edit -require "k8s.io/kubernetes@$ver"
go mod tidy >/dev/null
go build -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
"$out/kube-apiserver" --version
