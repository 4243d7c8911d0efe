"""Executors run one job of one commit and report how its steps went.

The engine hands a job to an executor with everything it needs: the
commit, the job's plan, its environment, a log to write to and a place to
put artifacts. The local executor runs it in a detached worktree on this
machine, each step a shell in its own process group. An executor for
runners on other machines implements the same ``Executor`` protocol.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from lightci.logs import LogSink
from lightci.records import (
    CANCELLED,
    FAILED,
    PASSED,
    QUEUED,
    RUNNING,
    SKIPPED,
    TIMED_OUT,
    JobRecord,
    StepRecord,
    utc_now,
)
from lightci.worktree import worktree

KILL_GRACE_SECONDS = 5.0
OUTPUT_DRAIN_SECONDS = 0.5
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class StepSpec:
    name: str
    run: str
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None
    working_directory: str | None = None
    should_run: Callable[[list[StepRecord]], bool] | None = None


@dataclass(frozen=True)
class JobRequest:
    """One job of one commit, as the engine hands it to an executor."""

    git_dir: Path
    run_number: int
    commit: str
    job_name: str
    slug: str
    steps: tuple[StepSpec, ...]
    env: Mapping[str, str]
    timeout: float | None
    working_directory: str | None = None
    artifact_paths: tuple[str, ...] = ()
    workspace_root: Path | None = None


class ArtifactSink(Protocol):
    def add(self, workspace: Path, pattern: str, log: LogSink) -> None: ...


class Workspace(Protocol):
    """Hooks that run in the job's workspace before and after its steps."""

    def before_steps(self, workspace: Path, log: LogSink) -> None: ...

    def after_steps(self, workspace: Path, status: str, log: LogSink) -> None: ...


class Executor(Protocol):
    """Runs one job of one commit, here or on another machine.

    ``run_job`` writes the job's output to ``log``, fills in the steps of
    ``record`` and calls ``on_change`` after each change, stores artifacts
    through ``artifacts``, stops the job's processes once ``cancel`` is set,
    and returns the job's status. Only the caller writes records.
    """

    def run_job(
        self,
        request: JobRequest,
        record: JobRecord,
        log: LogSink,
        *,
        on_change: Callable[[], None],
        cancel: threading.Event,
        artifacts: ArtifactSink | None,
        hooks: Workspace | None = None,
    ) -> str: ...


def shell_command(script: str) -> list[str]:
    """Return the argv that runs a step: bash with -eo pipefail, else sh -e."""
    bash = shutil.which("bash")
    if bash:
        return [bash, "--noprofile", "--norc", "-eo", "pipefail", "-c", script]
    return ["/bin/sh", "-ec", script]


class LocalExecutor:
    """Runs jobs in worktrees on this machine."""

    def __init__(self, kill_grace: float = KILL_GRACE_SECONDS) -> None:
        self.kill_grace = kill_grace
        self.pid_file: Path | None = None

    def run_job(
        self,
        request: JobRequest,
        record: JobRecord,
        log: LogSink,
        *,
        on_change: Callable[[], None],
        cancel: threading.Event,
        artifacts: ArtifactSink | None,
        hooks: Workspace | None = None,
    ) -> str:
        root = request.workspace_root or request.git_dir / "lightci" / "work"
        path = root / str(request.run_number) / request.slug
        # The process groups go to a file so that, if this worker is killed,
        # the next one can stop what it left running.
        self.pid_file = (
            request.git_dir / "lightci" / "active" / f"{request.run_number}.groups"
        )
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + request.timeout if request.timeout else None
        with worktree(request.git_dir, path, request.commit) as workspace:
            groups: list[int] = []
            try:
                if hooks is not None:
                    hooks.before_steps(workspace, log)
                status = self._run_steps(
                    request, record, log, workspace, groups, deadline, cancel, on_change
                )
                if hooks is not None:
                    hooks.after_steps(workspace, status, log)
                if artifacts is not None:
                    for pattern in request.artifact_paths:
                        artifacts.add(workspace, pattern, log)
            finally:
                for group in groups:
                    stop_process_group(group, grace=0.5)
        return status

    def _run_steps(
        self,
        request: JobRequest,
        record: JobRecord,
        log: LogSink,
        workspace: Path,
        groups: list[int],
        deadline: float | None,
        cancel: threading.Event,
        on_change: Callable[[], None],
    ) -> str:
        status = PASSED
        total = len(request.steps)
        for index, (spec, step) in enumerate(
            zip(request.steps, record.steps, strict=True), start=1
        ):
            finished_before = record.steps[: index - 1]
            cancelled = cancel.is_set()
            if spec.should_run is not None:
                wanted = spec.should_run(finished_before)
            else:
                wanted = status == PASSED and not cancelled
            if not wanted:
                step.status = SKIPPED
                continue
            # A step that runs although the run was cancelled, such as an
            # `if: always()` clean-up, must not be stopped by that cancel.
            step_cancel = threading.Event() if cancelled else cancel
            step.status = RUNNING
            step.started = utc_now()
            on_change()
            log.write(f"\x1b[1;36m>>> [{index}/{total}] {spec.name}\x1b[0m\n".encode())
            step_deadline = deadline
            limit = "the job's time limit"
            if spec.timeout is not None:
                own = time.monotonic() + spec.timeout
                if deadline is None or own < deadline:
                    step_deadline = own
                    limit = f"the step's time limit of {spec.timeout:g}s"
            directory = spec.working_directory or request.working_directory
            cwd = workspace / directory if directory else workspace
            env = dict(request.env)
            env.update(spec.env)
            env["LIGHTCI_STEP"] = spec.name
            began = time.monotonic()
            step_status, exit_code = self._run_step(
                spec.run, cwd, env, log, step_deadline, step_cancel, groups
            )
            step.duration = round(time.monotonic() - began, 3)
            step.finished = utc_now()
            step.status = step_status
            step.exit_code = exit_code
            log.write(_outcome_line(step_status, exit_code, limit))
            if step_status != PASSED and status == PASSED:
                status = step_status
            on_change()
        for step in record.steps:
            if step.status == QUEUED:
                step.status = SKIPPED
        if cancel.is_set() and status == PASSED:
            status = CANCELLED
        return status

    def _run_step(
        self,
        script: str,
        cwd: Path,
        env: dict[str, str],
        log: LogSink,
        deadline: float | None,
        cancel: threading.Event,
        groups: list[int],
    ) -> tuple[str, int | None]:
        if not cwd.is_dir():
            log.write(f"[lightci: working directory {cwd} does not exist]\n".encode())
            return FAILED, None
        process = subprocess.Popen(
            shell_command(script),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        groups.append(process.pid)
        if self.pid_file is not None:
            with open(self.pid_file, "a") as handle:
                handle.write(f"{process.pid}\n")
        assert process.stdout is not None
        reader = threading.Thread(target=_pump, args=(process.stdout, log), daemon=True)
        reader.start()
        exited = threading.Event()

        def wait_for_exit() -> None:
            process.wait()
            exited.set()

        waiter = threading.Thread(target=wait_for_exit, daemon=True)
        waiter.start()
        outcome: str | None = None
        while not exited.is_set():
            if cancel.is_set():
                outcome = CANCELLED
            elif deadline is not None and time.monotonic() >= deadline:
                outcome = TIMED_OUT
            if outcome is not None:
                stop_process_group(process.pid, grace=self.kill_grace)
                exited.wait()
                break
            wait_for = _POLL_SECONDS * 4
            if deadline is not None:
                wait_for = min(wait_for, max(deadline - time.monotonic(), 0.0))
            exited.wait(wait_for)
        # A background process that keeps the pipe open must not hold up the
        # job, so the reader gets a moment and the job goes on. The job's end
        # stops that process.
        reader.join(OUTPUT_DRAIN_SECONDS)
        exit_code = process.returncode
        if exit_code is not None and exit_code < 0:
            # A signal ends the shell; report it the way shells do: 128 + N.
            exit_code = 128 - exit_code
        if outcome is not None:
            return outcome, exit_code
        return (PASSED if exit_code == 0 else FAILED), exit_code


def _outcome_line(status: str, exit_code: int | None, limit: str) -> bytes:
    """Return the log line that tells how a step ended, or nothing if it passed."""
    if status == TIMED_OUT:
        text = f"step timed out: {limit} passed"
    elif status == CANCELLED:
        text = "step cancelled"
    elif status == FAILED and exit_code is not None and exit_code > 128:
        try:
            name = signal.Signals(exit_code - 128).name
        except ValueError:
            name = f"signal {exit_code - 128}"
        text = f"step killed by {name} (exit code {exit_code})"
    elif status == FAILED:
        text = f"step failed with exit code {exit_code}"
    else:
        return b""
    return f"\n\x1b[1;31m[lightci: {text}]\x1b[0m\n".encode()


def _pump(stream: BinaryIO, log: LogSink) -> None:
    """Copy a step's output to its log until the pipe closes."""
    fd = stream.fileno()
    with contextlib.suppress(OSError), stream:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            log.write(chunk)


def group_members(group: int) -> list[int]:
    """Return the live (non-zombie) processes of a process group, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat_line = handle.read()
        except OSError:
            continue
        fields = stat_line[stat_line.rfind(b")") + 2 :].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state not in (b"Z", b"X"):
            members.append(int(entry))
    return members


def stop_process_group(group: int, *, grace: float) -> None:
    """Send SIGTERM to a process group, then SIGKILL to what is left after ``grace``.

    NOTE: a process that moved to a session or group of its own (setsid, or
    a double fork into a new group) is out of reach of this. Only a cgroup
    would catch it.
    """
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    except PermissionError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not group_members(group):
            return
        time.sleep(_POLL_SECONDS)
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
