"""The WSGI application: routes, each a few lines over the three stores.

Routes (JSON unless noted; ``Authorization: Bearer <token>`` where marked *)::

    GET  /health              200 when PostgreSQL (writable), Redis and S3 answer, else 503
    POST /signup              {"username", "password"} -> 201
    POST /login               {"username", "password"} -> {"token"}; session in Redis
    GET  /me               *  the session's user (session persistence)
    POST /projects         *  {"name"} -> {"id", "name"} in PostgreSQL
    GET  /projects/<id>    *  read through the Redis cache
    PUT  /media/<name>     *  body -> S3 object uploads/<user>/<name>; {"key", "sha256"}
    GET  /media/<name>     *  the object's bytes

A store that fails answers 503 with ``{"error", "dependency"}``: the synthetic client
records which dependency broke each failed request.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
import redis
from botocore.exceptions import BotoCoreError, ClientError

from drillbook.examples.app.config import Clients, Settings

SESSION_TTL_S = 3600
CACHE_TTL_S = 300
PBKDF2_ROUNDS = 2000
MAX_BODY = 8 * 1024 * 1024

Response = tuple[int, Any, str]  # status, body (dict -> JSON, bytes as is), content type
StartResponse = Callable[..., Any]


class HttpError(Exception):
    def __init__(self, status: int, message: str, dependency: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.dependency = dependency


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ROUNDS)


class App:
    """The application object waitress serves (``App(Settings.from_env())``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clients = Clients(settings)

    # -- WSGI -------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            status, body, ctype = self.route(environ)
        except HttpError as exc:
            status, body, ctype = exc.status, self._error(exc), "application/json"
        except psycopg.Error as exc:
            status, body, ctype = 503, _dep("database", exc), "application/json"
        except redis.RedisError as exc:
            status, body, ctype = 503, _dep("redis", exc), "application/json"
        except (BotoCoreError, ClientError) as exc:
            status, body, ctype = 503, _dep("s3", exc), "application/json"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        start_response(
            f"{status} {_REASONS.get(status, 'Status')}",
            [("Content-Type", ctype), ("Content-Length", str(len(data)))],
        )
        return [data]

    @staticmethod
    def _error(exc: HttpError) -> dict[str, Any]:
        return {"error": str(exc), "dependency": exc.dependency}

    def route(self, environ: dict[str, Any]) -> Response:
        method = environ["REQUEST_METHOD"]
        parts = [p for p in environ.get("PATH_INFO", "/").split("/") if p]
        if parts == ["health"] and method == "GET":
            return self.health()
        if parts == ["signup"] and method == "POST":
            return self.signup(_json(environ))
        if parts == ["login"] and method == "POST":
            return self.login(_json(environ))
        user = self.session_user(environ)
        if parts == ["me"] and method == "GET":
            return 200, {"username": user, "region": self.settings.region_name}, _JSON
        if parts == ["projects"] and method == "POST":
            return self.create_project(user, _json(environ))
        if len(parts) == 2 and parts[0] == "projects" and method == "GET":
            return self.read_project(user, parts[1])
        if len(parts) == 2 and parts[0] == "media" and method == "PUT":
            return self.put_media(user, parts[1], _body(environ))
        if len(parts) == 2 and parts[0] == "media" and method == "GET":
            return self.get_media(user, parts[1])
        raise HttpError(404, f"no route {method} /{'/'.join(parts)}")

    # -- health -------------------------------------------------------------------------------
    def health(self) -> Response:
        checks: dict[str, str] = {}
        for name, check in (
            ("database", self._check_db),
            ("redis", lambda: self.clients.redis.ping()),
            ("s3", lambda: self.clients.s3.head_bucket(Bucket=self.settings.media_bucket)),
        ):
            try:
                check()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"{type(exc).__name__}: {str(exc)[:200]}"
        ok = all(v == "ok" for v in checks.values())
        body = {"status": "ok" if ok else "failing", "region": self.settings.region_name}
        return (200 if ok else 503), {**body, "checks": checks}, _JSON

    def _check_db(self) -> None:
        with self.clients.db() as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        if row is None or row[0]:
            raise RuntimeError("database is read-only (in recovery): not a primary")

    # -- auth ---------------------------------------------------------------------------------
    def signup(self, data: dict[str, Any]) -> Response:
        user, password = _credentials(data)
        salt = secrets.token_bytes(16)
        with self.clients.db() as conn:
            conn.execute(
                "INSERT INTO users (username, salt, password_hash) VALUES (%s, %s, %s)"
                " ON CONFLICT (username) DO NOTHING",
                (user, salt, _hash(password, salt)),
            )
        return 201, {"username": user}, _JSON

    def login(self, data: dict[str, Any]) -> Response:
        user, password = _credentials(data)
        with self.clients.db() as conn:
            row = conn.execute(
                "SELECT salt, password_hash FROM users WHERE username = %s", (user,)
            ).fetchone()
        if row is None or not secrets.compare_digest(_hash(password, bytes(row[0])), row[1]):
            raise HttpError(401, "wrong username or password")
        token = secrets.token_urlsafe(24)
        self.clients.redis.set(f"session:{token}", user, ex=SESSION_TTL_S)
        return 200, {"token": token}, _JSON

    def session_user(self, environ: dict[str, Any]) -> str:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if not auth.startswith("Bearer "):
            raise HttpError(401, "no session: log in first")
        user = self.clients.redis.get(f"session:{auth[7:]}")
        if user is None:
            raise HttpError(401, "session expired or unknown: log in again")
        return str(user.decode() if isinstance(user, bytes) else user)

    # -- projects -----------------------------------------------------------------------------
    def create_project(self, user: str, data: dict[str, Any]) -> Response:
        name = str(data.get("name") or "")
        if not name:
            raise HttpError(400, "a project needs a name")
        with self.clients.db() as conn:
            row = conn.execute(
                "INSERT INTO projects (owner, name) VALUES (%s, %s) RETURNING id", (user, name)
            ).fetchone()
        assert row is not None
        return 201, {"id": int(row[0]), "name": name}, _JSON

    def read_project(self, user: str, ident: str) -> Response:
        if not ident.isdigit():
            raise HttpError(400, "project ids are numbers")
        key = f"project:{ident}"
        cached = self.clients.redis.get(key)
        if cached is not None:
            project = json.loads(cached)
            project["cache"] = "hit"
        else:
            with self.clients.db() as conn:
                row = conn.execute(
                    "SELECT id, owner, name FROM projects WHERE id = %s", (int(ident),)
                ).fetchone()
            if row is None:
                raise HttpError(404, f"no project {ident}")
            project = {"id": int(row[0]), "owner": row[1], "name": row[2]}
            self.clients.redis.set(key, json.dumps(project), ex=CACHE_TTL_S)
            project["cache"] = "miss"
        if project["owner"] != user:
            raise HttpError(403, f"project {ident} belongs to another user")
        return 200, project, _JSON

    # -- media --------------------------------------------------------------------------------
    def put_media(self, user: str, name: str, data: bytes) -> Response:
        key = f"uploads/{user}/{name}"
        self.clients.s3.put_object(Bucket=self.settings.media_bucket, Key=key, Body=data)
        return 201, {"key": key, "sha256": hashlib.sha256(data).hexdigest()}, _JSON

    def get_media(self, user: str, name: str) -> Response:
        key = f"uploads/{user}/{name}"
        try:
            obj = self.clients.s3.get_object(Bucket=self.settings.media_bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise HttpError(404, f"no media object {key}", "s3") from None
            raise
        return 200, obj["Body"].read(), "application/octet-stream"


_JSON = "application/json"
_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Payload Too Large",
    503: "Service Unavailable",
}


def _dep(dependency: str, exc: BaseException) -> dict[str, Any]:
    return {"error": f"{type(exc).__name__}: {str(exc)[:300]}", "dependency": dependency}


def _body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > MAX_BODY:
        raise HttpError(413, f"body over {MAX_BODY} bytes")
    return bytes(environ["wsgi.input"].read(length)) if length else b""


def _json(environ: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(_body(environ) or b"{}")
    except ValueError:
        raise HttpError(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise HttpError(400, "the body must be a JSON object")
    return data


def _credentials(data: dict[str, Any]) -> tuple[str, str]:
    user, password = str(data.get("username") or ""), str(data.get("password") or "")
    if not user or not password:
        raise HttpError(400, "username and password are required")
    return user, password


def application_from_env() -> App:
    return App(Settings.from_env(os.environ))
