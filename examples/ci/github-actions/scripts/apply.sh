#!/usr/bin/env bash
# Apply on a push to main: first the plan that was reviewed on the merged pull request, where it
# can, then main afresh.
#
# 1. The reviewed plan. The commit's merged pull request is looked up; its plan.json comes from
#    the artifact `tandem-plan-pr<number>-<head sha>` that plan.yml uploaded for the pull
#    request's last commit, and only if the run that made it is plan.yml on pull_request_target
#    (main's own workflow: no other workflow, e.g. one a branch brings along, can stand in for
#    it). `tandem apply plan.json` applies exactly what the comment showed and refuses a stale
#    plan: a workspace changed since, or main's configuration of a resource the plan changes
#    differs from the reviewed one. Anything that stops it is said in the log, and step 2 goes on.
# 2. Main afresh: `tandem apply --auto-approve`. A pull request's plan never holds secret values
#    (pull requests get none), so this is what writes them; it also applies whatever the reviewed
#    plan did not cover (a stale plan, a manual run, drift since the plan). Its exit code is the
#    script's.
#
# Usage: apply.sh ENVIRONMENT
# Needs: tandem and gh on the PATH, GH_TOKEN (actions: read, contents: read, pull-requests:
# read), GITHUB_REPOSITORY, GITHUB_SHA, GITHUB_EVENT_NAME; optional TANDEM_DIR (the checkout of
# main, default .), RUNNER_TEMP, PLAN_WORKFLOW (default .github/workflows/plan.yml).
set -euo pipefail
# shellcheck source=SCRIPTDIR/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

env_name="${1:?usage: apply.sh ENVIRONMENT}"
require_names "$env_name"
repo="${GITHUB_REPOSITORY:?set GITHUB_REPOSITORY (owner/name)}"
sha="${GITHUB_SHA:?set GITHUB_SHA}"
plan_workflow="${PLAN_WORKFLOW:-.github/workflows/plan.yml}"
dir="${TANDEM_DIR:-.}"
out="$(output_dir tandem-apply)"
log="${out}/apply.txt"
: > "$log"

say() { echo "$*" | tee -a "$log"; }
note() { echo "$*" | tee -a "$log" >&2; }

# Prints the path of the reviewed plan.json, or nothing (and says why).
reviewed_plan() {
  if [[ "${GITHUB_EVENT_NAME:-}" != push ]]; then
    note "not a push (${GITHUB_EVENT_NAME:-unknown}): no reviewed plan"; return
  fi
  local pr number head artifact run_id run
  pr="$(gh api "repos/${repo}/commits/${sha}/pulls" \
    --jq 'map(select(.merged_at != null)) | .[0] // empty | "\(.number) \(.head.sha)"')" ||
    { note "cannot look up the pull request of ${sha}"; return; }
  if [[ -z "$pr" ]]; then
    note "commit ${sha} came from no merged pull request"; return
  fi
  read -r number head <<< "$pr"
  artifact="tandem-plan-pr${number}-${head}"
  run_id="$(gh api "repos/${repo}/actions/artifacts?name=${artifact}&per_page=1" \
    --jq '.artifacts | map(select(.expired | not)) | .[0].workflow_run.id // empty')" ||
    { note "cannot list the artifacts named ${artifact}"; return; }
  if [[ -z "$run_id" ]]; then
    note "no artifact ${artifact} (was the last commit of #${number} planned?)"; return
  fi
  run="$(gh api "repos/${repo}/actions/runs/${run_id}" --jq '"\(.event) \(.path)"')" ||
    { note "cannot read workflow run ${run_id}"; return; }
  if [[ "$run" != "pull_request_target ${plan_workflow}" ]]; then
    note "::warning::artifact ${artifact} was made by '${run}', not by ${plan_workflow} on pull_request_target: ignored"
    return
  fi
  rm -rf "${out}/reviewed"
  gh run download "$run_id" --repo "$repo" --name "$artifact" --dir "${out}/reviewed" >&2 ||
    { note "cannot download artifact ${artifact}"; return; }
  if [[ ! -s "${out}/reviewed/plan.json" ]]; then
    note "artifact ${artifact} holds no plan.json (the plan of #${number} failed)"; return
  fi
  note "reviewed plan: #${number} at ${head}, from run ${run_id}"
  echo "${out}/reviewed/plan.json"
}

plan="$(reviewed_plan)"
if [[ -n "$plan" ]]; then
  say "== tandem apply <the reviewed plan> --auto-approve"
  rc=0
  tandem -C "$dir" -e "$env_name" apply "$plan" --auto-approve 2>&1 | tee -a "$log" || rc=$?
  if [[ "$rc" == 0 ]]; then
    say "applied the reviewed plan"
  else
    say "::warning::the reviewed plan was not applied (tandem exit ${rc}; see above, a stale plan is refused before anything is written): applying main afresh"
  fi
else
  say "::notice::no reviewed plan to apply: applying main afresh"
fi

say "== tandem apply --auto-approve (main afresh: secret values, and anything the reviewed plan did not cover)"
tandem -C "$dir" -e "$env_name" apply --auto-approve 2>&1 | tee -a "$log"
