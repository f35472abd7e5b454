"""Petition letter triage: normalize → segment → classify → route → suggestion.

Nothing heavy runs on import; models and dictionaries load on first use.
"""

from triage.catalog import Catalog, load_catalog
from triage.classify import LetterClassifier
from triage.errors import CatalogError, DataError, DecodeError, LetterError, ModelError, TriageError
from triage.normalize import decode_bytes, normalize_text
from triage.pipeline import Triage, prepare_letter
from triage.segment import segment, tokenize
from triage.suggestion import Suggestion

__all__ = [
    "Catalog", "CatalogError", "DataError", "DecodeError", "LetterClassifier", "LetterError",
    "ModelError", "Suggestion", "Triage", "TriageError", "decode_bytes", "load_catalog",
    "normalize_text", "prepare_letter", "segment", "tokenize",
]
__version__ = "0.1.0"
