#!/usr/bin/env bash
# Packs one release binary the way examples/ci/github-actions/scripts/install-tandem.sh expects:
# DIST/tandem-VERSION-TARGET.tar.gz (a tandem-VERSION-TARGET/ folder holding `tandem` and the
# README) and DIST/tandem-VERSION-TARGET.tar.gz.sha256 (`<sha256>  <archive>`, as sha256sum
# writes it, so `sha256sum -c` checks it).
#
# Usage: package-release.sh VERSION TARGET BINARY DIST
set -euo pipefail

if [[ $# -ne 4 ]]; then
  echo "usage: $0 VERSION TARGET BINARY DIST" >&2
  exit 1
fi
version="${1#v}" target="$2" binary="$3" dist="$4"
readme="$(cd "$(dirname "$0")/../.." && pwd)/README.md"

name="tandem-${version}-${target}"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "${stage}/${name}" "$dist"
install -m 0755 "$binary" "${stage}/${name}/tandem"
cp "$readme" "${stage}/${name}/README.md"
# Same bytes for the same inputs: sorted names, fixed owner and time (where GNU tar).
if tar --version 2>/dev/null | grep -q 'GNU tar'; then
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='@0' \
    -C "$stage" -cf - "$name" | gzip -n > "${dist}/${name}.tar.gz"
else
  tar -C "$stage" -cf - "$name" | gzip -n > "${dist}/${name}.tar.gz"
fi
(
  cd "$dist"
  if command -v sha256sum >/dev/null; then sha256sum "${name}.tar.gz"; else shasum -a 256 "${name}.tar.gz"; fi \
    > "${name}.tar.gz.sha256"
)
cat "${dist}/${name}.tar.gz.sha256"
