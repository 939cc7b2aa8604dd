#!/usr/bin/env python3
"""Live heap over a run, from a heaptrack trace: what the program holds, not
what malloc keeps for it.

glibc's mallinfo2() counts chunks parked in per-thread caches (tcache) as in
use, so a heap figure from it can grow while the program holds no more. This
reads every allocation and free heaptrack saw and prints, at points across the
run, the bytes still allocated, then the call stacks whose live bytes grew most
between the first point after warm-up and the last one before the end.

    heaptrack -o /tmp/soak .build/release/fusebox soak --days 3 --period 5
    python3 Benchmarks/heap/live_bytes.py /tmp/soak.zst [--from 0.34] [--to 0.97]

--from and --to are fractions of the run's samples (heaptrack samples its clock
about every 10 ms of wall time); the end of a run frees and queries, so stop
short of it.
"""
import argparse
import collections
import subprocess
import sys


def lines(path):
    with subprocess.Popen(["zstd", "-dc", path], stdout=subprocess.PIPE, bufsize=1 << 20) as p:
        yield from p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--from", dest="start", type=float, default=0.34)
    ap.add_argument("--to", dest="end", type=float, default=0.97)
    ap.add_argument("--points", type=int, default=10)
    ap.add_argument("--stacks", type=int, default=8)
    args = ap.parse_args()

    ticks = sum(1 for line in lines(args.trace) if line.startswith(b"c "))
    if ticks == 0:
        sys.exit(f"{args.trace}: no clock samples; is it a heaptrack trace?")
    marks = sorted({max(1, int(ticks * (k + 1) / args.points)) for k in range(args.points - 1)}
                   | {int(ticks * args.start), int(ticks * args.end)})
    sizes, traces, count, strings, ips, frames = [], [], [], [], [], []
    live, tick, totals, kept = 0, 0, {}, {}
    for line in lines(args.trace):
        tag = line[:1]
        if tag == b"+":
            i = int(line[2:], 16)
            count[i] += 1
            live += sizes[i]
        elif tag == b"-":
            i = int(line[2:], 16)
            count[i] -= 1
            live -= sizes[i]
        elif tag == b"a":
            _, size, trace = line.split()
            sizes.append(int(size, 16))
            traces.append(int(trace, 16))
            count.append(0)
        elif tag == b"c":
            tick += 1
            if tick in marks:
                totals[tick] = live
                if tick in (int(ticks * args.start), int(ticks * args.end)):
                    kept[tick] = list(count)
        elif tag == b"s":
            strings.append(line[2:].decode(errors="replace").rstrip("\n"))
        elif tag == b"i":
            ips.append([int(x, 16) for x in line.split()[1:]])
        elif tag == b"t":
            _, ip, parent = line.split()
            frames.append((int(ip, 16), int(parent, 16)))

    print("live bytes across the run:")
    for t in sorted(totals):
        print(f"  {100 * t / ticks:5.1f} %  {totals[t] / 1_048_576:8.3f} MB")

    a, b = (kept[k] for k in sorted(kept))
    growth, blocks = collections.Counter(), collections.Counter()
    for i in range(len(b)):
        before = a[i] if i < len(a) else 0
        if b[i] != before:
            growth[traces[i]] += (b[i] - before) * sizes[i]
            blocks[traces[i]] += b[i] - before
    print(f"\ngrowth from {100 * args.start:.0f} % to {100 * args.end:.0f} %: "
          f"{sum(growth.values()) / 1024:.1f} KB")

    def name(ip_index):
        if not 0 < ip_index <= len(ips):
            return "?"
        entry = ips[ip_index - 1]
        if len(entry) >= 3 and 0 < entry[2] <= len(strings):
            return strings[entry[2] - 1][:120]
        module = strings[entry[1] - 1].rsplit("/", 1)[-1] if 0 < entry[1] <= len(strings) else ""
        return f"{entry[0]:#x} {module}"

    for trace, grown in growth.most_common(args.stacks):
        print(f"\n+{grown} bytes in {blocks[trace]:+d} blocks from")
        depth = 0
        while trace > 0 and depth < 12:
            ip, trace = frames[trace - 1]
            print("   ", name(ip))
            depth += 1


if __name__ == "__main__":
    main()
