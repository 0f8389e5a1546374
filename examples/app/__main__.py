"""``python -m drillbook.examples.app [serve|migrate]``: serve with waitress, or create
the tables. A SIGTERM stops the server at once (waitress closes its sockets)."""

from __future__ import annotations

import signal
import sys
from typing import Any


def main(argv: list[str]) -> int:
    from drillbook.examples.app.config import ConfigError, Settings

    command = argv[0] if argv else "serve"
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"reference app: {exc}", file=sys.stderr)
        return 2
    if command == "migrate":
        from drillbook.examples.app.schema import migrate

        migrate(settings.database_url)
        return 0
    if command != "serve":
        print(f"usage: python -m drillbook.examples.app [serve|migrate], not {command!r}")
        return 2
    import waitress

    from drillbook.examples.app.wsgi import App

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"reference app ({settings.region_name}) on {settings.host}:{settings.port}", flush=True)
    waitress.serve(
        App(settings),
        host=settings.host,
        port=settings.port,
        threads=6,
        channel_timeout=10,
        ident="drillbook-reference-app",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
