"""`make bench`: every benchmark, one after the other, each printing its own figures.

    .venv/bin/python -m bench.run_all [core banner verify guard export scan proof peer write]
"""

from __future__ import annotations

import subprocess
import sys
import time

from bench.support import ROOT

BENCHMARKS = {
    "core": ["-m", "bench.core_bench", "--breakdown"],
    "banner": ["-m", "bench.banner_size"],
    "verify": ["-m", "bench.banner_verify"],
    "guard": ["-m", "bench.guard_bench"],
    "export": ["-m", "bench.export_bench"],
    "scan": ["-m", "bench.scan_bench"],
    "proof": ["-m", "bench.proof_bench"],
    "peer": ["-m", "bench.peer_bench"],
    "write": ["-m", "bench.write_profile"],
}


def main() -> int:
    chosen = sys.argv[1:] or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    failed = []
    for name in chosen:
        print(f"\n===== {name} =====", flush=True)
        started = time.monotonic()
        if subprocess.run([sys.executable, *BENCHMARKS[name]], cwd=ROOT).returncode != 0:
            failed.append(name)
        print(f"({name}: {time.monotonic() - started:.0f} s)", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
