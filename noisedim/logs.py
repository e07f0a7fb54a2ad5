"""Logging set-up for workflow scripts and the command line (modules never configure logging)."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(log_path: str | None = None, level: int = logging.INFO) -> None:
    """Send log records to stderr and, when given, append them to ``log_path`` (the job log).

    Appending keeps the log of an interrupted attempt in front of the resumed one.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="a"))
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)
    logging.captureWarnings(True)


def run_logged(log_path: str | None, main, *args, **kwargs):
    """Set up logging, run ``main``, and log any exception with its traceback before re-raising."""
    setup_logging(log_path)
    try:
        return main(*args, **kwargs)
    except Exception:
        logging.getLogger("noisedim").exception("job failed")
        raise
