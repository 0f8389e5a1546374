"""Example code shipped with drillbook (installed as ``drillbook.examples``).

``examples/app`` is the reference application the full-system and region drills run
for real: the drills measure downtime the way its users feel it, not at a database
probe.
"""
