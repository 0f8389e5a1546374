"""Runbook as code: a team's Markdown runbook, read as the procedure a drill runs.

- :mod:`drillbook.runbook.parser` reads Markdown (markdown-it-py) into
  :mod:`drillbook.runbook.model` (sections, steps, budgets, fenced commands, prose);
- :mod:`drillbook.runbook.shell` tells what a shell block calls (tools, variables, URLs);
- :mod:`drillbook.runbook.mapping` reads drills.toml's ``[runbooks]`` table: how the
  runbook's names (``systemctl start redis``, ``/var/lib/redis``) map onto a drill's;
- :mod:`drillbook.runbook.check` is ``drillbook runbook check``.

Pure: no service I/O. The executor that runs a runbook against a drill's servers is
``drillbook.scenarios.runbook`` (``drill.runbook(path, section=..., service=...)``).
"""
