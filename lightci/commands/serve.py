"""``lightci serve``: the web viewer on waitress, a threaded WSGI server.

waitress sends each chunk a streamed response yields as soon as it is
written (its ``send_bytes`` threshold is 1 byte), which server-sent events
need. Each open event stream occupies one server thread until the run ends,
or for at most a few minutes before the page reconnects, so streams are
capped at two fewer than the threads.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType

import waitress

from lightci.errors import LightciError
from lightci.viewer.app import create_app
from lightci.viewer.repos import Registry

logger = logging.getLogger("lightci.viewer")


def _setup_logging() -> None:
    """Send lightci's and waitress's log records to stderr unless logging is set up."""
    # dulwich logs every fetch's capabilities at INFO.
    logging.getLogger("dulwich").setLevel(logging.WARNING)
    if logging.getLogger().handlers:
        return
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def serve(
    targets: list[Path],
    *,
    root: Path | None,
    host: str,
    port: int,
    threads: int,
) -> None:
    """Serve the viewer until interrupted (Ctrl-C or SIGTERM)."""
    _setup_logging()
    registry = Registry(targets, root)
    if not registry.repositories() and root is None:
        raise LightciError("no repository to serve; pass a path or --root FOLDER")
    # Event streams may take all threads but two, which stay free for pages.
    application = create_app(registry, max_streams=max(1, threads - 2))
    try:
        server = waitress.create_server(
            application,
            host=host,
            port=port,
            threads=threads,
            ident="lightci",
            # Closing a connection idle this long frees its channel; event
            # streams send a keep-alive comment well within it.
            channel_timeout=120,
        )
    except OSError as exc:
        raise LightciError(
            f"cannot listen on {host}:{port}: {exc.strerror}; pick another "
            "--port, or 0 for a free one"
        ) from exc

    bound_port = server.effective_port
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{bound_port}/"
    names = ", ".join(repository.name for repository in registry.repositories())
    logger.info("viewer started at %s serving %s", url, names or "no repositories yet")
    print(f"lightci viewer at {url}", flush=True)

    def interrupt(signum: int, frame: FrameType | None) -> None:
        # Event streams end at once, so waitress need not wait for their
        # threads when it shuts down.
        application.stopping.set()
        raise KeyboardInterrupt

    previous = {
        number: signal.signal(number, interrupt)
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        application.stopping.set()
        server.close()
        logger.info("viewer at %s stopped", url)
