"""Progress bars of the long commands (``export``, ``migrate-db``, ``backup``) on a terminal.

``progress_bar(what, unit, quiet)`` gives a callback ``(done, total)`` that the work calls as it goes (from any
thread); on a terminal it draws a tqdm bar on stderr (done of total, rate, time left); with ``--quiet`` or when
stderr is not a terminal (a pipe, a file, cron) the callback does nothing, so logs get no control characters.
A new long command gets its bar with one line: ``with progress_bar("report", "pages", args.quiet) as tick:``.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Tick = Callable[[int, int], None]


def _nothing(done: int, total: int) -> None:
    """Not a terminal, or --quiet."""


@contextmanager
def progress_bar(what: str, unit: str, quiet: bool = False) -> Iterator[Tick]:
    """A bar on stderr while the block runs, when stderr is a terminal and not ``quiet``."""
    if quiet or not sys.stderr.isatty():
        yield _nothing
        return
    from tqdm import tqdm  # only when a bar is drawn

    bars: list[tqdm] = []  # made at the first tick, when the total is known

    def tick(done: int, total: int) -> None:
        if not bars:
            # A terminal that reports no size (0 × 0: a fresh pseudo-terminal) gets 100 × 24: tqdm draws nothing in
            # 0 rows.
            size = shutil.get_terminal_size((100, 24))
            bars.append(tqdm(total=total, desc=what, unit=unit, unit_scale=total >= 1000, file=sys.stderr,
                             ncols=size.columns or 100, nrows=size.lines or 24, leave=True))
        bar = bars[0]
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)  # tqdm redraws at most every 0.1 s (TQDM_MININTERVAL)

    try:
        yield tick
    finally:
        for bar in bars:
            bar.close()


def add_quiet(parser) -> None:
    """The ``--quiet`` option of the commands with a bar."""
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar (there is none when not a terminal)")
