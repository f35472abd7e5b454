"""Service settings, from environment variables (prefix ``TRIAGE_``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_")

    model_store: str | None = None  # default: models/ in the project
    corpus_dir: str | None = None  # default: corpus/ in the project
    database_url: str | None = None  # default: SQLite file var/triage.db in the project
    database_busy_timeout: float = 5.0  # seconds to wait on a locked SQLite file, then 503
    max_body_bytes: int = 2_000_000
    batch_max: int = 32  # most letters suggested together in one worker process
    request_timeout: float = 60.0  # seconds before a request is answered 504
    cookie_secure: bool = False  # set true behind HTTPS
    # how much worse (issue-type accuracy on the corpus test set) a candidate may be and
    # still be promoted without --force
    promote_tolerance: float = 0.01


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
