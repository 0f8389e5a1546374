"""The ``pg`` fixture's view must reach every operation of the server behind it.

``PostgresView`` delegates through ``__getattr__``, which Python consults only for names
the view's own classes lack: a method a server class overrides but the base
``PostgresHandle`` also defines would silently run the base version on a view (that is
how ``adopt_data_dir`` on a view did nothing). This test lists such names.
"""

from __future__ import annotations

from drillbook.fixtures.external.handles import ExternalPostgres
from drillbook.fixtures.local import LocalPostgres
from drillbook.fixtures.postgres import PostgresHandle, PostgresView
from drillbook.fixtures.recipes.postgres import PostgresServer


def shadowed(server_class: type) -> list[str]:
    """Public names *server_class* defines itself that a view would answer from a base."""
    bases = PostgresView.__mro__[1:]
    own_view = vars(PostgresView)
    names = []
    for name in dir(server_class):
        if name.startswith("_") or name in own_view:
            continue
        owner = next(c for c in server_class.__mro__ if name in vars(c))
        if owner in bases or not callable(getattr(server_class, name)):
            continue
        if any(name in vars(b) for b in bases):
            names.append(name)
    return names


def test_every_server_override_reaches_the_server_through_a_view() -> None:
    classes = [PostgresServer, LocalPostgres, ExternalPostgres]  # docker: PostgresServer
    assert all(issubclass(c, PostgresHandle) for c in classes)
    found = {c.__name__: shadowed(c) for c in classes}
    assert found == {c.__name__: [] for c in classes}, found


def test_the_check_finds_a_shadowed_override() -> None:
    class Broken(PostgresHandle):
        def tool(self, name: str) -> str:  # PostgresView delegates this one: not listed
            return name

        def adopt_data_dir(self) -> None:  # delegated too since the fix
            pass

        def is_healthy(self) -> bool:  # defined on a base, not delegated: listed
            return True

    assert "is_healthy" in shadowed(Broken)
    assert "tool" not in shadowed(Broken)
