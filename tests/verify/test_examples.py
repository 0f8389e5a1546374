"""The shipped CI examples: valid YAML that runs ``drillbook verify``, read-only
credentials, a drills.toml whose sources the loader accepts."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from drillbook.targets import load_targets
from drillbook.verify.source import sources_from_file

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"


def test_ci_jobs_run_verify_and_keep_the_report() -> None:
    for name in ("github-verify.yml", "gitlab-verify.yml"):
        text = (CI / name).read_text()
        yaml.safe_load(text)
        assert "drillbook verify" in text and "reports/out/verify/" in text
        assert "backup-verify-readonly" in text  # a read-only role, no stored key
        assert "AWS_SECRET_ACCESS_KEY:" not in text


def test_policy_reads_only() -> None:
    policy = json.loads((CI / "readonly-policy.json").read_text())
    actions = {a for st in policy["Statement"] for a in st["Action"]}
    assert actions == {"s3:ListBucket", "s3:GetObject"}


def test_example_targets_and_sources_load() -> None:
    targets = load_targets(CI / "drills.toml")
    sources = sources_from_file(CI / "drills.toml")
    assert set(sources) == set(targets.services)
    assert sources["media"].manifest and sources["sessions"].path
