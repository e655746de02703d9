"""Per-record logic of the data plane, pure: filter, map (JMESPath + transforms), validate,
dedupe.

    mapper = Mapper(plan, cursor="2026-05-01T00:00:00")
    outcome = mapper.apply(source_record)    # Mapped | Skipped | Rejected

Skipped records are only counted (outside the window, filtered out); Rejected ones go to
the dead-letter table with the reason (invalid email, a value a transform cannot make
sense of, a missing required field). `Deduper` keeps one record per key per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jmespath
from email_validator import EmailNotValidError, validate_email
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from runtime.tools.sync_plan import Condition, EventStep, FieldSpec, SyncPlan
from runtime.tools.sync_template import drop_path, get_path, set_path
from runtime.tools.sync_transforms import TRANSFORMS, TransformError, e164, parse_time
from runtime.tools.sync_window import Window


@dataclass
class Skipped:
    """Left out on purpose; counted under `reason`."""

    reason: str


@dataclass
class Rejected:
    """Quarantined in the dead-letter table: `category` is counted, `detail` stored."""

    category: str
    detail: str


@dataclass
class Mapped:
    """A record ready for the sink."""

    source: dict[str, Any]
    record: dict[str, Any]
    key: str | None
    latest: Any
    record_id: str | None
    cursor: Any = None
    notes: list[str] = field(default_factory=list)
    state: str = "unknown"  # new | existing | unchanged | unknown (no lookup)
    outcome: str | None = None  # created | updated | written | unchanged | failed | rejected
    error: str | None = None
    listed: bool = False  # already added to the then-step lists (by the import)


def compile_expr(expr: str, where: str, problems: list[str]) -> ParsedResult | None:
    """The compiled JMESPath, or None with a problem naming `where`."""
    try:
        return jmespath.compile(expr)
    except JMESPathError as exc:
        reason = str(exc).splitlines()[0][:160]
        problems.append(f"{where}: invalid JMESPath '{expr}': {reason}")
        return None


def expressions(plan: SyncPlan) -> dict[str, str]:
    """Every JMESPath of the plan, by the field path that holds it."""
    found = {"source.id": plan.source.id}
    if plan.source.items:
        found["source.items"] = plan.source.items
    if plan.source.pagination == "cursor":
        found["source.next_cursor"] = plan.source.next_cursor
    for i, cond in enumerate(plan.filter):
        found[f"filter[{i}].field"] = cond.field
    for target, spec in plan.map.items():
        if isinstance(spec, str):
            found[f"map.{target}"] = spec
            continue
        if spec.from_:
            found[f"map.{target}.from"] = spec.from_
        if spec.region_from and "e164" in spec.transform:
            found[f"map.{target}.region_from"] = spec.region_from
    if plan.dedupe.latest_by:
        found["dedupe.latest_by"] = plan.dedupe.latest_by
    if plan.cursor:
        found["cursor.field"] = plan.cursor.field
    found.update(_sink_expressions(plan))
    return found


def _sink_expressions(plan: SyncPlan) -> dict[str, str]:
    found = {}
    if plan.sink.lookup:
        found["sink.lookup.items"] = plan.sink.lookup.items
        found["sink.lookup.key"] = plan.sink.lookup.key
        found["sink.lookup.count"] = plan.sink.lookup.count
        for path, expr in plan.sink.lookup.compare.items():
            found[f"sink.lookup.compare.{path}"] = expr
    if plan.sink.import_:
        found["sink.import.process_id"] = plan.sink.import_.process_id
        found["sink.import.done"] = plan.sink.import_.done
    for i, step in enumerate(plan.then):
        if isinstance(step, EventStep) and step.when:
            found[f"then[{i}].when"] = step.when
        if isinstance(step, EventStep) and step.confirm:
            found[f"then[{i}].confirm.items"] = step.confirm.items
            found[f"then[{i}].confirm.key"] = step.confirm.key
    return found


def compile_plan(plan: SyncPlan) -> tuple[dict[str, ParsedResult], list[str]]:
    """Compiled expressions by field path, and the problems of those that do not compile."""
    problems: list[str] = []
    out = {}
    for where, expr in expressions(plan).items():
        parsed = compile_expr(expr, where, problems)
        if parsed is not None:
            out[where] = parsed
    return out, problems


def target_types(plan: SyncPlan) -> dict[str, str | None]:
    """Each mapped target and the type its last transform gives (None: as in the source)."""
    out: dict[str, str | None] = {}
    for target, spec in plan.map.items():
        transforms = spec.transform if isinstance(spec, FieldSpec) else []
        out[target] = transforms[-1] if transforms else None
    return out


def constants(plan: SyncPlan) -> dict[str, Any]:
    """Targets mapped to a constant `value`."""
    return {
        t: s.value
        for t, s in plan.map.items()
        if isinstance(s, FieldSpec) and "value" in s.model_fields_set
    }


class Mapper:
    """Turns one source record into Mapped, Skipped or Rejected."""

    def __init__(
        self,
        plan: SyncPlan,
        exprs: dict[str, ParsedResult],
        cursor: str | None,
        window: Window | None = None,
    ) -> None:
        self._plan, self._x = plan, exprs
        self._checks = [
            (i, c) for i, c in sorted(enumerate(plan.filter), key=lambda p: p[1].valid_email)
        ]
        self._cursor = cursor
        self.window = window or Window(parse_time(cursor), 0, {})
        self._consts = constants(plan)

    def apply(self, source: Any) -> Mapped | Skipped | Rejected:
        """Filter, map and validate one record."""
        if not isinstance(source, dict):
            return Rejected(
                "not an object", f"the record is {type(source).__name__}, not an object"
            )
        for i, cond in self._checks:
            outcome = self._check(i, cond, source)
            if outcome is not None:
                if isinstance(outcome, Rejected):
                    self._note(source)  # quarantined once, not again by the next overlap
                return outcome
        if self._note(source):
            return Skipped("synced before in this version (the cursor's overlap)")
        notes: list[str] = []
        try:
            record = self._map(source, notes)
        except TransformError as exc:
            return Rejected(str(exc).split(":")[0], str(exc))
        problem = self._validate(record, notes)
        if problem is not None:
            return problem
        latest = self._get("dedupe.latest_by", source)
        record_id = _text(self._get("source.id", source))
        cursor = self._get("cursor.field", source)
        return Mapped(source, record, self._key(record), latest, record_id, cursor, notes)

    def _get(self, where: str, source: dict[str, Any]) -> Any:
        parsed = self._x.get(where)
        return None if parsed is None else parsed.search(source)

    def _check(self, i: int, cond: Condition, source: dict[str, Any]) -> Skipped | Rejected | None:
        value = self._get(f"filter[{i}].field", source)
        if cond.valid_email:
            return email_problem(value, cond.field)
        bounds = [(cond.before, False)]
        if cond.after == "cursor":
            skipped = self._after_cursor(cond, value, source)
            if skipped is not None:
                return skipped
        else:
            bounds.append((cond.after, True))
        for bound, later in bounds:
            if bound is None:
                continue
            when, limit = parse_time(value), parse_time(bound)
            if when is None:
                return Skipped(f"no date in '{cond.field}'")
            if limit is not None and (when <= limit if later else when >= limit):
                return Skipped(f"'{cond.field}' not {'after' if later else 'before'} {bound}")
        if "equals" in cond.model_fields_set and value != cond.equals:
            return Skipped(f"'{cond.field}' not {cond.equals!r}")
        if cond.one_of is not None and value not in cond.one_of:
            return Skipped(f"'{cond.field}' not one of the values asked for")
        if cond.not_empty and value in (None, "", [], {}):
            return Skipped(f"'{cond.field}' empty")
        return None

    def _after_cursor(self, cond: Condition, value: Any, source: dict[str, Any]) -> Skipped | None:
        """After the committed cursor less its overlap, else strictly after `if_no_cursor`."""
        when = parse_time(value)
        if when is None:
            bounded = self._cursor is not None or cond.if_no_cursor is not None
            return Skipped(f"no date in '{cond.field}'") if bounded else None
        start = parse_time(cond.if_no_cursor) if self._cursor is None else None
        if start is not None and when <= start:
            return Skipped(f"'{cond.field}' not after {cond.if_no_cursor}")
        if self.window.outside(_text(self._get("source.id", source)), when):
            return Skipped(f"'{cond.field}' not after {self._cursor}")
        return None

    def _note(self, source: dict[str, Any]) -> bool:
        """Remember a record for the next cursor's marks; whether it is known already."""
        if "cursor.field" not in self._x:
            return False
        when = parse_time(self._get("cursor.field", source))
        record_id = _text(self._get("source.id", source))
        return self.window.note(record_id, when, source)

    def _map(self, source: dict[str, Any], notes: list[str]) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for target, spec in self._plan.map.items():
            if target in self._consts:
                value = self._consts[target]
            elif isinstance(spec, str):
                value = self._get(f"map.{target}", source)
            else:
                value = self._get(f"map.{target}.from", source)
                value = spec.default if value is None else value
                value = self._transform(target, spec, value, source, notes)
            if value is not None:
                set_path(record, target, value)
        return record

    def _transform(
        self, target: str, spec: FieldSpec, value: Any, source: dict[str, Any], notes: list[str]
    ) -> Any:
        for name in spec.transform:
            if value is None:
                return None
            if name == "e164":
                if not str(value).strip():
                    return None  # no phone is not an invalid phone
                region = spec.region or self._plan.default_region
                region = region or _text(self._get(f"map.{target}.region_from", source))
                value = e164(value, region)
                if value is None:
                    notes.append(f"invalid phone in '{target}'")
                continue
            try:
                value = TRANSFORMS[name](value)
            except (TypeError, ValueError, OverflowError) as exc:
                raise TransformError(f"bad '{target}': cannot apply '{name}' to {value!r}") from exc
        return value

    def _validate(self, record: dict[str, Any], notes: list[str]) -> Rejected | None:
        check = self._plan.validate_
        if check.email and check.email in self._plan.map:
            problem = email_problem(get_path(record, check.email), check.email)
            if problem is not None:
                return problem
        for path in check.phones:
            value = get_path(record, path)
            if value is not None and e164(value, None) != value:
                drop_path(record, path)
                notes.append(f"invalid phone in '{path}'")
        if check.invalid_phone == "reject" and any(n.startswith("invalid phone") for n in notes):
            return Rejected("invalid phone", "; ".join(notes))
        for path in check.required:
            if get_path(record, path) in (None, "", [], {}):
                return Rejected(f"missing '{path}'", f"'{path}' is required and was empty")
        return None

    def _key(self, record: dict[str, Any]) -> str | None:
        path = self._plan.dedupe.key
        value = get_path(record, path) if path else None
        return None if value is None else str(value).strip().lower()


def email_problem(value: Any, where: str) -> Rejected | None:
    """Rejected unless `value` is a syntactically valid email (no DNS lookups)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return Rejected("missing email", f"'{where}' is empty")
    if not isinstance(value, str):
        return Rejected("invalid email", f"'{where}' is a {type(value).__name__}, not an email")
    try:
        validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        return Rejected("invalid email", f"invalid email {value!r}: {exc}"[:300])
    return None


def order_key(value: Any) -> tuple[int, Any]:
    """Sort key for `latest_by` values: times as times, anything else after them as text."""
    when = parse_time(value)
    if when is not None:
        return (1, when)
    return (0, "") if value is None else (2, str(value))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class Deduper:
    """One record per key per run: the latest by `latest_by` wins, across pages too."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[Any, int]] = {}  # key -> (latest value, page number)

    def decide(self, item: Mapped, page: int) -> str:
        """'keep', 'older' (drop it), 'replace' (drop the earlier one of this page) or 'later'
        (newer than one already written from an earlier page: write it after the main pass)."""
        if item.key is None:
            return "keep"
        seen = self._seen.get(item.key)
        if seen is None:
            self._seen[item.key] = (item.latest, page)
            return "keep"
        if order_key(item.latest) <= order_key(seen[0]):
            return "older"
        self._seen[item.key] = (item.latest, page)
        return "replace" if seen[1] == page else "later"
