#!/usr/bin/env bash
# Install Toxiproxy 2.12.0 (toxiproxy-server and toxiproxy-cli) into a project tools folder.
#
# Usage: harness/install-toxiproxy.sh [TOOLS_BIN_DIR]      (default: <project>/.tools/bin)
#
# Idempotent:
#   1. If TOOLS_BIN_DIR/toxiproxy-server already reports 2.12.0, do nothing.
#   2. Else if a toxiproxy-server on PATH reports 2.12.0, do nothing (and say which one).
#   3. Else build both binaries with `go install` (Go >= 1.23) into a temporary GOBIN inside
#      TOOLS_BIN_DIR, rename them to toxiproxy-server / toxiproxy-cli, and verify the version.
#
# `toxiproxy-server -version` prints "toxiproxy-server version 2.12.0"; without the -ldflags
# below it would print "toxiproxy-server version git", which does not count as installed.
set -euo pipefail

readonly VERSION="2.12.0"
readonly MODULE="github.com/Shopify/toxiproxy/v2"
readonly MIN_GO="1.23"

project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${1:-${project_root}/.tools/bin}"

# reports_version BINARY: succeed if `BINARY -version` names exactly $VERSION.
reports_version() {
    local out
    out="$(timeout 10 "$1" -version 2>&1)" || return 1
    [[ "$out" =~ (^|[^0-9.])v?${VERSION//./\\.}([^0-9.]|$) ]]
}

if [[ -x "${bin_dir}/toxiproxy-server" ]] && reports_version "${bin_dir}/toxiproxy-server"; then
    echo "toxiproxy-server ${VERSION} already installed: ${bin_dir}/toxiproxy-server"
    exit 0
fi

if on_path="$(command -v toxiproxy-server)" && reports_version "$on_path"; then
    echo "toxiproxy-server ${VERSION} found on PATH, using it: ${on_path}"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    echo "error: toxiproxy-server ${VERSION} not found and 'go' is missing; install Go >= ${MIN_GO}" \
        "(distro package or https://go.dev/dl/) and rerun, or put toxiproxy-server ${VERSION} on PATH" >&2
    exit 1
fi

mkdir -p "$bin_dir"
bin_dir="$(cd "$bin_dir" && pwd)"  # go install needs an absolute GOBIN
# Build into a temp GOBIN on the same filesystem so the final rename is atomic.
gobin="$(mktemp -d "${bin_dir}/.install-toxiproxy.XXXXXX")"
trap 'rm -rf "$gobin"' EXIT

echo "building toxiproxy ${VERSION} with $(go version) ..."
if ! GOBIN="$gobin" CGO_ENABLED=0 go install \
        -ldflags "-X ${MODULE}.Version=${VERSION}" \
        "${MODULE}/cmd/server@v${VERSION}" "${MODULE}/cmd/cli@v${VERSION}"; then
    echo "error: 'go install' of toxiproxy ${VERSION} failed (it needs Go >= ${MIN_GO} and access" \
        "to the Go module proxy); see the output above" >&2
    exit 1
fi

mv -f "${gobin}/cli" "${bin_dir}/toxiproxy-cli"
mv -f "${gobin}/server" "${bin_dir}/toxiproxy-server"

if ! reports_version "${bin_dir}/toxiproxy-server"; then
    echo "error: ${bin_dir}/toxiproxy-server was built but does not report version ${VERSION}:" \
        "$("${bin_dir}/toxiproxy-server" -version 2>&1 | head -n 1)" >&2
    exit 1
fi
echo "installed toxiproxy-server and toxiproxy-cli ${VERSION} into ${bin_dir}"
