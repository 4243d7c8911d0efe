"""Benchmarks of the push-and-run path; prints figures, asserts nothing.

Run: .venv/bin/python benchmarks/bench_core.py [--runs 10000]

Each figure is a ratio against a baseline measured in the same run on the
same machine, next to the target it is meant to meet.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pygit2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lightci.records import PASSED, JobRecord, RunRecord, StepRecord, utc_now  # noqa: E402
from lightci.store import Store  # noqa: E402

LIGHTCI = [sys.executable, "-I", "-m", "lightci"]
ENV = {
    **{key: value for key, value in os.environ.items() if not key.startswith("GIT_")},
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def report(label: str, figure: str, note: str = "") -> None:
    print(f"  {label:<38} {figure}  {note}".rstrip())


def sh(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, check=check)


def wait_idle(git_dir: Path, timeout: float = 120) -> None:
    import fcntl

    state = git_dir / "lightci"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queued = [p for p in (state / "queue").glob("*") if p.name.isdigit()]
        lock = state / "worker.lock"
        held = False
        if lock.exists():
            fd = os.open(lock, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held = True
            finally:
                os.close(fd)
        if not queued and not held:
            return
        time.sleep(0.02)
    raise SystemExit(f"worker in {git_dir} still busy after {timeout}s")


def make_project(root: Path, pipeline: str) -> Path:
    project = root / "project"
    sh("git", "init", "-q", "-b", "main", str(project), cwd=root)
    (project / ".lightci.yml").write_text(pipeline)
    (project / "README").write_text("benchmark\n")
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-q", "-m", "pipeline", cwd=project)
    return project


def bench_steps(root: Path) -> None:
    steps = "\n".join("      - sleep 0.2" for _ in range(10))
    project = make_project(root, f"jobs:\n  sleepy:\n    steps:\n{steps}\n")
    checkout = root / "checkout"
    lightci_times, sh_times = [], []
    for _ in range(3):
        started = time.perf_counter()
        shutil.rmtree(checkout, ignore_errors=True)
        sh("git", "clone", "-q", str(project), str(checkout), cwd=root)
        for _ in range(10):
            subprocess.run(["sh", "-c", "sleep 0.2"], cwd=checkout, check=True)
        sh_times.append(time.perf_counter() - started)

        started = time.perf_counter()
        sh(*LIGHTCI, "run", cwd=project)
        lightci_times.append(time.perf_counter() - started)
    store = Store.open(project)
    engine_times = []
    for number in store.run_numbers():
        run = store.read_run(number)
        assert run is not None and run.status == PASSED, run
        engine_times.append(run.duration or 0.0)
    base = statistics.median(sh_times)
    whole = statistics.median(lightci_times)
    engine = statistics.median(engine_times)
    print("ten steps of `sleep 0.2`, median of 3")
    print(f"  sh in a fresh checkout (clone + 10 x sh):   {base:.3f} s")
    report(
        "lightci run (process start to exit):",
        f"{whole:.3f} s",
        f"ratio {whole / base:.3f} (target <= 1.05)",
    )
    report(
        "lightci run, recorded run duration:",
        f"{engine:.3f} s",
        f"ratio {engine / base:.3f}",
    )


def bench_push(root: Path) -> None:
    pipeline = "jobs:\n  quick:\n    steps: [echo hi]\n"
    project = make_project(root, pipeline)
    plain = root / "plain.git"
    hooked = root / "hooked.git"
    for bare in (plain, hooked):
        sh("git", "init", "-q", "--bare", str(bare), cwd=root)
    sh(*LIGHTCI, "install", "--server", cwd=hooked)
    # The first push of a pipeline takes the Python path; later ones the
    # shell fast path, which is what a team pays on every push.
    sh("git", "push", "-q", str(hooked), "HEAD:refs/heads/warmup", cwd=project)
    wait_idle(hooked)

    timings: dict[Path, list[float]] = {plain: [], hooked: []}
    for index in range(20):
        sh("git", "commit", "-q", "--allow-empty", "-m", f"change {index}", cwd=project)
        for bare in (plain, hooked):
            started = time.perf_counter()
            sh("git", "push", "-q", str(bare), "HEAD:refs/heads/main", cwd=project)
            timings[bare].append(time.perf_counter() - started)
            wait_idle(bare)
    base = statistics.median(timings[plain])
    hook = statistics.median(timings[hooked])
    print("git push of one commit, median of 20")
    print(f"  without lightci's hook:  {base * 1000:.1f} ms")
    report(
        "with lightci's hook:",
        f"{hook * 1000:.1f} ms",
        f"ratio {hook / base:.2f} (target <= 1.2)",
    )

    stamp = root / "first-step"
    pipeline = f"jobs:\n  quick:\n    steps: ['date +%s.%N > {stamp}']\n"
    (project / ".lightci.yml").write_text(pipeline)
    sh("git", "commit", "-q", "-am", "stamp", cwd=project)
    sh("git", "push", "-q", str(hooked), "HEAD:refs/heads/main", cwd=project)
    wait_idle(hooked)
    latencies = []
    for index in range(5):
        sh("git", "commit", "-q", "--allow-empty", "-m", f"again {index}", cwd=project)
        stamp.unlink(missing_ok=True)
        started = time.time()
        sh("git", "push", "-q", str(hooked), "HEAD:refs/heads/main", cwd=project)
        wait_idle(hooked)
        latencies.append(float(stamp.read_text()) - started)
    print("push to first step started, median of 5")
    print(f"  {statistics.median(latencies) * 1000:.0f} ms  (target < 500 ms)")


def build_history(git_dir: Path, count: int) -> None:
    repo = pygit2.init_repository(str(git_dir), bare=True)
    store = Store(repo)
    signature = pygit2.Signature("Bench", "bench@example.com", 1_700_000_000, 0)
    tree = repo.TreeBuilder().write()
    parent: list[pygit2.Oid] = []
    for number in range(1, count + 1):
        commit = repo.create_commit(
            None, signature, signature, f"commit {number}\n", tree, parent
        )
        parent = [commit]
        run = RunRecord(
            number=number, commit=str(commit), ref="refs/heads/main", event="push"
        )
        run.status = PASSED
        run.started = utc_now()
        run.finished = utc_now()
        run.jobs = [
            JobRecord(
                name="test",
                slug="test",
                status=PASSED,
                steps=[
                    StepRecord(
                        name="check",
                        command="make check",
                        status=PASSED,
                        exit_code=0,
                        duration=1.0,
                    )
                ],
            )
        ]
        store.write_run(run, message=f"run {number}: passed\n")
        store.set_note_line(run)
    repo.references.create("refs/heads/main", parent[0])
    store.state_dir.mkdir(exist_ok=True)
    (store.state_dir / "next-run").write_text(f"{count + 1}\n")


def time_command(args: list[str], cwd: Path, repeat: int = 15) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def bench_log(root: Path, count: int) -> None:
    git_dir = root / f"history-{count}.git"
    started = time.perf_counter()
    build_history(git_dir, count)
    print(
        f"built a repository with {count} runs in {time.perf_counter() - started:.0f} s"
    )
    sh("git", "pack-refs", "--all", cwd=git_dir)
    sh("git", "gc", "-q", cwd=git_dir)
    git_log = time_command(
        ["git", "log", "-n", "20", "--notes=lightci", "main"], git_dir
    )
    python = time_command([sys.executable, "-I", "-c", "pass"], git_dir)
    log = time_command([*LIGHTCI, "log", "-n", "20"], git_dir)
    log_revs = time_command([*LIGHTCI, "log", "-n", "20", "main"], git_dir)
    print(f"`lightci log -n 20` on {count} runs, median of 15")
    print(f"  git log -n 20 --notes=lightci:   {git_log * 1000:.1f} ms")
    print(f"  python -I -c pass (start-up):    {python * 1000:.1f} ms")
    report(
        "lightci log -n 20:",
        f"{log * 1000:.1f} ms",
        f"ratio {log / git_log:.2f} (targets < 300 ms, <= 2x git log)",
    )
    report(
        "lightci log -n 20 main:",
        f"{log_revs * 1000:.1f} ms",
        f"ratio {log_revs / git_log:.2f}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--runs", type=int, default=10_000, help="runs in the log benchmark"
    )
    parser.add_argument(
        "--only", choices=["steps", "push", "log"], help="run one benchmark"
    )
    options = parser.parse_args()
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, "
        f"git {sh('git', '--version', cwd=Path.cwd()).stdout.decode().split()[-1]}"
    )
    with tempfile.TemporaryDirectory(prefix="lightci-bench-") as folder:
        root = Path(folder)
        for name, bench in (
            ("steps", lambda: bench_steps(root / "steps")),
            ("push", lambda: bench_push(root / "push")),
            ("log", lambda: bench_log(root / "log", options.runs)),
        ):
            if options.only in (None, name):
                (root / name).mkdir()
                bench()


if __name__ == "__main__":
    main()
