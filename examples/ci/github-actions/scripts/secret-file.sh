#!/usr/bin/env bash
# Writes a `{file: PATH}` secret source from an environment variable holding the value (a GitHub
# environment secret), readable by the runner's user only. An empty or unset variable is refused:
# a GitHub secret that does not exist expands to an empty string.
#
# Usage: secret-file.sh PATH VARIABLE
set -euo pipefail

path="${1:?usage: secret-file.sh PATH VARIABLE}"
variable="${2:?usage: secret-file.sh PATH VARIABLE}"
[[ "$variable" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { echo "::error::not a variable name: $variable" >&2; exit 1; }
if [[ -z "${!variable:-}" ]]; then
  echo "::error::secret $variable is empty or not set in this job's GitHub environment; it is the source of $path" >&2
  exit 1
fi

dir="$(dirname "$path")"
if ! (umask 077 && mkdir -p "$dir") 2>/dev/null || [[ ! -w "$dir" ]]; then
  # /run/secrets/... belongs to root on a runner: make the folder the runner user's own.
  sudo install -d -m 0700 -o "$(id -u)" -g "$(id -g)" "$dir"
fi
(umask 077 && printf '%s' "${!variable}" > "$path")
echo "wrote $path from $variable"
