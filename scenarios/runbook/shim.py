"""The service-control commands of a runbook, on a drill's PATH (run as a script).

    shim.py systemctl start redis
    shim.py docker compose restart redis
    shim.py redis-cli SHUTDOWN NOSAVE

``systemctl``, ``service``, ``docker``/``docker-compose`` and ``pg_ctl`` are sent to the
drill process over the Unix socket in ``$DRILLBOOK_RUNBOOK_SOCKET``, which runs them on
the drill's handles (:mod:`.control`). ``redis-cli`` is the real one (found on the PATH
without the shims) pointed at the drill's Redis (``$REDIS_HOST``/``$REDIS_PORT``, the
password in ``$REDISCLI_AUTH``), except ``SHUTDOWN``, which is the handle's stop; with no
redis-cli installed, one command is sent through redis-py and printed the way redis-cli
prints to a pipe.

Standard library only at start-up: every call costs one interpreter start.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys

_REDIS_VALUE_OPTS = frozenset({"-h", "-p", "-s", "-a", "-u", "-n", "-r", "-i", "-d", "-D"})
_REDIS_VALUE_OPTS |= frozenset({"--user", "--pass", "--tls-cert"})


def ask(tool: str, argv: list[str]) -> int:
    """Send one request to the drill; print its message; its exit status is ours."""
    path = os.environ.get("DRILLBOOK_RUNBOOK_SOCKET")
    if not path:
        print(f"drillbook shim {tool}: DRILLBOOK_RUNBOOK_SOCKET is not set", file=sys.stderr)
        return 127
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(900)  # a PostgreSQL start in recovery can take long; the drill's
        sock.connect(path)  # deadline ends the whole step anyway
        sock.sendall((json.dumps({"tool": tool, "argv": argv}) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    reply = json.loads(data or b'{"exit": 1, "message": "drillbook shim: no reply"}')
    message = str(reply.get("message") or "")
    if message:
        stream = sys.stdout if reply.get("exit") == 0 else sys.stderr
        print(message, file=stream)
    return int(reply.get("exit", 1))


def _redis_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """(options, command words) of a redis-cli command line."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in _REDIS_VALUE_OPTS else 1
    return argv[:i], argv[i:]


def _real(name: str) -> str | None:
    path = os.environ.get("DRILLBOOK_RUNBOOK_PATH", "")
    for candidate in (name, "valkey-cli") if name == "redis-cli" else (name,):
        found = shutil.which(candidate, path=path)
        if found:
            return found
    return None


def redis_cli(argv: list[str]) -> int:
    options, words = _redis_command(argv)
    if "-h" not in options and "-u" not in options and os.environ.get("REDIS_HOST"):
        options = ["-h", os.environ["REDIS_HOST"], *options]
    if "-p" not in options and "-u" not in options and os.environ.get("REDIS_PORT"):
        options = ["-p", os.environ["REDIS_PORT"], *options]
    if words and words[0].lower() == "shutdown":
        port = options[options.index("-p") + 1] if "-p" in options else "6379"
        return ask("redis-shutdown", [port, *words[1:]])
    real = _real("redis-cli")
    if real:
        os.execv(real, [real, *options, *words])
    return _redis_py(options, words)


def _redis_py(options: list[str], words: list[str]) -> int:
    """One command through redis-py, printed like redis-cli to a pipe."""
    import redis

    host = options[options.index("-h") + 1] if "-h" in options else "127.0.0.1"
    port = int(options[options.index("-p") + 1]) if "-p" in options else 6379
    client = redis.Redis(host=host, port=port, password=os.environ.get("REDISCLI_AUTH"))
    client.response_callbacks.clear()
    try:
        reply = client.execute_command(*words)
    except redis.ResponseError as exc:
        print(f"(error) {exc}")
        return 1
    except redis.ConnectionError as exc:
        print(f"Could not connect to Redis at {host}:{port}: {exc}", file=sys.stderr)
        return 1
    _print_reply(reply)
    return 0


def _print_reply(reply: object) -> None:
    if isinstance(reply, list | tuple):
        for item in reply:
            _print_reply(item)
    elif isinstance(reply, bytes):
        print(reply.decode("utf-8", "replace"))
    elif reply is None:
        print("")
    else:
        print(reply)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    tool, args = argv[0], argv[1:]
    if tool == "redis-cli":
        return redis_cli(args)
    return ask(tool, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
