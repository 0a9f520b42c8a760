"""The worker process of a split CSV export (analytics.split): ``python -m analytics.split_worker FD PARENT_PID``.

It reads its job from the socket FD, writes the upper part of the export's rows into the job's file and says
("done", rows) — or ("error", reason), which fails the export in the parent.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys

from analytics.export import export_csv
from analytics.split import Channel, Job, SplitError, Upper
from storage.db import create_engine, read_only


def work(fd: int, parent: int) -> int:
    """The worker process: read the job, write the upper part of the rows into its file, say ("done", rows)."""
    os.nice(5)  # the bot's own process first: respondents are answered before an export is written
    channel = Channel(socket.socket(fileno=fd))
    try:
        kind, job = channel.recv()
        if kind != "job":
            raise SplitError(f"unexpected message {kind!r}")
        rows = asyncio.run(_work(channel, job, parent))
        channel.send("done", rows)
        return 0
    except BaseException as exc:  # told to the parent, which fails the export with it
        try:
            channel.send("error", f"{type(exc).__name__}: {exc}")
        except OSError:
            pass
        return 1


async def _work(channel: Channel, job: Job, parent: int) -> int:
    engine = create_engine(job.db_url)
    try:
        async with engine.connect():  # the driver loaded and the dialect initialised before the snapshot
            pass
        with open(job.path, "wb") as fh:
            return await export_csv(read_only(engine), job.survey, fh, completed_only=job.completed_only,
                                    where=job.where, delimiter=job.delimiter, tz_name=job.tz_name,
                                    quality_rules=job.quality_rules, split=Upper(channel, parent))
    finally:
        await engine.dispose()


if __name__ == "__main__":
    sys.exit(work(int(sys.argv[1]), int(sys.argv[2])))
