"""The one bounded retry policy of the runtime, on tenacity.

Retried: 429, 5xx, timeouts and connection failures; 3 attempts in all; exponential
backoff with jitter, or exactly what the server asked for (Retry-After in seconds or
as an HTTP date, Brevo's x-sib-ratelimit-reset, RateLimit-Reset). Other 4xx are final.
A server that asks for a longer wait than the policy allows gets no retry: its
response goes back to the caller, who can tell the model when to come back.

Requests that are not idempotent (POST, PATCH) are retried only where the server
cannot have acted on them: connection failures and 429.

Sleeping goes through the injected clock, so tests advance time instead of waiting.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx
from tenacity import AsyncRetrying, RetryCallState

from runtime.clock import Clock

# Rate-limit reset headers (seconds, or a Unix time above EPOCH_THRESHOLD). Brevo sends
# x-sib-ratelimit-reset on every response, so they count only on a 429; Retry-After
# (seconds or an HTTP date) counts on any retryable response, 503 included.
RESET_HEADERS = ("x-sib-ratelimit-reset", "ratelimit-reset", "x-ratelimit-reset")
EPOCH_THRESHOLD = 1_000_000_000  # a "reset" above this is a Unix time, not a delay


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry."""

    attempts: int = 3
    base_s: float = 0.5  # first backoff; doubles per attempt
    max_backoff_s: float = 8.0
    max_wait_s: float = 60.0  # longest server-requested wait we honour
    random: Callable[[], float] = field(default=random.random, compare=False)

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter after attempt number `attempt` (1-based)."""
        ceiling = min(self.max_backoff_s, self.base_s * 2 ** (attempt - 1))
        return ceiling / 2 + self.random() * ceiling / 2  # "equal jitter": never near 0


def is_retryable_status(status: int) -> bool:
    """True for 429 and any 5xx."""
    return status == 429 or status >= 500


def is_retryable_exception(exc: BaseException, *, idempotent: bool = True) -> bool:
    """True for timeouts and connection failures worth another attempt."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True  # the request never reached the server
    if not idempotent:
        return False
    return isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError)


def is_retryable_response(response: httpx.Response, *, idempotent: bool = True) -> bool:
    """True for a response that should be retried (429 always; 5xx when idempotent)."""
    if response.status_code == 429:
        return True
    return idempotent and is_retryable_status(response.status_code)


def retry_after_seconds(response: httpx.Response, now: datetime) -> float | None:
    """The wait the server asked for, in seconds, from its reset headers; None if absent."""
    names = ("retry-after", *RESET_HEADERS) if response.status_code == 429 else ("retry-after",)
    for name in names:
        value = response.headers.get(name)
        seconds = None if value is None else _parse_wait(value.strip(), now)
        if seconds is not None:
            return seconds
    return None


def _parse_wait(value: str, now: datetime) -> float | None:
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        if number != number or number < 0:  # NaN or negative: ignore
            return None
        if number > EPOCH_THRESHOLD:
            return max(number - now.timestamp(), 0.0)
        return number
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


async def send_with_retries(
    send: Callable[[], Awaitable[httpx.Response]],
    clock: Clock,
    policy: RetryPolicy | None = None,
    *,
    idempotent: bool = True,
) -> httpx.Response:
    """Call `send` until it succeeds or the policy gives up; return the last response.

    After the last attempt a retryable response is returned as it is, and a retryable
    exception is raised as it is: the caller decides how to report either.
    """
    policy = policy or RetryPolicy()

    def should_retry(state: RetryCallState) -> bool:
        outcome = state.outcome
        if outcome is None:
            return False
        if outcome.failed:
            exc = outcome.exception()
            return exc is not None and is_retryable_exception(exc, idempotent=idempotent)
        return is_retryable_response(outcome.result(), idempotent=idempotent)

    def should_stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.attempts:
            return True
        hint = _hint(state, clock)
        return hint is not None and hint > policy.max_wait_s

    def wait(state: RetryCallState) -> float:
        hint = _hint(state, clock)
        return hint if hint is not None else policy.backoff(state.attempt_number)

    retrying = AsyncRetrying(
        sleep=clock.sleep,
        stop=should_stop,
        wait=wait,
        retry=should_retry,
        retry_error_callback=_last_outcome,
    )
    return await retrying(send)


def _hint(state: RetryCallState, clock: Clock) -> float | None:
    """The server-requested wait carried by the last response, if any."""
    outcome = state.outcome
    if outcome is None or outcome.failed:
        return None
    return retry_after_seconds(outcome.result(), clock.now())


def _last_outcome(state: RetryCallState) -> httpx.Response:
    """When retries run out: the last response, or the last exception raised again."""
    assert state.outcome is not None  # tenacity calls this only after an attempt
    return state.outcome.result()
