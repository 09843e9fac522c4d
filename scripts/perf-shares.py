#!/usr/bin/env python3
"""Where the CPU went during a waybill-bench run, from a perf profile.

    perf record -F 499 -a --call-graph dwarf,16384 -o perf.data -- \
        target/release/waybill-bench --dir /dev/shm/wb --only w2
    perf script -i perf.data -F comm,pid,time,ip,sym,dso --no-inline > perf.txt
    python3 scripts/perf-shares.py perf.txt                # busy-ness per 0.25 s: find a workload's window
    python3 scripts/perf-shares.py perf.txt 6.9 7.9        # the server's and the devices' shares in that window

Samples are the server's (waybill-server), the devices' (waybill-bench),
PostgreSQL's (with --postgres), other processes' or idle (which includes
waiting for the disk). A sample of the server or the devices counts for
the first category, in the order listed, that any frame of its stack
matches.
"""
import collections
import re
import sys

SERVER = [
    ("SQLite writer thread (statements, commit, fsync)", r"storage::sqlite::write_loop"),
    ("write policy", r"waybill_shared::policy"),
    ("fold and projection rows", r"waybill_sync_server::(projection|ingest::order_view|ingest::projected|metrics|outbox::queue|storage::projection)|waybill_shared::fold"),
    ("PostgreSQL client (statements, protocol)", r"tokio_postgres|postgres_protocol|deadpool|storage::postgres"),
    ("SQLite reads (documents, scopes, audiences)", r"waybill_sync_server::storage::sqlite::(run|rows|Sqlite::(rows|snapshot|query))"),
    ("Automerge (load, apply, save, sync messages)", r"^automerge::|^<automerge::|hexane"),
    ("QUIC and TLS", r"quinn|rustls|ring::"),
    ("kernel: UDP send and receive", r"udp_|__sys_sendmsg|__sys_recvmsg"),
    ("tokio scheduling, channels", r"^tokio::|mio::|futex"),
]
DEVICE = [
    ("device store (SQLite)", r"waybill_agent::store|rusqlite|sqlite3_step"),
    ("device fold, tasks, events", r"waybill_agent::(tasks|ops)|waybill_shared::fold|waybill_shared::event"),
    ("Automerge (load, apply, save, sync messages)", r"^automerge::|^<automerge::|hexane"),
    ("QUIC and TLS", r"quinn|rustls|ring::"),
    ("kernel: UDP send and receive", r"udp_|__sys_sendmsg|__sys_recvmsg"),
    ("tokio scheduling, channels", r"^tokio::|mio::|futex"),
]
ALLOC = re.compile(r"malloc|free|realloc|memmove|memcpy|memset|page_fault|alloc_pages")


def samples(path):
    """(command, pid, time, [(symbol, file)] leaf first) per sample."""
    cur = None
    for line in open(path, errors="replace"):
        if not line.strip():
            if cur:
                yield cur
            cur = None
        elif not line.startswith((" ", "\t")):
            m = re.match(r"(.+?)\s+(\d+)\s+([\d.]+):", line)
            cur = [m.group(1).strip(), int(m.group(2)), float(m.group(3)), []] if m else None
        elif cur is not None:
            parts = line.strip().split(" ", 1)
            if len(parts) == 2:
                m = re.match(r"(.*) \((.*)\)$", parts[1])
                cur[3].append((m.group(1), m.group(2).rsplit("/", 1)[-1]) if m else (parts[1], ""))
    if cur:
        yield cur


def main():
    path = sys.argv[1]
    all_samples = list(samples(path))
    procs = {pid: d.split("-")[1] for _, pid, _, st in all_samples for _, d in st if d in ("waybill-server", "waybill-bench")}
    t0 = all_samples[0][2]
    def who(c, pid):
        if c == "swapper":
            return "idle"
        return procs.get(pid, "postgres" if c.startswith("postgres") else "other")
    if len(sys.argv) < 4:
        bins = collections.defaultdict(collections.Counter)
        for c, pid, t, _ in all_samples:
            bins[int((t - t0) / 0.25)][who(c, pid)] += 1
        for b in sorted(bins):
            print(f"{b * 0.25:6.2f} s", dict(bins[b].most_common()))
        return
    lo, hi = float(sys.argv[2]), float(sys.argv[3])
    window = [s for s in all_samples if lo <= s[2] - t0 < hi]
    whole = collections.Counter(who(c, pid) for c, pid, _, _ in window)
    print("the machine:", ", ".join(f"{k} {100 * v / max(len(window), 1):.0f} %" for k, v in whole.most_common()))
    for proc, cats in (("server", SERVER), ("bench", DEVICE)):
        rules = [(n, re.compile(p)) for n, p in cats]
        counts = collections.Counter()
        for c, pid, _, st in window:
            if who(c, pid) != proc or not st:
                continue
            got = next((n for n, rx in rules if any(rx.search(s) for s, _ in st)), None)
            if got is None:
                leaf = " ".join(s for s, _ in st[:8])
                got = "allocator (stack not unwound past it)" if ALLOC.search(leaf) else "other, or stack not unwound"
            counts[got] += 1
        n = sum(counts.values())
        print(f"{proc}: {n} of {len(window)} samples ({100 * n / max(len(window), 1):.0f} % of the machine)")
        for k, v in counts.most_common():
            print(f"  {100 * v / n:5.1f} %  {k}")


if __name__ == "__main__":
    main()
