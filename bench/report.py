"""Prints bench/run.sh's figures next to their targets (and the ratio to the pgbench ceiling)."""
import json
import os
import sys

pg_tps = float(sys.argv[1] or 0)
out = sys.argv[2]


def load(name):
    path = os.path.join(out, name)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


sync, large, embedded = load("distributed-sync.json"), load("distributed-large.json"), load("embedded-sync.json")


def kind(report, prefix):
    if not report:
        return None
    for name, k in report["kinds"].items():
        if name.startswith(prefix):
            return k
    return None


def field(k, key):
    return None if k is None else k[key]


rows = []


def row(name, value, unit, target, ok, note=""):
    ratio = f"{value / pg_tps:.2f}x pgbench" if unit == "req/s" and value is not None and pg_tps else ""
    shown = "n/a" if value is None else f"{value:,.1f} {unit}"
    verdict = "n/a" if value is None else ("MET" if ok(value) else "MISSED")
    rows.append((name, shown, target, verdict, ratio, note))


post = kind(large, "POST /Users")
row("pgbench single-row INSERT, 32 clients", pg_tps, "TPS", "(ceiling)", lambda v: True)
row("POST /Users acknowledged, 32 conns", field(post, "per_sec"), "req/s", f">= {pg_tps / 2:,.0f} (50% pgbench)", lambda v: v >= pg_tps / 2)
row("POST /Users p99", field(post, "p99_ms"), "ms", "<= 50 ms", lambda v: v <= 50)
look = kind(large, "GET /Users?filter=userName (lookup)")
users = large["spec"]["users"] if large else 0
row(f"GET /Users?filter=userName eq, {users:,}-user license", field(look, "per_sec"), "req/s", ">= 10,000 req/s", lambda v: v >= 10000)
small = kind(sync, "PATCH /Groups add 100 members")
big = kind(large, "PATCH /Groups add 100 members")
row(f"100-member add PATCH p50, group of {sync['spec']['members_per_group'] if sync else '?'}", field(small, "p50_ms"), "ms", "<= 10 ms", lambda v: v <= 10)
row(f"100-member add PATCH p50, group of {users:,}", field(big, "p50_ms"), "ms", "<= 10 ms", lambda v: v <= 10)
ratio = None if small is None or big is None else big["p50_ms"] / max(small["p50_ms"], 0.001)
row("  ratio big/small group", ratio, "x", "<= 2x", lambda v: v <= 2)
conv = sync.get("initial_convergence_ms") if sync else None
row(f"initial sync {sync['spec']['users'] if sync else '?'} users/10 groups: converged after last write", conv, "ms", "<= 5,000 ms", lambda v: v <= 5000)
ent = kind(sync, "GET /api/v1/entitlements")
row("entitlement check", field(ent, "per_sec"), "req/s", ">= 15,000 req/s", lambda v: v >= 15000)
row("entitlement check p99", field(ent, "p99_ms"), "ms", "<= 5 ms", lambda v: v <= 5)
row("embedded (SQLite) SCIM writes", embedded["writes_per_sec"] if embedded else None, "req/s", ">= 1,000 writes/s", lambda v: v >= 1000)
mem = lambda r, n: r["memory"].get(n, {}).get("peak_rss_mb") if r else None
api_rss = max([m for m in (mem(sync, "api"), mem(large, "api")) if m is not None], default=None)
worker_rss = max([m for m in (mem(sync, "worker"), mem(large, "worker")) if m is not None], default=None)
row("API peak RSS (distributed)", api_rss, "MB", "<= 150 MB", lambda v: v <= 150)
row("worker peak RSS", worker_rss, "MB", "<= 100 MB", lambda v: v <= 100)
row("embedded API peak RSS (info)", mem(embedded, "api"), "MB", "-", lambda v: True)
for name, r in (("distributed sync", sync), ("distributed large", large), ("embedded sync", embedded)):
    if r:
        seats = "seats OK" if all(s["ok"] for s in r["seat_checks"]) else "SEATS WRONG"
        ledger = "ledger OK" if not r["ledger_problems"] else f"LEDGER {len(r['ledger_problems'])} problems"
        extra = f"{r['failures']} failures (5xx/no answer), {seats}, {ledger}, converged={r['converged']}, apply {r['apply_rate_mean']:.0f}/s mean {r['apply_rate_peak']:.0f}/s peak"
        rows.append((f"[{name}] checks", extra, "", "OK" if r["ok"] else "FAILED", "", ""))
width = max(len(r[0]) for r in rows)
for name, shown, target, verdict, ratio, note in rows:
    print(f"{name:<{width}}  {shown:>18}  {target:<26} {verdict:<7} {ratio}")
