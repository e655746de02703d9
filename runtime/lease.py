"""One run of an agent at a time: the agent's lease, taken by `agents run` and `serve`.

A holder is "host:pid:id". A lease whose holder process is gone on this host (a
SIGKILLed run) protects nothing and is taken over at once instead of blocking until
it expires; a holder on another host waits for the expiry.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime

from runtime.store import RunStore, agent_lease_key


def new_holder() -> str:
    """A holder id naming this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def take(store: RunStore, agent: str, holder: str, at: datetime, ttl: float) -> bool:
    """Take `agent`'s lease; one left by a dead process of this host is taken over."""
    key = agent_lease_key(agent)
    if store.acquire_lease(key, holder, at, ttl):
        return True
    old = store.lease_holder(key, at)
    if old is None or not _dead_here(old):
        return False
    store.release_lease(key, old)
    return store.acquire_lease(key, holder, at, ttl)


def give_back(store: RunStore, agent: str, holder: str) -> None:
    """Release `agent`'s lease (only its holder can)."""
    store.release_lease(agent_lease_key(agent), holder)


def _dead_here(holder: str) -> bool:
    """True when `holder` names a process of this host that is gone."""
    parts = holder.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
