"""Secrets: set on the server, given to the jobs that list them, masked everywhere."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path

from conftest import LIGHTCI, Server, lightci, run

from lightci.secrets import SecretMask

SECRET = "s3cr3t-Value_for-CI"


def secret_forms(value: str) -> list[bytes]:
    raw = value.encode()
    forms = [raw]
    for data in (raw, raw + b"\n"):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            forms.append(encode(data))
            forms.append(encode(data).rstrip(b"="))
    return forms


def all_objects(git_dir: Path) -> bytes:
    return subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"],
        cwd=git_dir,
        capture_output=True,
        check=True,
    ).stdout


def test_secret_masked_in_logs_and_objects(server: Server, tmp_path: Path) -> None:
    lightci(server.git_dir, "secrets", "set", "DEPLOY_TOKEN", input=SECRET + "\n")
    secrets_file = server.git_dir / "lightci-secrets"
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    seen = tmp_path / "seen"
    server.commit(
        {
            ".lightci.yml": f"""\
                jobs:
                  deploy:
                    secrets: [DEPLOY_TOKEN]
                    steps:
                      - name: use it
                        run: |
                          printf '%s' "$DEPLOY_TOKEN" > {seen}
                          echo "plain: $DEPLOY_TOKEN"
                          printf 'no newline: %s' "$DEPLOY_TOKEN"
                          echo
                          echo "$DEPLOY_TOKEN" | base64
                          printf '%s' "$DEPLOY_TOKEN" | base64
                          printf '%s' "$DEPLOY_TOKEN" | base64 | tr '+/' '-_' | tr -d =
                          # one byte at a time, so the value spans many writes
                          printf '%s\\n' "$DEPLOY_TOKEN" | while IFS= read -r -n1 c; do
                            printf '%s' "$c"; sleep 0.01
                          done
                          echo
                          echo done
                  other:
                    steps:
                      - run: echo "other sees [${{DEPLOY_TOKEN:-}}]"
                """
        }
    )
    server.push()
    server.wait_idle()

    assert seen.read_text() == SECRET
    record = json.loads(server.lightci("show", "1", "--json").stdout)
    assert record["status"] == "passed"
    logs = subprocess.run(
        [*LIGHTCI, "logs", "1", "--raw"],
        cwd=server.git_dir,
        capture_output=True,
        check=True,
    ).stdout
    assert b"plain: ***" in logs
    assert b"done" in logs
    assert b"other sees []" in logs
    for form in secret_forms(SECRET):
        assert form not in logs, form
    objects = all_objects(server.git_dir)
    assert b"plain: ***" in objects
    for form in secret_forms(SECRET):
        assert form not in objects, form


def test_secrets_cli_lists_names_only(server: Server) -> None:
    lightci(server.git_dir, "secrets", "set", "ALPHA", input="one")
    lightci(server.git_dir, "secrets", "set", "BETA", input="two\nlines\n")

    listed = server.lightci("secrets", "list").stdout
    assert listed.splitlines() == ["ALPHA", "BETA"]
    assert "one" not in listed
    assert "two" not in listed
    server.lightci("secrets", "unset", "BETA")
    assert "BETA" not in server.lightci("secrets", "list").stdout
    missing = server.lightci("secrets", "unset", "BETA", check=False)
    assert missing.returncode == 1
    assert "no secret 'BETA'" in missing.stderr
    invalid = lightci(server.git_dir, "secrets", "set", "lower", input="x", check=False)
    assert invalid.returncode == 1
    assert "invalid secret name" in invalid.stderr


def test_multiline_secret_round_trips(server: Server, tmp_path: Path) -> None:
    value = "line one\nline \\two"
    lightci(server.git_dir, "secrets", "set", "KEY", input=value + "\n")
    seen = tmp_path / "seen"
    server.commit(
        {
            ".lightci.yml": f"""\
                jobs:
                  use:
                    secrets: [KEY]
                    steps: ['printf "%s" "$KEY" > {seen}; echo "$KEY"']
                """
        }
    )
    server.push()
    server.wait_idle()

    assert seen.read_text() == value
    logs = server.lightci("logs", "1").stdout
    assert "line one" not in logs
    assert "***" in logs


def test_readable_secrets_file_fails_run(server: Server) -> None:
    lightci(server.git_dir, "secrets", "set", "TOKEN", input="abc123xyz\n")
    secrets_file = server.git_dir / "lightci-secrets"
    os.chmod(secrets_file, 0o644)
    server.commit({".lightci.yml": "jobs:\n  a:\n    steps: [echo hi]\n"})
    server.push()
    server.wait_idle()

    record = json.loads(server.lightci("show", "1", "--json").stdout)
    assert record["status"] == "error"
    assert "readable by group or others" in record["message"]
    assert "chmod 600" in record["message"]
    listed = server.lightci("secrets", "list", check=False)
    assert listed.returncode == 1
    assert "chmod 600" in listed.stderr


def test_live_log_is_masked(server: Server, tmp_path: Path) -> None:
    lightci(server.git_dir, "secrets", "set", "TOKEN", input=SECRET)
    printed = tmp_path / "printed"
    release = tmp_path / "release"
    server.commit(
        {
            ".lightci.yml": f"""\
                jobs:
                  leak:
                    secrets: [TOKEN]
                    steps:
                      - run: |
                          echo "token is $TOKEN"
                          touch {printed}
                          while [ ! -e {release} ]; do sleep 0.1; done
                """
        }
    )
    server.push()
    deadline = time.monotonic() + 60
    while not printed.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)
    live = (server.git_dir / "lightci" / "live" / "1" / "leak.log").read_bytes()
    release.touch()
    server.wait_idle()

    assert b"token is ***" in live
    assert SECRET.encode() not in live


def test_foreground_run_echo_is_masked(server: Server) -> None:
    lightci(server.clone, "secrets", "set", "TOKEN", input=SECRET)
    server.commit(
        {
            ".lightci.yml": """\
                jobs:
                  show:
                    secrets: [TOKEN]
                    steps: ['echo "token is $TOKEN"; echo "$TOKEN" | base64']
                """
        }
    )

    result = lightci(server.clone, "run")

    assert "[show] token is ***" in result.stdout
    for form in secret_forms(SECRET):
        assert form.decode() not in result.stdout
        assert form.decode() not in result.stderr
    assert not (server.clone / "lightci-secrets").exists()
    assert (server.clone / ".git" / "lightci-secrets").exists()


def test_mask_catches_value_split_across_writes() -> None:
    written: list[bytes] = []

    class Sink:
        def write(self, data: bytes) -> None:
            written.append(data)

    mask = SecretMask(Sink(), [SECRET])
    encoded = base64.b64encode(SECRET.encode() + b"\n").decode()
    text = f"a {SECRET} b {encoded} c\n"
    for byte in text.encode():
        mask.write(bytes([byte]))
    before_close = b"".join(written)
    mask.close()

    output = b"".join(written)
    assert output == b"a *** b *** c\n"
    assert before_close == output


def test_short_secret_value_warns(server: Server) -> None:
    result = run(*LIGHTCI, "secrets", "set", "PIN", cwd=server.git_dir, input="ab\n")

    assert result.stdout == "secret PIN set\n"
    assert "shorter than 4 characters" in result.stderr
