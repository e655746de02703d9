"""runtime.retry: what is retried, how often, and how long it waits (on a frozen clock)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from runtime.clock import FrozenClock
from runtime.retry import (
    RetryPolicy,
    is_retryable_exception,
    is_retryable_response,
    is_retryable_status,
    retry_after_seconds,
    send_with_retries,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
REQUEST = httpx.Request("GET", "http://shop.test/x")


class SleepLog(FrozenClock):
    """A frozen clock that records each sleep."""

    def __init__(self) -> None:
        super().__init__(NOW)
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await super().sleep(seconds)


def scripted(
    *outcomes: int | Exception | httpx.Response,
) -> tuple[Callable[[], Awaitable[httpx.Response]], list[int]]:
    """A send() that plays `outcomes` in order; the list counts the calls."""
    calls: list[int] = []

    async def send() -> httpx.Response:
        outcome = outcomes[min(len(calls), len(outcomes) - 1)]
        calls.append(1)
        if isinstance(outcome, Exception):
            raise outcome
        if isinstance(outcome, httpx.Response):
            return outcome
        return httpx.Response(outcome, request=REQUEST)

    return send, calls


FIXED = RetryPolicy(random=lambda: 0.5)


@pytest.mark.anyio
async def test_500_then_200_takes_two_attempts_with_backoff() -> None:
    clock = SleepLog()
    send, calls = scripted(500, 200)
    response = await send_with_retries(send, clock, FIXED)
    assert response.status_code == 200 and len(calls) == 2
    assert clock.sleeps == [0.375]  # 0.5 s ceiling, equal jitter with random()=0.5


@pytest.mark.anyio
async def test_404_is_not_retried() -> None:
    clock = SleepLog()
    send, calls = scripted(404, 200)
    assert (await send_with_retries(send, clock, FIXED)).status_code == 404
    assert len(calls) == 1 and clock.sleeps == []


@pytest.mark.anyio
async def test_three_attempts_then_the_last_response() -> None:
    clock = SleepLog()
    send, calls = scripted(503)
    assert (await send_with_retries(send, clock, FIXED)).status_code == 503
    assert len(calls) == 3
    assert clock.sleeps == [0.375, 0.75]  # doubles per attempt


@pytest.mark.anyio
async def test_429_honours_retry_after_seconds() -> None:
    clock = SleepLog()
    limited = httpx.Response(429, headers={"Retry-After": "7"}, request=REQUEST)
    send, calls = scripted(limited, 200)
    assert (await send_with_retries(send, clock, FIXED)).status_code == 200
    assert clock.sleeps == [7.0] and clock.monotonic() == 7.0 and len(calls) == 2


@pytest.mark.anyio
async def test_429_honours_retry_after_as_an_http_date() -> None:
    clock = SleepLog()
    when = format_datetime(NOW + timedelta(seconds=12), usegmt=True)
    send, _ = scripted(httpx.Response(429, headers={"Retry-After": when}, request=REQUEST), 200)
    await send_with_retries(send, clock, FIXED)
    assert clock.sleeps == [12.0]


@pytest.mark.anyio
async def test_429_honours_brevo_reset_header() -> None:
    clock = SleepLog()
    brevo = httpx.Response(429, headers={"x-sib-ratelimit-reset": "3"}, request=REQUEST)
    send, _ = scripted(brevo, 200)
    await send_with_retries(send, clock, FIXED)
    assert clock.sleeps == [3.0]


@pytest.mark.anyio
async def test_reset_header_on_a_500_does_not_set_the_wait() -> None:
    # Brevo sends x-sib-ratelimit-reset on every response; only a 429 means "wait for it".
    clock = SleepLog()
    failing = httpx.Response(500, headers={"x-sib-ratelimit-reset": "3000"}, request=REQUEST)
    send, calls = scripted(failing, 200)
    await send_with_retries(send, clock, FIXED)
    assert clock.sleeps == [0.375] and len(calls) == 2


@pytest.mark.anyio
async def test_a_wait_longer_than_the_policy_allows_is_not_retried() -> None:
    clock = SleepLog()
    send, calls = scripted(httpx.Response(429, headers={"Retry-After": "3600"}, request=REQUEST))
    response = await send_with_retries(send, clock, FIXED)
    assert response.status_code == 429 and len(calls) == 1 and clock.sleeps == []


@pytest.mark.anyio
async def test_timeouts_are_retried_then_raised() -> None:
    clock = SleepLog()
    send, calls = scripted(httpx.ReadTimeout("slow", request=REQUEST))
    with pytest.raises(httpx.ReadTimeout):
        await send_with_retries(send, clock, FIXED)
    assert len(calls) == 3


@pytest.mark.anyio
async def test_connection_error_then_success() -> None:
    clock = SleepLog()
    send, calls = scripted(httpx.ConnectError("refused", request=REQUEST), 200)
    assert (await send_with_retries(send, clock, FIXED)).status_code == 200
    assert len(calls) == 2


@pytest.mark.anyio
async def test_non_idempotent_requests_retry_only_what_the_server_never_acted_on() -> None:
    clock = SleepLog()
    send, calls = scripted(500, 200)
    assert (await send_with_retries(send, clock, FIXED, idempotent=False)).status_code == 500
    send, calls = scripted(httpx.ReadTimeout("slow", request=REQUEST), 200)
    with pytest.raises(httpx.ReadTimeout):
        await send_with_retries(send, clock, FIXED, idempotent=False)
    assert len(calls) == 1
    send, calls = scripted(httpx.ConnectError("refused", request=REQUEST), 429, 200)
    assert (await send_with_retries(send, clock, FIXED, idempotent=False)).status_code == 200
    assert len(calls) == 3


@pytest.mark.anyio
async def test_other_exceptions_propagate_at_once() -> None:
    send, calls = scripted(ValueError("bug"))
    with pytest.raises(ValueError):
        await send_with_retries(send, SleepLog(), FIXED)
    assert len(calls) == 1


def test_predicates() -> None:
    assert is_retryable_status(429) and is_retryable_status(502) and not is_retryable_status(404)
    assert is_retryable_response(httpx.Response(429), idempotent=False)
    assert not is_retryable_response(httpx.Response(503), idempotent=False)
    assert is_retryable_exception(httpx.PoolTimeout("x"), idempotent=False)
    assert not is_retryable_exception(httpx.UnsupportedProtocol("x"))
    assert not is_retryable_exception(ValueError())


def test_retry_after_parsing() -> None:
    def wait(status: int, **headers: str) -> float | None:
        return retry_after_seconds(httpx.Response(status, headers=headers), NOW)

    assert wait(429, **{"Retry-After": "2.5"}) == 2.5
    assert wait(503, **{"Retry-After": "4"}) == 4.0
    assert wait(429, **{"Retry-After": "soon"}) is None
    assert wait(429, **{"Retry-After": "-3"}) is None
    past = format_datetime(NOW - timedelta(seconds=30), usegmt=True)
    assert wait(429, **{"Retry-After": past}) == 0.0
    epoch = str(int(NOW.timestamp()) + 20)
    assert wait(429, **{"X-RateLimit-Reset": epoch}) == 20.0  # a Unix time, not a delay
    assert wait(429, **{"RateLimit-Reset": "9"}) == 9.0
    assert wait(200) is None


def test_backoff_is_bounded_and_jittered() -> None:
    low = RetryPolicy(random=lambda: 0.0)
    high = RetryPolicy(random=lambda: 0.999)
    assert low.backoff(1) == 0.25 and high.backoff(1) < 0.5
    assert high.backoff(10) <= 8.0 and low.backoff(10) == 4.0
