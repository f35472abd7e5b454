"""The JSON API: letters, the queue, decisions, stats, admin (users, models), metrics.

Thin on purpose: every route checks who is asking, calls the ``triage`` library or the store,
and returns what they return. The OpenAPI description is served at /docs.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from service import metrics
from service.auth import AdminDep, UserDep
from service.deps import StoreDep, TriageDep, get_batcher, get_holder, sync_index
from service.schemas import (
    DecisionOut,
    DecisionRequest,
    ErrorBody,
    LetterCreated,
    LetterIn,
    LetterOut,
    ModelAction,
    QueueOut,
    SuggestRequest,
    TokenOut,
    UserIn,
    UserOut,
)
from service.settings import get_settings
from service.store import FIELDS, Store, StoreError, UserView
from triage import LetterError, Suggestion, Triage
from triage.normalize import decode_bytes

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or wrong credentials"},
    403: {"model": ErrorBody, "description": "not allowed for this role, or bad CSRF token"},
}
LETTER_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_ERRORS,
    400: {"model": ErrorBody, "description": "the letter cannot be processed"},
    413: {"model": ErrorBody, "description": "request body too large"},
    503: {"model": ErrorBody, "description": "no usable model, or the database is unavailable"},
}

router = APIRouter()


@router.post("/suggest", response_model=Suggestion, responses=LETTER_ERRORS, tags=["letters"],
             summary="Routing suggestion for one letter (stateless, nothing stored)")
def suggest(body: SuggestRequest, triage: TriageDep, store: StoreDep, _: UserDep) -> Suggestion:
    sync_index(store)
    return get_batcher().suggest(triage, body.text, body.title, body.received)


async def _letter_from_request(request: Request) -> LetterIn:
    """The letter of a JSON body, or of a multipart form with a .txt file in any encoding."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        async with request.form() as form:
            upload = form.get("file")
            title = form.get("title")
            received = form.get("received")
            if upload is None or isinstance(upload, str):
                raise LetterError("multipart upload: send the letter as a file field named "
                                  "'file' (a .txt file in UTF-8, GB18030, Big5 or UTF-16)")
            data = await upload.read()
        text, _ = decode_bytes(data, upload.filename or "upload")
        try:
            return LetterIn.model_validate({
                "text": text, "title": title if isinstance(title, str) and title else None,
                "received": received if isinstance(received, str) and received else None})
        except ValueError as exc:
            raise HTTPException(422, f"invalid letter upload: {exc}. The form fields are "
                                "'file' (the .txt), 'title' and 'received' (YYYY-MM-DD)"
                                ) from exc
    try:
        return LetterIn.model_validate_json(await request.body())
    except ValueError as exc:
        raise HTTPException(422, f"invalid letter: {exc}. Send JSON like "
                            '{"text": "…", "title": "…", "received": "2026-12-01"} or a '
                            "multipart form with a 'file' field") from exc


def register(triage: Triage, store: Store, user: UserView, letter: LetterIn) -> tuple[int,
                                                                                      Suggestion]:
    """Suggest, store, and index one letter (shared by the API and the web page)."""
    sync_index(store)
    sugg = get_batcher().suggest(triage, letter.text, letter.title, letter.received)
    lid = store.add_letter(letter.text, letter.title, letter.received,
                           sugg.model_dump(mode="json"), user)
    sync_index(store)
    metrics.LETTERS.inc()
    return lid, sugg


@router.post("/letters", status_code=201, response_model=LetterCreated, responses=LETTER_ERRORS,
             tags=["letters"], summary="Register a letter and suggest its routing",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": LetterIn.model_json_schema()},
                 "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                                    "properties": {
                     "file": {"type": "string", "format": "binary"},
                     "title": {"type": "string"},
                     "received": {"type": "string", "format": "date"}}}}}}})
async def post_letter(request: Request, triage: TriageDep, store: StoreDep,
                      user: UserDep) -> LetterCreated:
    letter = await _letter_from_request(request)
    # suggesting and storing block: in a thread, so this worker keeps serving (and batching)
    lid, sugg = await run_in_threadpool(register, triage, store, user, letter)
    return LetterCreated(id=lid, suggestion=sugg)


@router.get("/letters/{letter_id}", response_model=LetterOut, responses=AUTH_ERRORS,
            tags=["letters"], summary="A letter, its suggestion and its decisions")
def get_letter(letter_id: int, store: StoreDep, _: UserDep) -> dict[str, Any]:
    return store.get_letter(letter_id)


@router.get("/queue", response_model=QueueOut, responses=AUTH_ERRORS, tags=["letters"],
            summary="Undecided letters: danger first, then nearest acceptance deadline, "
                    "then least certain")
def queue(store: StoreDep, _: UserDep,
          issue_type: Annotated[str | None, Query(max_length=64)] = None,
          agency: Annotated[str | None, Query(max_length=64)] = None,
          place: Annotated[str | None, Query(max_length=128)] = None,
          limit: Annotated[int, Query(ge=1, le=500)] = 50,
          offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    return store.queue(issue_type=issue_type, agency=agency, place=place, limit=limit,
                       offset=offset)


def decision_labels(triage: Triage, suggestion: dict[str, Any] | None,
                    body: DecisionRequest) -> dict[str, Any]:
    """The labels a decision records: the suggestion's top choices for a confirmation; the
    clerk's fields (checked against the catalog) over them for a correction."""
    top = (suggestion or {}).get("issue_type") or [{}]
    agencies = (suggestion or {}).get("agency") or [{}]
    labels: dict[str, Any] = {
        "issue_type": top[0].get("id"), "subtype": top[0].get("subtype"),
        "agency": agencies[0].get("id"),
        "nature": ((suggestion or {}).get("nature") or {}).get("id")}
    given = {k: getattr(body, k) for k in FIELDS if getattr(body, k) is not None}
    if body.action == "confirm" and given:
        raise StoreError("a confirmation takes no labels; send action 'correct' to change "
                         f"{', '.join(given)}")
    if body.action == "correct":
        if not given:
            raise StoreError("a correction names at least one of issue_type, subtype, agency, "
                             "nature")
        if "issue_type" in given and "subtype" not in given:
            labels["subtype"] = None  # the old subtype belongs to the old type
        labels.update(given)
    cat = triage.catalog
    if labels["issue_type"] not in cat.issue_types:
        raise StoreError(f"unknown issue_type '{labels['issue_type']}'; known: "
                         f"{', '.join(cat.issue_types)}")
    if labels["subtype"] is not None and (
            labels["subtype"] not in cat.subtypes
            or cat.issue_of(labels["subtype"]) != labels["issue_type"]):
        raise StoreError(f"subtype '{labels['subtype']}' is not a subtype of "
                         f"'{labels['issue_type']}'")
    if labels["agency"] is not None and labels["agency"] not in cat.agencies:
        raise StoreError(f"unknown agency '{labels['agency']}'")
    from triage.catalog import NATURES

    if labels["nature"] is not None and labels["nature"] not in NATURES:
        raise StoreError(f"unknown nature '{labels['nature']}'; one of {', '.join(NATURES)}")
    return labels


def decide(triage: Triage, store: Store, user: UserView, letter_id: int,
           body: DecisionRequest, key: str | None) -> tuple[dict[str, Any], bool]:
    """Check and record a decision (shared by the API and the web page)."""
    letter = store.get_letter(letter_id)
    labels = decision_labels(triage, letter["suggestion"], body)
    out, created = store.decide(letter_id, user, body.action, labels, body.comment or "", key)
    if created:
        metrics.DECISIONS.labels(action=body.action).inc()
    return out, created


@router.post("/letters/{letter_id}/decision", response_model=DecisionOut,
             status_code=201, responses={**AUTH_ERRORS, 200: {
                 "model": DecisionOut, "description": "the same Idempotency-Key was sent "
                 "before: the first decision, nothing new stored"}}, tags=["decisions"],
             summary="Confirm the suggestion, or correct it")
def post_decision(letter_id: int, body: DecisionRequest, triage: TriageDep, store: StoreDep,
                  user: UserDep, response: Response,
                  idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
                  ) -> dict[str, Any]:
    out, created = decide(triage, store, user, letter_id, body, idempotency_key)
    if not created:
        response.status_code = 200
    return out


@router.post("/decisions/undo", response_model=DecisionOut, responses=AUTH_ERRORS,
             tags=["decisions"], summary="Take back your newest decision")
def undo(store: StoreDep, user: UserDep) -> dict[str, Any]:
    return store.undo_last(user)


@router.get("/stats", responses=AUTH_ERRORS, tags=["stats"],
            summary="Letters by type, agency and week; agreement between model and clerks")
def stats(store: StoreDep, _: UserDep) -> dict[str, Any]:
    return store.stats()


@router.get("/taxonomy", responses=AUTH_ERRORS, tags=["stats"],
            summary="Issue types, subtypes, agencies and natures a correction may use")
def taxonomy(triage: TriageDep, _: UserDep) -> dict[str, Any]:
    from triage.catalog import NATURES

    cat = triage.catalog
    return {"issue_types": [{"id": t.id, "name": t.name, "subtypes": [
                {"id": s.id, "name": s.name} for s in t.subtypes]}
                for t in cat.issue_types.values()],
            "agencies": [{"id": a.id, "name": a.name, "aliases": list(a.aliases)}
                         for a in cat.agencies.values()],
            "natures": [{"id": k, "name": v} for k, v in NATURES.items()]}


@router.get("/metrics", response_class=PlainTextResponse, responses=AUTH_ERRORS,
            tags=["ops"], summary="Prometheus metrics (text format)")
def get_metrics(store: StoreDep, _: UserDep) -> Response:
    holder = get_holder()
    version = holder._triage.model_version if holder._triage else ""
    return Response(metrics.render(store, version), media_type=metrics.CONTENT_TYPE)


# -- admin ---------------------------------------------------------------------------------

@router.get("/admin/users", response_model=list[UserOut], responses=AUTH_ERRORS,
            tags=["admin"], summary="All users")
def list_users(store: StoreDep, _: AdminDep) -> list[dict[str, Any]]:
    return [vars(u) for u in store.list_users()]


@router.post("/admin/users", response_model=UserOut, status_code=201, responses=AUTH_ERRORS,
             tags=["admin"], summary="Add a user")
def add_user(body: UserIn, store: StoreDep, admin: AdminDep) -> dict[str, Any]:
    return vars(store.add_user(body.username, body.password, body.role, actor=admin.username))


@router.post("/admin/users/{username}/disable", response_model=UserOut, responses=AUTH_ERRORS,
             tags=["admin"], summary="Disable a user (their tokens and sessions end now)")
def disable_user(username: str, store: StoreDep, admin: AdminDep) -> dict[str, Any]:
    return vars(store.set_disabled(username, True, actor=admin.username))


@router.post("/admin/users/{username}/tokens", response_model=TokenOut, status_code=201,
             responses=AUTH_ERRORS, tags=["admin"],
             summary="A new API token for a user (shown once; only its hash is kept)")
def new_token(username: str, store: StoreDep, admin: AdminDep) -> dict[str, Any]:
    return {"username": username, "token": store.create_token(username, "api",
                                                              actor=admin.username)}


@router.get("/admin/models", responses=AUTH_ERRORS, tags=["admin"],
            summary="Model versions of the store, the current and the previous one")
def list_models(_: AdminDep) -> dict[str, Any]:
    from triage.modelstore import read_manifest

    holder = get_holder()
    manifest = read_manifest(holder.model_store)
    serving = holder._triage.model_version if holder._triage else None
    return {"current": manifest.get("current"), "previous": manifest.get("previous"),
            "serving": serving, "versions": manifest.get("versions", {})}


def _after_model_change(store: Store, admin: UserView, action: str,
                        result: dict[str, Any]) -> dict[str, Any]:
    serving = get_holder().reload()
    store.audit(admin.username, action, f"model:{result.get('to')}",
                {"version": result.get("from")}, result, serving)
    return {**result, "serving": serving}


@router.post("/admin/models/{version}/promote", responses=AUTH_ERRORS, tags=["admin"],
             summary="Make a version current (refused when worse than the current one "
                     "beyond the tolerance, unless forced)")
def promote(version: str, body: ModelAction, store: StoreDep, admin: AdminDep) -> Any:
    from triage.modelstore import PromotionRefused, promote_checked

    try:
        result = promote_checked(get_holder().model_store, version,
                                 tolerance=get_settings().promote_tolerance, force=body.force)
    except PromotionRefused as exc:
        store.audit(admin.username, "model.promote.refused", f"model:{version}", None,
                    {"reason": str(exc)})
        return JSONResponse({"detail": str(exc)}, status_code=409)
    return _after_model_change(store, admin, "model.promote", result)


@router.post("/admin/models/rollback", responses=AUTH_ERRORS, tags=["admin"],
             summary="Go back to the previous version")
def rollback(store: StoreDep, admin: AdminDep) -> Any:
    from triage.modelstore import rollback as do_rollback

    return _after_model_change(store, admin, "model.rollback",
                               do_rollback(get_holder().model_store))
