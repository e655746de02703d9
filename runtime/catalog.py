"""What we know about models and API versions: prices and accepted parameters.

One table, with its date. Costs are computed from the usage the API reports,
never estimated from text length (newer tokenizers count differently).
"""

from __future__ import annotations

from dataclasses import dataclass

API_VERSION = "2026-10-21"  # what anthropic SDK 2.x sends
LEGACY_API_VERSION = "2023-06-01"
DEFAULT_MODEL = "claude-sonnet-4-6"
PRICES_AS_OF = "2026-11"


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float

    @property
    def cache_write(self) -> float:
        return self.input * 1.25  # 5-minute cache writes

    @property
    def cache_read(self) -> float:
        return self.input * 0.10


# Prefix match, longest first wins: "claude-sonnet-4-6-20260101" is priced as sonnet-4-6.
PRICES: dict[str, Price] = {
    "claude-opus-4-8": Price(5.0, 25.0),
    "claude-opus-4-7": Price(5.0, 25.0),
    "claude-opus-4-6": Price(5.0, 25.0),
    "claude-opus-4-5": Price(5.0, 25.0),
    "claude-sonnet-4-6": Price(3.0, 15.0),
    "claude-sonnet-4-5": Price(3.0, 15.0),
    "claude-haiku-4-5": Price(1.0, 5.0),
}

RETIRED = {
    "claude-sonnet-4-20250514",
    "claude-opus-4-20250514",
    "claude-3-haiku-20240307",
    "claude-opus-4-1-20250805",
}


def price_for(model: str) -> Price | None:
    """The price of `model`, or None when the table does not know it."""
    for prefix in sorted(PRICES, key=len, reverse=True):
        if model.startswith(prefix):
            return PRICES[prefix]
    return None


def cost_usd(
    model: str, *, input: int, output: int, cache_read: int = 0, cache_write: int = 0
) -> float:
    """Cost of one call's reported usage (0.0 for an unpriced model)."""
    p = price_for(model)
    if p is None:
        return 0.0
    total = (
        input * p.input
        + output * p.output
        + cache_read * p.cache_read
        + cache_write * p.cache_write
    )
    return round(total / 1_000_000, 6)


def temperature_refusal(model: str, api_version: str = API_VERSION) -> str | None:
    """Why `temperature` cannot be sent to `model`, or None when it can."""
    if api_version >= API_VERSION:
        return f"API version {api_version} rejects 'temperature' for every model"
    gen5 = any(model.startswith(f"claude-{fam}-5") for fam in ("sonnet", "opus", "haiku"))
    gen5 = gen5 or model.startswith(("claude-fable", "claude-mythos"))
    if gen5 or model.startswith(("claude-opus-4-7", "claude-opus-4-8")):
        return f"model '{model}' rejects 'temperature' (deprecated for this model)"
    return None
