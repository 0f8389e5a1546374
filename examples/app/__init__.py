"""The reference application: the shape the runbooks describe (runbooks/full-system.md).

Auth with sessions in Redis, projects in PostgreSQL, media in S3, served by waitress
(a pure-Python WSGI server) as its own process::

    DATABASE_URL=postgresql://... REDIS_URL=redis://... AWS_ENDPOINT_URL=http://...
    AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... MEDIA_BUCKET=media PORT=8080 \\
        python -m drillbook.examples.app            # serve
    python -m drillbook.examples.app migrate        # create its tables

It is configured by the environment alone, like a twelve-factor service: a failover
re-points it by restarting it with another environment (the DNS/config switch).
``GET /health`` checks all three stores; the user journeys are log in, create a
project and read it back, upload a media object and read it back.
"""
