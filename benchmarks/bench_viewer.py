"""Measure the viewer on a repository with many runs (run by hand, not a test).

    .venv/bin/python benchmarks/bench_viewer.py [--runs 10000] [--requests 2000]

The script builds a bare repository with RUNS runs written through the
Store API: two jobs each, a note per run and an artifact every tenth run.
It starts ``lightci serve`` on it in a subprocess. Then it measures the run
page, the history page and, for comparison, a static file of the same size
as the run page served by the same server. Each is measured with 1 and with 4
client threads, each thread on its own keep-alive connection from
http.client. It prints latency percentiles and requests per second.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pygit2

from lightci.records import JobRecord, RunRecord, StepRecord
from lightci.store import Store

STATIC = Path(__file__).resolve().parent.parent / "lightci" / "viewer" / "static"
STATUSES = ["passed"] * 7 + ["failed"] * 2 + ["cancelled"]
LOG = b"".join(
    b"\x1b[32mok\x1b[0m test_%d passed in 0.%02ds\n" % (i, i % 100) for i in range(40)
)


def build_repository(path: Path, runs: int) -> None:
    """Create a bare repository with ``runs`` finished runs."""
    repo = pygit2.init_repository(str(path), bare=True)
    store = Store(repo)
    signature = pygit2.Signature("Bench", "bench@example.com", 1767268800, 0)
    pipeline = repo.create_blob(b"jobs:\n  build:\n    steps:\n      - run: make\n")
    parents: list[pygit2.Oid] = []
    commits = []
    for index in range(200):
        builder = repo.TreeBuilder()
        builder.insert(".lightci.yml", pipeline, pygit2.enums.FileMode.BLOB)
        readme = repo.create_blob(f"revision {index}\n".encode())
        builder.insert("README", readme, pygit2.enums.FileMode.BLOB)
        commit = repo.create_commit(
            None, signature, signature, f"Change {index}", builder.write(), parents
        )
        parents = [commit]
        commits.append(str(commit))
    repo.references.create("refs/heads/main", parents[0])
    repo.references.create("refs/heads/feature/bench", commits[150])

    log_path = path / "bench.log"
    log_path.write_bytes(LOG)
    artifact = path / "bench-artifact.txt"
    artifact.write_bytes(b"artifact\n" * 100)
    chooser = random.Random(1)
    for number in range(1, runs + 1):
        status = chooser.choice(STATUSES)
        stamp = f"2026-01-01T{(number // 3600) % 24:02d}:{(number // 60) % 60:02d}:00Z"
        jobs = [
            JobRecord(
                name="build",
                slug="build",
                status="passed",
                started=stamp,
                finished=stamp,
                log_size=len(LOG),
                steps=[
                    StepRecord("checkout", "git status", "passed", 0, 0.4),
                    StepRecord("compile", "make -j4", "passed", 0, 12.5),
                ],
            ),
            JobRecord(
                name="test",
                slug="test",
                status=status,
                needs=["build"],
                started=stamp,
                finished=stamp,
                log_size=len(LOG),
                steps=[StepRecord("unit", "make test", status, 0, 20.0)],
            ),
        ]
        run = RunRecord(
            number=number,
            commit=commits[number % len(commits)],
            ref="refs/heads/feature/bench" if number % 7 == 0 else "refs/heads/main",
            event="push",
            status=status,
            created=stamp,
            started=stamp,
            finished=stamp,
            pipeline=".lightci.yml",
            jobs=jobs,
        )
        store.write_run(
            run,
            message=f"lightci: run {number} {status}\n",
            logs={"build": log_path, "test": log_path},
        )
        store.set_note_line(run)
        if number % 10 == 0:
            store.add_artifact(
                run=number,
                job="build",
                name="report.txt",
                source=artifact,
                relative_path="report.txt",
                expires=None,
            )
    log_path.unlink()
    artifact.unlink()


def start_server(path: Path, threads: int) -> tuple[subprocess.Popen[str], str, int]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lightci",
            "serve",
            str(path),
            "--port",
            "0",
            "--threads",
            str(threads),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"http://(127\.0\.0\.1):(\d+)/", line)
    if match is None:
        process.kill()
        raise SystemExit(f"lightci serve did not print its URL: {line!r}")
    return process, match.group(1), int(match.group(2))


def measure(
    host: str,
    port: int,
    paths: Callable[[random.Random], str],
    requests: int,
    clients: int,
) -> tuple[list[float], float]:
    """Send ``requests`` GETs from ``clients`` threads; return latencies and elapsed."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_client = requests // clients

    def client(seed: int) -> None:
        chooser = random.Random(seed)
        connection = http.client.HTTPConnection(host, port, timeout=30)
        own = []
        for _ in range(per_client):
            path = paths(chooser)
            start = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            own.append(time.perf_counter() - start)
            if response.status != 200:
                raise SystemExit(f"GET {path} returned {response.status}")
        connection.close()
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - start


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8, help="server threads")
    parser.add_argument("--keep", type=Path, help="build or reuse the repository here")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="lightci-bench-"))
    path = args.keep or folder / "bench.git"
    try:
        if not path.exists():
            start = time.perf_counter()
            build_repository(path, args.runs)
            print(f"built {args.runs} runs in {time.perf_counter() - start:.1f}s")
        process, host, port = start_server(path, args.threads)
        static_name = f"bench-{os.getpid()}.html"
        try:
            connection = http.client.HTTPConnection(host, port, timeout=30)
            connection.request("GET", f"/{path.stem}/runs/{args.runs}")
            page = connection.getresponse().read()
            connection.close()
            (STATIC / static_name).write_bytes(page)
            name = path.stem
            runs = args.runs
            cases: list[tuple[str, Callable[[random.Random], str]]] = [
                ("run page", lambda r: f"/{name}/runs/{r.randint(1, runs)}"),
                (
                    "history page",
                    lambda r: f"/{name}/runs?page={r.randint(1, max(1, runs // 50))}",
                ),
                (f"static file ({len(page)} B)", lambda r: f"/static/{static_name}"),
            ]
            measure(host, port, cases[0][1], 100, 2)
            print(
                f"{'case':<26} {'clients':>7} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}"
            )
            for label, paths in cases:
                for clients in (1, 4):
                    latencies, elapsed = measure(
                        host, port, paths, args.requests, clients
                    )
                    print(
                        f"{label:<26} {clients:>7} "
                        f"{percentile(latencies, 0.5) * 1000:>8.2f} "
                        f"{percentile(latencies, 0.99) * 1000:>8.2f} "
                        f"{len(latencies) / elapsed:>8.0f}"
                    )
        finally:
            (STATIC / static_name).unlink(missing_ok=True)
            process.terminate()
            process.wait(timeout=10)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
