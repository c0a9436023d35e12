"""The janitor's report: findings grouped by kind, and a last line saying what remains and what to do."""

from __future__ import annotations

from specdec.janitor.inventory import KINDS, STACK, Finding
from specdec.janitor.ownership import Scope


def _action(finding: Finding) -> str:
    return "keep" if finding.kept else "delete" if finding.deletable else "leave"


def render(title: str, findings: list[Finding]) -> str:
    """The findings grouped by kind, one line each: action, id, why it is the environment's, and why
    the janitor leaves or keeps it."""
    lines = [title] + ([] if findings else ["  nothing found"])
    for kind in KINDS:
        group = [f for f in findings if f.kind == kind]
        if group:
            lines.append(f"{kind} ({len(group)})")
        for f in group:
            why = f"{f.reason}: {f.blocker}" if f.blocker else f.reason
            lines.append(f"  {_action(f):<6}  {f.id}  {why}" + (f": kept ({f.kept})" if f.kept else ""))
    return "\n".join(lines)


def verdict(scope: Scope, where: str, findings: list[Finding], deleted: bool) -> str:
    """The last line: what remains and what to do about it."""
    left = [f for f in findings if not f.kept]
    if not left:
        return f"nothing of {scope.stack_name} remains in {where}"
    advice = [f.blocker for f in left if f.kind == STACK]
    deletable = sum(f.deletable for f in left)
    if deletable:
        command = f"`python -m specdec janitor -e {scope.name} --delete`"
        advice.append(f"{command} again for {deletable} (see the failures above)" if deleted
                      else f"{command} deletes {deletable}")
    by_hand = len(left) - deletable - len([f for f in left if f.kind == STACK])
    if by_hand:
        advice.append(f"{by_hand} to wait for or delete by hand (marked leave above)")
    return f"{len(left)} remain of {scope.stack_name} in {where}: " + "; ".join(advice)
