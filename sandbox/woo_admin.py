"""The WooCommerce sandbox's admin routes under /__sandbox/ (JSON, no auth).

They reach the sandbox through `request.app.state.sandbox`; see sandbox/woocommerce.py
for the list.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.woo_store import KINDS

if TYPE_CHECKING:
    from sandbox.woocommerce import WooCommerceSandbox


def _sandbox(request: Request) -> WooCommerceSandbox:
    sandbox: WooCommerceSandbox = request.app.state.sandbox
    return sandbox


def _error(message: str, status: int) -> Response:
    return JSONResponse({"error": message}, status)


async def requests(request: Request) -> Response:
    """The request log."""
    rows = [asdict(r) | {"at": r.at.isoformat()} for r in _sandbox(request).requests]
    return JSONResponse(rows)


async def faults(request: Request) -> Response:
    """List (GET), add (POST) or clear (DELETE) fault rules."""
    sandbox = _sandbox(request)
    if request.method == "DELETE":
        sandbox.clear_faults()
        return JSONResponse({"cleared": True})
    if request.method == "POST":
        try:
            rule = sandbox.faults.add_json(await request.json())
        except (KeyError, ValueError, TypeError) as exc:
            return _error(f"Invalid fault: {exc}", 400)
        return JSONResponse(rule.to_json(), 201)
    return JSONResponse([r.to_json() for r in sandbox.faults.rules])


async def change(request: Request) -> Response:
    """Modify a customer, complete an order, or touch any record."""
    sandbox = _sandbox(request)
    kind, rid = request.path_params["kind"], request.path_params["id"]
    action = request.path_params.get("action", "")
    if kind not in KINDS:
        return _error(f"Unknown kind '{kind}'.", 404)
    try:
        if action == "touch":
            return JSONResponse(sandbox.touch(kind, rid))
        if action == "complete" and kind == "orders":
            return JSONResponse(sandbox.complete_order(rid))
        if action == "" and kind == "customers":
            return JSONResponse(sandbox.modify_customer(rid, **await request.json()))
    except KeyError as exc:
        return _error(str(exc.args[0]), 404)
    return _error(f"Unknown action '{action}' for {kind}.", 404)


async def reset(request: Request) -> Response:
    """Back to the generated data."""
    _sandbox(request).reset()
    return JSONResponse({"reset": True})


async def deliver(request: Request) -> Response:
    """Send a webhook delivery (/webhooks) or a ping (/ping) and report the answer."""
    sandbox, spec = _sandbox(request), await request.json()

    def send() -> httpx.Response:
        if request.url.path.endswith("/ping"):
            return sandbox.send_ping(spec["url"], int(spec["webhook_id"]))
        return sandbox.send_webhook(
            spec["url"],
            spec["topic"],
            int(spec["resource_id"]),
            spec["secret"],
            spec.get("delivery_id"),
            int(spec.get("webhook_id", 1)),
        )

    # The receiver may be served by this very event loop: deliver from a thread.
    answer = await anyio.to_thread.run_sync(send)
    body: dict[str, Any] = {"status": answer.status_code, "body": answer.text}
    return JSONResponse(body)


def admin_routes(base: str = "/__sandbox") -> list[Route]:
    """Every admin route."""
    return [
        Route(f"{base}/requests", requests),
        Route(f"{base}/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(f"{base}/reset", reset, methods=["POST"]),
        Route(f"{base}/webhooks", deliver, methods=["POST"]),
        Route(f"{base}/ping", deliver, methods=["POST"]),
        Route(base + "/{kind}/{id:int}", change, methods=["POST"]),
        Route(base + "/{kind}/{id:int}/{action}", change, methods=["POST"]),
    ]
