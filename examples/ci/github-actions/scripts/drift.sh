#!/usr/bin/env bash
# Scheduled drift check: runs `tandem drift` on an environment and keeps ONE open issue (label
# tandem-drift, titled "tandem: drift in <environment>") holding the latest report. Drift (exit 2)
# opens the issue or rewrites its body; no drift (exit 0) closes it; a tandem error (exit 1)
# leaves it as it is and fails.
#
# Usage: drift.sh ENVIRONMENT
# Needs: tandem and gh on the PATH, GH_TOKEN (issues: write), GITHUB_REPOSITORY; optional
# TANDEM_DIR (the configuration checkout, default .), RUNNER_TEMP, GITHUB_STEP_SUMMARY and
# GITHUB_SERVER_URL / GITHUB_RUN_ID (to link the run).
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

env_name="${1:?usage: drift.sh ENVIRONMENT}"
require_names "$env_name"
repo="${GITHUB_REPOSITORY:?set GITHUB_REPOSITORY (owner/name)}"
label="tandem-drift"
title="tandem: drift in ${env_name}"
out="$(output_dir tandem-drift)"
run_url="${GITHUB_SERVER_URL:-https://github.com}/${repo}/actions/runs/${GITHUB_RUN_ID:-0}"

# 0: no drift, 1: error, 2: drift. stderr stays in the log; only tandem's Markdown is published.
rc=0
tandem -C "${TANDEM_DIR:-.}" -e "$env_name" drift --format markdown --detailed-exitcode \
  > "${out}/drift.md" || rc=$?

if [[ "$rc" != 0 && "$rc" != 2 ]]; then
  echo "::error::tandem drift failed (exit ${rc}); see the log above. The drift issue is left as it is."
  exit 1
fi
if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then cat "${out}/drift.md" >> "$GITHUB_STEP_SUMMARY"; fi

# The open drift issue of this environment, if any (the label may be shared by environments).
issue="$(gh issue list --repo "$repo" --label "$label" --state open --limit 100 \
  --json number,title --jq "map(select(.title == \"${title}\")) | .[0].number // empty")"

case "$rc" in
  0)
    echo "no drift in ${env_name}"
    if [[ -n "$issue" ]]; then
      gh issue close "$issue" --repo "$repo" --comment "No drift in \`${env_name}\` any more ([run](${run_url}))."
      echo "closed issue #${issue}"
    fi
    ;;
  2)
    # GitHub refuses a body over 65,536 characters: keep whole lines up to 60,000 bytes.
    {
      echo "Drift found by the [scheduled check](${run_url}) on $(date -u '+%Y-%m-%d %H:%M UTC')."
      echo "\`tandem apply\` (or a merge to main) undoes drift in managed objects; each finding says its remedy."
      echo
      LC_ALL=C awk -v max=60000 '{ n += length($0) + 1; if (n > max) { print "\n… cut: the full report is in the run'"'"'s summary."; exit } print }' "${out}/drift.md"
    } > "${out}/issue.md"
    if [[ -n "$issue" ]]; then
      gh issue edit "$issue" --repo "$repo" --body-file "${out}/issue.md"
      echo "drift in ${env_name}: updated issue #${issue}"
    else
      gh label create "$label" --repo "$repo" --color d93f0b \
        --description "Found by tandem's scheduled drift check" --force
      gh issue create --repo "$repo" --title "$title" --label "$label" --body-file "${out}/issue.md"
      echo "drift in ${env_name}: opened an issue"
    fi
    ;;
esac
