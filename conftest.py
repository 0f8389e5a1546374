pytest_plugins = [
    "drillbook.plugin",
    "fixtures.backend",
    "fixtures.postgres",
    "fixtures.redis",
    "fixtures.s3",
    "reports.plugin",
]
