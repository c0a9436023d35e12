#!/usr/bin/env bash
# Scans synthesized CloudFormation templates with checkov, in its own virtualenv (checkov pins old
# boto3/packaging versions that would downgrade the project's .venv).
# Usage: bash scripts/checkov.sh cdk.out/SpecDecStack.template.json [more templates...]
# Exits non-zero if any template has a failed check that .checkov.yaml does not skip.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-checkov"
# The one pin, shared with `make setup`.
CHECKOV_VERSION="$(sed -n 's/^checkov==//p' "$root/requirements-checkov.txt")"

if [ "$#" -eq 0 ]; then
  echo "usage: $0 TEMPLATE.json [TEMPLATE.json ...]" >&2
  exit 2
fi
if ! "$venv/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  echo "checkov: installing checkov==$CHECKOV_VERSION into .venv-checkov" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/requirements-checkov.txt"
fi

# Prints the check counts plus one line per failed check; exits 1 on any failure.
summarize() {
  CHECKOV_REPORT="$1" python3 - <<'PY'
import json, os, sys
text = os.environ["CHECKOV_REPORT"].strip()
if not text:
    print("checkov produced no report")
    sys.exit(1)
data = json.loads(text)
reports = data if isinstance(data, list) else [data]
passed = failed = skipped = 0
failures = []
for report in reports:
    summary = report.get("summary", {})
    passed += summary.get("passed", 0)
    failed += summary.get("failed", 0)
    skipped += summary.get("skipped", 0)
    for check in report.get("results", {}).get("failed_checks", []):
        failures.append(f"  FAILED {check['check_id']} {check['resource']}: {check['check_name']}")
print(f"checks passed {passed}, failed {failed}, skipped {skipped}")
if failures:
    print("\n".join(failures))
sys.exit(1 if failed else 0)
PY
}

status=0
for template in "$@"; do
  if [ ! -f "$template" ]; then
    echo "checkov $template: no such file" >&2
    status=1
    continue
  fi
  report="$("$venv/bin/checkov" --config-file "$root/.checkov.yaml" --file "$template" \
    --framework cloudformation --output json --quiet --compact 2>/dev/null)" || true
  summary="$(summarize "$report")" || status=1
  echo "checkov $template: $summary"
done
exit "$status"
