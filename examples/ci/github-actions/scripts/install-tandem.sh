#!/usr/bin/env bash
# Installs a pinned tandem release on a CI runner: downloads the archive for this platform, checks
# its SHA-256 against the release's published checksum and, when given, against the one pinned in
# the workflow, and puts `tandem` on the PATH. Nothing is compiled.
#
# Environment:
#   TANDEM_VERSION      the release to install, e.g. 0.1.0 (required)
#   TANDEM_REPOSITORY   the GitHub repository publishing tandem's releases, owner/name (required)
#   TANDEM_SHA256       SHA-256 of this platform's archive, from the release's SHA256SUMS: pins the
#                       exact bytes, so a release re-published under the same tag is refused
#   TANDEM_INSTALL_DIR  where the binary goes (default: $RUNNER_TEMP/tandem-bin, else ~/.local/bin)
#   TANDEM_RELEASES_URL where the release downloads are
#                       (default: https://github.com/$TANDEM_REPOSITORY/releases/download)
set -euo pipefail

die() { echo "::error::install-tandem: $*" >&2; exit 1; }

version="${TANDEM_VERSION:?set TANDEM_VERSION (e.g. 0.1.0)}"
version="${version#v}"
repository="${TANDEM_REPOSITORY:?set TANDEM_REPOSITORY (owner/name of tandem releases)}"
releases="${TANDEM_RELEASES_URL:-https://github.com/${repository}/releases/download}"
install_dir="${TANDEM_INSTALL_DIR:-${RUNNER_TEMP:-$HOME/.local}/tandem-bin}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] || die "not a version: $version"

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64 | Linux/amd64) target=x86_64-unknown-linux-musl ;;
  Linux/aarch64 | Linux/arm64) target=aarch64-unknown-linux-musl ;;
  Darwin/x86_64) target=x86_64-apple-darwin ;;
  Darwin/arm64 | Darwin/aarch64) target=aarch64-apple-darwin ;;
  *) die "no tandem release for $(uname -s)/$(uname -m); use cargo install --git ... --locked" ;;
esac

sha256() {
  if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1
}

name="tandem-${version}-${target}"
archive="${name}.tar.gz"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# https only (file: for the tests), no redirect to anything else, retries for a flaky network.
fetch() {
  curl --fail --silent --show-error --location --proto '=https,file' --proto-redir '=https' \
    --retry 3 --output "$2" "$1" || die "cannot download $1"
}
fetch "${releases}/v${version}/${archive}" "${work}/${archive}"
fetch "${releases}/v${version}/${archive}.sha256" "${work}/${archive}.sha256"

actual="$(sha256 "${work}/${archive}")"
published="$(cut -d' ' -f1 "${work}/${archive}.sha256")"
[[ "$actual" == "$published" ]] ||
  die "${archive}: SHA-256 ${actual} differs from the release's checksum ${published}"
if [[ -n "${TANDEM_SHA256:-}" ]]; then
  [[ "$actual" == "$TANDEM_SHA256" ]] ||
    die "${archive}: SHA-256 ${actual} differs from the pinned TANDEM_SHA256 ${TANDEM_SHA256}"
else
  echo "::warning::install-tandem: TANDEM_SHA256 is not set; checked ${archive} against the release's own checksum only (pin ${actual})"
fi

tar -xzf "${work}/${archive}" -C "$work"
[[ -f "${work}/${name}/tandem" ]] || die "${archive} holds no ${name}/tandem"
mkdir -p "$install_dir"
install -m 0755 "${work}/${name}/tandem" "${install_dir}/tandem"

installed="$("${install_dir}/tandem" --version)"
[[ "$installed" == "tandem ${version}" ]] || die "installed binary says '${installed}', expected 'tandem ${version}'"
if [[ -n "${GITHUB_PATH:-}" ]]; then echo "$install_dir" >> "$GITHUB_PATH"; fi
echo "installed ${installed} (${target}, sha256 ${actual}) in ${install_dir}"
