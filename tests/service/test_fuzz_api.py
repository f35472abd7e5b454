"""Schemathesis against the OpenAPI schema: generated requests (valid and invalid) to every
operation, as an admin — never a 5xx. Bounded examples per operation keep CI short."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from service.app import create_app
from tests.service.conftest import Service

TRIED: list[str] = []


@pytest.fixture()
def seeded(svc_sqlite: Service) -> Service:
    """The service with one letter, so /letters/{id} paths also reach a real row."""
    svc_sqlite.client.post("/letters", json={"text": "工资拖欠三个月，老板不见人。"},
                           headers=svc_sqlite.admin)
    return svc_sqlite


# the app object only routes; its model and database come from the environment the
# `seeded` fixture sets for each test
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app())


@schema.parametrize()
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_server_errors(case, seeded: Service) -> None:  # type: ignore[no-untyped-def]
    headers = {**(case.headers or {}), **seeded.admin}
    if case.path.startswith("/admin/models"):
        headers = {**headers, **seeded.clerk}  # do not let the fuzzer swap the model
    response = case.call(headers=headers)
    TRIED.append(f"{case.method} {case.path}")
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
