"""The deletion order of a synthesized CloudFormation template, read from its dependency graph.

CloudFormation creates a resource after everything it depends on and deletes it before all of
them, whether the dependency is an explicit DependsOn or implied by Ref, Fn::GetAtt or a
`${...}` reference in Fn::Sub. Resources with no path between them are deleted in parallel, in
no promised order: only a path in this graph proves that one goes before another on `cdk destroy`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cached_property
from typing import Any

# ${Name} or ${Name.Attribute} in an Fn::Sub string; ${!Literal} is an escape, not a reference.
SUB_REFERENCE = re.compile(r"\$\{(?!!)([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


class DependencyGraph:
    def __init__(self, template: dict) -> None:
        self.resources: dict[str, dict] = template["Resources"]

    def direct(self, logical_id: str) -> set[str]:
        """The resources logical_id depends on directly (not pseudo parameters, not parameters)."""
        return self._direct[logical_id]

    def dependencies(self, logical_id: str) -> set[str]:
        """Everything logical_id depends on, directly or through others: each is created before
        it and deleted after it."""
        return self._closure[logical_id]

    def deleted_before(self, first: str, then: str) -> bool:
        """True when CloudFormation is bound to finish deleting `first` before it starts on `then`."""
        return then in self.dependencies(first)

    def of_type(self, *types: str) -> set[str]:
        return {i for i, r in self.resources.items() if r["Type"] in types}

    def not_deleted_before(self, first: Iterable[str], then: Iterable[str]) -> list[tuple[str, str]]:
        """Every (a, b) of first x then where nothing makes CloudFormation delete a before b."""
        return sorted((a, b) for a in first for b in then if not self.deleted_before(a, b))

    @cached_property
    def _direct(self) -> dict[str, set[str]]:
        return {logical_id: self._references(resource) for logical_id, resource in self.resources.items()}

    @cached_property
    def _closure(self) -> dict[str, set[str]]:
        closure: dict[str, set[str]] = {}
        for start in self.resources:
            seen: set[str] = set()
            todo = [start]
            while todo:
                for dependency in self._direct[todo.pop()] - seen:
                    seen.add(dependency)
                    todo.append(dependency)
            closure[start] = seen
        return closure

    def _references(self, resource: dict) -> set[str]:
        depends_on = resource.get("DependsOn", [])
        found = set([depends_on] if isinstance(depends_on, str) else depends_on)

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                for key, inner in value.items():
                    if key == "Ref":
                        found.add(inner)
                    elif key == "Fn::GetAtt":
                        found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
                    elif key == "Fn::Sub":
                        text = inner[0] if isinstance(inner, list) else inner
                        # Names bound by Fn::Sub's own variable map are not resources.
                        local = set(inner[1]) if isinstance(inner, list) else set()
                        found.update(set(SUB_REFERENCE.findall(text)) - local)
                        walk(inner[1] if isinstance(inner, list) else None)
                    else:
                        walk(inner)
            elif isinstance(value, list):
                for inner in value:
                    walk(inner)

        walk(resource.get("Properties", {}))
        return {name for name in found if name in self.resources}
