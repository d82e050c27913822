"""Instructions per request, counted by callgrind: what load from other work does not move.

Run: ``.venv/bin/python bench/instructions.py [--subject replay|protocol] [--operation Decrypt]
[--requests 100,300] [--baseline DIR]``.

CPU time on this shared machine moves by ±30 % from run to run; the instructions a request
executes do not (valgrind's callgrind counts them, the same total twice for the same code and
inputs). Each subject runs under callgrind twice, with two request counts, and the difference
of the totals divided by the difference of the counts is one request's instructions, its setup
(imports, the key, the first request's caches) excluded:

- **replay**: bench/server_stages.py's replay, the app ``kmspolicy serve`` builds (SQLite, the
  file root key, SigV4, the audit log, quotas) answering a pre-signed boto3 Encrypt (or the
  Decrypt of its blob) directly on its running event loop, as the server's protocol has it
  answered;
- **protocol**: bench/server_protocol.py's direct path, the HTTP side alone (httptools' parse
  and the protocol's callbacks around a canned app).

``--baseline DIR`` counts the same subject with the ``kmspolicy`` of another checkout (a
worktree of main, say; this script and venv) in the same run and prints the ratio. The hash
seed is fixed, so that dict and set layouts are the same in both runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _replay(operation: str, requests: int) -> None:
    import server_stages  # (this script's directory is on sys.path)

    from kmspolicy.server.main import ServerSettings, build_app, load_config

    with tempfile.TemporaryDirectory(prefix="kmsp-instr-") as tmp:
        settings = ServerSettings(port=0, data_dir=Path(tmp) / "data")
        app, runtime = build_app(settings, load_config(settings))
        loop = asyncio.new_event_loop()
        try:
            scope, body, _, answered = server_stages.replayed_request(app, loop, operation)
            once = server_stages.direct(app, scope, body)

            async def run() -> None:  # on the running loop, where the protocol answers
                assert answered in once()
                for _ in range(requests):
                    once()

            loop.run_until_complete(run())
        finally:
            loop.close()
            runtime.close()


def _protocol(requests: int) -> None:
    import server_protocol
    import uvloop

    async def run() -> None:
        protocol, transport = await server_protocol.connection(True)
        feed = protocol.data_received
        for _ in range(requests + 1):
            feed(server_protocol.REQUEST)
            await asyncio.sleep(0)
        assert transport.writes == requests + 1

    uvloop.run(run())


def count(source: Path, subject: str, operation: str, requests: int) -> int:
    """The instructions one run of ``subject`` with ``requests`` requests executes, with the
    ``kmspolicy`` package of the checkout at ``source``."""
    with tempfile.TemporaryDirectory(prefix="kmsp-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=str(source))
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--child",
                subject,
                operation,
                str(requests),
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        for line in out.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError("callgrind wrote no total")


def per_request(source: Path, subject: str, operation: str, few: int, many: int) -> float:
    return (count(source, subject, operation, many) - count(source, subject, operation, few)) / (
        many - few
    )


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        subject, operation, requests = sys.argv[2], sys.argv[3], int(sys.argv[4])
        if subject == "replay":
            _replay(operation, requests)
        else:
            _protocol(requests)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subject", choices=("replay", "protocol"), default="replay")
    parser.add_argument("--operation", choices=("Encrypt", "Decrypt"), default="Encrypt")
    parser.add_argument("--requests", default="100,300", help="the two request counts")
    parser.add_argument("--baseline", type=Path, help="another checkout, counted alike")
    args = parser.parse_args()
    few, many = (int(n) for n in args.requests.split(","))
    what = args.subject if args.subject == "protocol" else f"replay of {args.operation}"
    here = per_request(HERE.parent, args.subject, args.operation, few, many)
    print(f"{what}: instructions per request (callgrind, runs of {many} and {few} requests)")
    print(f"  this checkout  {here / 1000:8.1f} k")
    if args.baseline is not None:
        base = per_request(args.baseline.resolve(), args.subject, args.operation, few, many)
        print(f"  baseline       {base / 1000:8.1f} k")
        print(f"  this/baseline  {here / base:8.3f}")


if __name__ == "__main__":
    main()
