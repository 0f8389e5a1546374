"""The synthetic client: the reference application's user journeys at a fixed cadence.

Three journeys (runbooks/full-system.md, "Test user login", "Verify session
persistence", "Can create new content"), each on its own thread so one hanging journey
never delays another's measurement:

- ``login``: POST /login, then GET /me with the new session (the session is in Redis);
- ``project``: POST /projects, then GET /projects/<id> (PostgreSQL, the Redis cache);
- ``media``: PUT /media/<name>, then GET it back byte for byte (S3).

A journey whose session is gone (401: Redis lost or rebuilt empty) logs in again inside
the same journey, as a user would. Each outcome goes to a
:class:`drillbook.appclient.OutcomeLog`; :meth:`SyntheticClient.record` puts the
measurement into the drill record. The loops are bounded in time (``max_seconds``) and
stop at :meth:`SyntheticClient.stop`, which the drill's teardown also calls.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from drillbook.appclient import JourneyOutcome, OutcomeLog, measure
from drillbook.drill import Drill

REQUEST_TIMEOUT_S = 2.0


class JourneyFailed(Exception):
    def __init__(self, message: str, dependency: str | None = None) -> None:
        super().__init__(message)
        self.dependency = dependency


@dataclass
class User:
    name: str
    password: str
    token: str | None = None


@dataclass
class Attempt:
    """The requests of one journey run."""

    base: str
    user: User
    requests: int = 0
    failed: int = 0
    served_by: str | None = None

    def call(
        self, method: str, path: str, body: bytes | dict[str, Any] | None = None,
        *, expect: int = 200, auth: bool = True,
    ) -> Any:  # fmt: skip
        self.requests += 1
        status, data = _http(self.base, method, path, body, self.user.token if auth else None)
        if status != expect:
            self.failed += 1
            dep = data.get("dependency") if isinstance(data, dict) else None
            err = data.get("error") if isinstance(data, dict) else repr(data)[:200]
            raise JourneyFailed(f"{method} {path}: HTTP {status}: {err}", dep)
        if isinstance(data, dict) and data.get("region"):
            self.served_by = str(data["region"])
        return data

    def login(self) -> None:
        data = self.call(
            "POST", "/login", {"username": self.user.name, "password": self.user.password},
            auth=False,
        )  # fmt: skip
        self.user.token = str(data["token"])
        me = self.call("GET", "/me")
        if me.get("username") != self.user.name:
            raise JourneyFailed(f"GET /me answered {me.get('username')!r}", "redis")

    def with_session(self, fn: Callable[[], None]) -> None:
        """Run *fn* in the user's session; a lost session (401) means log in again."""
        if self.user.token is None:
            self.login()
        try:
            fn()
        except JourneyFailed as exc:
            if "HTTP 401" not in str(exc):
                raise
            self.login()  # a lost session: log in again, as a user would
            fn()


def _http(
    base: str, method: str, path: str, body: bytes | dict[str, Any] | None, token: str | None
) -> tuple[int, Any]:
    host, _, port = base.removeprefix("http://").partition(":")
    payload = json.dumps(body).encode() if isinstance(body, dict) else body
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    conn = http.client.HTTPConnection(host, int(port), timeout=REQUEST_TIMEOUT_S)
    try:
        try:
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        except OSError as exc:
            return 0, {"error": f"{type(exc).__name__}: {exc}", "dependency": "network"}
    finally:
        conn.close()
    if resp.getheader("Content-Type", "").startswith("application/json"):
        with_json: Any = json.loads(raw or b"{}")
        return resp.status, with_json
    return resp.status, raw


def journey_login(a: Attempt) -> None:
    a.login()


def journey_project(a: Attempt) -> None:
    def run() -> None:
        name = f"project-{secrets.token_hex(4)}"
        created = a.call("POST", "/projects", {"name": name}, expect=201)
        read = a.call("GET", f"/projects/{created['id']}")
        if read.get("name") != name:
            raise JourneyFailed(f"project {created['id']} read back as {read!r}", "database")

    a.with_session(run)


def journey_media(a: Attempt) -> None:
    def run() -> None:
        data = secrets.token_bytes(2048)
        name = f"m-{secrets.token_hex(4)}.bin"
        put = a.call("PUT", f"/media/{name}", data, expect=201)
        if put.get("sha256") != hashlib.sha256(data).hexdigest():
            raise JourneyFailed(f"PUT /media/{name}: wrong checksum", "s3")
        got = a.call("GET", f"/media/{name}")
        if got != data:
            raise JourneyFailed(f"GET /media/{name}: {len(got)} bytes, not what was put", "s3")

    a.with_session(run)


JOURNEYS: dict[str, Callable[[Attempt], None]] = {
    "login": journey_login,
    "project": journey_project,
    "media": journey_media,
}


@dataclass
class SyntheticClient:
    """Users running every journey at *cadence* seconds (per journey) against *base*."""

    base: str
    users: int = 4
    cadence: float = 0.2
    max_seconds: float = 600.0
    log: OutcomeLog = field(default_factory=OutcomeLog)

    def __post_init__(self) -> None:
        self._users = [User(f"user{i}", secrets.token_urlsafe(12)) for i in range(self.users)]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def signup(self, *, projects_each: int = 2) -> None:
        """Create the users, and a few projects of each, through the application (before
        the drill's t0: the data a backup taken next holds for certain)."""
        for user in self._users:
            a = Attempt(self.base, user)
            a.call(
                "POST", "/signup", {"username": user.name, "password": user.password},
                expect=201, auth=False,
            )  # fmt: skip
            a.login()
            for i in range(projects_each):
                a.call("POST", "/projects", {"name": f"{user.name}-seed-{i}"}, expect=201)

    def point_at(self, base: str) -> None:
        """The DNS switch: every journey from now on goes to *base*."""
        with self._lock:
            self.base = base

    def start(self) -> SyntheticClient:
        for name, fn in JOURNEYS.items():
            t = threading.Thread(
                target=self._loop, args=(name, fn), name=f"drillbook-journey-{name}", daemon=True
            )
            t.start()
            self._threads.append(t)
        return self

    def _loop(self, name: str, fn: Callable[[Attempt], None]) -> None:
        origin = time.monotonic()
        n = 0
        while not self._stop.is_set() and time.monotonic() - origin < self.max_seconds:
            with self._lock:
                base = self.base
            user = self._users[n % len(self._users)]
            attempt = Attempt(base, user)
            start = time.monotonic()
            error, dep, ok = None, None, True
            try:
                fn(attempt)
            except JourneyFailed as exc:
                ok, error, dep = False, str(exc)[:300], exc.dependency
            except Exception as exc:  # a bug in a journey is a failed journey, never silent
                ok, error, dep = False, f"{type(exc).__name__}: {exc}"[:300], "client"
            self.log.add(
                JourneyOutcome(
                    name, start, time.monotonic(), ok, attempt.requests,
                    attempt.failed if not ok else 0, error, dep, attempt.served_by,
                )
            )  # fmt: skip
            n += 1
            next_at = origin + n * self.cadence
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def wait_runs(self, count: int, *, timeout: float = 30.0) -> None:
        """Block until every journey ran *count* times (a warm-up with a deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            runs = [sum(o.journey == n for o in self.log.outcomes) for n in JOURNEYS]
            if min(runs) >= count:
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"journeys ran {runs} times in {timeout:.0f} s, wanted {count}")
            time.sleep(self.cadence)

    def wait_all_ok(self, *, after: float, timeout: float = 30.0) -> None:
        """Block until each journey succeeded once after *after* (monotonic)."""
        deadline = time.monotonic() + timeout
        while True:
            done = {o.journey for o in self.log.outcomes if o.ok and o.start_mono >= after}
            if done >= set(JOURNEYS):
                return
            if time.monotonic() >= deadline:
                last = [o.error for o in self.log.outcomes if not o.ok][-1:]
                raise TimeoutError(
                    f"journeys {sorted(set(JOURNEYS) - done)} not back {timeout:.0f} s after "
                    f"the switch; last error: {last[0] if last else None}"
                )
            time.sleep(self.cadence / 2)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(REQUEST_TIMEOUT_S * 4)

    def record(self, drill: Drill, **slo: float) -> dict[str, Any]:
        """Stop the journeys; the measurement goes to ``record.sections['application']``."""
        self.stop()
        t0 = drill.record.t0_mono
        if t0 is None:
            raise RuntimeError("SyntheticClient.record() before fault(): no t0")
        m = measure(self.log.outcomes, t0, cadence_s=self.cadence, **slo).to_dict()
        drill.record.sections["application"] = m
        return m
