"""Argument templates: JSON with `$name` / `$name.path` placeholders, filled per call.

    fill({"email": "$record.email", "updateEnabled": True}, {"record": {"email": "a@b.co"}})
    -> {"email": "a@b.co", "updateEnabled": True}

A string that is exactly a placeholder is replaced by the value, keeping its type; an
object key whose value is missing or null is left out. Schemas are checked with the
`jsonschema` package against a probe record whose values have the types the mapping's
transforms produce, so a plan is judged before anything is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

PLACEHOLDER = re.compile(r"^\$([a-z_]+)((?:\.[^.]+)*)$")
UNTYPED = "\u2063untyped"  # a probe value whose type the plan does not fix
_MISSING = object()
_PROBES: dict[str, Any] = {
    "float": 1.5,
    "int": 1,
    "bool": True,
    "date": "2024-01-31",
    "e164": "+33612345678",
    "lower": "text",
    "trim": "text",
    "str": "text",
}
_LOOSE = frozenset({"type", "anyOf", "oneOf", "format", "pattern", "enum", "const", "minLength"})


def fill(template: Any, variables: Mapping[str, Any]) -> Any:
    """The template with every placeholder replaced; missing values are left out."""
    value = _fill(template, variables)
    return None if value is _MISSING else value


def _fill(template: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(template, str):
        m = PLACEHOLDER.match(template)
        if m is None:
            return template
        value = get_path(variables.get(m.group(1), _MISSING), m.group(2))
        return _MISSING if value is None else value
    if isinstance(template, dict):
        out = {}
        for key, item in template.items():
            value = _fill(item, variables)
            if value is not _MISSING:
                out[key] = value
        return out
    if isinstance(template, list):
        return [v for v in (_fill(i, variables) for i in template) if v is not _MISSING]
    return template


def get_path(value: Any, dotted: str) -> Any:
    """`value` at a '.a.b' path (or 'a.b'); None when any step is missing."""
    for part in (p for p in dotted.split(".") if p):
        if value is _MISSING or not isinstance(value, dict):
            return None
        value = value.get(part, _MISSING)
    return None if value is _MISSING else value


def placeholders(template: Any, at: str) -> Iterator[tuple[str, str, str]]:
    """(where, variable, path) for every placeholder in `template`."""
    if isinstance(template, str) and (m := PLACEHOLDER.match(template)):
        yield at, m.group(1), m.group(2).lstrip(".")
    elif isinstance(template, dict):
        for key, item in template.items():
            yield from placeholders(item, f"{at}.{key}")
    elif isinstance(template, list):
        for i, item in enumerate(template):
            yield from placeholders(item, f"{at}[{i}]")


def reference_problems(template: Any, at: str, allowed: Mapping[str, set[str] | None]) -> list[str]:
    """Placeholders naming an unknown variable, or a record path the map does not produce.

    `allowed` maps a variable to the dotted paths it holds (None: any path).
    """
    out = []
    for where, name, path in placeholders(template, at):
        if name not in allowed:
            names = ", ".join(f"'${n}'" for n in allowed)
            out.append(f"{where}: unknown placeholder '${name}'; here you can use {names}")
            continue
        paths = allowed[name]
        if path and paths is not None and not _produced(path, paths):
            known = ", ".join(sorted(paths)[:12])
            out.append(
                f"{where}: '${name}.{path}' is not produced by 'map' (it maps: {known}); "
                "add it to 'map' or fix the path"
            )
    return out


def _produced(path: str, targets: set[str]) -> bool:
    return any(t == path or t.startswith(path + ".") or path.startswith(t + ".") for t in targets)


def probe_record(types: Mapping[str, str | None], constants: Mapping[str, Any]) -> dict[str, Any]:
    """A mapped record with a plausible value per target (nested on dots)."""
    record: dict[str, Any] = {}
    for target, kind in types.items():
        value = constants[target] if target in constants else _PROBES.get(kind or "", UNTYPED)
        set_path(record, target, value)
    return record


def set_path(record: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `record` at a dotted path, creating objects on the way."""
    *parents, last = dotted.split(".")
    node = record
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


def drop_path(record: dict[str, Any], dotted: str) -> None:
    """Remove the value at a dotted path, if there is one."""
    *parents, last = dotted.split(".")
    node: Any = record
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)


def stripped(record: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """A copy of `record` without the values at `paths` (`record` itself when none)."""
    if not paths:
        return record
    copy: dict[str, Any] = json.loads(json.dumps(record))
    for path in paths:
        drop_path(copy, path)
    return copy


def validator_of(schema: Mapping[str, Any]) -> Any:
    """A jsonschema validator for a tool's input schema (None when the schema is broken)."""
    try:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
    except SchemaError:
        return None  # a server's odd schema is the server's problem; the call will tell
    return cls(schema)


def schema_problems(
    schema: Mapping[str, Any], instance: Any, at: str, *, probe: bool, validator: Any = None
) -> list[str]:
    """Where `instance` breaks the tool's input schema (type errors on untyped probes ignored).

    Pass `validator` (from validator_of) when checking many instances against one schema.
    """
    validator = validator or validator_of(schema)
    if validator is None or validator.is_valid(instance):
        return []
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    out = []
    for error in errors:
        if probe and _about_untyped(error):
            continue
        where = at + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        )
        out.append(f"{where}: {_short(_message(error))}")
    return out[:5]


def _about_untyped(error: Any) -> bool:
    if error.validator in _LOOSE and error.instance == UNTYPED:
        return True
    return any(_about_untyped(e) for e in error.context or [])


def _message(error: Any) -> str:
    """jsonschema's message, with 'not valid under any of the given schemas' made concrete."""
    if error.validator in ("anyOf", "oneOf") and isinstance(error.validator_value, list):
        types = [str(b.get("type")) for b in error.validator_value if isinstance(b, dict)]
        if types and all(
            isinstance(b, dict) and isinstance(b.get("type"), str) for b in error.validator_value
        ):
            got = type(error.instance).__name__
            return f"{error.instance!r} is a {got}; expected {' or '.join(types)}"
    return str(error.message)


def _short(message: str) -> str:
    message = message.replace(repr(UNTYPED), "a value")
    return message if len(message) <= 200 else message[:197] + "..."
