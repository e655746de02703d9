"""The data plane's pure per-record logic: filters, transforms, validation, dedupe,
templates and the summary's size."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.tools.sync_map import (
    Deduper,
    Mapped,
    Mapper,
    Rejected,
    Skipped,
    compile_plan,
    e164,
    order_key,
    parse_time,
)
from runtime.tools.sync_plan import SyncPlan, parse_plan
from runtime.tools.sync_report import MAX_BYTES, Report
from runtime.tools.sync_template import fill, probe_record, reference_problems, schema_problems
from runtime.tools.sync_window import Window, fingerprint, moved_back

BASE: dict[str, Any] = {
    "source": {"source": "shop", "path": "customers"},
    "map": {
        "email": {"from": "email", "transform": ["trim", "lower"]},
        "ext_id": {"from": "id", "transform": ["str"]},
        "attributes.FIRSTNAME": "first_name || null",
        "attributes.SMS": {"from": "billing.phone", "transform": ["e164"]},
        "attributes.ORDER_COUNT": {"from": "orders_count", "transform": ["float"]},
        "attributes.SINCE": {"from": "date_created_gmt", "transform": ["date"]},
        "attributes.VIP": {"from": "meta.vip", "transform": ["bool"], "default": False},
        "attributes.SOURCE": {"value": "woocommerce"},
    },
    "sink": {"tool": "brevo__create_contact"},
}
CUSTOMER: dict[str, Any] = {
    "id": 42,
    "email": "  Jane.Doe@Example.COM ",
    "first_name": "",
    "billing": {"phone": "06 12 34 56 78", "country": "FR"},
    "orders_count": "3",
    "date_created_gmt": "2026-01-05T23:30:00",
    "date_modified_gmt": "2026-02-01T10:00:00",
}


def mapper(committed: str | None = None, **changes: Any) -> Mapper:
    plan = parse_plan({**BASE, **changes})
    exprs, problems = compile_plan(plan)
    assert problems == []
    return Mapper(plan, exprs, committed)


def test_a_customer_maps_to_typed_brevo_fields() -> None:
    out = mapper().apply(CUSTOMER)
    assert isinstance(out, Mapped)
    assert out.record == {
        "email": "jane.doe@example.com",
        "ext_id": "42",
        "attributes": {
            "SMS": "+33612345678",
            "ORDER_COUNT": 3.0,
            "SINCE": "2026-01-05",
            "VIP": False,
            "SOURCE": "woocommerce",
        },
    }  # an empty first name is left out, not sent as ""
    assert out.key == "jane.doe@example.com" and out.record_id == "42"


@pytest.mark.parametrize(
    ("email", "category"),
    [
        ("not-an-email", "invalid email"),
        ("jane@", "invalid email"),
        ("", "missing email"),
        (None, "missing email"),
    ],
)
def test_bad_emails_are_rejected_with_a_reason(email: Any, category: str) -> None:
    out = mapper().apply({**CUSTOMER, "email": email})
    assert isinstance(out, Rejected) and out.category == category


def test_a_value_a_transform_cannot_convert_is_rejected_naming_the_field() -> None:
    out = mapper().apply({**CUSTOMER, "orders_count": "lots"})
    assert isinstance(out, Rejected)
    assert out.category == "bad 'attributes.ORDER_COUNT'" and "'lots'" in out.detail


def test_an_impossible_phone_is_left_out_or_rejected() -> None:
    left_out = mapper().apply({**CUSTOMER, "billing": {"phone": "12-AB", "country": "FR"}})
    assert isinstance(left_out, Mapped) and "SMS" not in left_out.record["attributes"]
    assert left_out.notes == ["invalid phone in 'attributes.SMS'"]
    strict = mapper(validate={"invalid_phone": "reject"})
    rejected = strict.apply({**CUSTOMER, "billing": {"phone": "12-AB", "country": "FR"}})
    assert isinstance(rejected, Rejected) and rejected.category == "invalid phone"


def test_the_cursor_filter_skips_records_not_modified_after_it() -> None:
    field = "date_modified_gmt || date_created_gmt"
    cond = [{"field": field, "after": "cursor", "if_no_cursor": "2026-01-01T00:00:00"}]
    cursor_plan = {"cursor": {"stream": "customers", "field": field}, "filter": cond}
    assert isinstance(mapper(None, **cursor_plan).apply(CUSTOMER), Mapped)
    skipped = mapper("2026-02-01T10:00:01", **cursor_plan).apply(CUSTOMER)
    assert isinstance(skipped, Skipped) and "not after 2026-02-01T10:00:01" in skipped.reason
    null_modified = {**CUSTOMER, "date_modified_gmt": None}  # falls back to the creation
    assert isinstance(mapper("2026-01-05T00:00:00", **cursor_plan).apply(null_modified), Mapped)


def test_the_cursor_overlap_rereads_and_skips_only_versions_already_synced() -> None:
    """A record in the cursor's last `overlap` seconds is read again; the version a
    committed run synced (its fingerprint is marked) is skipped, any other is synced."""
    field = "date_modified_gmt"
    plan = {"cursor": {"stream": "customers", "field": field, "overlap": 30},
            "filter": [{"field": field, "after": "cursor"}]}  # fmt: skip
    at, cursor = parse_time(CUSTOMER[field]), "2026-02-01T10:00:20"
    assert at is not None

    def outcome(marks: dict[str, str], record: dict[str, Any] = CUSTOMER, c: str = cursor) -> Any:
        parsed = parse_plan({**BASE, **plan})
        window = Window(parse_time(c), 30, marks)
        return Mapper(parsed, compile_plan(parsed)[0], c, window).apply(record)

    assert isinstance(outcome({}), Mapped)  # 20 s before the cursor, never seen: synced
    assert isinstance(outcome({"42": fingerprint(CUSTOMER)}), Skipped)  # that very version
    changed = {**CUSTOMER, "first_name": "Changed in the same second"}
    assert isinstance(outcome({"42": fingerprint(CUSTOMER)}, changed), Mapped)
    assert isinstance(outcome({}, CUSTOMER, "2026-02-01T10:00:31"), Skipped)  # out of reach
    assert isinstance(outcome({}, {**CUSTOMER, "id": None}, "2026-02-01T10:00:00"), Skipped)
    window = Window(None, 30, {})
    window.note("1", at, CUSTOMER)
    window.note("2", at + timedelta(seconds=40), {**CUSTOMER, "id": 2})
    window.advance(at + timedelta(seconds=40))
    assert window.marks_at(at + timedelta(seconds=40)) == {"2": fingerprint({**CUSTOMER, "id": 2})}
    assert set(window.marks_at(at + timedelta(seconds=30))) == {"1"}


def test_moved_back_keeps_the_cursor_format() -> None:
    assert moved_back("2026-02-01T10:00:00", 60) == "2026-02-01T09:59:00"
    assert moved_back("2026-02-01T10:00:00Z", 60) == "2026-02-01T09:59:00Z"
    assert moved_back("2026-02-01T10:00:00+02:00", 1) == "2026-02-01T09:59:59+02:00"
    assert moved_back("opaque-token", 60) == "opaque-token"
    assert moved_back(None, 60) is None


def test_filters_run_before_email_checks_so_old_bad_records_are_not_quarantined() -> None:
    plan = {"filter": [{"field": "email", "valid_email": True},
                       {"field": "date_modified_gmt", "after": "2026-03-01T00:00:00"}]}  # fmt: skip
    out = mapper(**plan).apply({**CUSTOMER, "email": "bad"})
    assert isinstance(out, Skipped)


def test_equals_and_one_of_conditions() -> None:
    out = mapper(filter=[{"field": "billing.country", "one_of": ["DE"]}]).apply(CUSTOMER)
    assert isinstance(out, Skipped)
    out = mapper(filter=[{"field": "first_name", "equals": ""}]).apply(CUSTOMER)
    assert isinstance(out, Mapped)


@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 50)), max_size=30))
def test_dedupe_keeps_the_latest_whatever_the_order(rows: list[tuple[str, int]]) -> None:
    dedupe = Deduper()
    kept: dict[str, int] = {}
    for page, (key, minute) in enumerate(rows):
        item = Mapped({}, {}, key, f"2026-01-01T00:{minute:02d}:00", None)
        verdict = dedupe.decide(item, page)
        if verdict != "older":
            kept[key] = minute
    for key in {k for k, _ in rows}:
        assert kept[key] == max(m for k, m in rows if k == key)


def test_same_page_duplicates_replace_and_later_pages_defer() -> None:
    dedupe = Deduper()
    first = Mapped({}, {}, "sam@x.io", "2026-01-01T00:00:00", "8")
    newer = Mapped({}, {}, "sam@x.io", "2026-01-02T00:00:00", "9")
    assert dedupe.decide(first, 1) == "keep" and dedupe.decide(newer, 1) == "replace"
    newest = Mapped({}, {}, "sam@x.io", "2026-01-03T00:00:00", "99")
    assert dedupe.decide(newest, 2) == "later"
    assert dedupe.decide(first, 3) == "older"


@given(st.text(max_size=20), st.sampled_from([None, "FR", "GB", "DE", "US", "zz"]))
def test_e164_gives_international_numbers_or_nothing(raw: str, region: str | None) -> None:
    out = e164(raw, region)
    assert out is None or re.fullmatch(r"\+[1-9]\d{5,16}", out)


def test_e164_accepts_the_usual_shapes() -> None:
    assert e164("+33 6 98 76 54 32", None) == "+33698765432"
    assert e164("0033612345678", None) == "+33612345678"
    assert e164("07700 900362", "GB") == "+447700900362"
    assert e164("12-AB", "FR") is None


def test_times_compare_as_utc() -> None:
    assert parse_time("2026-01-01T10:00:00+02:00") == parse_time("2026-01-01T08:00:00Z")
    assert parse_time("2026-01-01") is not None and parse_time("soon") is None
    assert order_key("2026-01-02T00:00:00") > order_key("2026-01-01T23:59:59") > order_key(None)


def test_templates_keep_types_and_drop_missing_values() -> None:
    record = {"email": "a@b.co", "attributes": {"N": 1.0}}
    template = {"email": "$record.email", "attributes": "$record.attributes", "sms": "$record.sms",
                "listIds": ["$list_ids"], "updateEnabled": True}  # fmt: skip
    assert fill(template, {"record": record}) == {
        "email": "a@b.co", "attributes": {"N": 1.0}, "listIds": [], "updateEnabled": True,
    }  # fmt: skip


def test_template_references_must_be_mapped() -> None:
    found = reference_problems({"a": "$record.attrs", "b": "$nope"}, "sink.arguments",
                               {"record": {"email", "attributes.X"}, "source": None})  # fmt: skip
    assert found[0].startswith("sink.arguments.a: '$record.attrs' is not produced by 'map'")
    assert found[1].startswith("sink.arguments.b: unknown placeholder '$nope'")


def test_probe_schema_checks_ignore_untyped_values_but_not_typed_ones() -> None:
    schema = {
        "type": "object",
        "properties": {
            "ext_id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "n": {"type": "integer"},
        },
        "required": ["email"],
        "additionalProperties": False,
    }
    probe = probe_record({"ext_id": None, "n": "float"}, {})
    found = schema_problems(schema, probe, "sink.arguments", probe=True)
    assert found == [
        "sink.arguments: 'email' is a required property",
        "sink.arguments.n: 1.5 is not of type 'integer'",
    ]


def test_plan_errors_name_the_field_and_what_is_allowed() -> None:
    with pytest.raises(Exception) as caught:
        parse_plan({**BASE, "sink": {"tool": "x", "batch": {"tool": "y", "sise": 3}}, "then": [{}]})
    text = str(caught.value)
    assert "sink.batch.sise: unknown field; allowed here: tool, arguments, item, size" in text
    assert "then[0]: a step needs 'add_to_list' (a list) or 'event' (an event)" in text
    with pytest.raises(Exception) as caught:
        parse_plan({**BASE, "map": {"email": {"from": "email", "transform": ["upper"]}}})
    assert "map.email.transform: unknown 'upper'; use lower, trim, e164" in str(caught.value)
    with pytest.raises(Exception) as caught:
        parse_plan({**BASE, "sink": {"batch": {"tool": "b"}}})
    assert "sink.batch: a batch tool only updates existing records" in str(caught.value)


def test_the_summary_stays_under_4_kb_whatever_happens() -> None:
    report = Report()
    for i in range(50_000):
        report.skipped[f"reason {i % 40} " + "x" * 200] += 1
        report.dead[f"category {i % 30}"] += 1
        report.error(f"record {i}: " + "e" * 1000)
        report.outcomes["created"] += 1
    report.sample = [{"email": "a" * 3000}] * 5
    text = report.to_json(12.5)
    assert len(text.encode()) <= MAX_BYTES
    parsed = json.loads(text)
    assert parsed["created"] == 50_000 and parsed["skipped"]["other"] > 0


def test_the_plan_model_rejects_unknown_top_level_fields() -> None:
    with pytest.raises(Exception) as caught:
        parse_plan({**BASE, "souce": {}})
    assert "souce: unknown field; allowed here: source, filter, map" in str(caught.value)
    assert isinstance(parse_plan(BASE), SyncPlan)


def test_the_progress_bar_draws_and_stops() -> None:
    import io

    from rich.console import Console

    from runtime.tools.sync_progress import SyncProgressBar
    from runtime.tools.sync_report import SyncProgress

    out = io.StringIO()
    bar = SyncProgressBar(Console(file=out, force_terminal=True, width=100))
    bar(SyncProgress(fetched=100, total=2000, written=40, failed=0))
    bar(SyncProgress(fetched=2000, total=2000, written=930, failed=1, done=True))
    assert "sync_records" in out.getvalue() and bar._bar is None
