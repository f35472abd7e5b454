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
    source: str = "rule"  # rule, model or store (a similar earlier letter)
    score: float = 1.0


class LegalChannel(BaseModel):
    """访诉分离: the legal procedure a litigation-related letter belongs in."""

    id: str
    name: str
    agency: str
    notice: str
    score: float


class PlaceOption(BaseModel):
    place: str
    score: float


class Jurisdiction(BaseModel):
    """属地: where the matter happened (from the text) or the office's own area."""

    place: str
    source: str  # "text" or "office"
    score: float = 0.0
    # the place leads the next one by a margin at which the training letters' places were
    # exactly right at least 9 times in 10 (rules.yaml places.sure_precision); when false the
    # clerk should check it against the alternatives and the letter
    sure: bool = False
    # other places in the text the matter may have happened in, best first, for the clerk to
    # pick from when ``place`` is wrong (or when no place was sure enough to name)
    alternatives: list[PlaceOption] = Field(default_factory=list)


class Similar(BaseModel):
    id: str
    score: float


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
    legal_channel: LegalChannel | None = None
    jurisdiction: Jurisdiction | None = None
    flags: list[Flag] = Field(default_factory=list)
    similar: list[Similar] = Field(default_factory=list)
    deadlines: dict[str, str] = Field(default_factory=dict)
    entities: dict[str, list[str] | int] = Field(default_factory=dict)
    explanation: Explanation = Field(default_factory=Explanation)
    needs_review: bool
