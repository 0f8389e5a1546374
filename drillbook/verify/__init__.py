"""``drillbook verify``: prove that a team's newest *real* backup restores.

Drills restore a backup the drill itself took a minute earlier. Verification restores
the backup the team's own backup job wrote last night, from where it keeps it
(``[services.NAME.source]`` in drills.toml: an S3 prefix or key, a file or folder),
into a throwaway local server, then checks it the way a drill does and measures what a
real restore would cost: download, restore and validation time at the real size,
backup age against the RPO target, bytes and throughput.

This package is the engine side and stays pure (no service I/O):

- :mod:`.source`: the ``[services.NAME.source]`` grammar and its validation;
- :mod:`.formats`: reading what a backup says about itself (dump headers, RDB aux
  fields, ``backup_label``) from bytes;
- :mod:`.classify`: a restore tool's stderr and exit status turned into findings;
- :mod:`.reference`: the structure reference (one line per catalog object) and its diff;
- :mod:`.drift`: volume drift and duration trends against the last good run;
- :mod:`.model`: the result of one verification and its verdict;
- :mod:`.report`, :mod:`.metrics`, :mod:`.outputs`: report data, HTML, Prometheus
  textfile, history rows.

The service I/O (reading the source, restoring, querying the restored server) lives in
``drillbook.scenarios.verify``.
"""
