"""Load on ``aigenbench serve``: N concurrent clients for a while, with bad inputs mixed in.

Starts the real command (``aigenbench serve MODEL``, on 127.0.0.1 only) on the demo's detector
(``runs/demo``, from ``make demo``) or any ``--model``, then runs ``--clients`` threads for
``--duration`` seconds. Each client posts one JPEG at a time (multipart); every
``--bad-every``-th request is instead one of: a truncated JPEG, a decompression bomb (a PNG
whose header says 20000 x 20000), a file over the per-image limit, a text file. Prints the valid
requests per second, their p50/p95 latency, their errors (must be 0), what the bad ones got
(must all be 4xx), and the server's resident memory before and after. Every loop stops by
itself at the deadline; the server is stopped at the end.

    python benchmarks/serve_load.py [--model runs/demo] [--clients 8] [--duration 60]
"""

from __future__ import annotations

import argparse
import io
import itertools
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

MAX_FILE_MB = 2  # the server's --max-file-mb here, so a "huge" upload is a few MB


def jpeg(seed: int, size: int) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def bad_inputs(size: int) -> dict[str, tuple[str, bytes, str]]:
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")
    return {
        "truncated": ("cut.jpg", jpeg(99, size)[:2000], "image/jpeg"),
        "bomb": ("bomb.png", bomb.getvalue(), "image/png"),
        "huge": ("huge.jpg", b"\xff\xd8" + bytes((MAX_FILE_MB + 1) << 20), "image/jpeg"),
        "wrong type": ("notes.txt", b"not an image", "text/plain"),
    }


def resident_mb(pid: int) -> float | None:
    """VmRSS of the process (Linux); None elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(model: str, port: int) -> subprocess.Popen:
    command = shutil.which("aigenbench") or str(Path(sys.executable).parent / "aigenbench")
    return subprocess.Popen(
        [command, "serve", model, "--port", str(port), "--max-file-mb", str(MAX_FILE_MB)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"aigenbench serve exited {process.returncode}: {process.stderr.read()}")
        try:
            if httpx.get(url + "health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.5)
    process.kill()
    sys.exit(f"aigenbench serve did not answer within {timeout:.0f} s")


def client(
    url: str,
    deadline: float,
    images: list[bytes],
    bad: dict[str, tuple[str, bytes, str]],
    bad_every: int,
    offset: int,
    out: dict,
    lock: threading.Lock,
) -> None:
    latencies, valid, bad_answers = [], Counter(), Counter()
    kinds = itertools.cycle(sorted(bad))
    with httpx.Client(timeout=120) as session:
        for count in itertools.count(offset):
            if time.monotonic() >= deadline:
                break
            if bad_every and count % bad_every == bad_every - 1:
                kind = next(kinds)
                try:
                    status = session.post(url + "score", files={"files": bad[kind]}).status_code
                except httpx.HTTPError as error:
                    status = type(error).__name__
                bad_answers[(kind, status)] += 1
                continue
            image = images[count % len(images)]
            started = time.perf_counter()
            try:
                response = session.post(
                    url + "score", files={"files": ("photo.jpg", image, "image/jpeg")}
                )
                status = response.status_code
            except httpx.HTTPError as error:
                status = type(error).__name__
            if status == 200:
                latencies.append(time.perf_counter() - started)
            valid[status] += 1
    with lock:
        out["latencies"] += latencies
        out["valid"].update(valid)
        out["bad"].update(bad_answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="runs/demo", help="exported folder, run or window")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--size", type=int, default=256, help="side of the JPEGs sent (px)")
    parser.add_argument("--bad-every", type=int, default=10, help="one bad request in N (0: none)")
    args = parser.parse_args()
    if not Path(args.model).exists():
        sys.exit(f"{args.model} does not exist: run `make demo` first, or pass --model DIR")

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    process = start(args.model, port)
    try:
        wait_ready(url, process)
        images = [jpeg(seed, args.size) for seed in range(16)]
        bad = bad_inputs(args.size)
        warm = httpx.post(url + "score", files={"files": ("w.jpg", images[0], "image/jpeg")})
        warm.raise_for_status()
        before = resident_mb(process.pid)
        out: dict = {"latencies": [], "valid": Counter(), "bad": Counter()}
        lock = threading.Lock()
        deadline = time.monotonic() + args.duration
        threads = [
            threading.Thread(
                target=client, args=(url, deadline, images, bad, args.bad_every, i, out, lock)
            )
            for i in range(args.clients)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        # The server's memory at each quarter of the load: the first quarter includes the
        # allocator's per-thread arenas; growth after it would be a leak.
        quarters = []
        for quarter in range(1, 5):
            time.sleep(max(0.0, started + quarter * args.duration / 4 - time.monotonic()))
            quarters.append(resident_mb(process.pid))
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        after = resident_mb(process.pid)
        alive = httpx.get(url + "health").status_code == 200
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()

    latencies = sorted(out["latencies"])
    ok = out["valid"][200]
    errors = sum(n for status, n in out["valid"].items() if status != 200)
    p50 = 1000 * statistics.median(latencies) if latencies else float("nan")
    p95 = 1000 * latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan")
    print(f"model {args.model}; {args.clients} clients for {elapsed:.0f} s; JPEG {args.size} px")
    print(f"valid requests: {ok} ok, {errors} errors, {ok / elapsed:.1f} requests/s")
    print(f"latency of valid requests: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    for (kind, status), count in sorted(out["bad"].items(), key=str):
        print(f"bad input {kind!r}: {count} x {status}")
    bad_not_4xx = sum(
        n
        for (_, status), n in out["bad"].items()
        if not (isinstance(status, int) and 400 <= status < 500)
    )
    print(f"bad inputs not answered 4xx: {bad_not_4xx}; server alive after: {alive}")
    memory = "n/a" if before is None or after is None else f"{before:.0f} -> {after:.0f} MB"
    print(f"server resident memory (after warm-up -> after the load): {memory}")
    if all(value is not None for value in quarters):
        shown = ", ".join(f"{value:.0f}" for value in quarters)
        print(f"server resident memory at each quarter of the load: {shown} MB")
    if errors or bad_not_4xx or not alive:
        sys.exit(1)


if __name__ == "__main__":
    main()
