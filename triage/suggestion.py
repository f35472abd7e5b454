"""The suggestion: the one output the CLI, the service and the bulk runner share (DESIGN §4)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IssueScore(BaseModel):
    id: str
    name: str
    subtype: str | None = None
    subtype_name: str | None = None
    score: float


class AgencyScore(BaseModel):
    id: str
    name: str
    jurisdiction: str | None = None
    score: float


class LitigationScore(BaseModel):
    value: bool
    score: float


class NatureScore(BaseModel):
    id: str
    name: str
    score: float


class Flag(BaseModel):
    id: str
    evidence: str = ""


class Explanation(BaseModel):
    issue_type: list[str] = Field(default_factory=list)
    agency: list[str] = Field(default_factory=list)


class Suggestion(BaseModel):
    """Ranked routing suggestion for one letter; ``model_dump(mode="json")`` is the §4 JSON."""

    model_version: str
    issue_type: list[IssueScore]
    litigation_related: LitigationScore | None = None
    nature: NatureScore | None = None
    agency: list[AgencyScore] = Field(default_factory=list)
    flags: list[Flag] = Field(default_factory=list)
    deadlines: dict[str, str] = Field(default_factory=dict)
    entities: dict[str, list[str] | int] = Field(default_factory=dict)
    explanation: Explanation = Field(default_factory=Explanation)
    needs_review: bool
