"""Service I/O of ``drillbook verify``: read a team's real backups, restore, inspect.

- :mod:`.reader`: the READ-ONLY source (S3 and files): get, head, list, nothing else;
- :mod:`.locate`: which backup is the newest, and its local copy (digest, size, age);
- :mod:`.sandbox`: local servers to restore into (the one place that starts them);
- :mod:`.pgdump`: PostgreSQL dumps (custom, directory, tar, plain, compressed);
- :mod:`.basebackup`: pg_basebackup tar archives with their WAL;
- :mod:`.catalog`: the restored catalog: structure reference lines, row counts;
- :mod:`.rdb`: Redis RDB files; :mod:`.inventory`: an S3 bucket against its manifest;
- :mod:`.run`: one verification, step by step, into a drill record.

The pure side (grammar, findings, report data) is ``drillbook.verify``.
"""
