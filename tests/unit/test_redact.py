"""Redaction: no password or key reaches a record, log or report.

Secrets are masked by shape (URL passwords, ``password=`` DSNs, secret-named environment
assignments and flags) and by value (the registry the handles fill). Every test here runs
with a private registry, so the random secrets hypothesis registers never leak into other
tests' redaction.
"""

from __future__ import annotations

import contextlib
import string
from collections.abc import Iterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import drillbook.redact as redact_module
from drillbook.drill import Drill
from drillbook.record import DrillRecord
from drillbook.redact import (
    MASK,
    Scrubber,
    known_secrets,
    redact,
    redact_url,
    register_secret,
)


@contextlib.contextmanager
def private_registry() -> Iterator[set[str]]:
    saved = redact_module._known
    redact_module._known = set()
    try:
        yield redact_module._known
    finally:
        redact_module._known = saved


@pytest.fixture(autouse=True)
def _isolated_registry() -> Iterator[None]:
    with private_registry():
        yield


# -- by shape ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "postgresql://drill:s3cr3t-pw@127.0.0.1:5432/app",
            "postgresql://drill:***@127.0.0.1:5432/app",
        ),
        ("redis://:hunter2hunter2@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("s3://AKIAXXXX:wJalrXUtnFEMI/K7MDENG@host:9000", "s3://AKIAXXXX:***@host:9000"),
        (
            "connect to postgresql://u:p4ss@h/db failed, retrying",
            "connect to postgresql://u:***@h/db failed, retrying",
        ),
        # No password: nothing to hide, the user name stays for context.
        ("postgresql://drill@127.0.0.1:5432/app", "postgresql://drill@127.0.0.1:5432/app"),
        ("http://127.0.0.1:9000/bucket/key", "http://127.0.0.1:9000/bucket/key"),
    ],
)
def test_url_passwords(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("host=h port=5 password=s3cr3t user=u", "host=h port=5 password=*** user=u"),
        ("host=h password='with spaces' user=u", "host=h password=*** user=u"),
        ("host=h PASSWORD = s3cr3t", "host=h PASSWORD = ***"),
        ("password=s3cr3t", "password=***"),
    ],
)
def test_dsn_passwords(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PGPASSWORD=s3cr3t pg_dump -Fc app", "PGPASSWORD=*** pg_dump -Fc app"),
        ("AWS_SECRET_ACCESS_KEY=wJalr/K7MDENG aws s3 ls", "AWS_SECRET_ACCESS_KEY=*** aws s3 ls"),
        ("REDIS_PASSWORD: hunter2", "REDIS_PASSWORD: ***"),
        ("export GITHUB_TOKEN=ghp_abc123", "export GITHUB_TOKEN=***"),
        ("DB_PASSWD=x1y2", "DB_PASSWD=***"),
        ("redis-cli --password hunter2 ping", "redis-cli --password *** ping"),
        ("tool --token=abc123 --secret xyz", "tool --token=*** --secret ***"),
    ],
)
def test_secret_assignments_and_flags(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        'export PGPASSWORD="s3cr3t-value"',
        "PGPASSWORD='s3cr3t-value' pg_dump -Fc app",
        'AWS_SECRET_ACCESS_KEY = "s3cr3t-value"',
        "password='s3cr3t-value'",
        'password="s3cr3t-value"',
        '--password "s3cr3t-value"',
    ],
)
def test_quoted_secret_values(text: str) -> None:
    """Shell scripts and env files quote their values: the quotes must not hide them."""
    out = redact(text)
    assert "s3cr3t-value" not in out
    assert MASK in out


@pytest.mark.parametrize(
    "text",
    [
        "PGHOST=127.0.0.1 PGPORT=5432 PGUSER=drill pg_dump -Fc app",
        "AWS_ACCESS_KEY_ID=AKIAXXXX",  # the key id is not a secret
        "SELECT count(*) FROM drill_ledger WHERE seq > 10",
        "",
    ],
)
def test_harmless_text_is_unchanged(text: str) -> None:
    assert redact(text) == text


# -- by value -----------------------------------------------------------------------------------


def test_registered_secrets_are_masked_everywhere() -> None:
    register_secret("Zq9-tok3n_value")
    text = "pw Zq9-tok3n_value in a log; again:Zq9-tok3n_value!"
    assert redact(text) == f"pw {MASK} in a log; again:{MASK}!"


def test_register_ignores_only_empty_values() -> None:
    register_secret(None, "", "x", "abc", "abcd")
    assert known_secrets() == ["abcd", "abc", "x"]
    assert redact("abc abcd") == f"abc {MASK}"  # a short one is no word of prose...
    assert redact("password: abc") == f"password: {MASK}"  # ...but masked in its place


def test_known_secrets_are_masked_longest_first() -> None:
    register_secret("secret", "secret-and-more")
    assert known_secrets() == ["secret-and-more", "secret"]
    # The longer one goes in one piece: no "***-and-more" left behind.
    assert redact("x secret-and-more y secret") == f"x {MASK} y {MASK}"


def test_extra_secrets_for_one_call() -> None:
    assert redact("token abcdef", extra=["abcdef", ""]) == f"token {MASK}"
    assert known_secrets() == []


def test_redact_url_keeps_the_user() -> None:
    assert redact_url("postgresql://drill:pw12@h:5/db") == "postgresql://drill:***@h:5/db"
    assert redact_url("redis://h:6379/0") == "redis://h:6379/0"
    register_secret("hostsecret")
    assert redact_url("redis://hostsecret:6379/0") == f"redis://{MASK}:6379/0"


# -- what a drill records ---------------------------------------------------------------------


def test_commands_output_and_checks_recorded_by_a_drill_are_redacted() -> None:
    secret = "Pw-0f-the-drill-server"
    register_secret(secret)
    drill = Drill(DrillRecord("d", "d"))
    try:
        with drill.step("dump") as s:
            s.run(["sh", "-c", f"echo connecting with {secret}; echo PGPASSWORD={secret} >&2"])
            s.call(f"boto3 put_object with key {secret}", lambda: secret)
        drill.check("no leak", True, detail=f"password={secret}")
        with pytest.raises(RuntimeError), drill.step("fail"):
            raise RuntimeError(f"login failed for postgresql://u:{secret}@h/db")
    finally:
        drill.close()
    dumped = drill.record.to_json()
    assert secret not in dumped
    run_cmd, api_cmd = drill.record.steps[0].commands
    assert run_cmd.text.endswith(f"echo PGPASSWORD={MASK} >&2")
    assert f"connecting with {MASK}" in run_cmd.output_tail
    assert api_cmd.text == f"boto3 put_object with key {MASK}"
    assert api_cmd.output_tail == repr(MASK)
    assert drill.record.checks[0].detail == f"password={MASK}"
    assert (
        drill.record.steps[1].error == f"RuntimeError: login failed for postgresql://u:{MASK}@h/db"
    )


# -- properties -------------------------------------------------------------------------------

TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_"  # secrets.token_urlsafe
token_secrets = st.text(alphabet=TOKEN_ALPHABET, min_size=4, max_size=40)
any_secrets = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=4, max_size=20
)
surrounding = st.text(max_size=40)


def _assert_never_left(secret: str, parts: list[str]) -> None:
    text = secret.join(parts)
    with private_registry():
        register_secret(secret)
        out = redact(text)
    assert secret not in out, f"{secret!r} survived in {out!r}"


@settings(max_examples=300, deadline=None)
@given(token_secrets, st.lists(surrounding, min_size=2, max_size=4))
def test_a_registered_token_never_survives(secret: str, parts: list[str]) -> None:
    _assert_never_left(secret, parts)


@settings(max_examples=300, deadline=None)
@given(any_secrets, st.lists(surrounding, min_size=2, max_size=4))
# The mask itself can complete a secret that contains it: "x" + "x***" -> "x" + "***".
@example(secret="x***", parts=["x", ""])
def test_any_registered_secret_never_survives(secret: str, parts: list[str]) -> None:
    """Whatever its characters (a password may contain '*', ':' or '@')."""
    _assert_never_left(secret, parts)


@settings(max_examples=200, deadline=None)
@given(token_secrets, surrounding, surrounding)
def test_a_url_password_never_survives_even_unregistered(
    secret: str, before: str, after: str
) -> None:
    text = f"{before} postgresql://drill:{secret}@127.0.0.1:5432/app {after}"
    out = redact(text)
    assert f"drill:{secret}@" not in out
    assert MASK in out


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.ascii_lowercase + string.digits + " .,;()\n", max_size=80))
def test_text_without_secret_shapes_is_left_alone(text: str) -> None:
    assert redact(text) == text


# -- short secrets (issue 12: a short password is still a password) --------------------------

SHORT = ["a", "ab", "7", "p:!", "x*"]


@pytest.mark.parametrize("secret", SHORT)
@pytest.mark.parametrize(
    "template",
    [
        "{s}",
        "  {s}\n",
        "password: {s}",
        'config {{"password": "{s}", "user": "u"}}',
        "requirepass {s}",
        "CONFIG SET masterauth {s}",
        "AUTH {s}",
        "redis-cli -a {s} ping",
        "redis-cli -a '{s}' ping",
        "tool --password {s}",
        "tool --token={s}",
        "REDIS_PASS={s} redis-cli ping",
        "api_key = '{s}'",
        "postgresql://drill:{s}@127.0.0.1:5432/app",
        "redis://:{s}@127.0.0.1:6379/0",
    ],
)
def test_a_short_secret_is_masked_in_every_secret_place(secret: str, template: str) -> None:
    register_secret(secret)
    out = redact(template.format(s=secret))
    assert MASK in out
    assert out == template.format(s=MASK), out


@pytest.mark.parametrize(
    ("secret", "text"),
    [
        ("a", "a drill is a test: a crash, a restore"),
        ("1", "1 passed, 10 failed, 1 not run in 1.5 s"),
        ("ab", "abandon tabs; grab lab"),
        ("7", "pg_restore -j7 --port 5437"),
        ("on", "archive_mode = on"),
        ("pw", "pwd"),  # a longer token that merely starts with the secret
        ("ab", "password: abc"),  # another password that starts with it
    ],
)
def test_a_short_secret_leaves_prose_and_numbers_alone(secret: str, text: str) -> None:
    """Masking every "a" would shred the report and point at the secret."""
    register_secret(secret)
    assert redact(text) == text


def test_short_and_long_secrets_together() -> None:
    register_secret("ab", "long-secret-1")
    text = "AUTH ab; then long-secret-1 and a lab"
    assert redact(text) == f"AUTH {MASK}; then {MASK} and a lab"


def test_the_scrubber_masks_short_secrets_of_the_environment_in_their_places() -> None:
    """Under xdist the controller knows only the environment: PGPASSWORD=ab counts too."""
    scrub = Scrubber(environ={"PGPASSWORD": "ab", "FEATURE_TOKEN": "true", "HOME": "/root"})
    assert "ab" in scrub.secrets and "true" not in scrub.secrets
    data = scrub.data({"note": "ab", "cmd": "psql -c 'select 1' # password: ab", "x": "tab"})
    assert data == {"note": MASK, "cmd": f"psql -c 'select 1' # password: {MASK}", "x": "tab"}
    page = scrub.final("<td>requirepass ab</td><td>&quot;password&quot;: &quot;ab&quot;</td>")
    assert page == f"<td>requirepass {MASK}</td><td>&quot;password&quot;: &quot;{MASK}&quot;</td>"
    assert scrub.final("<td>lab ab cab</td>") == "<td>lab ab cab</td>"


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=TOKEN_ALPHABET, min_size=1, max_size=3),
    st.sampled_from(
        ["password: {s}", "AUTH {s}", "-a {s} ", "x://u:{s}@h", "{s}", '"token": "{s}"']
    ),
    surrounding,
    surrounding,
)
def test_a_short_secret_in_a_secret_place_never_survives(
    secret: str, template: str, before: str, after: str
) -> None:
    register_secret(secret)
    place = template.format(s=secret)
    if template != "{s}":  # the whole-value rule only holds for the whole value
        place = f"{before} {place} {after}"
    out = redact(place)
    assert template.format(s=secret).strip() not in out, out


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=3))
def test_a_short_secret_never_changes_text_without_secret_places(secret: str) -> None:
    register_secret(secret)
    text = f"the {secret}x drill {secret}{secret}z restored {secret}-ish data"
    assert redact(text) == text


@pytest.mark.parametrize(
    "text",
    ["passed: 1", "bypass: 1", "author: 1", "authority=1", "compass = 1", "the pass: 1x"],
)
def test_a_short_secret_after_a_key_that_only_looks_like_a_secret_stays(text: str) -> None:
    register_secret("1")
    assert redact(text) == text


@pytest.mark.parametrize(
    "text", ["pgpassword: 1", "REDIS_PASS=1", "db-auth: 1", "pwd=1", "x_api_key: '1'"]
)
def test_a_short_secret_after_a_secret_key_is_masked(text: str) -> None:
    register_secret("1")
    assert redact(text) == text.replace("1", MASK)
