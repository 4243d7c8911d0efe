"""The engine: runs a run's jobs in dependency order and records every change.

Jobs whose needs have all finished are handed to the executor, up to
``max_parallel`` at a time. A job whose need failed is skipped with the
reason, unless its ``if:`` condition calls for it to run anyway. Each state
change of the run, a job or a step is written to the store as a new commit
on the run's ref, so readers see the run advance.
"""

from __future__ import annotations

import glob
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import pygit2

from lightci.executor import Executor, JobRequest, LocalExecutor, StepSpec, Workspace
from lightci.logs import DEFAULT_MAX_LOG_BYTES, JobLog, LogSink, strip_ansi
from lightci.records import (
    CANCELLED,
    ERROR,
    FAILED,
    PASSED,
    QUEUED,
    RUNNING,
    SKIPPED,
    TIMED_OUT,
    JobRecord,
    RunRecord,
    StepRecord,
    job_slug,
    utc_now,
)
from lightci.store import Store

if TYPE_CHECKING:
    from lightci.conditions import Condition, ConditionContext
    from lightci.plan import JobPlan, RunContext

logger = logging.getLogger("lightci.engine")

_OK_FOR_NEEDS = (PASSED,)


def step_environment(context: RunContext, git_dir: Path) -> dict[str, str]:
    """Return the variables every step of a run gets besides its own ``env``."""
    from lightci.process import clean_environ

    env = clean_environ(keep_transport=False)
    env.update(
        {
            "CI": "true",
            "LIGHTCI": "true",
            "LIGHTCI_RUN": str(context.number),
            "LIGHTCI_COMMIT": context.commit,
            "LIGHTCI_REF": context.ref,
            "LIGHTCI_BRANCH": context.branch or "",
            "LIGHTCI_TAG": context.tag or "",
            "LIGHTCI_EVENT": context.event,
            "LIGHTCI_REPOSITORY": str(git_dir),
        }
    )
    return env


class StoreArtifacts:
    """Collects artifacts from a workspace into the store as tags.

    An artifact is named by its path in the workspace. A matrix job's
    artifacts get the job's slug in front (``test-3.11/report.xml``),
    because every combination saves the same paths.
    """

    def __init__(
        self,
        store: Store,
        run: int,
        job: str,
        expire_in: float | None,
        prefix: str | None = None,
    ) -> None:
        self.store = store
        self.run = run
        self.job = job
        self.prefix = prefix
        self.expires: str | None = None
        if expire_in is not None:
            moment = datetime.now(UTC) + timedelta(seconds=expire_in)
            self.expires = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.names: set[str] = set()

    def add(self, workspace: Path, pattern: str, log: LogSink) -> None:
        matches = sorted(glob.glob(pattern, root_dir=workspace, recursive=True))
        if not matches:
            log.write(f"[lightci: no artifact matches {pattern!r}]\n".encode())
            return
        root = workspace.resolve()
        for relative in matches:
            source = (workspace / relative).resolve()
            if not source.is_relative_to(root):
                log.write(
                    f"[lightci: artifact {relative!r} is outside the workspace; "
                    "skipped]\n".encode()
                )
                continue
            name = _artifact_name(relative.rstrip("/"))
            if self.prefix is not None:
                name = f"{self.prefix}/{name}"
            if name in self.names:
                continue
            self.names.add(name)
            # Two jobs saving the same path: the first keeps the name and the
            # other gets its slug in front. A retry of the same job replaces
            # its own earlier artifact.
            if self.store.artifact_job(self.run, name) not in (None, self.job):
                name = f"{job_slug(self.job)}/{name}"
                log.write(
                    f"[lightci: another job saved {relative} first; this "
                    f"one is saved as {name}]\n".encode()
                )
            try:
                record = self.store.add_artifact(
                    run=self.run,
                    job=self.job,
                    name=name,
                    source=source,
                    relative_path=relative,
                    expires=self.expires,
                )
            except (pygit2.GitError, ValueError, OSError) as exc:
                # A folder and a file inside it cannot both be refs, and a
                # file can vanish or be unreadable: report, keep the job going.
                logger.warning(
                    "run %s job %s: artifact %s not stored: %s",
                    self.run,
                    self.job,
                    name,
                    exc,
                )
                hint = ""
                if isinstance(exc, pygit2.GitError | ValueError):
                    hint = ". List a folder or the files in it, not both"
                log.write(
                    f"[lightci: artifact {name} not stored: {exc}{hint}]\n".encode()
                )
                continue
            log.write(
                f"[lightci: saved artifact {record.name} "
                f"({record.size} bytes)]\n".encode()
            )


def _artifact_name(relative: str) -> str:
    """Return a ref-safe artifact name for a workspace-relative path."""
    parts = []
    for part in relative.split("/"):
        if part in ("", "."):
            continue
        cleaned = "".join(
            "_" if ch in " ~^:?*[\\" or ord(ch) < 32 or ord(ch) == 127 else ch
            for ch in part
        )
        cleaned = cleaned.replace("..", "_").lstrip(".") or "_"
        if cleaned.endswith(".lock"):
            cleaned += "_"
        parts.append(cleaned)
    return "/".join(parts) or "artifact"


def unique_slugs(names: Sequence[str]) -> list[str]:
    """Return a distinct slug for each job name, in order.

    Names that differ only in characters a slug drops (``test (a/b)`` and
    ``test (a-b)``) get ``-2``, ``-3`` and so on after the first.
    """
    taken: set[str] = set()
    slugs = []
    for name in names:
        base = job_slug(name)
        slug = base
        suffix = 2
        while slug in taken:
            slug = f"{base}-{suffix}"
            suffix += 1
        taken.add(slug)
        slugs.append(slug)
    return slugs


class RunEngine:
    def __init__(
        self,
        store: Store,
        run: RunRecord,
        context: RunContext,
        plans: Sequence[JobPlan],
        *,
        executor: Executor | None = None,
        max_parallel: int | None = None,
        max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
        echo: BinaryIO | None = None,
        cancel: threading.Event | None = None,
        pipeline_timeout: float | None = None,
        secrets: Mapping[str, str] | None = None,
        log_filter: Callable[[LogSink], LogSink] | None = None,
        default_job_timeout: float | None = None,
        cancel_reason: Callable[[], str | None] | None = None,
        passed_before: Mapping[str, int] | None = None,
        job_groups: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.run = run
        self.context = context
        self.plans = {plan.name: plan for plan in plans}
        self.executor = executor or LocalExecutor()
        self.max_parallel = max(1, max_parallel or os.cpu_count() or 1)
        self.max_log_bytes = max_log_bytes
        self.echo = echo
        self.cancel = cancel or threading.Event()
        self.pipeline_timeout = pipeline_timeout
        self.secrets = dict(secrets or {})
        self.log_filter = log_filter
        self.default_job_timeout = default_job_timeout
        self.timed_out = False
        self.cancel_reason = cancel_reason
        # Jobs that passed in the run this one retries: recorded as skipped,
        # and counted as passed by the jobs that need them.
        self.passed_before = dict(passed_before or {})
        # Jobs of one concurrency group run one at a time.
        self.job_groups = dict(job_groups or {})
        self._lock = threading.Lock()
        self._echo_lock = threading.Lock()
        self.base_env = step_environment(context, store.git_dir)
        slugs = unique_slugs([plan.name for plan in plans])
        self.run.jobs = [
            JobRecord(
                name=plan.name,
                slug=slugs[index],
                display_name=plan.display_name,
                needs=list(plan.needs),
                allow_failure=plan.allow_failure,
                matrix=dict(plan.matrix),
                steps=[
                    StepRecord(name=step.name, command=step.run) for step in plan.steps
                ],
            )
            for index, plan in enumerate(plans)
        ]
        self.records = {job.name: job for job in self.run.jobs}
        for name, number in self.passed_before.items():
            if name in self.records:
                job = self.records[name]
                job.status = SKIPPED
                job.reason = f"passed in run {number}"
                for step in job.steps:
                    step.status = SKIPPED

    # -- recording ---------------------------------------------------------

    def _save(
        self,
        message: str,
        jobs: list[JobRecord] | None = None,
        logs: dict[str, Path] | None = None,
    ) -> None:
        with self._lock:
            self.store.write_run(
                self.run,
                message=message,
                jobs=jobs if jobs is not None else [],
                logs=logs,
            )

    # -- running -----------------------------------------------------------

    def execute(self) -> str:
        """Run every job and return the run's final status."""
        self.run.status = RUNNING
        self.run.started = utc_now()
        self._save(f"run {self.run.number}: running", jobs=self.run.jobs)
        self.store.set_note_line(self.run)
        deadline = (
            time.monotonic() + self.pipeline_timeout if self.pipeline_timeout else None
        )
        pending = [
            plan for plan in self.plans.values() if plan.name not in self.passed_before
        ]
        running: dict[Future[str], str] = {}
        with ThreadPoolExecutor(max_workers=self.max_parallel) as pool:
            while pending or running:
                if (
                    deadline is not None
                    and time.monotonic() >= deadline
                    and not self.timed_out
                ):
                    self.timed_out = True
                    self.run.message = self._stop_reason()
                    self.cancel.set()
                for plan in list(pending):
                    if len(running) >= self.max_parallel:
                        break
                    needs = [self._need_record(name) for name in plan.needs]
                    if any(need.status in (QUEUED, RUNNING) for need in needs):
                        continue
                    if self._group_busy(plan.name, running.values()):
                        continue
                    pending.remove(plan)
                    reason = self._skip_reason(plan, needs)
                    if reason is not None:
                        self._skip(plan.name, reason)
                        continue
                    running[pool.submit(self._run_job, plan)] = plan.name
                if not running:
                    continue
                done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    try:
                        future.result()
                    except Exception:
                        logger.exception("run %s job %s crashed", self.run.number, name)
                        job = self.records[name]
                        job.status = ERROR
                        job.reason = (
                            "lightci failed while running this job; see the worker log"
                        )
                        job.finished = utc_now()
                        self._save(
                            f"run {self.run.number}: job {name} error", jobs=[job]
                        )
        self.run.status = self._final_status(self.timed_out)
        if self.run.status == CANCELLED and not self.run.message:
            self.run.message = self._stop_reason()
        self.run.finished = utc_now()
        self._save(f"run {self.run.number}: {self.run.status}", jobs=self.run.jobs)
        self.store.set_note_line(self.run)
        from lightci.builds import record_finished

        record_finished(self.store, self.run)
        return self.run.status

    def _need_record(self, name: str) -> JobRecord:
        job = self.records[name]
        if name in self.passed_before:
            return JobRecord(name=job.name, slug=job.slug, status=PASSED)
        return job

    def _group_busy(self, name: str, running: Iterable[str]) -> bool:
        group = self.job_groups.get(name)
        if group is None:
            return False
        return any(self.job_groups.get(other) == group for other in running)

    def _skip_reason(self, plan: JobPlan, needs: list[JobRecord]) -> str | None:
        cancelled = self.cancel.is_set()
        condition = plan.condition
        if cancelled and (condition is None or not condition.uses_status_function):
            return self._stop_reason()
        return job_skip_reason(plan, self.context, needs, cancelled=cancelled)

    def _stop_reason(self) -> str:
        if self.timed_out:
            return f"the run's time limit of {self.pipeline_timeout:g}s passed"
        reason = self.cancel_reason() if self.cancel_reason is not None else None
        return f"the run was cancelled: {reason}" if reason else "the run was cancelled"

    def _skip(self, name: str, reason: str) -> None:
        job = self.records[name]
        job.status = SKIPPED
        job.reason = reason
        for step in job.steps:
            step.status = SKIPPED
        self._save(f"run {self.run.number}: job {name} skipped", jobs=[job])

    def _run_job(self, plan: JobPlan) -> str:
        job = self.records[plan.name]
        path = self.store.live_log_path(self.run.number, job.slug)
        raw_log = JobLog(path, max_bytes=self.max_log_bytes, echo=None)
        echo = _Echo(raw_log, self, plan.name) if self.echo else None
        log: LogSink = echo if echo is not None else raw_log
        if self.log_filter is not None:
            log = self.log_filter(log)
        job.status = RUNNING
        job.started = utc_now()
        self._save(f"run {self.run.number}: job {plan.name} running", jobs=[job])
        logger.info("run %s job %s started", self.run.number, plan.name)
        env = dict(self.base_env)
        env.update(plan.env)
        env["LIGHTCI_JOB"] = plan.name
        for name in plan.secrets:
            if name in self.secrets:
                env[name] = self.secrets[name]
            else:
                log.write(
                    f"[lightci: secret {name} is not set on the server; set it "
                    f"with `lightci secrets set {name}`]\n".encode()
                )

        # A job that starts after a cancel does so because its condition
        # calls for it (`always()`, `cancelled()`), so that cancel must not
        # stop it in turn.
        job_cancel = threading.Event() if self.cancel.is_set() else self.cancel
        steps = tuple(
            StepSpec(
                name=step.name,
                run=step.run,
                env=step.env,
                timeout=step.timeout,
                working_directory=step.working_directory,
                should_run=_step_gate(step.condition, self.context, plan, job_cancel),
            )
            for step in plan.steps
        )
        workspace_root = self.store.state_dir / "work"
        status = ERROR
        attempts = plan.retry.max_attempts
        for attempt in range(1, attempts + 1):
            job.attempt = attempt
            job.steps = [StepRecord(name=s.name, command=s.run) for s in plan.steps]
            if attempt > 1:
                log.write(
                    f"\n\x1b[1;33m[lightci: retrying, attempt {attempt} of "
                    f"{attempts}]\x1b[0m\n".encode()
                )
            env["LIGHTCI_WORKSPACE"] = str(
                workspace_root / str(self.run.number) / job.slug
            )
            env["LIGHTCI_JOB_ATTEMPT"] = str(attempt)
            request = JobRequest(
                git_dir=self.store.git_dir,
                run_number=self.run.number,
                commit=self.run.commit,
                job_name=plan.name,
                slug=job.slug,
                steps=steps,
                env=env,
                timeout=plan.timeout or self.default_job_timeout,
                working_directory=plan.working_directory,
                artifact_paths=plan.artifacts.paths if plan.artifacts else (),
                workspace_root=workspace_root,
            )
            sink = None
            if plan.artifacts is not None:
                sink = StoreArtifacts(
                    self.store,
                    self.run.number,
                    plan.name,
                    plan.artifacts.expire_in,
                    prefix=job.slug if plan.matrix else None,
                )
            try:
                status = self.executor.run_job(
                    request,
                    job,
                    log,
                    on_change=lambda: self._save(
                        f"run {self.run.number}: job {plan.name} step", jobs=[job]
                    ),
                    cancel=job_cancel,
                    artifacts=sink,
                    hooks=self._workspace_hooks(plan),
                )
            except Exception as exc:
                logger.exception(
                    "run %s job %s failed in lightci", self.run.number, plan.name
                )
                log.write(f"\n[lightci: internal error: {exc}]\n".encode())
                status = ERROR
            if status in (PASSED, CANCELLED, ERROR) or not _should_retry(
                plan, job, status
            ):
                break
        if status == CANCELLED:
            job.reason = self._stop_reason()
            if self.timed_out:
                status = TIMED_OUT
            log.write(f"\n[lightci: job stopped: {job.reason}]\n".encode())
        # A log filter (secret masking) may hold back a tail; flush it first.
        close_filter = getattr(log, "close", None)
        if callable(close_filter):
            close_filter()
        if echo is not None:
            echo.close()
        raw_log.close()
        job.status = status
        job.finished = utc_now()
        job.log_size = raw_log.size
        job.log_truncated = raw_log.truncated
        if status == FAILED and plan.allow_failure:
            job.reason = "failed, but allowed to fail"
        self._save(
            f"run {self.run.number}: job {plan.name} {status}",
            jobs=[job],
            logs={job.slug: path},
        )
        logger.info("run %s job %s %s", self.run.number, plan.name, status)
        return status

    def _workspace_hooks(self, plan: JobPlan) -> Workspace | None:
        if not plan.caches:
            return None
        from lightci.cache import CacheHooks

        return CacheHooks(self.store, plan.caches)

    def _final_status(self, timed_out: bool) -> str:
        if timed_out:
            return TIMED_OUT
        statuses = [job.status for job in self.run.jobs]
        if self.cancel.is_set() or CANCELLED in statuses:
            return CANCELLED
        if ERROR in statuses:
            return ERROR
        blocking = [
            job
            for job in self.run.jobs
            if job.status in (FAILED, TIMED_OUT) and not job.allow_failure
        ]
        if any(job.status == FAILED for job in blocking):
            return FAILED
        if blocking:
            return TIMED_OUT
        return PASSED


def _should_retry(plan: JobPlan, job: JobRecord, status: str) -> bool:
    policy = plan.retry
    if status == TIMED_OUT:
        return policy.on_timeout
    if status != FAILED:
        return False
    if policy.on_exit_codes is None:
        return True
    codes = {step.exit_code for step in job.steps if step.status == FAILED}
    return bool(codes & policy.on_exit_codes)


def _condition_context(
    context: RunContext,
    plan: JobPlan,
    results: Sequence[tuple[str, bool]],
    cancelled: bool,
) -> ConditionContext:
    from lightci.conditions import ConditionContext, upstream_status

    succeeded, failed = upstream_status(results)
    # A push of a branch has no tag and the other way round; conditions
    # see those as empty text, so `tag == ''` holds on a branch.
    return ConditionContext(
        ref=context.ref,
        branch=context.branch or "",
        tag=context.tag or "",
        event=context.event,
        commit=context.commit,
        job=plan.name,
        matrix=plan.matrix,
        env=plan.env,
        succeeded=succeeded,
        failed=failed,
        cancelled=cancelled,
    )


def job_skip_reason(
    plan: JobPlan,
    context: RunContext,
    needs: Sequence[JobRecord],
    *,
    cancelled: bool = False,
) -> str | None:
    """Return why a job must not run, or None when it should run."""
    results = [(need.status, need.allow_failure) for need in needs]
    condition_context = _condition_context(context, plan, results, cancelled)
    if plan.condition is not None:
        if plan.condition.evaluate(condition_context):
            return None
        return f"its condition is false: if: {plan.condition.text}"
    if condition_context.succeeded:
        return None
    blocking = [
        f"{need.name} {need.status}"
        for need in needs
        if need.status != PASSED
        and not (need.allow_failure and need.status in (FAILED, TIMED_OUT))
    ]
    return "needed job " + ", ".join(blocking)


def _step_gate(
    condition: Condition | None,
    context: RunContext,
    plan: JobPlan,
    cancel: threading.Event,
) -> Callable[[list[StepRecord]], bool]:
    def should_run(earlier: list[StepRecord]) -> bool:
        results = [(step.status, False) for step in earlier if step.status != SKIPPED]
        condition_context = _condition_context(context, plan, results, cancel.is_set())
        if condition is None:
            return condition_context.succeeded and not cancel.is_set()
        return condition.evaluate(condition_context)

    return should_run


class _Echo:
    """Tees a job's log to the terminal, each line prefixed with the job name.

    Colours pass through only to a terminal, and never with NO_COLOR set;
    the stored log keeps them either way.
    """

    def __init__(self, log: JobLog, engine: RunEngine, name: str) -> None:
        self.log = log
        self.engine = engine
        self.prefix = f"[{name}] ".encode()
        self.partial = b""
        echo = engine.echo
        isatty = getattr(echo, "isatty", None)
        self.colour = bool(isatty and isatty()) and not os.environ.get("NO_COLOR")

    def write(self, data: bytes) -> None:
        self.log.write(data)
        text = self.partial + data
        lines = text.split(b"\n")
        self.partial = lines.pop()
        if lines:
            self._emit(b"".join(self.prefix + line + b"\n" for line in lines))

    def close(self) -> None:
        """Print a last line that had no newline."""
        if self.partial:
            self._emit(self.prefix + self.partial + b"\n")
            self.partial = b""

    def _emit(self, out: bytes) -> None:
        echo = self.engine.echo
        if echo is None:
            return
        if not self.colour:
            out = strip_ansi(out)
        with self.engine._echo_lock:
            try:
                echo.write(out)
                echo.flush()
            except (OSError, ValueError):
                pass
