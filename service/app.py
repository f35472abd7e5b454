"""FastAPI app: POST /suggest and GET /healthz (the clerk service grows from here)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from service.deps import TriageDep, get_triage
from service.schemas import ErrorBody, Health, SuggestRequest
from service.settings import get_settings
from triage import LetterError, ModelError, Suggestion, TriageError

FORM = "application/x-www-form-urlencoded"
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "the letter cannot be processed"},
    413: {"model": ErrorBody, "description": "request body too large"},
    503: {"model": ErrorBody, "description": "no usable model"},
}


def create_app() -> FastAPI:
    app = FastAPI(title="Petition letter triage", version="0.1.0",
                  description="Routing suggestions for Chinese petition letters (信访来信).")

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        limit = get_settings().max_body_bytes
        if length and length.isdigit() and int(length) > limit:
            return JSONResponse({"detail": f"request body of {length} bytes is over the "
                                           f"limit of {limit} bytes"}, status_code=413)
        if request.headers.get("content-type", "").startswith(FORM):
            # `curl -d '{"text": …}'` labels JSON as a form; the API speaks JSON only
            request.scope["headers"] = [
                (k, b"application/json" if k == b"content-type" else v)
                for k, v in request.scope["headers"]]
        return await call_next(request)

    @app.exception_handler(LetterError)
    async def letter_error(_: Request, exc: LetterError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(ModelError)
    async def model_error(_: Request, exc: ModelError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(TriageError)
    async def triage_error(_: Request, exc: TriageError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors())
        return JSONResponse({"detail": f"invalid request: {problems}. Send JSON like "
                                       '{"text": "…", "title": "…"}'}, status_code=422)

    @app.post("/suggest", response_model=Suggestion, responses=ERRORS,
              summary="Routing suggestion for one letter (stateless)")
    def suggest(body: SuggestRequest, triage: TriageDep) -> Suggestion:
        return triage.suggest(body.text, title=body.title, received=body.received)

    @app.get("/healthz", response_model=Health, summary="Liveness and the loaded model")
    def healthz() -> JSONResponse:
        try:
            triage = get_triage()
        except TriageError as exc:
            return JSONResponse(Health(status="no-model", detail=str(exc)).model_dump(),
                                status_code=503)
        return JSONResponse(Health(status="ok", model_version=triage.model_version).model_dump())

    return app
