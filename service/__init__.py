"""HTTP service: a thin FastAPI layer over ``triage.Triage``."""
