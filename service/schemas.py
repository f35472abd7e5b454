"""Request and response bodies of the HTTP API."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from triage import Suggestion


class SuggestRequest(BaseModel):
    text: str = Field(description="the letter's text",
                      examples=["我们村的地被征收了，补偿款三年没发"])
    title: str | None = Field(default=None, description="subject line, if the letter has one")
    received: dt.date | None = Field(default=None, description="date received (YYYY-MM-DD)")


class LetterIn(SuggestRequest):
    """A letter to register (JSON); or upload a .txt file as multipart field ``file``."""


class LetterCreated(BaseModel):
    id: int
    suggestion: Suggestion


class DecisionOut(BaseModel):
    id: int
    letter_id: int
    action: str
    issue_type: str
    subtype: str | None
    agency: str | None
    nature: str | None
    comment: str
    model_version: str
    by: str | None
    at: str
    undone: bool


class LetterRow(BaseModel):
    id: int
    title: str | None
    received: str | None
    created_at: str
    model_version: str
    danger: bool
    acceptance_due: str | None
    top_score: float
    issue_type: str
    agency: str
    place: str
    decided: bool


class LetterOut(LetterRow):
    text: str
    suggestion: dict[str, Any] | None
    decisions: list[DecisionOut]


class QueueOut(BaseModel):
    total: int
    items: list[LetterRow]


class DecisionRequest(BaseModel):
    action: Literal["confirm", "correct"] = Field(
        description="confirm the suggestion's top choices, or correct some of them")
    issue_type: str | None = Field(default=None, max_length=64)
    subtype: str | None = Field(default=None, max_length=64)
    agency: str | None = Field(default=None, max_length=64)
    nature: str | None = Field(default=None, max_length=16)
    comment: str | None = Field(default=None, max_length=2000)


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=256)
    role: Literal["clerk", "admin"] = "clerk"


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    disabled: bool


class TokenOut(BaseModel):
    username: str
    token: str


class ModelAction(BaseModel):
    force: bool = Field(default=False, description="promote even when the candidate is worse "
                        "(recorded in the audit)")


class Health(BaseModel):
    status: str
    model_version: str | None = None
    database: str | None = None
    detail: str | None = None


class ErrorBody(BaseModel):
    detail: str
