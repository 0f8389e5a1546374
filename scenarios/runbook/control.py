"""Service control a runbook writes (``systemctl start redis``), done on the drill's handles.

The shims on the runbook's PATH (:mod:`.shim`) send each ``systemctl``, ``service``,
``docker compose``, ``pg_ctl`` and ``redis-cli SHUTDOWN`` to this process over a Unix
socket in the run directory; :class:`Controller` maps the unit name to a role
(drills.toml ``[runbooks.services]``) and calls the handle: ``systemctl start redis`` is
the drill Redis' ``start()``, on any backend. Each operation is recorded as a command of
the step running it (the request is served in that step's context).

Starting PostgreSQL first makes the data directory the server's (the runbook restored
files into it as root); starting Redis applies what the runbook changed in its
``redis.conf`` (``appendonly no`` to load a snapshot), as a real restart would.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drillbook import trace
from drillbook.errors import DrillNotRun
from drillbook.fixtures.base import Capability
from drillbook.redact import redact
from drillbook.runbook.mapping import RunbookMapping
from drillbook.scenarios.runbook.binding import Binding, parse_redis_config

NOT_MAPPED = 127  # what bash answers for a command it cannot find: COMMAND_NOT_FOUND
_ACTIONS = {
    "start": "start",
    "up": "start",
    "stop": "stop",
    "down": "stop",
    "kill": "stop",
    "restart": "restart",
    "reload": "reload",
    "status": "status",
    "is-active": "status",
    "ps": "status",
    "promote": "promote",
    "logs": "logs",
}
_COMPOSE_VALUE_OPTS = frozenset({"-f", "--file", "-p", "--project-name", "-t", "--timeout"})
_PG_CTL_VALUE_OPTS = frozenset({"-D", "-m", "-t", "-l", "-o", "-p", "-e", "-N", "-U", "-P"})


class Controller:
    """Turns one shim request into an operation on a drill handle: (exit, message)."""

    def __init__(self, binding: Binding, mapping: RunbookMapping) -> None:
        self.binding = binding
        self.mapping = mapping
        self.not_run: DrillNotRun | None = None  # raised again in the drill's thread

    def handle(self, tool: str, argv: list[str]) -> tuple[int, str]:
        try:
            return self._dispatch(tool, argv)
        except DrillNotRun as exc:
            self.not_run = exc
            return 1, f"drillbook: {tool}: NOT RUN: {exc.reason}"

    def _dispatch(self, tool: str, argv: list[str]) -> tuple[int, str]:
        if tool == "systemctl":
            words = [a for a in argv if not a.startswith("-")]
            if words[:1] == ["daemon-reload"]:
                return 0, "drillbook: daemon-reload: nothing to reload (no systemd in a drill)"
            return self._units(tool, words[:1], words[1:])
        if tool == "service":
            return self._units(tool, argv[1:2], argv[:1])
        if tool in ("docker", "docker-compose"):
            return self._compose(tool, argv)
        if tool == "pg_ctl":
            return self._pg_ctl(argv)
        if tool == "redis-shutdown":
            return self._redis_shutdown(argv)
        return NOT_MAPPED, f"drillbook: {tool} is not a service-control shim"

    # -- front ends --------------------------------------------------------------------
    def _compose(self, tool: str, argv: list[str]) -> tuple[int, str]:
        args = list(argv)
        if tool == "docker":
            if args[:1] != ["compose"]:
                return NOT_MAPPED, (
                    f"drillbook: `docker {' '.join(args[:1])}` is not mapped onto the drill's "
                    "servers (docker compose start|stop|restart|up|down|ps|logs NAME is)"
                )
            args = args[1:]
        words: list[str] = []
        i = 0
        while i < len(args):
            if args[i] in _COMPOSE_VALUE_OPTS:
                i += 2
                continue
            if not args[i].startswith("-"):
                words.append(args[i])
            i += 1
        names = words[1:] or [r for r, h in self.binding.handles.items() if h.kind != "s3"]
        return self._units("docker compose" if tool == "docker" else tool, words[:1], names)

    def _pg_ctl(self, argv: list[str]) -> tuple[int, str]:
        data_dir = None
        words: list[str] = []
        i = 0
        while i < len(argv):
            if argv[i] in _PG_CTL_VALUE_OPTS:
                if argv[i] == "-D" and i + 1 < len(argv):
                    data_dir = argv[i + 1]
                i += 2
                continue
            if not argv[i].startswith("-"):
                words.append(argv[i])
            i += 1
        roles = [r for r, h in self.binding.handles.items() if h.kind == "postgres"]
        if data_dir is not None:
            roles = [r for r in roles if self._data_dir(r) == str(Path(data_dir).resolve())]
            if not roles:
                return NOT_MAPPED, f"drillbook: pg_ctl -D {data_dir}: no drill server there"
        return self._units("pg_ctl", words[:1], roles[:1])

    def _redis_shutdown(self, argv: list[str]) -> tuple[int, str]:
        port, *rest = argv
        roles = [
            r
            for r, h in self.binding.handles.items()
            if h.kind == "redis" and str(getattr(h, "port", "")) == port
        ]
        if not roles:
            return NOT_MAPPED, f"drillbook: redis-cli SHUTDOWN: no drill Redis on port {port}"
        save = any(w.lower() == "save" for w in rest)
        handle = self.binding.handles[roles[0]]
        with trace.span("shim", f"redis-cli SHUTDOWN {' '.join(rest)} -> {handle.name}.stop()"):
            handle.stop(save=save) if save else handle.stop()
        return 0, ""

    def _data_dir(self, role: str) -> str | None:
        handle = self.binding.handles[role]
        if not handle.supports(Capability.DATA_DIR):
            return None
        return str(Path(handle.data_dir).resolve())

    # -- units -------------------------------------------------------------------------
    def _units(self, tool: str, action: list[str], names: list[str]) -> tuple[int, str]:
        if not action or action[0] not in _ACTIONS:
            known = ", ".join(sorted(_ACTIONS))
            return NOT_MAPPED, f"drillbook: {tool} {' '.join(action)}: not mapped ({known})"
        if not names:
            return 2, f"drillbook: {tool} {action[0]}: which service?"
        out: list[str] = []
        code = 0
        for name in names:
            role = self._role(name)
            if role is None:
                bound = ", ".join(sorted(self.binding.handles)) or "none"
                return NOT_MAPPED, (
                    f"drillbook: {tool}: {name!r} is not one of this drill's services "
                    f"(roles bound: {bound}); map it in drills.toml [runbooks.services] or "
                    "mark the command manual in [runbooks.commands]"
                )
            status, text = self._op(tool, _ACTIONS[action[0]], name, role)
            code = code or status
            out.append(text)
        return code, "\n".join(t for t in out if t)

    def _role(self, name: str) -> str | None:
        if name in self.binding.handles:
            return name
        role = self.mapping.role(name)
        if role is None:
            return None
        if role in self.binding.handles:
            return role
        return self.binding.role_of_kind(role)

    def _op(self, tool: str, action: str, name: str, role: str) -> tuple[int, str]:
        # A database view (PostgresView) is one database of a server: the server itself
        # is what starts and stops.
        handle = getattr(self.binding.handles[role], "server", self.binding.handles[role])
        if action == "status":
            try:
                handle.probe()
            except Exception as exc:
                return 3, f"{name}: inactive ({type(exc).__name__})"
            return 0, f"{name}: active (running)"
        if action == "logs":
            return 0, handle.log_tail(200)
        try:
            with trace.span("shim", f"{tool} {action} {name} -> {handle.name}.{action}()"):
                getattr(self, f"_{action}")(role, handle)
        except DrillNotRun:
            raise
        except Exception as exc:
            return 1, redact(f"drillbook: {tool} {action} {name} failed: {exc}")
        return 0, ""

    def _start(self, role: str, handle: Any) -> None:
        if handle.kind == "postgres" and handle.supports(Capability.DATA_DIR):
            handle.adopt_data_dir()
        changes = self._config_changes(role, handle)
        if changes:
            handle.restart(**changes)
        else:
            handle.start()

    def _stop(self, role: str, handle: Any) -> None:
        handle.stop()

    def _restart(self, role: str, handle: Any) -> None:
        handle.stop()
        self._start(role, handle)

    def _reload(self, role: str, handle: Any) -> None:
        if handle.kind != "postgres":
            raise RuntimeError(f"reload of a {handle.kind} server is not mapped: use restart")
        handle.execute("SELECT pg_reload_conf()")

    def _promote(self, role: str, handle: Any) -> None:
        handle.execute("SELECT pg_promote(true, 60)")

    def sync_configs(self) -> None:
        """What the runbook left in each redis.conf is what the next start uses, as a
        config file on a host would be (``CONFIG SET`` plus the edit, read later)."""
        for role in self.binding.configs:
            handle = self.binding.handles[role]
            changes = self._config_changes(role, handle)
            if changes and hasattr(handle, "remember_settings"):
                handle.remember_settings(**changes)

    def _config_changes(self, role: str, handle: Any) -> dict[str, str]:
        """What the runbook changed in the role's redis.conf since the server last read it."""
        path = self.binding.configs.get(role)
        if path is None or not path.exists():
            return {}
        wanted = parse_redis_config(path.read_text())
        current = {str(k).lower(): v for k, v in (getattr(handle, "settings", {}) or {}).items()}

        def text(v: Any) -> str:
            return ("yes" if v else "no") if isinstance(v, bool) else str(v)

        return {k: v for k, v in wanted.items() if k not in current or text(current[k]) != v}


class ControlServer:
    """A Unix socket served by one thread, one request at a time, in a step's context."""

    def __init__(self, path: Path, controller: Controller) -> None:
        self.path = path
        self.controller = controller
        self.context: contextvars.Context | None = None
        self._server: socketserver.UnixStreamServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ControlServer:
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 30

            def handle(self) -> None:
                request = json.loads(self.rfile.readline() or b"{}")
                code, message = owner.serve(str(request.get("tool")), list(request.get("argv", [])))
                reply = json.dumps({"exit": code, "message": message}) + "\n"
                self.wfile.write(reply.encode())

        self._server = socketserver.UnixStreamServer(str(self.path), Handler)
        self.path.chmod(0o600)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def serve(self, tool: str, argv: list[str]) -> tuple[int, str]:
        run: Callable[..., tuple[int, str]] = self.controller.handle
        try:
            if self.context is not None:
                return self.context.run(run, tool, argv)
            return run(tool, argv)
        except Exception as exc:  # a bug here must fail the command, not hang the shim
            return 1, redact(f"drillbook: {tool}: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
