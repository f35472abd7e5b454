"""Every route but /healthz (and the login page) refuses missing or wrong credentials; a clerk
cannot reach admin routes."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from tests.service.conftest import Service

PUBLIC = {"/healthz", "/login"}
BODIES = {"/suggest": {"text": "工资被拖欠"}, "/letters": {"text": "工资被拖欠"},
          "/admin/users": {"username": "eve", "password": "eve-pass-1"},
          "/letters/{letter_id}/decision": {"action": "confirm"},
          "/admin/models/{version}/promote": {"force": True}}


def _flat(routes: list) -> list[APIRoute]:  # type: ignore[type-arg]
    """Every APIRoute, also inside included routers (FastAPI ≥ 0.16x keeps them nested)."""
    out: list[APIRoute] = []
    for r in routes:
        if isinstance(r, APIRoute):
            out.append(r)
        elif hasattr(r, "original_router"):
            out += _flat(r.original_router.routes)
        elif hasattr(r, "routes"):
            out += _flat(r.routes)
    return out


def _routes(svc: Service) -> list[tuple[str, str, str]]:
    """(method, template, concrete path) of every application route."""
    out = []
    for route in _flat(svc.client.app.routes):  # type: ignore[attr-defined]
        if route.path in PUBLIC:
            continue
        path = re.sub(r"\{letter_id\}", "1", route.path)
        path = re.sub(r"\{username\}", "carl", path)
        path = re.sub(r"\{version\}", "v1", path)
        path = re.sub(r"\{[a-z_]+(:path)?\}", "x", path)
        for method in sorted(route.methods - {"HEAD"}):
            out.append((method, route.path, path))
    return out


def _call(svc: Service, method: str, template: str, path: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return svc.client.request(method, path, json=BODIES.get(template), headers=headers,
                              follow_redirects=False)


def test_every_route_refuses_missing_or_wrong_credentials(svc_sqlite: Service) -> None:
    svc = svc_sqlite
    routes = _routes(svc)
    assert len(routes) >= 15  # the API and the web page are all covered
    bad = {"Authorization": "Bearer trg_not-a-real-token"}
    for method, template, path in routes:
        for headers in ({}, bad, {"Authorization": "Basic YW15OmFkbWluLXBhc3MtMQ=="}):
            res = _call(svc, method, template, path, headers)
            if template.startswith("/ui") or template in ("/", "/logout"):
                # the web page sends the browser to the login form instead
                assert res.status_code in (303, 401, 403), (method, path, res.status_code)
                if res.status_code == 303:
                    assert res.headers["location"].startswith("/login")
            else:
                assert res.status_code == 401, (method, path, headers, res.status_code)
    assert svc.store().count_decisions() == 0
    assert svc.client.get("/healthz").status_code == 200


def test_clerk_cannot_reach_admin_routes(svc_sqlite: Service) -> None:
    svc = svc_sqlite
    admin_routes = [r for r in _routes(svc) if r[1].startswith("/admin")]
    assert len(admin_routes) >= 6
    for method, template, path in admin_routes:
        res = _call(svc, method, template, path, svc.clerk)
        assert res.status_code == 403, (method, path, res.status_code)
        assert "admin" in res.json()["detail"]
    assert [u.username for u in svc.store().list_users()] == ["amy", "carl"]
    # the admin gets through
    assert svc.client.get("/admin/users", headers=svc.admin).status_code == 200


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Token abc", "bearer trg_x"])
def test_malformed_authorization_is_401(svc_sqlite: Service, header: str) -> None:
    res = svc_sqlite.client.get("/queue", headers={"Authorization": header})
    assert res.status_code == 401
