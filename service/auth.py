"""Who is asking: API tokens (``Authorization: Bearer …``) or the web page's session cookie.

Cookie sessions are HttpOnly and SameSite=Strict, and every state-changing request made with a
cookie must also carry the session's CSRF token (form field ``csrf`` or header
``X-CSRF-Token``). Failed logins are rate-limited per user name and per address.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import defaultdict, deque
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from service.deps import get_store
from service.store import UserView

COOKIE = "triage_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def session_of(request: Request) -> tuple[UserView, str] | None:
    """(user, csrf token) of the request's session cookie, or None."""
    sid = request.cookies.get(COOKIE)
    return get_store().session_user(sid) if sid else None


async def _csrf_from(request: Request) -> str | None:
    token = request.headers.get("x-csrf-token")
    if token:
        return token
    if request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf")
        return value if isinstance(value, str) else None
    return None


async def current_user(request: Request) -> UserView:
    """The caller, from a bearer token or a session cookie; 401 otherwise."""
    token = _bearer(request)
    if token is not None:
        # a database query: in a thread, never on the event loop (it would hold up every
        # other request of this worker while it runs)
        user = await run_in_threadpool(get_store().user_for_token, token)
        if user is None:
            raise HTTPException(401, "the API token is wrong, revoked or its user disabled; "
                                "ask an admin for a new one (`triage users token NAME`)",
                                headers={"WWW-Authenticate": "Bearer"})
        request.state.user = user
        return user
    found = await run_in_threadpool(session_of, request)
    if found is None:
        raise HTTPException(401, "log in first: send `Authorization: Bearer <token>` or use "
                            "the web page's login", headers={"WWW-Authenticate": "Bearer"})
    user, csrf = found
    if request.method not in SAFE_METHODS:
        sent = await _csrf_from(request)
        if not sent or not hmac.compare_digest(sent, csrf):
            raise HTTPException(403, "missing or wrong CSRF token; reload the page and try "
                                "again")
    request.state.user = user
    return user


async def admin_user(user: Annotated[UserView, Depends(current_user)]) -> UserView:
    if not user.is_admin:
        raise HTTPException(403, f"'{user.username}' is a clerk; this needs an admin")
    return user


UserDep = Annotated[UserView, Depends(current_user)]
AdminDep = Annotated[UserView, Depends(admin_user)]


class LoginLimiter:
    """At most ``attempts`` failed logins per key in ``window`` seconds."""

    def __init__(self, attempts: int = 5, window: float = 300.0) -> None:
        self.attempts, self.window = attempts, window
        self._fails: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque[float]:
        q = self._fails[key]
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def retry_after(self, *keys: str) -> int:
        """Seconds to wait when any key is over the limit, else 0."""
        now = time.monotonic()
        with self._lock:
            waits = [int(self.window - (now - q[0])) + 1 for k in keys
                     if len(q := self._trim(k, now)) >= self.attempts]
        return max(waits, default=0)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._trim(k, now).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._fails.pop(k, None)


limiter = LoginLimiter()
