"""Item bank speed: build a 100,000-item bank, open it and list its index, decrypt one item.

Each figure stands beside this machine's raw AES-256-GCM speed measured in the same run,
so a slow machine and a slow bank can be told apart. Targets (issue 2): build < 10 s,
open + list index < 1 s, decrypt one item < 50 us median.

    .venv/bin/python benchmarks/bench_bank.py [--size 100000] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from item_bank import keys
from item_bank.catbank import open_bank, read_manifest, write_bank
from item_bank.demo import generate_demo_items

SECTION = "## Item bank"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def aes_gcm_baseline(message_bytes: int, repeat: int) -> tuple[float, float]:
    """(GB/s encrypting one 16 MiB buffer, median seconds to decrypt one item-sized message)."""
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    nonce = os.urandom(12)
    big = os.urandom(16 * 1024 * 1024)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        aead.encrypt(nonce, big, None)
        times.append(time.perf_counter() - start)
    throughput = len(big) / statistics.median(times) / 1e9
    small = aead.encrypt(nonce, os.urandom(message_bytes), b"associated data")
    samples = []
    for _ in range(2000):
        start = time.perf_counter_ns()
        aead.decrypt(nonce, small, b"associated data")
        samples.append(time.perf_counter_ns() - start)
    return throughput, statistics.median(samples) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of build and open")
    parser.add_argument("--write", type=Path, help="update the Item bank section of this file")
    args = parser.parse_args()

    start = time.perf_counter()
    items = generate_demo_items(args.size, seed=1)
    generate_s = time.perf_counter() - start
    plaintext = sum(len(item.model_dump_json(exclude={"images"})) for item in items)
    images = sum(len(image.data) for item in items for image in item.images)
    site = keys.generate("site")
    passphrase = "bench-passphrase"

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.catbank"
        build = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            write_bank(
                items,
                path,
                bank_id="bench",
                passphrases=[passphrase],
                recipients=[site.public_key()],
                signing_key=keys.generate("signing"),
            )
            build.append(time.perf_counter() - start)
        file_bytes = path.stat().st_size
        index_bytes = read_manifest(path).index.length

        open_site, open_pass, metas = [], [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            with open_bank(path, site_key=site) as bank:
                ids = list(bank.index)
                open_site.append(time.perf_counter() - start)
                start = time.perf_counter()
                all_meta = [bank.index[item_id] for item_id in ids]
                metas.append(time.perf_counter() - start)
            start = time.perf_counter()
            with open_bank(path, passphrase=passphrase) as bank:
                ids = list(bank.index)
                open_pass.append(time.perf_counter() - start)
        assert len(ids) == len(all_meta) == args.size

        with open_bank(path, site_key=site) as bank:
            chosen = random.Random(7).sample(ids, min(5000, len(ids)))
            decrypt = []
            for item_id in chosen:  # each id once: every call decrypts, none is cached
                start = time.perf_counter_ns()
                bank.item(item_id)
                decrypt.append(time.perf_counter_ns() - start)
            decrypt_s = statistics.median(decrypt) / 1e9

    mean_item = plaintext // len(items)
    gbps, raw_item_s = aes_gcm_baseline(mean_item, args.repeat)
    raw_build_s = (plaintext + images) / (gbps * 1e9)
    build_s, open_site_s = statistics.median(build), statistics.median(open_site)
    open_pass_s, meta_s = statistics.median(open_pass), statistics.median(metas)
    raw_index_s = index_bytes / (gbps * 1e9)
    index_note = (
        f"{open_site_s / raw_index_s:.0f}x raw AES-GCM over its {index_bytes / 1e6:.1f} MB index"
    )
    rows = [
        ("build (write_bank, signed, 1 passphrase + 1 site)", f"{build_s:.2f} s", "< 10 s",
         f"{build_s / raw_build_s:.0f}x raw AES-GCM over the same {plaintext / 1e6:.0f} MB"),
        ("open + list index (site key)", f"{open_site_s * 1e3:.0f} ms", "< 1 s", index_note),
        ("open + list index (passphrase, Argon2id 64 MiB t=3 p=4)",
         f"{open_pass_s * 1e3:.0f} ms", "< 1 s", "Argon2id is most of it, by design"),
        ("validate all ItemMeta of the index (first full pass)", f"{meta_s * 1e3:.0f} ms", "",
         "lazy: paid once, on first use"),
        ("decrypt one item (uncached, median of 5000)", f"{decrypt_s * 1e6:.1f} us", "< 50 us",
         f"{decrypt_s / raw_item_s:.0f}x a raw AES-GCM decrypt of {mean_item} B "
         f"({raw_item_s * 1e6:.1f} us)"),
        ("raw AES-256-GCM encrypt, 16 MiB buffer", f"{gbps:.2f} GB/s", "", "baseline"),
    ]  # fmt: skip
    command = f"{Path(sys.executable).name} benchmarks/bench_bank.py --size {args.size}"
    text = "\n".join(
        [
            SECTION,
            "",
            f"Machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, Python "
            f"{platform.python_version()}; load average {os.getloadavg()[0]:.1f} at the end "
            "(the machine is shared with other engineers' jobs).  ",
            f"Command: `{command} --repeat {args.repeat}` (medians of {args.repeat} runs; "
            f"{args.size} demo items generated in {generate_s:.1f} s, not counted; bank "
            f"{file_bytes / 1e6:.0f} MB, {images / 1e6:.1f} MB of images).",
            "",
            "| what | median | target | beside raw AES-GCM |",
            "|---|---|---|---|",
            *(f"| {what} | {value} | {target} | {note} |" for what, value, target, note in rows),
            "",
        ]
    )
    print(text)
    if args.write:
        update_section(args.write, text)


def update_section(path: Path, text: str) -> None:
    """Replace (or append) this benchmark's section, leaving the others' sections alone."""
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = current.find(SECTION + "\n")
    if start == -1:
        updated = current.rstrip("\n") + "\n\n" + text
    else:
        end = current.find("\n## ", start + len(SECTION))
        updated = current[:start] + text + ("" if end == -1 else current[end:])
    path.write_text(updated, encoding="utf-8")


if __name__ == "__main__":
    main()
