# shellcheck shell=bash
# Sourced by apply.sh, drift.sh and promote.sh: what each of them must do the same way.

# Exits unless every argument is a plain name (an environment, a workspace): never a path, an
# option or anything a shell would expand.
require_names() {
  local name
  for name in "$@"; do
    [[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ ]] || { echo "::error::invalid name: $name" >&2; exit 1; }
  done
}

# The GitHub token is for gh only: tandem never sees it (a secret source could name it).
gh_token="${GH_TOKEN:-}"
unset GH_TOKEN
gh() { GH_TOKEN="$gh_token" command gh "$@"; }

# Prints a new directory for the run's outputs, outside the checkout: an untracked file there
# would be recorded as a "+dirty" configuration in the workspaces' state.
output_dir() {
  local dir="${RUNNER_TEMP:-$(mktemp -d)}/$1"
  mkdir -p "$dir"
  printf '%s\n' "$dir"
}
