"""Service settings, from environment variables (prefix ``TRIAGE_``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_")

    model_store: str | None = None  # default: models/ in the project
    corpus_dir: str | None = None  # default: corpus/ in the project
    max_body_bytes: int = 2_000_000


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
