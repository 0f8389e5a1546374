# drillbook's pytest plugin is loaded by its pytest11 entry point (drillbook.pytest_plugin):
# this project's conftest needs nothing of its own, like a team repository's.
