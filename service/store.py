"""Storage of the clerk service: letters, suggestions, decisions, users, sessions, audit.

SQLAlchemy 2 over a SQLite file by default (WAL, synchronous=FULL, zero set-up) or PostgreSQL
by URL (``TRIAGE_DATABASE_URL``); the schema is made and upgraded by Alembic migrations
(``service/migrations``). Every write that the API acknowledges is committed before the reply,
so a decision that got a 2xx survives a crash. The audit table is append-only: this module
only ever inserts into it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from triage.errors import TriageError

ROLES = ("clerk", "admin")
ACTIONS = ("confirm", "correct")
FIELDS = ("issue_type", "subtype", "agency", "nature")
SESSION_HOURS = 12
MAX_ID = 2**31 - 1  # ids are 32-bit integers in PostgreSQL


def _check_id(letter_id: int) -> int:
    if not 0 < letter_id <= MAX_ID:
        raise StoreError(f"no letter {letter_id}")
    return letter_id


class StoreError(TriageError):
    """The store refused an operation (unknown letter, bad credentials, duplicate user…)."""


class StoreUnavailable(TriageError):
    """The database cannot be written or read right now (locked, read-only, gone)."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class WebSession(Base):
    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Letter(Base):
    __tablename__ = "letters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    received: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    # denormalized from the latest suggestion, for the queue's order and filters
    model_version: Mapped[str] = mapped_column(String(64))
    danger: Mapped[bool] = mapped_column(Boolean, default=False)
    acceptance_due: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    top_score: Mapped[float] = mapped_column(Float, default=0.0)
    issue_type: Mapped[str] = mapped_column(String(32), index=True)
    agency: Mapped[str] = mapped_column(String(64), default="", index=True)
    place: Mapped[str] = mapped_column(String(128), default="")
    decided: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class SuggestionRow(Base):
    __tablename__ = "suggestions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    model_version: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Decision(Base):
    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letters.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(16))
    issue_type: Mapped[str] = mapped_column(String(32))
    subtype: Mapped[str | None] = mapped_column(String(64), nullable=True)
    agency: Mapped[str | None] = mapped_column(String(64), nullable=True)
    nature: Mapped[str | None] = mapped_column(String(16), nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    model_version: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    undone_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), default="")
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)


# -- secrets ---------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    """scrypt with a random salt: ``scrypt$n$r$p$salt$hash``."""
    salt = secrets.token_bytes(16)
    n, r, p = 2 ** 14, 8, 1
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- views handed to the service ----------------------------------------------------------------

@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    role: str
    disabled: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _user(u: User) -> UserView:
    return UserView(u.id, u.username, u.role, u.disabled)


def _decision_dict(d: Decision, username: str | None = None) -> dict[str, Any]:
    return {"id": d.id, "letter_id": d.letter_id, "action": d.action,
            "issue_type": d.issue_type, "subtype": d.subtype, "agency": d.agency,
            "nature": d.nature, "comment": d.comment, "model_version": d.model_version,
            "by": username, "at": d.created_at.isoformat(timespec="seconds") + "Z",
            "undone": d.undone_at is not None}


def _letter_row(letter: Letter) -> dict[str, Any]:
    return {"id": letter.id, "title": letter.title, "received":
            letter.received.isoformat() if letter.received else None,
            "created_at": letter.created_at.isoformat(timespec="seconds") + "Z",
            "model_version": letter.model_version, "danger": letter.danger,
            "acceptance_due": letter.acceptance_due.isoformat() if letter.acceptance_due
            else None, "top_score": round(letter.top_score, 4), "issue_type": letter.issue_type,
            "agency": letter.agency, "place": letter.place, "decided": letter.decided}


def default_database_url() -> str:
    """SQLite file var/triage.db in the project (made on first use)."""
    root = Path(__file__).resolve().parent.parent
    (root / "var").mkdir(exist_ok=True)
    return f"sqlite:///{root / 'var' / 'triage.db'}"


def make_engine(url: str, busy_timeout: float = 5.0) -> Engine:
    """An engine; for SQLite with WAL, full sync, foreign keys and a wait on a locked file of
    ``busy_timeout`` seconds before giving up."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False,
                                                  "timeout": busy_timeout})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            with suppress(sqlite3.Error):  # a read-only file: the service reports it later
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def migrate(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (Alembic ``upgrade head``)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "head")


class Store:
    """All reads and writes of the service; one instance per database URL."""

    def __init__(self, url: str | None = None, *, upgrade: bool = True,
                 busy_timeout: float = 5.0) -> None:
        self.url = url or default_database_url()
        try:
            if upgrade:
                migrate(self.url)
            self.engine = make_engine(self.url, busy_timeout)
        except DBAPIError as exc:
            raise StoreUnavailable(f"database {self.safe_url}: {exc.orig}") from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def safe_url(self) -> str:
        """The URL without its password, for messages."""
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error."""
        s = self._sessions()
        try:
            yield s
            s.commit()
        except IntegrityError:
            s.rollback()
            raise
        except DBAPIError as exc:  # locked, read-only, disk full, connection gone
            with suppress(DBAPIError):
                s.rollback()
            raise StoreUnavailable(f"database {self.safe_url} cannot be used right now "
                                   f"({str(exc.orig).strip()}); the request was not "
                                   "saved, try again") from exc
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    def close(self) -> None:
        self.engine.dispose()

    # -- audit -----------------------------------------------------------------------------

    @staticmethod
    def _audit(s: Session, actor: str, action: str, target: str = "", before: Any = None,
               after: Any = None, model_version: str | None = None) -> None:
        s.add(AuditEvent(actor=actor, action=action, target=target, before=before,
                         after=after, model_version=model_version))

    def audit(self, actor: str, action: str, target: str = "", before: Any = None,
              after: Any = None, model_version: str | None = None) -> None:
        """Record an event that happened outside the store (model promotion, …)."""
        with self.session() as s:
            self._audit(s, actor, action, target, before, after, model_version)

    def audit_events(self, since: dt.datetime | None = None) -> Iterator[dict[str, Any]]:
        with self.session() as s:
            q = select(AuditEvent).order_by(AuditEvent.id)
            if since is not None:
                q = q.where(AuditEvent.at >= since)
            for e in s.scalars(q):
                yield {"id": e.id, "at": e.at.isoformat(timespec="seconds") + "Z",
                       "actor": e.actor, "action": e.action, "target": e.target,
                       "before": e.before, "after": e.after, "model_version": e.model_version}

    # -- users, tokens, sessions --------------------------------------------------------------

    def add_user(self, username: str, password: str, role: str = "clerk",
                 actor: str = "system") -> UserView:
        username = username.strip()
        if role not in ROLES:
            raise StoreError(f"role '{role}' is not one of {', '.join(ROLES)}")
        if not username or len(username) > 64:
            raise StoreError("a user name is 1 to 64 characters")
        if len(password) < 8:
            raise StoreError("a password has at least 8 characters")
        try:
            with self.session() as s:
                u = User(username=username, password_hash=hash_password(password), role=role)
                s.add(u)
                s.flush()
                self._audit(s, actor, "user.add", f"user:{username}", None, {"role": role})
                return _user(u)
        except IntegrityError as exc:
            raise StoreError(f"user '{username}' already exists") from exc

    def list_users(self) -> list[UserView]:
        with self.session() as s:
            return [_user(u) for u in s.scalars(select(User).order_by(User.id))]

    def set_disabled(self, username: str, disabled: bool = True,
                     actor: str = "system") -> UserView:
        with self.session() as s:
            u = s.scalar(select(User).where(User.username == username))
            if u is None:
                raise StoreError(f"no user '{username}'")
            before = {"disabled": u.disabled}
            u.disabled = disabled
            if disabled:  # end their sessions and tokens now
                for t in s.scalars(select(ApiToken).where(ApiToken.user_id == u.id)):
                    t.revoked = True
                for w in s.scalars(select(WebSession).where(WebSession.user_id == u.id)):
                    s.delete(w)
            self._audit(s, actor, "user.disable" if disabled else "user.enable",
                        f"user:{username}", before, {"disabled": disabled})
            return _user(u)

    def count_users(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(User)) or 0)

    def authenticate(self, username: str, password: str) -> UserView | None:
        with self.session() as s:
            u = s.scalar(select(User).where(User.username == username))
            if u is None:
                check_password(password, hash_password("x" * 8))  # same time either way
                return None
            if u.disabled or not check_password(password, u.password_hash):
                return None
            return _user(u)

    def create_token(self, username: str, name: str = "", actor: str = "system") -> str:
        """A new API token for the user; only its hash is kept, so show it once."""
        token = "trg_" + secrets.token_urlsafe(32)
        with self.session() as s:
            u = s.scalar(select(User).where(User.username == username))
            if u is None:
                raise StoreError(f"no user '{username}'")
            s.add(ApiToken(user_id=u.id, token_hash=hash_token(token), name=name))
            self._audit(s, actor, "token.create", f"user:{username}", None, {"name": name})
        return token

    def user_for_token(self, token: str) -> UserView | None:
        with self.session() as s:
            row = s.execute(select(User).join(ApiToken, ApiToken.user_id == User.id).where(
                ApiToken.token_hash == hash_token(token), ApiToken.revoked.is_(False),
                User.disabled.is_(False))).scalar()
            return _user(row) if row else None

    def create_session(self, user: UserView) -> tuple[str, str]:
        """(session id for the cookie, CSRF token for the forms)."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        with self.session() as s:
            s.add(WebSession(id_hash=hash_token(sid), user_id=user.id, csrf=csrf,
                             expires_at=utcnow() + dt.timedelta(hours=SESSION_HOURS)))
            self._audit(s, user.username, "login", f"user:{user.username}")
        return sid, csrf

    def session_user(self, sid: str) -> tuple[UserView, str] | None:
        """The user and CSRF token of a live session, or None."""
        with self.session() as s:
            w = s.get(WebSession, hash_token(sid))
            if w is None or w.expires_at < utcnow():
                return None
            u = s.get(User, w.user_id)
            if u is None or u.disabled:
                return None
            return _user(u), w.csrf

    def end_session(self, sid: str) -> None:
        with self.session() as s:
            w = s.get(WebSession, hash_token(sid))
            if w is not None:
                s.delete(w)

    # -- letters -------------------------------------------------------------------------------

    def add_letter(self, text: str, title: str | None, received: dt.date | None,
                   suggestion: dict[str, Any], user: UserView) -> int:
        """Register a letter with its suggestion (JSON of a ``Suggestion``); its id."""
        top = suggestion["issue_type"][0]
        agency = suggestion.get("agency") or []
        due = (suggestion.get("deadlines") or {}).get("acceptance_due")
        juris = suggestion.get("jurisdiction") or {}
        with self.session() as s:
            letter = Letter(
                text=text, title=title, received=received, created_by=user.id,
                model_version=suggestion["model_version"],
                danger=any(f["id"] == "danger" for f in suggestion.get("flags", [])),
                acceptance_due=dt.date.fromisoformat(due) if due else None,
                top_score=float(top["score"]), issue_type=top["id"],
                agency=agency[0]["id"] if agency else "",
                place=(juris.get("place") or "")[:128])
            s.add(letter)
            s.flush()
            s.add(SuggestionRow(letter_id=letter.id, model_version=suggestion["model_version"],
                                payload=suggestion))
            self._audit(s, user.username, "letter.add", f"letter:{letter.id}", None,
                        {"issue_type": top["id"]}, suggestion["model_version"])
            return letter.id

    def get_letter(self, letter_id: int) -> dict[str, Any]:
        """The letter, its latest suggestion and its decisions (newest first)."""
        _check_id(letter_id)
        with self.session() as s:
            letter = s.get(Letter, letter_id)
            if letter is None:
                raise StoreError(f"no letter {letter_id}")
            sugg = s.scalar(select(SuggestionRow).where(SuggestionRow.letter_id == letter_id)
                            .order_by(SuggestionRow.id.desc()).limit(1))
            rows = s.execute(select(Decision, User.username).join(User)
                             .where(Decision.letter_id == letter_id)
                             .order_by(Decision.id.desc())).all()
            return {**_letter_row(letter), "text": letter.text,
                    "suggestion": sugg.payload if sugg else None,
                    "decisions": [_decision_dict(d, name) for d, name in rows]}

    def letter_texts(self, letter_ids: list[int] | None = None,
                     after_id: int = 0) -> list[tuple[int, str]]:
        """(id, title + text) of letters, oldest first; only those with id > ``after_id``."""
        with self.session() as s:
            q = select(Letter.id, Letter.title, Letter.text).where(Letter.id > after_id) \
                .order_by(Letter.id)
            if letter_ids is not None:
                q = q.where(Letter.id.in_(letter_ids))
            return [(int(i), "\n".join(p for p in (title, text) if p))
                    for i, title, text in s.execute(q)]

    def queue(self, *, issue_type: str | None = None, agency: str | None = None,
              place: str | None = None, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        """Undecided letters: danger first, then the nearest acceptance deadline, then the
        least certain suggestion, then the oldest."""
        limit, offset = max(0, min(limit, 1000)), max(0, min(offset, MAX_ID))
        with self.session() as s:
            q = select(Letter).where(Letter.decided.is_(False))
            if issue_type:
                q = q.where(Letter.issue_type == issue_type)
            if agency:
                q = q.where(Letter.agency == agency)
            if place:
                q = q.where(Letter.place.contains(place))
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            q = q.order_by(Letter.danger.desc(), Letter.acceptance_due.is_(None),
                           Letter.acceptance_due, Letter.top_score, Letter.id)
            items = [_letter_row(x) for x in s.scalars(q.limit(limit).offset(offset))]
            return {"total": int(total), "items": items}

    # -- decisions -------------------------------------------------------------------------

    def decide(self, letter_id: int, user: UserView, action: str, labels: dict[str, Any],
               comment: str = "", idempotency_key: str | None = None,
               ) -> tuple[dict[str, Any], bool]:
        """Record a clerk's decision; (decision, created). A repeated idempotency key returns
        the first decision and creates nothing."""
        if action not in ACTIONS:
            raise StoreError(f"action '{action}' is not one of {', '.join(ACTIONS)}")
        _check_id(letter_id)
        if idempotency_key:
            found = self._by_key(idempotency_key)
            if found is not None:
                if found["letter_id"] != letter_id:
                    raise StoreError(f"idempotency key '{idempotency_key}' was already used "
                                     f"for letter {found['letter_id']}; use a new key")
                return found, False
        try:
            with self.session() as s:
                letter = s.get(Letter, letter_id)
                if letter is None:
                    raise StoreError(f"no letter {letter_id}")
                before = self._current(s, letter_id)
                d = Decision(letter_id=letter_id, user_id=user.id, action=action,
                             issue_type=labels["issue_type"], subtype=labels.get("subtype"),
                             agency=labels.get("agency"), nature=labels.get("nature"),
                             comment=comment, model_version=letter.model_version,
                             idempotency_key=idempotency_key or None)
                s.add(d)
                letter.decided = True
                s.flush()
                out = _decision_dict(d, user.username)
                self._audit(s, user.username, f"decision.{action}", f"letter:{letter_id}",
                            before, {k: out[k] for k in ("id", *FIELDS, "comment")},
                            letter.model_version)
                return out, True
        except IntegrityError:  # the same key raced in from another request
            found = self._by_key(idempotency_key or "")
            if found is None:
                raise
            return found, False

    @staticmethod
    def _current(s: Session, letter_id: int) -> dict[str, Any] | None:
        d = s.scalar(select(Decision).where(Decision.letter_id == letter_id,
                                            Decision.undone_at.is_(None))
                     .order_by(Decision.id.desc()).limit(1))
        return {k: getattr(d, k) for k in ("id", *FIELDS)} if d else None

    def _by_key(self, key: str) -> dict[str, Any] | None:
        with self.session() as s:
            row = s.execute(select(Decision, User.username).join(User)
                            .where(Decision.idempotency_key == key)).first()
            return _decision_dict(row[0], row[1]) if row else None

    def undo_last(self, user: UserView) -> dict[str, Any]:
        """Take back the user's newest standing decision; the letter returns to the queue
        unless an earlier decision still stands."""
        with self.session() as s:
            d = s.scalar(select(Decision).where(Decision.user_id == user.id,
                                                Decision.undone_at.is_(None))
                         .order_by(Decision.id.desc()).limit(1))
            if d is None:
                raise StoreError("you have no decision to undo")
            d.undone_at = utcnow()
            s.flush()
            letter = s.get(Letter, d.letter_id)
            assert letter is not None
            letter.decided = self._current(s, d.letter_id) is not None
            out = _decision_dict(d, user.username)
            self._audit(s, user.username, "decision.undo", f"letter:{d.letter_id}",
                        {k: out[k] for k in ("id", *FIELDS)}, None, d.model_version)
            return out

    def decisions(self, since: dt.datetime | None = None) -> list[dict[str, Any]]:
        """The standing decision of every decided letter, with its text, oldest first."""
        with self.session() as s:
            q = (select(Decision, Letter.text, Letter.title, User.username)
                 .join(Letter, Letter.id == Decision.letter_id).join(User)
                 .where(Decision.undone_at.is_(None)).order_by(Decision.id))
            if since is not None:
                q = q.where(Decision.created_at >= since)
            latest: dict[int, dict[str, Any]] = {}
            for d, text, title, name in s.execute(q):
                latest[d.letter_id] = {**_decision_dict(d, name), "text": text, "title": title}
            return sorted(latest.values(), key=lambda r: r["id"])

    def count_decisions(self) -> int:
        with self.session() as s:
            return int(s.scalar(select(func.count()).select_from(Decision)) or 0)

    # -- stats ---------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts by type, agency and week, and how often clerks agreed with the model."""
        with self.session() as s:
            by_type = dict(s.execute(select(Letter.issue_type, func.count())
                                     .group_by(Letter.issue_type)).all())
            by_agency = dict(s.execute(select(Letter.agency, func.count())
                                       .group_by(Letter.agency)).all())
            weeks: dict[str, int] = {}
            for (created,) in s.execute(select(Letter.created_at)):
                y, w, _ = created.isocalendar()
                key = f"{y}-W{w:02d}"
                weeks[key] = weeks.get(key, 0) + 1
            standing = s.execute(select(Decision.action, Decision.issue_type,
                                        Letter.issue_type).join(Letter)
                                 .where(Decision.undone_at.is_(None))).all()
            total = s.scalar(select(func.count()).select_from(Letter)) or 0
            open_ = s.scalar(select(func.count()).select_from(Letter)
                             .where(Letter.decided.is_(False))) or 0
        agreed = sum(1 for action, _, _ in standing if action == "confirm")
        type_agreed = sum(1 for _, chosen, suggested in standing if chosen == suggested)
        n = len(standing)
        return {"letters": int(total), "open": int(open_), "decided": int(total) - int(open_),
                "by_type": {str(k): int(v) for k, v in sorted(by_type.items())},
                "by_agency": {str(k): int(v) for k, v in sorted(by_agency.items())},
                "by_week": dict(sorted(weeks.items())),
                "decisions": n,
                "agreement": round(agreed / n, 4) if n else None,
                "issue_type_agreement": round(type_agreed / n, 4) if n else None}


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)
