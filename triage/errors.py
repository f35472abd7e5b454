"""Exception classes of the triage library.

Every message says where (file, field, row), what was received, what was expected and how to
fix it. The service maps these to 4xx responses with the same text.
"""

from __future__ import annotations


class TriageError(Exception):
    """Base class of every error the library raises on purpose."""


class LetterError(TriageError, ValueError):
    """A letter cannot be processed: empty, too large, or not text."""


class DecodeError(LetterError):
    """Bytes that cannot be decoded as text in any supported encoding."""


class CatalogError(TriageError, ValueError):
    """taxonomy.yaml or agencies.yaml is missing, malformed or inconsistent."""


class DataError(TriageError, ValueError):
    """A labelled data file (CSV / JSONL / XLSX) cannot be used for training or evaluation."""


class ModelError(TriageError):
    """No usable model: missing, not in the store's manifest, or fails its checksum."""
