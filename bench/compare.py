"""Two revisions of kmspolicy side by side, in one run: CPU time per call, before vs after.

    .venv/bin/python bench/compare.py 6494c79            # that commit vs the working tree
    .venv/bin/python bench/compare.py main HEAD --rounds 15 --only api,client

Each revision (a commit exported with ``git archive`` to a temporary directory, or the working
tree itself) runs in its own worker process, imported through PYTHONPATH from the same venv, so
both see the same dependencies. Both workers build the same workloads, then the parent asks them
in alternating short rounds (A, B, B, A, ...) for the CPU time per call of one workload at a
time; the table shows each side's median over the rounds and the ratio after/before. CPU time,
not wall time: the machine is shared, and a round's wall time measures the neighbours too.

Workloads (names are ``group: operation``): ``api`` and ``client`` (bench/service.py's: the
Python API as an IAM user whose access needs the key policy and her identity policy, and the
in-process boto3 client), ``store`` (bench/store.py's and bench/hsm.py's: the Python API on the
memory store, SQLite and PostgreSQL, each with the file root key and the PKCS#11 root key in a
SoftHSM2 token made for the run; before the door the memory store sealed nothing, so its
PKCS#11 rows show what sealing each new key in the HSM costs), ``root`` (seal and unseal of a
32-byte secret), ``authz`` (bench/authz.py's decision at 10 and 10,000 statements) and
``server`` (``kmspolicy serve`` of each revision, SQLite and the file root key, driven by one
boto3 client: the server process's CPU per request, read from /proc in clock ticks, so give
these rounds a second or more). PostgreSQL workloads are skipped when $KMSPOLICY_TEST_POSTGRES
(default 127.0.0.1:5432/test) is unreachable, PKCS#11 ones without SoftHSM2.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "111122223333"
PLAINTEXT = b"\x5a" * 4096
SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
HSM_PIN = "bench-pin"
PG = os.environ.get("KMSPOLICY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
GROUPS = ("api", "client", "store", "root", "authz", "server")


# --- the worker: runs inside one revision ------------------------------------------------------


def no_key_quota() -> Any:
    """Quotas without the 100,000-key limit that a long CreateKey run would reach."""
    from kmspolicy.kms.quotas import Quotas

    return Quotas(keys_per_region=10**9)


def cpu_per_call(
    fn: Callable[[], object], seconds: float, cpu: Callable[[], float] = time.process_time
) -> float:
    """CPU µs per call of ``fn`` over about ``seconds`` of wall time (after a warm-up call), as
    ``cpu`` counts it (this process's CPU time; a server's, for the server workloads)."""
    fn()
    n, wall0, cpu0 = 0, time.perf_counter(), cpu()
    while time.perf_counter() - wall0 < seconds:
        for _ in range(5):
            fn()
        n += 5
    return (cpu() - cpu0) / n * 1e6


def service_workloads(group: str) -> dict[str, Callable[[], object]]:
    # bench/service.py's service (this directory is the worker's first import path)
    from service import ALICE, kmspolicy_service

    kms = kmspolicy_service(quotas=no_key_quota())
    caller: Any = kms.as_principal(ALICE) if group == "api" else kms.client(ALICE)
    key_id = caller.create_key()["KeyMetadata"]["KeyId"]
    blob = caller.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)["CiphertextBlob"]
    return {
        f"{group}: Encrypt 4KB": lambda: caller.encrypt(KeyId=key_id, Plaintext=PLAINTEXT),
        f"{group}: Decrypt 4KB": lambda: caller.decrypt(CiphertextBlob=blob),
        f"{group}: GenerateDataKey": lambda: caller.generate_data_key(
            KeyId=key_id, KeySpec="AES_256"
        ),
        f"{group}: CreateKey": caller.create_key,
    }


def root_keys(tag: str) -> dict[str, Any]:
    from kmspolicy.store.rootkey import RootKey

    keys: dict[str, Any] = {"file": RootKey.generate()}
    if os.environ.get("SOFTHSM2_CONF"):
        from kmspolicy.store.pkcs11 import create_hsm_root_key

        uri = f"pkcs11:module={SOFTHSM};token=bench;object=root-{tag};pin-source=env:BENCH_HSM_PIN"
        keys["pkcs11"] = create_hsm_root_key(uri, {"BENCH_HSM_PIN": HSM_PIN})
    return keys


def memory_store(root: Any) -> Any:
    """The in-memory store over ``root``: its material sealed under it since the door (before,
    the memory store kept material unsealed and took no root key). Built here: before
    3fd86bd, ``open_store("memory:")`` made its own root key whatever it was given."""
    import inspect

    from kmspolicy.kms.memory import MemoryStore

    if "root_key" in inspect.signature(MemoryStore).parameters:
        return MemoryStore(root)
    return MemoryStore()


def store_workloads(tag: str, tmp: Path) -> dict[str, Callable[[], object]]:
    from kmspolicy.kms.service import KMS
    from kmspolicy.store import open_store

    urls = {"memory": "memory:", "sqlite": "sqlite://{tmp}/{root}.db"}
    if os.environ.get("BENCH_POSTGRES"):
        urls["postgres"] = f"{PG}?schema=kmsp_cmp_{tag}_{{root}}"
    out: dict[str, Callable[[], object]] = {}
    for root_name, root in root_keys(tag).items():
        for store_name, url in urls.items():
            store = (
                memory_store(root)
                if store_name == "memory"
                else open_store(url.format(tmp=tmp, root=root_name), root)
            )
            kms = KMS(store, quotas=no_key_quota())
            key_id = kms.call("CreateKey")["KeyMetadata"]["KeyId"]
            enc = {"KeyId": key_id, "Plaintext": PLAINTEXT}
            gdk = {"KeyId": key_id, "KeySpec": "AES_256"}
            label = f"store: {store_name}/{root_name}"
            out[f"{label} Encrypt 4KB"] = lambda k=kms, r=enc: k.call("Encrypt", r)
            out[f"{label} GenerateDataKey"] = lambda k=kms, r=gdk: k.call("GenerateDataKey", r)
            out[f"{label} CreateKey"] = lambda k=kms: k.call("CreateKey")
    return out


def seal_workloads(tag: str) -> dict[str, Callable[[], object]]:
    secret = os.urandom(32)
    out: dict[str, Callable[[], object]] = {}
    for name, key in root_keys(tag + "s").items():
        sealed = key.seal(secret, b"aad")
        out[f"root: seal 32 B {name}"] = lambda k=key: k.seal(secret, b"aad")
        out[f"root: unseal 32 B {name}"] = lambda k=key, s=sealed: k.unseal(s, b"aad")
    return out


def authz_workloads() -> dict[str, Callable[[], object]]:
    from kmspolicy import authz
    from kmspolicy.lang import read_json

    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    # the compiled-policy cache is per owner since 0ea933f; before, it was the module's
    extra: dict[str, Any] = {}
    out: dict[str, Callable[[], object]] = {}
    for n in (10, 10_000):
        doc = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": f"U{i}",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/u{i}"},
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                }
                for i in range(n)
            ],
        }
        policies = authz.KmsPolicies(read_json(json.dumps(doc)))
        caller = authz.Caller.from_arn(f"arn:aws:iam::{ACCOUNT}:user/u{n // 2}")
        if hasattr(authz, "PolicyCache"):
            extra = {"matcher": authz.PolicyCache().match}
        out[f"authz: decision {n:,} statements"] = lambda p=policies, c=caller, x=extra: (
            authz.authorize_kms(authz.Request(c, "kms:Decrypt", key), p, **x)
        )
    return out


class Served:
    """``kmspolicy serve`` of this worker's revision (SQLite and the file root key in a
    temporary data dir, the development identity, request quotas off: a bench calls CreateKey
    faster than its 5 per second) and a boto3 client of it."""

    def __init__(self, data_dir: Path) -> None:
        import socket

        import boto3
        from botocore.config import Config

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kmspolicy.cli", "serve", "--port", str(port),
             "--data-dir", str(data_dir), "--request-quotas", "off"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.proc.stdout.readline()  # the startup line: it listens
        self.client = boto3.client(
            "kms",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="AKIAKMSPOLICYLOCAL01",  # the development identity
            aws_secret_access_key="kmspolicy-local-development-secret",
            config=Config(retries={"max_attempts": 1}),
        )
        self._stat = Path(f"/proc/{self.proc.pid}/stat")
        self._tick = os.sysconf("SC_CLK_TCK")

    def cpu(self) -> float:
        """The server process's CPU seconds (every thread; clock ticks)."""
        fields = self._stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._tick

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def server_workloads(data_dir: Path) -> tuple[dict[str, Callable[[], object]], Served]:
    served = Served(data_dir)
    kms = served.client
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT)["CiphertextBlob"]
    return {
        "server: Encrypt 4KB": lambda: kms.encrypt(KeyId=key_id, Plaintext=PLAINTEXT),
        "server: Decrypt 4KB": lambda: kms.decrypt(CiphertextBlob=blob),
        "server: GenerateDataKey": lambda: kms.generate_data_key(KeyId=key_id, KeySpec="AES_256"),
        "server: CreateKey": kms.create_key,
    }, served


def worker(groups: list[str], tag: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        table: dict[str, Callable[[], object]] = {}
        served: Served | None = None
        for group in groups:
            if group in ("api", "client"):
                table.update(service_workloads(group))
            elif group == "store":
                table.update(store_workloads(tag, Path(tmp)))
            elif group == "root":
                table.update(seal_workloads(tag))
            elif group == "authz":
                table.update(authz_workloads())
            elif group == "server":
                workloads, served = server_workloads(Path(tmp) / "served")
                table.update(workloads)
        print(json.dumps(list(table)), flush=True)
        try:
            for line in sys.stdin:
                name, seconds = line.rsplit(" ", 1)
                cpu = served.cpu if served is not None and name.startswith("server:") else None
                used = cpu_per_call(table[name], float(seconds), cpu or time.process_time)
                print(json.dumps(used), flush=True)
        finally:
            if served is not None:
                served.close()


# --- the parent: exports the revisions, alternates the rounds ----------------------------------


def export(rev: str, into: Path) -> Path:
    """The tree of ``rev`` (``.`` is the working tree) as a directory to import from."""
    if rev == ".":
        return ROOT
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    tree = into / commit[:12]
    if tree.exists():  # the same revision on both sides: an A/A run, to see the noise
        return tree
    tree.mkdir()
    archive = subprocess.run(
        ["git", "archive", commit], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def softhsm_token(home: Path) -> dict[str, str]:
    """A SoftHSM2 token for both workers (each makes its own root key in it), or nothing."""
    if not Path(SOFTHSM).exists():
        return {}
    (home / "tokens").mkdir()
    conf = home / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {home / 'tokens'}\nobjectstore.backend = file\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", HSM_PIN,
         "--so-pin", HSM_PIN],
        check=True, capture_output=True, env={**os.environ, **env},
    )  # fmt: skip
    return env


def postgres_env() -> dict[str, str]:
    try:
        import psycopg

        psycopg.connect(PG, connect_timeout=3).close()
    except Exception:  # not installed, not running: the PostgreSQL rows are skipped
        return {}
    return {"BENCH_POSTGRES": "1"}


def drop_schemas(tags: Sequence[str]) -> None:
    """Drop the schemas of this run's workers (their tags) and no other: another comparison
    running at the same time on the same server keeps its own."""
    import psycopg

    mine = tuple(f"kmsp_cmp_{tag}_" for tag in tags)
    with psycopg.connect(PG, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'kmsp_cmp_%'"
        ).fetchall()
        for (name,) in rows:
            if name.startswith(mine):
                conn.execute(f"DROP SCHEMA {name} CASCADE")  # type: ignore[arg-type]


class Worker:
    def __init__(self, tree: Path, groups: list[str], tag: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", "--only", ",".join(groups), "--tag", tag],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tree,
            env={**os.environ, **env, "PYTHONPATH": str(tree)},
        )  # fmt: skip
        self.names: list[str] = json.loads(self._line())

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited with {self.proc.wait()}")
        return line

    def measure(self, name: str, seconds: float) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{name} {seconds}\n")
        self.proc.stdin.flush()
        return float(json.loads(self._line()))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", nargs="?", help="the revision before (a git commit)")
    parser.add_argument("after", nargs="?", default=".", help="default: the working tree (.)")
    parser.add_argument("--only", default=",".join(GROUPS), help="workload groups, comma-separated")
    parser.add_argument("--match", default="", help="only workloads whose name contains this")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=0.2, help="per round and side")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="a", help=argparse.SUPPRESS)
    args = parser.parse_args()
    groups = args.only.split(",")
    if args.worker:
        worker(groups, args.tag)
        return
    if not args.before:
        parser.error("name the revision to compare against")

    with tempfile.TemporaryDirectory(prefix="kmsp-compare-") as tmp:
        env = {**softhsm_token(Path(tmp)), **postgres_env()}
        trees = (export(args.before, Path(tmp)), export(args.after, Path(tmp)))
        run = secrets.token_hex(3)  # PostgreSQL schemas and HSM objects of this run
        tags = [f"{t}{run}" for t in "ab"]
        sides: list[Worker] = []
        try:
            sides += [Worker(tree, groups, tag, env) for tree, tag in zip(trees, tags, strict=True)]
            names = [n for n in sides[0].names if n in sides[1].names and args.match in n]
            samples: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in names}
            for r in range(args.rounds):
                order = (0, 1) if r % 2 == 0 else (1, 0)
                for name in names:
                    for i in order:
                        samples[name][i].append(sides[i].measure(name, args.seconds))
        finally:
            for side in sides:
                side.close()
            if env.get("BENCH_POSTGRES"):
                drop_schemas(tags)

    print(
        f"CPU µs per call, median of {args.rounds} alternating rounds of {args.seconds} s: "
        f"before = {args.before}, after = {args.after}"
    )
    print(f"{'workload':46}{'before':>10}{'after':>10}{'after/before':>14}")
    for name, (before, after) in samples.items():
        b, a = statistics.median(before), statistics.median(after)
        print(f"{name:46}{b:10.1f}{a:10.1f}{a / b:14.2f}")


if __name__ == "__main__":
    main()
