"""Dataset sync speed: ``stager data sync``'s engine against ``aws s3 sync``, on one S3 server.

    python bench/sync.py                         # awscli from bench/setup_awscli_env.sh's venv, if made
    python bench/sync.py --awscli /path/to/aws   # another awscli
    python bench/sync.py --quick                 # smaller sets, for a smoke run
    python bench/sync.py --rtt-ms 20             # both tools through a proxy adding a WAN's round trip

One run starts the local emulator in its own process (its S3 endpoint on
loopback serves both tools) and times, each on a fresh prefix:

  small   2,000 files of 64 KiB, first sync         target: stager <= 0.5 x awscli
  large   8 files of 64 MiB, first sync             target: stager <= 1.0 x awscli
  no-op   re-sync of 10,000 unchanged files         target: stager <= 2 s and faster than awscli

Both tools run as fresh processes, so both pay interpreter start-up and
imports. stager's process does what ``stager data sync`` does: scan the folder
with the hash cache (warm, as after ``stager data validate``; the cold-cache
time, which hashes every byte, is printed too), then sync. awscli gets the
checksum settings Linode (and the emulator) need through
``AWS_REQUEST_CHECKSUM_CALCULATION`` / ``AWS_RESPONSE_CHECKSUM_VALIDATION``.
Keys travel in the environment, never in arguments. ``--repeat N`` takes the
best of N runs per cell, the tools taking turns so drift hits both alike; each
line also shows the CPU time of the tool's own process and, on Linux, of the
server's process during that run (when it is close to the wall time, the
server is what bounds the run). Numbers are printed, never asserted.

On loopback both tools mostly wait for CPU (the server is Python too, on the
same cores), so the numbers measure per-request overhead. ``--rtt-ms`` puts a
proxy in front of the server that delays every byte by half the round trip in
each direction, as a laptop's path to a Linode region does; then how many
requests a tool keeps in flight is what counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import stager_source_state  # noqa: E402

KIB, MIB = 1024, 1024 * 1024
BUCKET = "bench-sync"
DEFAULT_AWSCLI = Path(os.environ.get("AWSCLI_VENV") or
                      Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stager-bench/awscli-venv"
                      ) / "bin" / "aws"


# -- the stager side, run in a child process -------------------------------------------------


def run_stager(root: str, url: str, cache: str) -> None:
    """What ``stager data sync ROOT URL --endpoint-url ...`` does, minus the CLI: scan (cached), then sync."""
    from stager.storage.hashcache import HashCache
    from stager.storage.manifest import new_manifest, scan_files
    from stager.storage.s3 import S3Location, S3Settings, make_client
    from stager.storage.sync import sync_dataset

    settings = S3Settings(os.environ["BENCH_ENDPOINT"], "us-east-1", os.environ["AWS_ACCESS_KEY_ID"],
                          os.environ["AWS_SECRET_ACCESS_KEY"])
    with HashCache(Path(cache)) as hashes:
        manifest = new_manifest("bench", Path(root), scan_files(Path(root), cache=hashes))
        result = sync_dataset(Path(root), manifest, S3Location.parse(url), make_client(settings), progress=False,
                              say=lambda line: None, cache=hashes)
    print(json.dumps({"sent": len(result.sent), "skipped": result.skipped}))


# -- the parent: data, server, timings -------------------------------------------------------


def make_files(root: Path, count: int, size: int) -> Path:
    """``count`` files of ``size`` random bytes, at most 1,000 per folder (as sharded datasets are)."""
    for i in range(count):
        folder = root / f"part-{i // 1000:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:05d}.bin").write_bytes(os.urandom(size))
    return root


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a running process, from /proc (None where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_emulator(state_dir: Path) -> tuple[subprocess.Popen, dict]:
    process = subprocess.Popen([sys.executable, "-m", "stager", "emulator", "serve", "--state-dir", str(state_dir)],
                               stdout=subprocess.PIPE, text=True)
    return process, json.loads(process.stdout.readline())


class DelayProxy:
    """A TCP proxy on loopback that delays each direction by half of ``rtt_s``, keeping order and bandwidth."""

    def __init__(self, endpoint: str, rtt_s: float) -> None:
        parts = urlsplit(endpoint)
        self.target = (parts.hostname, parts.port)
        self.one_way = rtt_s / 2
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.port = 0

        async def serve() -> None:
            server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            started.set()
            async with server:
                await server.serve_forever()

        threading.Thread(target=lambda: self.loop.run_until_complete(serve()), daemon=True).start()
        started.wait()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    async def _connection(self, reader, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True)

    async def _pump(self, source, sink) -> None:
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await chunks.get()
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                if not data:
                    sink.close()
                    return
                sink.write(data)
                await sink.drain()

        delivery = asyncio.create_task(deliver())
        try:
            while data := await source.read(256 * KIB):
                chunks.put_nowait((loop.time() + self.one_way, data))
        finally:
            chunks.put_nowait((loop.time() + self.one_way, b""))
            await delivery


class Bench:
    def __init__(self, work: Path, info: dict, awscli: Path | None, repeat: int, server_pid: int) -> None:
        from linode_api4 import LinodeClient

        self.work, self.awscli, self.repeat, self.server_pid = work, awscli, repeat, server_pid
        api = LinodeClient(info["token"], base_url=info["base_url"])
        api.object_storage.bucket_create("us-east", BUCKET)
        key = api.object_storage.keys_create("bench")
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID=key.access_key, AWS_SECRET_ACCESS_KEY=key.secret_key,
                        AWS_DEFAULT_REGION="us-east-1", BENCH_ENDPOINT=info["s3_endpoint"],
                        AWS_REQUEST_CHECKSUM_CALCULATION="when_required",
                        AWS_RESPONSE_CHECKSUM_VALIDATION="when_required")
        self.endpoint = info["s3_endpoint"]
        self._prefixes = 0

    def fresh_url(self, tool: str) -> str:
        self._prefixes += 1
        return f"s3://{BUCKET}/{tool}-{self._prefixes}"

    def stager(self, root: Path, url: str, cache: Path) -> tuple[float, float, float | None]:
        command = [sys.executable, __file__, "--child", str(root), url, str(cache)]
        return self._timed(command, "stager")

    def aws(self, root: Path, url: str) -> tuple[float, float, float | None]:
        command = [str(self.awscli), "s3", "sync", "--only-show-errors", "--endpoint-url", self.endpoint,
                   str(root), url]
        return self._timed(command, "awscli")

    def _timed(self, command: list[str], name: str) -> tuple[float, float, float | None]:
        """(wall seconds, CPU seconds of the tool's process, CPU seconds of the server's; CPU: user + system)."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_before = process_cpu(self.server_pid)
        started = time.perf_counter()
        done = subprocess.run(command, env=self.env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        server_after = process_cpu(self.server_pid)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{name} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        server = None if server_before is None or server_after is None else server_after - server_before
        return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), server

    def first_sync(self, root: Path, label: str) -> dict:
        """Best-of-``repeat`` first syncs of ``root`` to fresh prefixes, the tools taking turns."""
        warm = self.work / f"{label}-warm.sqlite"
        self._scan(root, warm)  # as after `stager data validate`
        runs: dict[str, list] = {"stager": [], "awscli": []}
        for _ in range(self.repeat):
            runs["stager"].append(self.stager(root, self.fresh_url("stager"), warm))
            if self.awscli:
                runs["awscli"].append(self.aws(root, self.fresh_url("aws")))
        cold = self.stager(root, self.fresh_url("stager"), self.work / f"{label}-cold-{time.time_ns()}.sqlite")
        return {"stager": min(runs["stager"]), "stager, cold hash cache": cold,
                **({"awscli": min(runs["awscli"])} if runs["awscli"] else {})}

    def no_op(self, root: Path) -> dict:
        warm = self.work / "noop-warm.sqlite"
        stager_url, aws_url = self.fresh_url("stager"), self.fresh_url("aws")
        self.stager(root, stager_url, warm)
        if self.awscli:
            self.aws(root, aws_url)
        runs: dict[str, list] = {"stager": [], "awscli": []}
        for _ in range(self.repeat):
            runs["stager"].append(self.stager(root, stager_url, warm))
            if self.awscli:
                runs["awscli"].append(self.aws(root, aws_url))
        return {tool: min(times) for tool, times in runs.items() if times}

    @staticmethod
    def _scan(root: Path, cache: Path) -> None:
        from stager.storage.hashcache import HashCache
        from stager.storage.manifest import scan_files

        with HashCache(cache) as hashes:
            scan_files(root, cache=hashes)


def report(name: str, times: dict, *, target: str, limit_ratio: float | None = None,
           limit_seconds: float | None = None) -> None:
    print(f"\n{name}  (target: {target})")
    for tool, (seconds, cpu, server) in times.items():
        server_note = "" if server is None else f", the server's {server:5.2f} s"
        print(f"  {tool:<26} {seconds:7.2f} s   (its own CPU {cpu:5.2f} s{server_note})")
    if "awscli" in times:
        ratio = times["stager"][0] / times["awscli"][0]
        verdict = "" if limit_ratio is None else ("  ok" if ratio <= limit_ratio else "  MISSED")
        print(f"  ratio stager/awscli        {ratio:7.2f}{verdict}")
    if limit_seconds is not None:
        verdict = "ok" if times["stager"][0] <= limit_seconds else "MISSED"
        print(f"  stager within {limit_seconds:g} s         {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--awscli", type=Path, default=DEFAULT_AWSCLI, help="the aws executable")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs per cell")
    parser.add_argument("--quick", action="store_true", help="200 small, 2 large, 1,000 no-op files")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="round trip added by a proxy (0: plain loopback)")
    parser.add_argument("--only", default="small,large,noop", help="which cells, comma-separated")
    args = parser.parse_args()

    awscli = args.awscli if args.awscli.is_file() else None
    print(stager_source_state())
    if awscli is None:
        print(f"awscli not found at {args.awscli}: run `bash bench/setup_awscli_env.sh` (or pass --awscli); "
              "timing stager alone")
    small_n, large_n, noop_n = (200, 2, 1000) if args.quick else (2000, 8, 10_000)
    work = Path(tempfile.mkdtemp(prefix="stager-bench-sync-"))
    process = None
    try:
        cells = set(args.only.split(","))
        process, info = start_emulator(work / "emulator")
        where = f"{info['s3_endpoint']} (its own process)"
        if args.rtt_ms > 0:
            info = dict(info, s3_endpoint=DelayProxy(info["s3_endpoint"], args.rtt_ms / 1000).endpoint)
            where += f", through a proxy adding {args.rtt_ms:g} ms per round trip"
        bench = Bench(work, info, awscli, args.repeat, process.pid)
        print(f"S3 server: the emulator's, {where}; {os.cpu_count()} CPUs")
        if "small" in cells:
            small = make_files(work / "small", small_n, 64 * KIB)
            report(f"small: {small_n} files of 64 KiB", bench.first_sync(small, "small"),
                   target="stager <= 0.5 x awscli", limit_ratio=0.5)
        if "large" in cells:
            large = make_files(work / "large", large_n, 64 * MIB)
            report(f"large: {large_n} files of 64 MiB", bench.first_sync(large, "large"),
                   target="stager <= 1.0 x awscli", limit_ratio=1.0)
        if "noop" in cells:
            noop = make_files(work / "noop", noop_n, 4 * KIB)
            report(f"no-op: re-sync of {noop_n} unchanged files", bench.no_op(noop),
                   target="stager <= 2 s and < awscli", limit_ratio=1.0, limit_seconds=2.0)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        run_stager(*sys.argv[2:])
    else:
        main()
