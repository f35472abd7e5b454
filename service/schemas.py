"""Request and response bodies of the HTTP API."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class SuggestRequest(BaseModel):
    text: str = Field(description="the letter's text",
                      examples=["我们村的地被征收了，补偿款三年没发"])
    title: str | None = Field(default=None, description="subject line, if the letter has one")
    received: dt.date | None = Field(default=None, description="date received (YYYY-MM-DD)")


class Health(BaseModel):
    status: str
    model_version: str | None = None
    detail: str | None = None


class ErrorBody(BaseModel):
    detail: str
