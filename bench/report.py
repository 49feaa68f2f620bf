"""Prints bench/run.sh's figures next to their targets (and the ratio to the pgbench ceiling)."""
import json
import os
import sys

pg_tps = float(sys.argv[1] or 0)
out = sys.argv[2]
idps = sys.argv[3:]


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


def row(name, value, unit, target, ok, note="", to_insert=False):
    # Only writes compare with the single-row-insert ceiling (reads: bench/side-by-side.sh).
    ratio = f"{value / pg_tps:.2f}x pgbench" if to_insert and value is not None and pg_tps else ""
    shown = "n/a" if value is None else f"{value:,.1f} {unit}"
    verdict = "n/a" if value is None else "-" if target == "-" else ("MET" if ok(value) else "MISSED")
    rows.append((name, shown, target, verdict, ratio, note))


post = kind(large, "POST /Users")
row("pgbench single-row INSERT, 32 clients", pg_tps, "TPS", "(ceiling)", lambda v: True)
row("POST /Users acknowledged, 32 conns", field(post, "per_sec"), "req/s", f">= {pg_tps / 4:,.0f} (0.25x pgbench)", lambda v: v >= pg_tps / 4, to_insert=True)
row("POST /Users p99", field(post, "p99_ms"), "ms", "<= 50 ms", lambda v: v <= 50)
look = kind(large, "GET /Users?filter=userName (lookup)")
users = large["spec"]["users"] if large else 0
# The lookup and entitlement ratios to pgbench select-only are bench/side-by-side.sh's.
row(f"GET /Users?filter=userName eq, {users:,}-user license (info)", field(look, "per_sec"), "req/s", "-", lambda v: True)
small = kind(sync, "PATCH /Groups add 100 members")
big = kind(large, "PATCH /Groups add 100 members")
row(f"100-member add PATCH p50, group of {sync['spec']['members_per_group'] if sync else '?'} (info)", field(small, "p50_ms"), "ms", "-", lambda v: True)
row(f"100-member add PATCH p50, group of {users:,} (info)", field(big, "p50_ms"), "ms", "-", lambda v: True)
ent = kind(sync, "GET /api/v1/entitlements")
row("entitlement check during the sync (info)", field(ent, "per_sec"), "req/s", "-", lambda v: True)
# Every burst shape converges <= 2 s after its last acknowledged write (10,000 users).
converge = lambda v: v <= 2000
for name, r in [("A (Entra, probes, reads)", sync)] + [(f"C --idp {i}", load(f"idp-{i}.json")) for i in idps] + [("embedded", embedded)]:
    row(f"{name}: initial sync converged after last write", r.get("initial_convergence_ms") if r else None, "ms", "<= 2,000 ms", converge)
    row(f"{name}: converged after the run's last write", r.get("convergence_ms") if r else None, "ms", "<= 2,000 ms", converge)
probes = sync.get("probes") if sync else None
if probes:
    cpu = ", ".join(f"{n} {v:.1f}" for n, v in probes["cpu_us_per_change"].items())
    w = probes["window"]
    rows.append(("A probes: memberships changed", f"{probes['memberships_changed']:,}", f"{w['events_applied']:,} events in {w['secs']:.1f} s ({w['events_per_sec']:.0f}/s)", "", "", ""))
    rows.append(("A probes: CPU us per changed membership", cpu, "", "", "", ""))
row("embedded (SQLite) SCIM writes", embedded["writes_per_sec"] if embedded else None, "req/s", ">= 1,000 writes/s", lambda v: v >= 1000, to_insert=True)
mem = lambda r, n: r["memory"].get(n, {}).get("peak_rss_mb") if r else None
api_rss = max([m for m in (mem(sync, "api"), mem(large, "api")) if m is not None], default=None)
worker_rss = max([m for m in (mem(sync, "worker"), mem(large, "worker")) if m is not None], default=None)
row("API peak RSS (distributed)", api_rss, "MB", "<= 150 MB", lambda v: v <= 150)
row("worker peak RSS", worker_rss, "MB", "<= 100 MB", lambda v: v <= 100)
row("embedded API peak RSS (info)", mem(embedded, "api"), "MB", "-", lambda v: True)
checked = [("distributed sync", sync), ("distributed large", large)] + [(f"idp {i}", load(f"idp-{i}.json")) for i in idps] + [("embedded sync", embedded)]
for name, r in checked:
    if r:
        seats = "seats OK" if all(s["ok"] for s in r["seat_checks"]) else "SEATS WRONG"
        ledger = "ledger OK" if not r["ledger_problems"] else f"LEDGER {len(r['ledger_problems'])} problems"
        extra = f"{r['failures']} failures (5xx/no answer), {seats}, {ledger}, converged={r['converged']}, apply {r['apply_rate_mean']:.0f}/s mean {r['apply_rate_peak']:.0f}/s peak"
        rows.append((f"[{name}] checks", extra, "", "OK" if r["ok"] else "FAILED", "", ""))
width = max(len(r[0]) for r in rows)
for name, shown, target, verdict, ratio, note in rows:
    print(f"{name:<{width}}  {shown:>18}  {target:<26} {verdict:<7} {ratio}")
