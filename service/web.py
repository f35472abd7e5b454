"""The clerk web page: log in, the queue, one letter with its suggestion and the decision
forms, registering a letter, and stats with charts.

Server-rendered Jinja2 templates with autoescape; one small script (static/app.js) adds the
keyboard shortcuts; nothing is loaded from another site. Letter text and every user-controlled
string is escaped; the evidence highlighting escapes the text first and only then wraps escaped
terms in <mark>. Decisions and registrations go through ``service.api.decide`` and
``service.api.register``, the same code the JSON API runs.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import html
import io
import json
import math
import re
import secrets
import threading
import unicodedata
import uuid
import warnings
from functools import cache, lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from service import auth
from service.api import decide, register
from service.deps import get_store, get_triage
from service.schemas import DecisionRequest, LetterIn
from service.settings import get_settings
from service.store import SESSION_HOURS, StoreError, UserView
from triage.catalog import NATURES, Catalog, load_catalog
from triage.errors import ModelError, TriageError
from triage.normalize import decode_bytes

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
LOGIN_CSRF = "triage_login_csrf"
FLASH = "triage_flash"
PAGE_SIZE = 50
NEIGHBOURS = 500  # how far into the queue j/k look for the next letter

FLAG_NAMES = {"collective": "集体访", "skip_level": "越级访", "repeat": "重复信访",
              "danger": "危险（极端言行）"}
FLAG_SOURCES = {"rule": "规则", "model": "模型", "store": "已登记来信"}
DEADLINE_NAMES = {"received": "收信日期", "acceptance_due": "受理告知期限",
                  "handling_due": "办理期限", "extended_due": "延长后办理期限"}
ENTITY_NAMES = {"places": "地点", "agencies": "提到的机关", "amounts": "金额", "dates": "日期",
                "people": "人员", "phones": "电话号码", "id_numbers": "身份证号",
                "bank_cards": "银行卡号"}
ACTION_NAMES = {"confirm": "确认", "correct": "更正"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self'; form-action 'self'; base-uri 'none'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
CHARTS = ("by_type", "by_agency", "by_week", "agreement")

router = APIRouter(include_in_schema=False)


# -- templates, static files ------------------------------------------------------------------

@cache
def _static_file(name: str) -> tuple[bytes, str]:
    data = (STATIC / name).read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:12]


def static_url(name: str) -> str:
    """URL of a static file with its content hash, so browsers may cache it for long."""
    return f"/static/{name}?v={_static_file(name)[1]}"


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(static=static_url, flag_names=FLAG_NAMES, flag_sources=FLAG_SOURCES,
                       action_names=ACTION_NAMES, natures=NATURES)
    env.filters["pct"] = lambda v: "—" if v is None else f"{float(v) * 100:.1f}%"
    env.filters["score"] = lambda v: "—" if v is None else f"{float(v):.2f}"
    return env


TEMPLATE_ENV = _env()


def render(request: Request, name: str, status: int = 200,
           session: tuple[UserView, str] | None = None, **context: Any) -> HTMLResponse:
    """A page, with the session's user and CSRF token, and the pending flash note (shown once)."""
    flash = _read_flash(request) if session else None
    user, csrf = session if session else (None, "")
    body = TEMPLATE_ENV.get_template(name).render(user=user, csrf=csrf, flash=flash,
                                                  path=request.url.path, **context)
    response = HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)
    if flash is not None:
        response.delete_cookie(FLASH, path="/", httponly=True, samesite="strict",
                               secure=get_settings().cookie_secure)
    return response


def error_page(request: Request, status: int, message: str,
               session: tuple[UserView, str] | None = None) -> HTMLResponse:
    titles = {400: "请求有误", 403: "不允许", 404: "找不到", 429: "请稍后再试",
              503: "暂不可用"}
    return render(request, "error.html", status, session, code=status,
                  title=titles.get(status, "出错了"), message=message)


class _StaticFiles(StaticFiles):
    """service/static, public (the login page needs it too); URLs carry the content hash."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=86400"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


router.mount("/static", _StaticFiles(directory=STATIC), name="static")


# -- flash notes ------------------------------------------------------------------------------

def _set_flash(response: Response, text: str, kind: str = "ok", letter: int | None = None,
               undo: bool = False) -> Response:
    """A note shown on the next page (a short-lived cookie; rendered escaped)."""
    raw = json.dumps({"t": text[:500], "k": kind, "l": letter, "u": undo}, ensure_ascii=False)
    response.set_cookie(FLASH, base64.urlsafe_b64encode(raw.encode()).decode(), max_age=120,
                        path="/", httponly=True, samesite="strict",
                        secure=get_settings().cookie_secure)
    return response


def _read_flash(request: Request) -> dict[str, Any] | None:
    value = request.cookies.get(FLASH)
    if not value:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(value.encode()))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("t"), str):
        return None
    letter = data.get("l")
    return {"text": data["t"], "kind": "error" if data.get("k") == "error" else "ok",
            "letter": letter if isinstance(letter, int) else None,
            "undo": data.get("u") is True}


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- who is asking ------------------------------------------------------------------------------

def _safe_next(value: Any) -> str:
    """A local page to return to after logging in ("" when the value is not one)."""
    if (isinstance(value, str) and value.startswith("/ui/") and "//" not in value
            and "\\" not in value and len(value) < 500):
        return value
    return ""


def page_session(request: Request) -> tuple[UserView, str]:
    """(user, CSRF token) of the session cookie; without a session, 303 to the login page."""
    found = auth.session_of(request)
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        next_ = (_safe_next(target) if request.method == "GET"
                 and not request.url.path.endswith(".png") else "")
        raise HTTPException(303, "log in first",
                            headers={"Location": "/login" + (f"?next={quote(next_)}"
                                                             if next_ else "")})
    return found


PageSession = Annotated[tuple[UserView, str], Depends(page_session)]


class Posted:
    """The text fields of a form, and its uploaded ``file`` (name, bytes) if any."""

    def __init__(self, fields: dict[str, str], upload: tuple[str, bytes] | None) -> None:
        self.fields, self.upload = fields, upload

    def get(self, name: str, limit: int = 2000) -> str:
        return self.fields.get(name, "").strip()[:limit]


async def _posted(request: Request) -> tuple[tuple[UserView, str], Posted] | Response:
    """The session and form of a state-changing request, after checking its CSRF token
    (``auth.current_user``); a response to send instead when they are missing or wrong."""
    found = auth.session_of(request)
    if found is None:
        return redirect("/login")
    try:
        await auth.current_user(request)
    except HTTPException as exc:
        message = str(exc.detail)
        if exc.status_code == 403:
            message = ("表单已过期或不是从本站提交的（CSRF 校验失败），没有执行；请刷新页面后"
                       f"重试。（{message}）")
        return error_page(request, exc.status_code, message, found)
    return found, await _read_form(request)


async def _read_form(request: Request) -> Posted:
    """The form of the request, read whole (the body is size-limited) and closed."""
    form = await request.form()
    try:
        upload = form.get("file")
        data = None
        if isinstance(upload, UploadFile) and upload.filename:
            data = (upload.filename, await upload.read())
        return Posted({k: v for k, v in form.items() if isinstance(v, str)}, data)
    finally:
        await form.close()


# -- log in, log out ----------------------------------------------------------------------------

@router.get("/")
def home(request: Request) -> RedirectResponse:
    return redirect("/ui/queue" if auth.session_of(request) else "/login")


def _login_form(request: Request, next_: str = "", status: int = 200, message: str = "",
                username: str = "") -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", status, None, login_csrf=token, next=next_,
                      message=message, username=username)
    response.set_cookie(LOGIN_CSRF, token, max_age=3600, path="/login", httponly=True,
                        samesite="strict", secure=get_settings().cookie_secure)
    return response


@router.get("/login")
def login_page(request: Request, next: str = "") -> Response:
    if auth.session_of(request) is not None:
        return redirect(_safe_next(next) or "/ui/queue")
    return _login_form(request, _safe_next(next))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _read_form(request)
    username = form.get("username", 64)
    password = form.fields.get("password", "")[:256]
    next_ = _safe_next(form.get("next", 500))
    sent, expected = form.fields.get("csrf", ""), request.cookies.get(LOGIN_CSRF)
    if not (sent and expected and hmac.compare_digest(sent, expected)):
        return _login_form(request, next_, 403, "登录表单已过期或不是从本站提交的"
                           "（CSRF 校验失败），请重新输入并登录。", username)
    keys = (f"user:{username}", f"addr:{request.client.host if request.client else '?'}")
    wait = auth.limiter.retry_after(*keys)
    if wait:
        response = _login_form(request, next_, 429, f"登录失败次数过多，请在 {wait} 秒后再试。",
                               username)
        response.headers["Retry-After"] = str(wait)
        return response
    user = await run_in_threadpool(get_store().authenticate, username, password)  # scrypt
    if user is None:
        auth.limiter.failed(*keys)
        return _login_form(request, next_, 401, "用户名或密码错误，或该账号已停用。", username)
    auth.limiter.succeeded(keys[0])
    sid, _ = await run_in_threadpool(get_store().create_session, user)
    done = redirect(next_ or "/ui/queue")
    done.set_cookie(auth.COOKIE, sid, max_age=SESSION_HOURS * 3600, path="/",
                        httponly=True, samesite="strict", secure=get_settings().cookie_secure)
    done.delete_cookie(LOGIN_CSRF, path="/login", httponly=True, samesite="strict",
                       secure=get_settings().cookie_secure)
    return done


@router.post("/logout")
async def logout(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    sid = request.cookies.get(auth.COOKIE)
    if sid:
        get_store().end_session(sid)
    response = redirect("/login")
    response.delete_cookie(auth.COOKIE, path="/", httponly=True, samesite="strict",
                           secure=get_settings().cookie_secure)
    return response


# -- the catalog: names, pickers ------------------------------------------------------------

@lru_cache(maxsize=4)
def _fallback_catalog(corpus_dir: str | None) -> Catalog:
    return load_catalog(corpus_dir)


def _catalog() -> Catalog:
    """The serving model's catalog; the corpus catalog when no model loads (names only)."""
    try:
        return get_triage().catalog
    except TriageError:
        return _fallback_catalog(get_settings().corpus_dir)


def _type_name(cat: Catalog, iid: str | None) -> str:
    t = cat.issue_types.get(iid or "")
    return t.name if t else (iid or "—")


def _subtype_name(cat: Catalog, sid: str | None) -> str:
    s = cat.subtypes.get(sid or "")
    return s.name if s else (sid or "")


def _agency_name(cat: Catalog, aid: str | None) -> str:
    a = cat.agencies.get(aid or "")
    return a.name if a else (aid or "—")


def issue_label(cat: Catalog, iid: str, sid: str | None = None) -> str:
    """The picker's text of an issue type or subtype: ``土地 / 征地补偿 [land.expropriation]``."""
    if sid:
        return f"{_type_name(cat, iid)} / {_subtype_name(cat, sid)} [{sid}]"
    return f"{_type_name(cat, iid)} [{iid}]"


def agency_label(cat: Catalog, aid: str) -> str:
    return f"{_agency_name(cat, aid)} [{aid}]"


def _issue_options(cat: Catalog) -> list[tuple[str, str, str | None]]:
    """(label, issue type, subtype) of every issue type and subtype, in catalog order."""
    out: list[tuple[str, str, str | None]] = []
    for t in cat.issue_types.values():
        out.append((issue_label(cat, t.id), t.id, None))
        out.extend((issue_label(cat, t.id, s.id), t.id, s.id) for s in t.subtypes)
    return out


def _pick(value: str, options: list[tuple[str, Any]], names: dict[str, Any], what: str) -> Any:
    """The choice a picker's text names: an ``[id]`` suffix, an id, a name, or a piece of
    exactly one option's text."""
    v = value.strip()
    m = re.search(r"\[([\w.\-]+)\]\s*$", v)
    ids = {label.rsplit("[", 1)[1].rstrip("]"): choice for label, choice in options}
    if m and m.group(1) in ids:
        return ids[m.group(1)]
    if v in ids:
        return ids[v]
    if v in names:
        return names[v]
    hits = [(label, choice) for label, choice in options if v.lower() in label.lower()]
    if len(hits) == 1:
        return hits[0][1]
    if hits:
        shown = "、".join(label for label, _ in hits[:6]) + ("…" if len(hits) > 6 else "")
        raise StoreError(f"{what}「{v}」对应多个选项：{shown}；请从列表中选定一个。")
    raise StoreError(f"没有名为「{v}」的{what}；请从列表中选择。")


def resolve_issue(cat: Catalog, value: str) -> tuple[str, str | None]:
    options = [(label, (iid, sid)) for label, iid, sid in _issue_options(cat)]
    names: dict[str, Any] = {s.name: (cat.issue_of(s.id), s.id) for s in cat.subtypes.values()}
    names.update({t.name: (t.id, None) for t in cat.issue_types.values()})
    return _pick(value, options, names, "问题类别")  # type: ignore[no-any-return]


def resolve_agency(cat: Catalog, value: str) -> str:
    options = [(agency_label(cat, a.id), a.id) for a in cat.agencies.values()]
    names: dict[str, Any] = {str(alias): a.id for a in cat.agencies.values()
                             for alias in a.aliases}
    names.update({a.name: a.id for a in cat.agencies.values()})
    return _pick(value, options, names, "承办机关")  # type: ignore[no-any-return]


def _resolve_nature(value: str) -> str:
    v = value.strip()
    if v in NATURES:
        return v
    for k, name in NATURES.items():
        if v == name:
            return k
    raise StoreError(f"没有「{v}」这种来信性质；可选：{'、'.join(NATURES.values())}。")


def _labels_text(cat: Catalog, d: dict[str, Any]) -> str:
    """``劳动和社会保障 / 欠薪 → 人力资源和社会保障局（申诉求决类）``"""
    text = _type_name(cat, d.get("issue_type"))
    if d.get("subtype"):
        text += f" / {_subtype_name(cat, d['subtype'])}"
    if d.get("agency"):
        text += f" → {_agency_name(cat, d['agency'])}"
    if d.get("nature"):
        text += f"（{NATURES.get(d['nature'], d['nature'])}）"
    return text


# -- highlighting -------------------------------------------------------------------------------

_ENTITY = r"&(?:[A-Za-z]+|#[0-9]+|#[xX][0-9A-Fa-f]+);"


def _char_pattern(ch: str) -> str:
    """A regex over escaped text for one character of a term, tolerant of the full-width and
    half-width forms that normalization folds (evidence comes from the normalized text)."""
    if ch.isspace():
        return r"\s+"
    forms = {ch, unicodedata.normalize("NFKC", ch)}
    if "!" <= ch <= "~":
        forms.add(chr(ord(ch) + 0xFEE0))
    if ch == " ":
        forms.add("\u3000")
    escaped = sorted({html.escape(f) for f in forms if len(f) == 1}, key=len, reverse=True)
    return re.escape(escaped[0]) if len(escaped) == 1 else (
        "(?:" + "|".join(re.escape(e) for e in escaped) + ")")


def highlight(text: str, terms: dict[str, str]) -> Markup:
    """The letter text escaped, then each occurrence of a term (escaped the same way) wrapped
    in ``<mark class=…>``. ``terms`` maps a term to its CSS class. Entities of the escaped text
    are matched as a whole, so a mark never splits one; no letter content becomes markup."""
    escaped = html.escape(text, quote=True)
    wanted = sorted({t.strip(): c for t, c in terms.items() if len(t.strip()) >= 2}.items(),
                    key=lambda tc: len(tc[0]), reverse=True)
    if not wanted:
        return Markup(escaped)
    groups = "|".join(f"(?P<t{i}>{''.join(_char_pattern(c) for c in term)})"
                      for i, (term, _) in enumerate(wanted))
    pattern = re.compile(f"{groups}|{_ENTITY}")

    def wrap(m: re.Match[str]) -> str:
        if m.lastgroup is None:  # an entity of the text, left whole
            return m.group()
        css = wanted[int(m.lastgroup[1:])][1]
        return f'<mark class="{css}">{m.group()}</mark>'

    return Markup(pattern.sub(wrap, escaped))


# -- the queue ----------------------------------------------------------------------------------

def _int(value: Any, default: int, low: int = 1) -> int:
    try:
        return max(low, int(str(value)))
    except ValueError:
        return default


def _queue_rows(cat: Catalog, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    today = dt.date.today()
    rows = []
    for it in items:
        due = dt.date.fromisoformat(it["acceptance_due"]) if it["acceptance_due"] else None
        rows.append({**it, "type_name": _type_name(cat, it["issue_type"]),
                     "agency_name": _agency_name(cat, it["agency"]) if it["agency"] else "—",
                     "overdue": due is not None and due < today,
                     "due_soon": due is not None and today <= due <= today + dt.timedelta(3)})
    return rows


@router.get("/ui/queue")
def queue_page(request: Request, session: PageSession, issue_type: str = "", agency: str = "",
               place: str = "", page: str = "1") -> HTMLResponse:
    cat = _catalog()
    issue_type, agency, place = issue_type[:64], agency[:64], place.strip()[:128]
    number = _int(page, 1)
    found = get_store().queue(issue_type=issue_type or None, agency=agency or None,
                              place=place or None, limit=PAGE_SIZE,
                              offset=(number - 1) * PAGE_SIZE)
    pages = max(1, math.ceil(found["total"] / PAGE_SIZE))
    filters = {k: v for k, v in (("issue_type", issue_type), ("agency", agency),
                                 ("place", place)) if v}

    def page_url(n: int) -> str:
        return "/ui/queue?" + urlencode({**filters, "page": n})

    return render(request, "queue.html", 200, session, rows=_queue_rows(cat, found["items"]),
                  total=found["total"], page=number, pages=pages,
                  prev_url=page_url(number - 1) if number > 1 else None,
                  next_url=page_url(number + 1) if number < pages else None,
                  issue_type=issue_type, agency=agency, place=place, filtered=bool(filters),
                  issue_types=list(cat.issue_types.values()),
                  agencies=list(cat.agencies.values()))


# -- one letter -----------------------------------------------------------------------------

def _letter_id(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 12 else None


def _neighbours(letter_id: int) -> tuple[int | None, int | None]:
    """(previous, next) letter of the queue around this one; the head of the queue as the next
    when this letter is not in it."""
    ids = [r["id"] for r in get_store().queue(limit=NEIGHBOURS)["items"]]
    if letter_id not in ids:
        return None, ids[0] if ids else None
    i = ids.index(letter_id)
    return (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)


def _letter_context(cat: Catalog, letter: dict[str, Any]) -> dict[str, Any]:
    sugg = letter.get("suggestion") or {}
    explanation = sugg.get("explanation") or {}
    flags = [f for f in sugg.get("flags") or [] if isinstance(f, dict)]
    terms: dict[str, str] = {}
    for term in [*(explanation.get("agency") or []), *(explanation.get("issue_type") or [])]:
        terms[str(term)] = "term"
    for f in flags:
        if f.get("evidence") and f.get("source") != "store":
            terms[str(f["evidence"])] = "evidence"
    issues = [{**s, "label": issue_label(cat, s.get("id", ""), s.get("subtype"))}
              for s in (sugg.get("issue_type") or [])[:3]]
    agencies = (sugg.get("agency") or [])[:3]
    similar = [{"id": s["id"], "score": s.get("score"), "link": str(s["id"]).isdigit()}
               for s in sugg.get("similar") or [] if isinstance(s, dict) and "id" in s]
    decisions = [{**d, "labels": _labels_text(cat, d)} for d in letter.get("decisions", [])]
    standing = next((d for d in decisions if not d["undone"]), None)
    entities = [(ENTITY_NAMES.get(k, k),
                 [_agency_name(cat, str(a)) for a in v] if k == "agencies" and isinstance(v, list)
                 else v) for k, v in (sugg.get("entities") or {}).items() if v]
    deadlines = [(DEADLINE_NAMES.get(k, k), v) for k, v in (sugg.get("deadlines") or {}).items()]
    return {"letter": letter, "sugg": sugg, "text_html": highlight(letter["text"], terms),
            "issues": issues, "agencies": agencies, "flags": flags, "similar": similar,
            "decisions": decisions, "standing": standing, "entities": entities,
            "deadlines": deadlines, "explanation": explanation,
            "issue_options": _issue_options(cat),
            "agency_options": [agency_label(cat, a.id) for a in cat.agencies.values()],
            "suggested_text": _labels_text(cat, {
                "issue_type": issues[0].get("id") if issues else None,
                "subtype": issues[0].get("subtype") if issues else None,
                "agency": agencies[0].get("id") if agencies else None,
                "nature": (sugg.get("nature") or {}).get("id")})}


def _letter_page(request: Request, session: tuple[UserView, str], letter_id: int,
                 status: int = 200, message: str = "",
                 values: dict[str, str] | None = None) -> HTMLResponse:
    try:
        letter = get_store().get_letter(letter_id)
    except StoreError:
        return error_page(request, 404, f"没有编号为 {letter_id} 的来信。", session)
    cat = _catalog()
    prev_id, next_id = _neighbours(letter_id)
    return render(request, "letter.html", status, session, **_letter_context(cat, letter),
                  prev_id=prev_id, next_id=next_id, message=message, values=values or {},
                  confirm_key=uuid.uuid4().hex, correct_key=uuid.uuid4().hex)


@router.get("/ui/letters/{letter_id}")
def letter_page(request: Request, session: PageSession, letter_id: str) -> HTMLResponse:
    lid = _letter_id(letter_id)
    if lid is None:
        return error_page(request, 404, f"「{letter_id[:40]}」不是来信编号。", session)
    return _letter_page(request, session, lid)


def _correction(cat: Catalog, values: dict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if values["pick"]:
        fields["issue_type"], fields["subtype"] = resolve_issue(cat, values["pick"])
    if values["agency"]:
        fields["agency"] = resolve_agency(cat, values["agency"])
    if values["nature"]:
        fields["nature"] = _resolve_nature(values["nature"])
    if not fields:
        raise StoreError("更正至少要选定问题类别、承办机关或来信性质中的一项。")
    return fields


@router.post("/ui/letters/{letter_id}/decision")
async def post_decision(request: Request, letter_id: str) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    session, form = posted
    lid = _letter_id(letter_id)
    if lid is None:
        return error_page(request, 404, f"「{letter_id[:40]}」不是来信编号。", session)
    values = {k: form.get(k, 200) for k in ("pick", "agency", "nature")}
    values["comment"] = form.get("comment", 2000)
    return await run_in_threadpool(_record_decision, request, session, lid,
                                   form.get("action", 16), values, form.get("key", 128) or None)


def _record_decision(request: Request, session: tuple[UserView, str], lid: int, action: str,
                     values: dict[str, str], key: str | None) -> Response:
    """Check and record a decision (``api.decide``); 303 to the next letter of the queue with a
    note of what was recorded, or the letter page again with the reason."""
    user = session[0]
    try:
        triage = get_triage()
    except ModelError as exc:
        return error_page(request, 503, f"模型不可用，决定没有记录：{exc}", session)
    try:
        if action == "confirm":
            body = DecisionRequest(action="confirm", comment=values["comment"] or None)
        elif action == "correct":
            body = DecisionRequest(action="correct", comment=values["comment"] or None,
                                   **_correction(triage.catalog, values))
        else:
            raise StoreError("请用「确认」或「更正」按钮提交。")
        out, created = decide(triage, get_store(), user, lid, body, key)
    except StoreError as exc:
        if str(exc).startswith("no letter"):
            return error_page(request, 404, f"没有编号为 {lid} 的来信。", session)
        return _letter_page(request, session, lid, 400, f"没有记录：{exc}", values)
    except ValidationError as exc:
        problems = "; ".join(e["msg"] for e in exc.errors())
        return _letter_page(request, session, lid, 400, f"没有记录：{problems}", values)
    cat = triage.catalog
    if not created:
        note = (f"这次提交已记录过（来信 #{lid}，{ACTION_NAMES[out['action']]}："
                f"{_labels_text(cat, out)}），没有重复记录。")
        if out["undone"]:
            note += "那个决定后来被撤销了；要重新决定，请刷新来信页面后再提交。"
    else:
        note = f"已{ACTION_NAMES[out['action']]}来信 #{lid}：{_labels_text(cat, out)}。"
    upcoming = [r["id"] for r in get_store().queue(limit=2)["items"] if r["id"] != lid]
    response = redirect(f"/ui/letters/{upcoming[0]}" if upcoming else "/ui/queue")
    return _set_flash(response, note, letter=lid, undo=not out["undone"])


@router.post("/ui/undo")
async def post_undo(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    (user, _), _ = posted
    return await run_in_threadpool(_undo, user)


def _undo(user: UserView) -> Response:
    try:
        out = get_store().undo_last(user)
    except StoreError:
        return _set_flash(redirect("/ui/queue"), "没有可撤销的决定。", "error")
    cat = _catalog()
    letter = get_store().get_letter(out["letter_id"])
    where = "已回到待办队列" if not letter["decided"] else "之前的决定仍然有效"
    note = (f"已撤销对来信 #{out['letter_id']} 的{ACTION_NAMES.get(out['action'], '')}"
            f"（{_labels_text(cat, out)}）；{where}。")
    return _set_flash(redirect(f"/ui/letters/{out['letter_id']}"), note,
                      letter=out["letter_id"])


# -- registering a letter -------------------------------------------------------------------------

@router.get("/ui/new")
def new_page(request: Request, session: PageSession) -> HTMLResponse:
    return render(request, "new.html", 200, session, message="", values={})


@router.post("/ui/new")
async def post_new(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    session, form = posted
    values = {"title": form.get("title", 500), "received": form.get("received", 20),
              "text": form.fields.get("text", "")}
    filename, data = form.upload or ("", b"")
    return await run_in_threadpool(_register_letter, request, session, values, data, filename)


def _register_letter(request: Request, session: tuple[UserView, str], values: dict[str, str],
                     data: bytes, filename: str) -> Response:
    """Register the letter of the form (``api.register``) and 303 to its page; the form again
    with the reason when it cannot be."""

    def again(status: int, message: str) -> HTMLResponse:
        return render(request, "new.html", status, session, message=message, values=values)

    text = values["text"]
    try:
        if data:
            text, _ = decode_bytes(data, filename)
        if not text.strip():
            return again(400, "请粘贴来信正文，或选择一个 .txt 文件。")
        letter = LetterIn(text=text, title=values["title"] or None,
                          received=values["received"] or None)  # type: ignore[arg-type]
    except ValidationError:
        return again(400, "收信日期应为 YYYY-MM-DD 格式，例如 2026-12-01。")
    except TriageError as exc:
        return again(400, f"无法读取上传的文件：{exc}")
    try:
        lid, _ = register(get_triage(), get_store(), session[0], letter)
    except ModelError as exc:
        return again(503, f"模型不可用，来信没有登记：{exc}")
    except TriageError as exc:
        return again(400, f"来信没有登记：{exc}")
    return _set_flash(redirect(f"/ui/letters/{lid}"), f"已登记来信 #{lid}。", letter=lid)


# -- stats ----------------------------------------------------------------------------------------

_chart_lock = threading.Lock()
_CJK_FONT_FILES = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                   "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
                   "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
                   "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
                   "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Name of a font that draws Chinese on the charts, or None (the charts then use ids)."""
    from matplotlib import font_manager, rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for path in _CJK_FONT_FILES:
            if not Path(path).is_file():
                continue
            try:
                font_manager.fontManager.addfont(path)
                name = font_manager.FontProperties(fname=path).get_name()
                caught.clear()
                with rc_context({"font.family": [name]}):
                    fig = Figure(figsize=(1, 1))
                    fig.text(0.1, 0.5, "来信统计")
                    FigureCanvasAgg(fig).print_png(io.BytesIO())
            except (OSError, RuntimeError, ValueError):
                continue
            if not any("missing from" in str(w.message) for w in caught):
                return name
    return None


def _chart_data(stats: dict[str, Any], name: str, cat: Catalog,
                chinese: bool) -> tuple[str, list[str], list[float], str]:
    """(title, labels, values, kind) of one chart."""
    if name == "by_type":
        labels = [_type_name(cat, k) if chinese else k for k in stats["by_type"]]
        return ("按问题类别" if chinese else "Letters by issue type", labels,
                list(stats["by_type"].values()), "barh")
    if name == "by_agency":
        labels = [(_agency_name(cat, k) if chinese else k) or "(none)"
                  for k in stats["by_agency"]]
        return ("按承办机关" if chinese else "Letters by agency", labels,
                list(stats["by_agency"].values()), "barh")
    if name == "by_week":
        return ("按周登记" if chinese else "Letters by week", list(stats["by_week"]),
                list(stats["by_week"].values()), "bar")
    labels = ["确认率", "类别一致率"] if chinese else ["confirmed", "same issue type"]
    values = ([stats["agreement"] or 0.0, stats["issue_type_agreement"] or 0.0]
              if stats["decisions"] else [])
    return ("模型与办信员一致" if chinese else "Agreement of model and clerks", labels, values,
            "ratio")


def render_chart(stats: dict[str, Any], name: str, cat: Catalog) -> bytes:
    """One PNG chart (matplotlib's object API on Agg; no global pyplot state)."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    with _chart_lock:
        font = cjk_font()
    title, labels, values, kind = _chart_data(stats, name, cat, font is not None)
    family = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    height = max(2.4, 0.32 * len(labels) + 1.0) if kind == "barh" else 2.8
    buf = io.BytesIO()
    with (_chart_lock, warnings.catch_warnings(),
          rc_context({"font.family": family, "font.size": 9})):
        warnings.simplefilter("ignore")  # a missing glyph must never fail a request
        fig = Figure(figsize=(6.4, height), dpi=100)
        ax = fig.add_subplot()
        ax.set_title(title)
        if not values:
            ax.text(0.5, 0.5, "暂无数据" if font else "no data", ha="center", va="center")
            ax.set_axis_off()
        elif kind == "barh":
            ax.barh(labels[::-1], values[::-1], color="#3b6ea5")
            ax.set_xlabel("封" if font else "letters")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        elif kind == "bar":
            ax.bar(labels, values, color="#3b6ea5")
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.tick_params(axis="x", labelrotation=45)
        else:
            ax.bar(labels, values, color=["#2e7d32", "#3b6ea5"])
            ax.set_ylim(0, 1.15)
            ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
            for i, v in enumerate(values):
                ax.text(i, v + 0.02, f"{v * 100:.0f}%", ha="center")
        fig.tight_layout()
        FigureCanvasAgg(fig).print_png(buf)
    return buf.getvalue()


@router.get("/ui/stats")
def stats_page(request: Request, session: PageSession) -> HTMLResponse:
    cat = _catalog()
    stats = get_store().stats()
    return render(request, "stats.html", 200, session, stats=stats, charts=CHARTS,
                  by_type=[(k, _type_name(cat, k), v) for k, v in stats["by_type"].items()],
                  by_agency=[(k, _agency_name(cat, k) if k else "（无）", v)
                             for k, v in stats["by_agency"].items()],
                  stamp=secrets.token_hex(4))


@router.get("/ui/stats/{name}.png")
def stats_chart(request: Request, session: PageSession, name: str) -> Response:
    if name not in CHARTS:
        return error_page(request, 404, f"没有名为「{name[:40]}」的图表。", session)
    png = render_chart(get_store().stats(), name, _catalog())
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store",
                                                          "X-Content-Type-Options": "nosniff"})
