#!/usr/bin/env bash
# Promotion by hand: `tandem promote WORKSPACE`, then the commit tandem makes on the environment
# file (`active: WORKSPACE`) is pushed to main, so the repository keeps describing the real state.
# If main moved meanwhile (the run waited for approval), the commit is rebased and the push
# retried; if it still cannot be pushed, the workspaces ARE promoted and the script fails saying
# what to commit by hand.
#
# Usage: promote.sh ENVIRONMENT WORKSPACE
# Environment: ALLOW_UNREACHABLE=true (promote although the other workspace cannot be reached),
# DRY_RUN=true (show what promote would do; change nothing, push nothing), TANDEM_DIR (the
# checkout of main, default .; its user.name / user.email make the commit), RUNNER_TEMP.
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

env_name="${1:?usage: promote.sh ENVIRONMENT WORKSPACE}"
workspace="${2:?usage: promote.sh ENVIRONMENT WORKSPACE}"
require_names "$env_name" "$workspace"
dir="${TANDEM_DIR:-.}"
# Outside the checkout, which holds only tandem's commit.
out="$(output_dir tandem-promote)"

before="$(git -C "$dir" rev-parse HEAD)"
args=(-C "$dir" -e "$env_name" promote "$workspace")
if [[ "${ALLOW_UNREACHABLE:-false}" == true ]]; then args+=(--allow-unreachable); fi
if [[ "${DRY_RUN:-false}" == true ]]; then args+=(--dry-run); fi
args+=(--auto-approve)
echo "tandem ${args[*]}"
# pipefail: a failed promote (exit 1) fails the script; tee keeps the output.
tandem "${args[@]}" 2>&1 | tee "${out}/promote.txt"

if [[ "${DRY_RUN:-false}" == true ]]; then
  echo "dry run: nothing pushed"
  exit 0
fi
if [[ "$(git -C "$dir" rev-parse HEAD)" == "$before" ]]; then
  echo "::notice::tandem made no commit (was ${workspace} already active?); nothing to push"
  exit 0
fi
git -C "$dir" log -1 --stat
for _ in 1 2 3; do
  if git -C "$dir" push origin HEAD:main; then exit 0; fi
  # main moved while the run waited for approval: put tandem's commit on top and try again.
  git -C "$dir" pull --rebase origin main || { git -C "$dir" rebase --abort || true; break; }
done
echo "::error::the workspaces ARE promoted, but the commit could not be pushed to main." \
  "Commit 'active: ${workspace}' in environments/${env_name}.yaml by hand before the next apply."
exit 1
