"""FastAPI app: the JSON API (service/api.py), the clerk web page (service/web.py), health."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from service import metrics
from service.api import router as api_router
from service.deps import get_holder, get_store
from service.schemas import Health
from service.settings import get_settings
from service.store import StoreError, StoreUnavailable
from triage import LetterError, ModelError, TriageError

log = logging.getLogger("triage.service")
FORM = "application/x-www-form-urlencoded"
JSON_PATHS = ("/suggest", "/letters")


class RequestTimeout:
    """ASGI middleware: a request that has not started its answer within ``request_timeout``
    seconds gets a 504. The work itself is not cancelled (a decision being committed finishes
    and stays consistent); whatever it answers later is dropped."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = get_settings().request_timeout
        started = asyncio.Event()
        timed_out = False

        async def guarded_send(message: Any) -> None:
            if timed_out:
                return
            started.set()
            await send(message)

        task = asyncio.create_task(self.app(scope, receive, guarded_send))
        waiter = asyncio.create_task(started.wait())
        done, _ = await asyncio.wait({task, waiter}, timeout=limit,
                                     return_when=asyncio.FIRST_COMPLETED)
        if not done:
            timed_out = True
            waiter.cancel()
            body = JSONResponse(
                {"detail": f"the request took longer than {limit:g} s and was abandoned; a "
                           "decision sent with an Idempotency-Key can be sent again safely"},
                status_code=504)
            await body(scope, receive, send)
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            return
        waiter.cancel()
        await task


def ensure_first_admin() -> None:
    """On a store with no users, make ``admin`` with a random password and say how to log in
    (also written to var/first-admin.txt, readable by the owner only)."""
    store = get_store()
    if store.count_users():
        return
    password = secrets.token_urlsafe(12)
    try:
        store.add_user("admin", password, "admin", actor="first-start")
    except StoreError:  # another worker made it first
        return
    note = _note_path(store.url)
    try:
        note.parent.mkdir(exist_ok=True)
        note.write_text(f"user: admin\npassword: {password}\n", encoding="utf-8")
        note.chmod(0o600)
    except OSError:
        pass
    print(f"\nFirst start: created the admin account.\n  log in at /login as 'admin' with "
          f"password {password}\n  (also in {note.name} beside the database; add clerks with "
          "`triage users add NAME --role clerk`)\n", file=sys.stderr, flush=True)


def _note_path(url: str) -> Path:
    """var/first-admin.txt beside a SQLite file, else in the project's var/."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        return Path(u.database).resolve().parent / "first-admin.txt"
    return Path(__file__).resolve().parent.parent / "var" / "first-admin.txt"


def warm_up() -> None:
    """Load the model, index the stored letters and suggest one letter before the first
    request, so that no request waits seconds for what a worker does once (with several
    workers, the one that got no traffic yet would otherwise load on a live request)."""
    from service.deps import get_batcher, get_triage

    try:
        triage = get_triage()
        get_batcher().suggest(triage, "县里拖欠工资，请帮忙处理。")
    except TriageError as exc:  # no model yet, or a database problem: /healthz says which
        log.error("not ready at start: %s", exc)
    except Exception:  # noqa: BLE001 — never keep the service from starting; requests retry
        log.exception("warm-up failed; the first requests will load what is missing")


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    try:
        ensure_first_admin()
    except TriageError as exc:
        log.error("database not usable at start: %s", exc)
    await asyncio.to_thread(warm_up)
    yield


def create_app() -> FastAPI:
    app = FastAPI(lifespan=lifespan, title="Petition letter triage", version="0.2.0",
                  description="Routing suggestions for Chinese petition letters (信访来信), "
                  "the clerks' confirmation queue, decisions and audit. Authenticate with "
                  "`Authorization: Bearer <token>` (`triage users token NAME`).")

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        start = time.perf_counter()
        length = request.headers.get("content-length")
        limit = get_settings().max_body_bytes
        if length and length.isdigit() and int(length) > limit:
            return JSONResponse({"detail": f"request body of {length} bytes is over the "
                                           f"limit of {limit} bytes"}, status_code=413)
        if (request.url.path.startswith(JSON_PATHS)
                and request.headers.get("content-type", "").startswith(FORM)):
            # `curl -d '{"text": …}'` labels JSON as a form; the API speaks JSON there
            request.scope["headers"] = [
                (k, b"application/json" if k == b"content-type" else v)
                for k, v in request.scope["headers"]]
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "other")
        metrics.REQUESTS.labels(request.method, name, f"{response.status_code // 100}xx").inc()
        metrics.LATENCY.labels(name).observe(time.perf_counter() - start)
        return response

    def error(status: int, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(LetterError)
    async def letter_error(_: Request, exc: LetterError) -> JSONResponse:
        return error(400, exc)

    @app.exception_handler(ModelError)
    async def model_error(_: Request, exc: ModelError) -> JSONResponse:
        return error(503, exc)

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(_: Request, exc: StoreUnavailable) -> JSONResponse:
        log.error("database unavailable: %s", exc)
        return error(503, exc)

    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError) -> JSONResponse:
        msg = str(exc)
        return error(404 if msg.startswith("no letter") or msg.startswith("no user") else 400,
                     exc)

    @app.exception_handler(TriageError)
    async def triage_error(_: Request, exc: TriageError) -> JSONResponse:
        return error(400, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors())
        return JSONResponse({"detail": f"invalid request: {problems}. See /docs for the "
                                       "expected body"}, status_code=422)

    app.add_middleware(RequestTimeout)
    app.include_router(api_router)
    try:
        from service.web import router as web_router
    except ImportError:  # pragma: no cover - the web page is optional during development
        pass
    else:
        app.include_router(web_router)

    @app.get("/healthz", response_model=Health, tags=["ops"],
             summary="Liveness: the model serving and whether the database answers")
    def healthz() -> JSONResponse:
        try:
            triage = get_holder().get()
        except TriageError as exc:
            return JSONResponse(Health(status="no-model", detail=str(exc)).model_dump(),
                                status_code=503)
        try:
            get_store().count_users()
        except (TriageError, HTTPException) as exc:
            return JSONResponse(Health(status="no-database", model_version=triage.model_version,
                                       detail=str(exc)).model_dump(), status_code=503)
        return JSONResponse(Health(status="ok", model_version=triage.model_version,
                                   database="ok").model_dump())

    return app
