"""Checks of a parsed plan against the session, before anything is read or written.

Every problem names the field it is about and what to write instead: an undeclared
source, a JMESPath that does not compile, a tool the session does not have, a
placeholder the map does not produce, arguments that break the tool's input schema
(checked with `jsonschema` on a probe record typed by the map's transforms).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any

from jmespath.parser import ParsedResult

from runtime.tools.sync_map import compile_plan, constants, target_types
from runtime.tools.sync_plan import EventStep, ListStep, PlanError, SyncPlan
from runtime.tools.sync_sink import ToolLookup
from runtime.tools.sync_template import (
    UNTYPED,
    fill,
    probe_record,
    reference_problems,
    schema_problems,
)

SELF = "sync_records"


class _AnySource(dict[str, Any]):
    """A probe source record: every field exists and has no fixed type."""

    def get(self, key: str, default: Any = None) -> Any:
        return UNTYPED


def check_plan(
    plan: SyncPlan, sources: Collection[str], tools: ToolLookup, names: list[str]
) -> dict[str, ParsedResult]:
    """The plan's compiled expressions; PlanError listing every problem found."""
    exprs, problems = compile_plan(plan)
    if "$cursor" in repr(plan.source.params) and plan.cursor is None:
        problems.append("source.params: '$cursor' needs a top-level 'cursor' {stream, field}")
    if plan.source.source not in sources:
        declared = ", ".join(f"'{s}'" for s in sources) or "none"
        problems.append(
            f"source.source: '{plan.source.source}' is not a declared source; declared: {declared}"
        )
    problems += _tool_problems(plan, tools, names)
    problems += _path_problems(plan)
    if not problems:  # schemas only once every tool is known
        problems += _schema_problems(plan, tools)
    if problems:
        raise PlanError(problems[:12])
    return exprs


def _tools_used(plan: SyncPlan) -> dict[str, str]:
    """Field path -> tool name, for every tool the plan names."""
    sink = plan.sink
    used = {"sink.tool": sink.tool} if sink.tool else {}
    if sink.batch:
        used["sink.batch.tool"] = sink.batch.tool
    if sink.import_:
        used["sink.import.tool"] = sink.import_.tool
        used["sink.import.poll_tool"] = sink.import_.poll_tool
    if sink.lookup:
        used["sink.lookup.tool"] = sink.lookup.tool
    for i, step in enumerate(plan.then):
        if isinstance(step, EventStep):
            used[f"then[{i}].tool"] = step.tool
            if step.confirm is not None:
                used[f"then[{i}].confirm.tool"] = step.confirm.tool
        for role in ("get", "create", "add"):
            if isinstance(step, ListStep) and getattr(step, f"{role}_tool"):
                used[f"then[{i}].{role}_tool"] = getattr(step, f"{role}_tool")
    return used


def _tool_problems(plan: SyncPlan, tools: ToolLookup, names: list[str]) -> list[str]:
    out = []
    for where, name in _tools_used(plan).items():
        if name == SELF:
            out.append(f"{where}: '{SELF}' cannot write its own records; name an MCP tool")
        elif tools(name) is None:
            close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            out.append(f"{where}: no tool '{name}' in this session{hint}")
    return out


def _path_problems(plan: SyncPlan) -> list[str]:
    targets = set(plan.map)
    record: dict[str, set[str] | None] = {"record": targets, "source": None}
    sink = plan.sink
    checks: list[tuple[Any, str, Mapping[str, set[str] | None]]] = [
        (sink.arguments, "sink.arguments", record),
        (plan.source.params, "source.params", {"cursor": None}),
    ]
    if sink.batch:
        checks += [(sink.batch.item, "sink.batch.item", record)]
        checks += [(sink.batch.arguments, "sink.batch.arguments", {"batch": None})]
    if sink.import_:
        imp = sink.import_
        checks += [(imp.item, "sink.import.item", record)]
        checks += [(imp.arguments, "sink.import.arguments", {"batch": None, "list_ids": None})]
        checks += [(imp.poll_arguments, "sink.import.poll_arguments", {"process_id": None})]
    if sink.lookup:
        vars_ = {"offset": None, "limit": None, "since": None, "sort": None}
        checks += [(sink.lookup.arguments, "sink.lookup.arguments", vars_)]
    for i, step in enumerate(plan.then):
        if isinstance(step, EventStep):
            checks += [(step.arguments, f"then[{i}].arguments", record)]
    out = [p for t, at, allowed in checks for p in reference_problems(t, at, allowed)]
    return out + _mapped_paths(plan, targets)


def _mapped_paths(plan: SyncPlan, targets: set[str]) -> list[str]:
    """Paths into the mapped record that the map must produce."""
    paths = [
        (f"sink.lookup.compare.{p}", p)
        for p in (plan.sink.lookup.compare if plan.sink.lookup else {})
    ]
    paths += [(f"sink.retry_without[{i}]", p) for i, p in enumerate(plan.sink.retry_without)]
    paths += [(f"validate.phones[{i}]", p) for i, p in enumerate(plan.validate_.phones)]
    paths += [(f"validate.required[{i}]", p) for i, p in enumerate(plan.validate_.required)]
    if "email" in plan.validate_.model_fields_set and plan.validate_.email:
        paths.append(("validate.email", plan.validate_.email))
    if "key" in plan.dedupe.model_fields_set and plan.dedupe.key:
        paths.append(("dedupe.key", plan.dedupe.key))
    for i, step in enumerate(plan.then):
        if isinstance(step, ListStep):
            paths.append((f"then[{i}].key", step.key))
    known = ", ".join(sorted(targets)[:12])
    out = [
        f"{where}: '{p}' is not produced by 'map' (it maps: {known})"
        for where, p in paths
        if not any(t == p or t.startswith(p + ".") or p.startswith(t + ".") for t in targets)
    ]
    imp = plan.sink.import_
    uses_ids = imp is not None and "$list_ids" in repr(imp.arguments)
    if uses_ids and not any(isinstance(s, ListStep) and s.on == "created" for s in plan.then):
        out.append(
            "sink.import.arguments: '$list_ids' needs a 'then' step adding created records "
            "to a list; add one, or give the list ids yourself"
        )
    return out


def _schema_problems(plan: SyncPlan, tools: ToolLookup) -> list[str]:
    probe = probe_record(target_types(plan), constants(plan))
    record = {"record": probe, "source": _AnySource()}
    sink = plan.sink
    calls: list[tuple[str | None, Any, str]] = [
        (sink.tool, fill(sink.arguments, record), "sink.arguments")
    ]
    if sink.batch:
        rows = [fill(sink.batch.item, record)]
        calls.append((sink.batch.tool, fill(sink.batch.arguments, {"batch": rows}), "sink.batch"))
    if sink.import_:
        imp = sink.import_
        rows = [fill(imp.item, record)]
        calls.append(
            (imp.tool, fill(imp.arguments, {"batch": rows, "list_ids": [1]}), "sink.import")
        )
        poll = fill(imp.poll_arguments, {"process_id": 1})
        calls.append((imp.poll_tool, poll, "sink.import.poll_arguments"))
    if sink.lookup:
        variables = {"offset": 0, "limit": sink.lookup.page_size, "sort": "asc"}
        args = fill(sink.lookup.arguments, variables)
        calls.append((sink.lookup.tool, args, "sink.lookup.arguments"))
    for i, step in enumerate(plan.then):
        if isinstance(step, EventStep):
            calls.append((step.tool, fill(step.arguments, record), f"then[{i}].arguments"))
    out = []
    for name, args, where in calls:
        tool = tools(name) if name else None
        if tool is not None:
            found = schema_problems(tool.input_schema, args, where, probe=True)
            out += [f"{p} (input schema of '{name}')" for p in found]
    return out
