"""The ``lightci`` command line: parses arguments and dispatches, nothing more."""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

import click

from lightci.errors import LightciError

EXIT_USER_ERROR = 1
EXIT_CRASH = 3
SHORT_SECRET = 4


def _store(ctx: click.Context):  # type: ignore[no-untyped-def]
    from lightci.store import Store

    return Store.open(ctx.obj["repo"])


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-C",
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Repository to work on (default: the one around the current folder).",
)
@click.version_option(package_name="lightci")
@click.pass_context
def cli(ctx: click.Context, repo: Path | None) -> None:
    """Continuous integration that lives inside the git repository it tests."""
    ctx.obj = {"repo": repo}


@cli.command("log")
@click.argument("revs", nargs=-1)
@click.option(
    "-n",
    "--max-count",
    "limit",
    type=click.IntRange(min=0),
    help="Show at most N runs.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def log_command(
    ctx: click.Context, revs: tuple[str, ...], limit: int | None, as_json: bool
) -> None:
    """Run history, newest first, one line a run."""
    from lightci.commands import log
    from lightci.gitread import find_git_dir, has_other_places
    from lightci.output import emit, use_colour

    git_dir = find_git_dir(ctx.obj["repo"])
    warnings: list[str] = []
    if not revs and not as_json and not has_other_places(git_dir):
        runs, subjects = log.recent_runs(git_dir, limit, warnings)
        _warn(warnings)
        emit(log.format_log(runs, subjects, colour=use_colour()))
        return
    from lightci.commands.remote import places_log

    placed = places_log(
        ctx.obj["repo"], revs, limit, as_json=as_json, colour=use_colour()
    )
    if placed is not None:
        if as_json:
            click.echo(placed, nl=False)
        else:
            emit(placed)
        return
    store = _store(ctx)
    runs = log.select_runs(store, revs, limit, warnings)
    _warn(warnings)
    if as_json:
        click.echo(log.format_log_json(store, runs), nl=False)
    else:
        emit(log.format_log(runs, log.subjects_of(store, runs), colour=use_colour()))


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        click.echo(f"lightci: skipped: {warning}", err=True)


@cli.command("show")
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def show_command(ctx: click.Context, run: str, as_json: bool) -> None:
    """Show one run: jobs, steps, durations, statuses and artifacts.

    RUN is a number, or REMOTE/N or CLONE-ID/N for a run recorded elsewhere.
    """
    from lightci.commands.show import show_json, show_text
    from lightci.output import emit, use_colour

    store = _store(ctx)
    if not run.isdigit():
        from lightci.commands.remote import show_placed

        text = show_placed(store, run, as_json=as_json, colour=use_colour())
        if as_json:
            click.echo(text, nl=False)
        else:
            emit(text)
        return
    record = _run_or_queued(store, int(run))
    if as_json:
        click.echo(show_json(store, record), nl=False)
    else:
        emit(show_text(store, record, colour=use_colour()))


def _run_or_queued(store, number: int):  # type: ignore[no-untyped-def]
    """Return a run's record, or a placeholder while only its queue entry exists."""
    from lightci import queue
    from lightci.records import RunRecord

    run = store.read_run(number, with_jobs=True)
    if run is not None:
        return run
    entry = queue.read_entry(store.state_dir, number)
    if entry is None:
        return store.require_run(number)
    return RunRecord(number=number, commit=entry.new, ref=entry.ref, event=entry.event)


@cli.command("logs")
@click.argument("run")
@click.argument("job", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing until the run ends.")
@click.option(
    "--raw", is_flag=True, help="Keep ANSI escapes even when not on a terminal."
)
@click.pass_context
def logs_command(
    ctx: click.Context, run: str, job: str | None, follow: bool, raw: bool
) -> None:
    """Print the logs of a run, or of one of its jobs."""
    from lightci.commands.logs import print_logs
    from lightci.logs import strip_ansi
    from lightci.output import use_colour

    store = _store(ctx)
    keep_ansi = raw or use_colour()
    out = sys.stdout.buffer

    def write(data: bytes) -> None:
        out.write(data if keep_ansi else strip_ansi(data))
        out.flush()

    if not run.isdigit():
        from lightci.commands.remote import print_placed_logs

        print_placed_logs(
            store, run, job, write=write, follow=follow, headers=job is None
        )
        return
    print_logs(store, int(run), job, write=write, follow=follow, headers=job is None)


@cli.command("status")
@click.argument("rev", default="HEAD")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def status_command(ctx: click.Context, rev: str, as_json: bool) -> int:
    """Status of a commit's latest run: exit 0 passed, 1 failed, 2 none or running.

    A commit without runs reports a finished run of another commit with the
    same tree (an amended or rebased commit), and names that commit.
    """
    from lightci.commands.remote import status_report
    from lightci.output import use_colour

    text, code = status_report(_store(ctx), rev, as_json=as_json, colour=use_colour())
    click.echo(text, nl=False)
    return code


@cli.command("run")
@click.argument("rev", default="HEAD")
@click.pass_context
def run_command(ctx: click.Context, rev: str) -> int:
    """Run the pipeline now, in the foreground; exit 0 only if it passed."""
    from lightci.commands.run import run_foreground
    from lightci.output import status_text, use_colour

    store = _store(ctx)
    run = run_foreground(store, rev)
    colour = use_colour(sys.stderr)
    click.echo(
        f"lightci: run {run.number} {status_text(run.status, colour=colour)}", err=True
    )
    if run.message:
        click.echo(f"lightci: {run.message}", err=True)
    return 0 if run.status == "passed" else 1


@cli.command("artifacts")
@click.argument("run", type=int)
@click.pass_context
def artifacts_command(ctx: click.Context, run: int) -> None:
    """List a run's artifacts."""
    from lightci.commands.artifacts import format_artifacts

    store = _store(ctx)
    store.require_run(run, with_jobs=False)
    click.echo(format_artifacts(store.list_artifacts(run)), nl=False)


@cli.command("artifact")
@click.argument("run", type=int)
@click.argument("name")
@click.option("-o", "--output", help="File or folder to write to; - for stdout.")
@click.pass_context
def artifact_command(
    ctx: click.Context, run: int, name: str, output: str | None
) -> None:
    """Fetch one artifact of a run."""
    from lightci.commands.artifacts import find_artifact, save_artifact

    store = _store(ctx)
    record = find_artifact(store, run, name)
    where = save_artifact(store, record, output)
    if where != "stdout":
        click.echo(f"wrote {record.name} to {where}", err=True)


@cli.command("validate")
@click.argument("file", required=False, type=click.Path(path_type=Path))
def validate_command(file: Path | None) -> None:
    """Check a pipeline file; exit 1 with file:line: message on error."""
    from lightci.commands.validate import find_pipeline_file, validate_file

    path = file or find_pipeline_file(Path.cwd())
    click.echo(validate_file(path))


@cli.command("install")
@click.option(
    "--server", is_flag=True, help="Install the post-receive hook in a bare repository."
)
@click.option(
    "--pre-push/--no-pre-push",
    default=True,
    show_default=True,
    help="In a clone: run the pipeline before each push and stop a failing push.",
)
@click.option(
    "--post-commit/--no-post-commit",
    default=True,
    show_default=True,
    help="In a clone: queue a run in the background after each commit.",
)
@click.pass_context
def install_command(
    ctx: click.Context, server: bool, pre_push: bool, post_commit: bool
) -> None:
    """Add lightci's hooks, keeping and still calling any hook that was there."""
    from lightci.commands.install import install_client, install_server
    from lightci.store import open_repository

    repo = open_repository(ctx.obj["repo"])
    if server:
        for line in install_server(repo):
            click.echo(line)
        return
    result = install_client(repo, pre_push=pre_push, post_commit=post_commit)
    for warning in result.warnings:
        click.echo(f"lightci: warning: {warning}", err=True)
    for line in result.messages:
        click.echo(line)


@cli.command("uninstall")
@click.option("--server", is_flag=True, help="Remove the post-receive hook.")
@click.pass_context
def uninstall_command(ctx: click.Context, server: bool) -> None:
    """Remove lightci's hooks and restore the ones they replaced."""
    from lightci.commands.install import uninstall_client, uninstall_server
    from lightci.store import open_repository

    repo = open_repository(ctx.obj["repo"])
    remove = uninstall_server if server else uninstall_client
    for line in remove(repo):
        click.echo(line)


@cli.command("worker")
@click.option(
    "--git-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Repository whose queue to drain.",
)
@click.option(
    "--poll",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Keep running as a service, looking at the queue every SECONDS.",
    metavar="SECONDS",
)
@click.pass_context
def worker_command(
    ctx: click.Context, git_dir: Path | None, poll: float | None
) -> None:
    """Drain the run queue; the hook starts it, and it can run as a service."""
    from lightci.store import open_repository
    from lightci.worker import serve_queue, setup_logging, work

    repo = open_repository(git_dir or ctx.obj["repo"])
    path = Path(repo.path).resolve()
    setup_logging(path / "lightci")
    if poll is None:
        work(path)
    else:
        serve_queue(path, poll)


@cli.command("serve")
@click.argument("repos", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Serve every bare repository under this folder.",
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on."
)
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port to listen on; 0 picks a free one.",
)
@click.option(
    "--threads",
    default=8,
    show_default=True,
    type=click.IntRange(1),
    help="Worker threads of the WSGI server.",
)
@click.pass_context
def serve_command(
    ctx: click.Context,
    repos: tuple[Path, ...],
    root: Path | None,
    host: str,
    port: int,
    threads: int,
) -> None:
    """Serve the web viewer, on 127.0.0.1 unless --host is given."""
    from lightci.commands.serve import serve

    targets = list(repos)
    if not targets and root is None:
        targets = [ctx.obj["repo"] or Path.cwd()]
    serve(targets, root=root, host=host, port=port, threads=threads)


@cli.command("cancel")
@click.argument("run", type=int)
@click.pass_context
def cancel_command(ctx: click.Context, run: int) -> None:
    """Stop a queued or running run."""
    from lightci.commands.cancel import cancel_run

    click.echo(cancel_run(_store(ctx), run))


@cli.command("retry")
@click.argument("run", type=int)
@click.option("--failed", is_flag=True, help="Run only the jobs that did not pass.")
@click.pass_context
def retry_command(ctx: click.Context, run: int, failed: bool) -> None:
    """Queue the commit and ref of a run again."""
    from lightci.commands.retry import retry_run

    number = retry_run(_store(ctx), run, failed_only=failed)
    click.echo(f"run {number} queued: retry of run {run}")


@cli.command("gc")
@click.option("--dry-run", is_flag=True, help="List what would go; remove nothing.")
@click.option(
    "--prune",
    is_flag=True,
    help="Then run `git gc --prune=now` while no worker runs, to free the space.",
)
@click.pass_context
def gc_command(ctx: click.Context, dry_run: bool, prune: bool) -> None:
    """Drop runs and artifacts past their retention, so `git gc` can reclaim them."""
    from lightci.gc import collect, prune_objects

    store = _store(ctx)
    lines = collect(store, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for line in lines:
        click.echo(f"{verb} {line}")
    if not lines:
        click.echo("nothing to remove")
    if prune and not dry_run:
        click.echo(prune_objects(store))
    elif lines and not dry_run:
        click.echo("run `lightci gc --prune` to reclaim the space")


@cli.command("init")
@click.option("--force", is_flag=True, help="Replace an existing pipeline file.")
@click.pass_context
def init_command(ctx: click.Context, force: bool) -> None:
    """Write a starter .lightci.yml suited to the project found."""
    from lightci.commands.init import init_pipeline, working_tree_root

    root = working_tree_root(ctx.obj["repo"] or Path.cwd())
    for line in init_pipeline(root, force=force):
        click.echo(line)


@cli.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the pipeline file."""
    import json

    from lightci.schema import pipeline_json_schema

    click.echo(json.dumps(pipeline_json_schema(), indent=2))


@cli.group("secrets")
def secrets_group() -> None:
    """Server-side secrets, kept in a private file beside the git config."""


@secrets_group.command("set")
@click.argument("name")
@click.pass_context
def secrets_set(ctx: click.Context, name: str) -> None:
    """Set secret NAME to the value read from stdin (one trailing newline dropped)."""
    from lightci.secrets import check_name, set_secret

    check_name(name)
    if sys.stdin.isatty():
        value = click.prompt(f"value of {name}", hide_input=True)
    else:
        value = sys.stdin.read()
        value = value.removesuffix("\n").removesuffix("\r")
    set_secret(_store(ctx).git_dir, name, value)
    click.echo(f"secret {name} set")
    if len(value.strip()) < SHORT_SECRET:
        click.echo(
            f"lightci: warning: the value of {name} is shorter than "
            f"{SHORT_SECRET} characters, and every occurrence of it in a log "
            "becomes ***, words included",
            err=True,
        )


@secrets_group.command("list")
@click.pass_context
def secrets_list(ctx: click.Context) -> None:
    """List the names of the secrets, never their values."""
    from lightci.secrets import secret_names

    for name in secret_names(_store(ctx).git_dir):
        click.echo(name)


@secrets_group.command("unset")
@click.argument("name")
@click.pass_context
def secrets_unset(ctx: click.Context, name: str) -> None:
    """Remove secret NAME."""
    from lightci.secrets import unset_secret

    unset_secret(_store(ctx).git_dir, name)
    click.echo(f"secret {name} removed")


@cli.group("hook", hidden=True)
def hook_group() -> None:
    """Entry points for lightci's git hooks."""


@hook_group.command("post-receive")
@click.option(
    "--git-dir", type=click.Path(file_okay=False, path_type=Path), required=True
)
def hook_post_receive(git_dir: Path) -> int:
    from lightci.commands.hook import log_hook_failure, parse_updates, post_receive
    from lightci.store import Store

    try:
        store = Store.open(git_dir)
        for line in post_receive(store, parse_updates(sys.stdin)):
            click.echo(f"lightci: {line}")
    except Exception as exc:
        log_hook_failure(git_dir)
        click.echo(
            f"lightci: could not queue CI runs ({exc}); the push itself succeeded. "
            f"Details: {git_dir / 'lightci' / 'hook.log'}"
        )
    return 0


@cli.group("remote")
def remote_group() -> None:
    """Fetch other places' runs through a git remote."""


@remote_group.command("setup")
@click.argument("remote")
@click.pass_context
def remote_setup_command(ctx: click.Context, remote: str) -> None:
    """Add refspecs so that `git fetch REMOTE` brings its runs and notes."""
    from lightci.commands.remote import remote_setup

    for line in remote_setup(_store(ctx), remote):
        click.echo(line)


@cli.command("sync")
@click.argument("remote", required=False)
@click.pass_context
def sync_command(ctx: click.Context, remote: str | None) -> None:
    """Fetch, merge and push lightci's runs and notes, losing nothing.

    REMOTE defaults to the current branch's upstream remote, or origin.
    """
    from lightci.commands.remote import sync_remote

    for line in sync_remote(_store(ctx), remote):
        click.echo(line)


@hook_group.command("pre-push")
@click.option(
    "--git-dir", type=click.Path(file_okay=False, path_type=Path), required=True
)
@click.argument("remote_name", required=False)
@click.argument("remote_url", required=False)
def hook_pre_push(
    git_dir: Path, remote_name: str | None, remote_url: str | None
) -> int:
    from lightci.commands.client import parse_push_updates, pre_push
    from lightci.store import Store

    store = Store.open(git_dir)
    updates = parse_push_updates(sys.stdin)
    return pre_push(store, updates, err=sys.stderr, echo=sys.stderr.buffer)


@hook_group.command("post-commit")
@click.option(
    "--git-dir", type=click.Path(file_okay=False, path_type=Path), required=True
)
def hook_post_commit(git_dir: Path) -> int:
    from lightci.commands.client import post_commit
    from lightci.commands.hook import log_hook_failure
    from lightci.store import Store

    try:
        line = post_commit(Store.open(git_dir))
    except Exception as exc:
        log_hook_failure(git_dir)
        click.echo(
            f"lightci: could not queue a CI run ({exc}); the commit itself "
            f"succeeded. Details: {git_dir / 'lightci' / 'hook.log'}",
            err=True,
        )
        return 0
    if line:
        click.echo(f"lightci: {line}", err=True)
    return 0


def _crash_log() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = base / "lightci"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"


def main(argv: list[str] | None = None) -> int:
    try:
        result = cli.main(args=argv, prog_name="lightci", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("lightci: aborted", err=True)
        return EXIT_USER_ERROR
    except LightciError as exc:
        click.echo(f"lightci: error: {exc}", err=True)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        return EXIT_USER_ERROR
    except Exception:
        try:
            path = _crash_log()
            path.write_text(traceback.format_exc())
            where = f"the traceback is in {path}"
        except OSError:
            where = "the traceback follows:\n" + traceback.format_exc()
        click.echo(
            "lightci: internal error (a bug in lightci, not in your pipeline); "
            f"{where}",
            err=True,
        )
        return EXIT_CRASH
    return result if isinstance(result, int) else 0
