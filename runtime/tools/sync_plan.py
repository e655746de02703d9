"""The `sync_records` plan: the declarative request the model sends, as pydantic models.

    source -> filter -> map -> validate -> dedupe -> sink (lookup, batch, import) -> then

`parse_plan` turns the raw arguments into a `SyncPlan` or raises `PlanError` whose
message names every bad field by its path (`sink.batch.size: ...`) and what to write
instead. Checks that need the session (declared sources, tool names and schemas) live
in sync_check; this module is pure.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
)

from runtime.agentfile import RateLimit
from runtime.errors import AgentsError

TRANSFORMS = ("lower", "trim", "e164", "date", "float", "int", "bool", "str")
STREAM_PATTERN = r"^[a-z0-9_.-]{1,64}$"


class PlanError(AgentsError):
    """The plan is wrong; nothing was read or written. The message lists what to fix."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"- {p}" for p in problems)
        super().__init__(
            f"The sync plan has {len(problems)} problem(s); nothing was written:\n{lines}"
        )


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class SourcePlan(_Model):
    """Where the records come from: a GET on a declared source, page after page."""

    source: str
    path: str
    params: dict[str, Any] = {}
    pagination: Literal["page", "cursor", "none"] = "page"
    items: str | None = None  # JMESPath to the records in the body; None: the body is the list
    id: str = "id"  # JMESPath to a record's id (dead letters, event ledger)
    page_param: str = "page"
    cursor_param: str = "cursor"
    next_cursor: str = "next_cursor"  # JMESPath to the next cursor in the body
    max_pages: int = Field(10_000, ge=1)


class Condition(_Model):
    """A client-side condition on a source field (JMESPath); records failing it are skipped."""

    field: str
    after: str | None = None  # ISO time, or "cursor" (the stream's committed cursor)
    before: str | None = None
    if_no_cursor: str | None = None  # the time to use with after="cursor" when none is set
    equals: Any = None
    one_of: list[Any] | None = None
    not_empty: bool = False
    valid_email: bool = False  # failing records are dead-lettered, not just skipped


class FieldSpec(_Model):
    """One mapped field: a JMESPath into the source record (or a constant) and transforms."""

    from_: str | None = Field(None, alias="from")
    value: Any = None
    transform: list[str] = []
    default: Any = None
    region: str | None = None  # e164: default region, e.g. "FR"
    region_from: str | None = "billing.country"  # e164: JMESPath to the record's country


class ValidatePlan(_Model):
    """Checks on the mapped record; failures go to the dead-letter table."""

    email: str | None = "email"  # mapped path that must hold a valid email (None: no check)
    phones: list[str] = []  # mapped paths that must be E.164 when present
    invalid_phone: Literal["drop", "reject"] = "drop"
    required: list[str] = []


class DedupePlan(_Model):
    """One record per key in a run; the latest by `latest_by` (source JMESPath) wins."""

    key: str | None = "email"  # mapped path, compared lower-cased and trimmed
    latest_by: str | None = None


class CursorPlan(_Model):
    """The stream whose cursor is staged: the largest `field` among the records synced."""

    stream: str = Field(pattern=STREAM_PATTERN)
    field: str
    # Seconds before the cursor read again (late or same-second changes); the versions
    # already synced there are skipped by fingerprint (runtime/tools/sync_window.py).
    overlap: int = Field(60, ge=0, le=7 * 86400)


class LookupPlan(_Model):
    """How to list the destination's existing records, to tell new from existing."""

    tool: str
    arguments: Any = {
        "limit": "$limit",
        "offset": "$offset",
        "sort": "$sort",
        "modifiedSince": "$since",
    }
    items: str = "contacts"
    key: str = "email"
    count: str = "count"  # JMESPath to the total in a lookup result (verifies imports cheaply)
    compare: dict[str, str] = {}  # mapped path -> JMESPath in the existing record
    page_size: int = Field(1000, ge=1, le=5000)


class BatchPlan(_Model):
    """A tool that updates existing records in batches (e.g. update_batch_contacts)."""

    tool: str
    arguments: Any = {"contacts": "$batch"}
    item: Any = "$record"
    size: int = Field(100, ge=1, le=1000)


class ImportPlan(_Model):
    """A tool that creates records in bulk asynchronously (e.g. import_contacts)."""

    tool: str
    arguments: Any = {"jsonBody": "$batch", "listIds": "$list_ids", "updateExistingContacts": True}
    item: Any = "$record"
    size: int = Field(1000, ge=1, le=10_000)
    poll_tool: str
    poll_arguments: Any = {"processId": "$process_id"}
    process_id: str = "processId"  # JMESPath to the process id in the import result
    done: str = "status == 'completed'"  # JMESPath, true on the poll result when done
    verify: bool = True  # list what changed since: rows it dropped go record by record
    max_wait_s: float = Field(600, gt=0)


class SinkPlan(_Model):
    """Where mapped records are written."""

    tool: str | None = None  # per-record tool, e.g. create_contact with updateEnabled
    arguments: Any = "$record"
    concurrency: int = Field(8, ge=1, le=10)
    rate_limit: str | None = None  # client-side pace of the sink's calls, e.g. "10/s"
    retry_without: list[str] = []  # mapped paths dropped for one retry when the error names them
    lookup: LookupPlan | None = None
    batch: BatchPlan | None = None
    import_: ImportPlan | None = Field(None, alias="import")

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, v: str | None) -> str | None:
        if v is not None:
            RateLimit.parse(v)  # ValueError names the expected form
        return v


class ListStep(_Model):
    """Add records to a list by name or id (creating it in `folder_id` when missing)."""

    add_to_list: str | int
    folder_id: int | None = None
    on: Literal["created", "synced"] = "created"
    key: str = "email"  # mapped path sent to the add tool
    get_tool: str | None = None  # default: the session's '*__get_lists'
    create_tool: str | None = None  # default: '*__create_list'
    add_tool: str | None = None  # default: '*__add_contact_to_list'


class ConfirmPlan(_Model):
    """How to ask the destination whether an event a crashed run left 'pending' arrived.

    `arguments` may use $since and $until (RFC 3339 UTC: an hour around the pending
    entries), $limit and $offset; `key` (JMESPath on each listed event) is compared with
    the record's id.
    """

    tool: str
    arguments: Any = {
        "event_name": ["$event"],
        "startDate": "$since",
        "endDate": "$until",
        "limit": "$limit",
        "offset": "$offset",
    }
    items: str = "events"
    key: str
    page_size: int = Field(1000, ge=1, le=10000)


class EventStep(_Model):
    """Send an event once per (source, record id, event) ever, through the event ledger."""

    event: str = Field(pattern=r"^[A-Za-z0-9_-]{1,255}$")
    tool: str
    arguments: Any
    when: str | None = None  # JMESPath on the source record: send only when true
    on: Literal["created", "synced"] = "synced"
    confirm: ConfirmPlan | None = None  # without it a crash's 'pending' is never resent


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return "list" if "add_to_list" in value else "event" if "event" in value else None
    return "list" if isinstance(value, ListStep) else "event"


Step = Annotated[
    Annotated[ListStep, Tag("list")] | Annotated[EventStep, Tag("event")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step needs 'add_to_list' (a list) or 'event' (an event)",
    ),
]


class SyncPlan(_Model):
    """The whole plan."""

    source: SourcePlan
    filter: list[Condition] = []
    map: dict[str, str | FieldSpec]
    validate_: ValidatePlan = Field(ValidatePlan(), alias="validate")
    dedupe: DedupePlan = DedupePlan()
    cursor: CursorPlan | None = None
    sink: SinkPlan
    then: list[Step] = []
    default_region: str | None = None
    dry_run: bool = False
    sample: int = Field(3, ge=0, le=5)


def parse_plan(arguments: dict[str, Any]) -> SyncPlan:
    """The plan, or PlanError naming each bad field and what it should be."""
    try:
        plan = SyncPlan.model_validate(arguments)
    except ValidationError as exc:
        raise PlanError([_problem(e) for e in exc.errors()][:12]) from None
    problems = shape_problems(plan)
    if problems:
        raise PlanError(problems)
    return plan


def shape_problems(plan: SyncPlan) -> list[str]:
    """Checks across fields that pydantic cannot express on one field."""
    out = []
    for i, cond in enumerate(plan.filter):
        ops = [cond.after, cond.before, cond.one_of, cond.not_empty or None]
        ops += [cond.valid_email or None]
        if all(o is None for o in ops) and "equals" not in cond.model_fields_set:
            out.append(
                f"filter[{i}]: give one of 'after', 'before', 'equals', 'one_of', "
                "'not_empty' or 'valid_email'"
            )
        if cond.after == "cursor" and plan.cursor is None:
            out.append(f"filter[{i}].after: 'cursor' needs a top-level 'cursor' {{stream, field}}")
    for target, spec in plan.map.items():
        if isinstance(spec, FieldSpec) and (spec.from_ is None) == (
            "value" not in spec.model_fields_set
        ):
            out.append(f"map.{target}: give exactly one of 'from' (a JMESPath) or 'value'")
        for name in spec.transform if isinstance(spec, FieldSpec) else []:
            if name not in TRANSFORMS:
                out.append(f"map.{target}.transform: unknown '{name}'; use {', '.join(TRANSFORMS)}")
    sink = plan.sink
    if sink.tool is None and sink.batch is None and sink.import_ is None:
        out.append("sink: give 'tool' (per record), 'batch' or 'import'")
    if sink.import_ is not None and sink.lookup is None:
        out.append("sink.import: needs 'sink.lookup' to tell new records from existing ones")
    if sink.import_ is not None and sink.tool is None and sink.batch is None:
        out.append("sink.import: creates new records only; add 'tool' or 'batch' for existing ones")
    if (
        sink.lookup is not None
        and sink.tool is None
        and (sink.batch is None or sink.import_ is None)
    ):
        out.append("sink.lookup: with no per-record 'tool', give both 'batch' and 'import'")
    if sink.lookup is None and sink.tool is None and sink.batch is not None:
        out.append(
            "sink.batch: a batch tool only updates existing records; add 'tool' (per record) "
            "or 'lookup' and 'import' so new records are created"
        )
    return out


def _problem(error: Any) -> str:
    loc = [p for p in error["loc"] if not (isinstance(p, str) and p in ("list", "event"))]
    path = _path(loc)
    kind, msg = error["type"], error["msg"]
    if kind == "extra_forbidden":
        allowed = _allowed(loc[:-1])
        hint = f"; allowed here: {', '.join(allowed)}" if allowed else ""
        return f"{path}: unknown field{hint}"
    if kind == "missing":
        return f"{path}: required"
    if kind.startswith("union_tag") or kind == "step_kind":
        return f"{path}: a step needs 'add_to_list' (a list) or 'event' (an event)"
    return f"{path}: {msg}"


def _path(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "plan"


def _allowed(loc: list[Any]) -> list[str]:
    """The field names allowed at `loc` in the plan (best effort, for the error message)."""
    model: Any = SyncPlan
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = _field(model, str(part))
        model = _model_in(field.annotation) if field is not None else None
    if model is None or not isinstance(model, type) or not issubclass(model, BaseModel):
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _field(model: type[BaseModel], name: str) -> Any:
    for key, field in model.model_fields.items():
        if name in (key, field.alias):
            return field
    return None


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside an annotation such as `X | None` or `list[X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is dict:
        return None
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
