"""The pytest plugin, loaded by the ``pytest11`` entry point ``drillbook``.

``pip install drillbook`` is all a team's repository needs: pytest finds this module
through the entry point, and it pulls in the engine's hooks, the backends, the service
fixtures and the report writers. Disable it with ``-p no:drillbook``.
"""

pytest_plugins = [
    "drillbook.plugin",
    "drillbook.plugin_verdicts",
    "drillbook.plugin_terminal",
    "drillbook.plugin_collect",
    "drillbook.fixtures.backend",
    "drillbook.fixtures.services",
    "drillbook.fixtures.versions",
    "drillbook.fixtures.app",
    "drillbook.reports.plugin",
    "drillbook.verify.plugin",
]
