"""A hypothesis fuzz of drills.toml, in-process through the loader and in a subprocess
through ``drillbook check`` (issue 12).

Every generated file knows what it is (:mod:`tests.unit.targets_strategies`): a valid
one must load with exactly the values written and make ``drillbook check`` exit 0; an
invalid one must give one short line naming what is wrong (file, and key or line),
never a traceback, and make ``drillbook check`` exit 1.

Profiles (``DRILLBOOK_FUZZ_PROFILE``): ``drills-toml-ci`` (the default: derandomized,
the same examples on every run, 600 valid + 600 invalid + 300 free-form files
in-process, 24 through the CLI) and ``drills-toml-deep`` (random, 20x as many).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from drillbook.targets import Targets, TargetsError, load_targets, parse_targets
from tests.unit.targets_strategies import Case, cases, invalid_cases, valid_cases

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
settings.register_profile(
    "drills-toml-ci",
    max_examples=600,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=_SLOW_OK,
)
settings.register_profile(
    "drills-toml-deep",
    settings.get_profile("drills-toml-ci"),
    max_examples=12_000,
    derandomize=False,
)
PROFILE = settings.get_profile(os.environ.get("DRILLBOOK_FUZZ_PROFILE", "drills-toml-ci"))
SCALE = PROFILE.max_examples / 600
CLI_EXAMPLES = round(24 * SCALE)
SOURCE = "drills.toml"


def load(case: Case, workdir: Path) -> Targets:
    """Through the file loader (bytes, size limits) or the text parser, as the case says."""
    if isinstance(case.content, bytes) or len(case.content) % 2:
        path = workdir / "drills.toml"
        path.write_bytes(case.content if isinstance(case.content, bytes) else case.content.encode())
        return load_targets(path)
    return parse_targets(case.content, SOURCE)


def assert_loads_as_written(targets: Targets, case: Case) -> None:
    assert case.services is not None
    assert list(targets.services) == list(case.services)
    for name, exp in case.services.items():
        svc = targets.get(name)
        assert (svc.kind, svc.rto_clock) == (exp.kind, exp.rto_clock), name
        assert svc.rto == pytest.approx(exp.rto, rel=1e-12), name
        assert svc.rpo == exp.rpo, name
        assert svc.rpo_bound == exp.bound, name
        assert svc.bound_meets_target() in (True, None), name
        assert svc.production_size == exp.size, name
        for key in ("tier", "description", "runbook"):
            assert getattr(svc, key) == exp.text.get(key), (name, key)
    json.dumps(targets.to_dict(), allow_nan=False)


def assert_one_line_error(err: TargetsError, case: Case) -> None:
    message = str(err)
    assert message.splitlines() == [message], repr(message[:300])
    assert len(message) < 700, message[:300]
    assert message.startswith(("drills.toml", str(Path(tempfile.gettempdir())))), message
    assert case.needle is not None and case.needle in message, (case.kind, message)


@pytest.fixture(scope="module")
def workdir() -> object:
    with tempfile.TemporaryDirectory(prefix="drills-toml-fuzz-") as tmp:
        yield Path(tmp)


@settings(PROFILE)
@given(valid_cases())
def test_every_valid_file_loads_with_the_values_written(workdir: Path, case: Case) -> None:
    event(f"services: {len(case.services or {})}")
    assert_loads_as_written(load(case, workdir), case)


@settings(PROFILE)
@given(invalid_cases())
def test_every_invalid_file_is_one_line_naming_what_is_wrong(workdir: Path, case: Case) -> None:
    event(case.kind)
    with pytest.raises(TargetsError) as info:
        load(case, workdir)
    assert_one_line_error(info.value, case)


@settings(PROFILE, max_examples=max(1, PROFILE.max_examples // 2))
@given(st.one_of(st.text(max_size=400), st.binary(max_size=400)))
def test_any_bytes_are_targets_or_one_line(workdir: Path, content: str | bytes) -> None:
    """Free-form input: no oracle for validity, but never anything but these two."""
    path = workdir / "free.toml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "replace"))
    try:
        targets = load_targets(path)
    except TargetsError as err:
        assert str(err).splitlines() == [str(err)] and str(err).startswith(str(path))
    else:
        assert targets.services


# -- through the CLI, in a subprocess ---------------------------------------------------------


def drillbook_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drillbook.cli", "check", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )


@settings(PROFILE, max_examples=CLI_EXAMPLES)
@given(cases())
def test_drillbook_check_exits_0_for_valid_files_and_1_in_one_line_for_invalid(
    workdir: Path, case: Case
) -> None:
    event("valid" if case.valid else "invalid")
    path = workdir / "cli.toml"
    path.write_bytes(case.content if isinstance(case.content, bytes) else case.content.encode())
    proc = drillbook_check(path)
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output[-2000:]
    assert proc.stderr == "", proc.stderr[-2000:]
    if case.valid:
        assert proc.returncode == 0, output[:2000]
        assert case.services is not None
        assert len(proc.stdout.splitlines()) == len(case.services) + 3
    else:
        assert proc.returncode == 1, output[:2000]
        lines = proc.stdout.splitlines()
        assert len(lines) <= 3 and lines[0].startswith(str(path)), output[:2000]
        assert case.needle is not None and case.needle in lines[0], (case.kind, lines)


def test_the_default_profile_runs_at_least_a_thousand_examples_in_process() -> None:
    if os.environ.get("DRILLBOOK_FUZZ_PROFILE"):
        pytest.skip("another profile chosen")
    assert PROFILE.derandomize and PROFILE.max_examples * 2 + PROFILE.max_examples // 2 >= 1000
