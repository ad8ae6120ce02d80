#!/usr/bin/env python3
"""tests/cluster/ccd_load.py: concurrent CCD updates for t_ccd_conc.sh.

    ccd_load.py run   OUT.json ITER SOCK... : 16 clients (threads, one admin
        connection each, spread over the given nodes' sockets), ITER rounds:
        client c adds row r:<i> to its own key own<c>; adds c<c>:<i> to the
        shared key sh<c%4> and removes its c<c>:<i-1> there (per-key order:
        the remove only succeeds after the add); adds or removes the one row
        tok:1 of the key hot that every client fights over. Every reply
        (ok + generation, or the error code) goes to OUT.json.
    ccd_load.py slow  OUT.json SOCK... : 16 clients; clients 0 and 1 each add
        one row to key slow (whose sync command hangs), the others add 5 rows
        each to their own keys nw<c>.
    ccd_load.py gen FILE SOCK : the node's CCD generation (checkpoint to FILE).
    ccd_load.py check OUT.json GEN0 GEN1 SOCK... : the acknowledged updates,
        replayed in generation order from an empty CCD, each succeed and give
        exactly what every node holds; generations are unique and
        GEN1 - GEN0 = the number of acknowledged updates (none applied twice,
        none lost).
"""
import json, socket, sys, threading

CLIENTS = 16


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    def call(self, req):
        self.s.sendall((json.dumps(req) + "\n").encode())
        line = self.f.readline()
        if not line:
            raise RuntimeError("connection closed")
        return json.loads(line)


def log_op(log, c, op, key, row, r):
    log.append({"client": c, "op": op, "key": key, "row": row, "ok": bool(r.get("ok")),
                "gen": r.get("generation"), "code": r.get("code"), "error": r.get("error")})


def client_run(c, sock, iters, log):
    k = Conn(sock)
    for i in range(iters):
        steps = [("add", "own%d" % c, "r:%d" % i), ("add", "sh%d" % (c % 4), "c%d:%d" % (c, i))]
        if i:
            steps.append(("remove", "sh%d" % (c % 4), "c%d:%d" % (c, i - 1)))
        steps.append(("add" if (i + c) % 2 == 0 else "remove", "hot", "tok:1"))
        for op, key, row in steps:
            r = k.call({"op": "config." + op, "key": key, "row": row})
            log_op(log, c, op, key, row, r)


def client_slow(c, sock, log):
    k = Conn(sock)
    if c < 2:
        r = k.call({"op": "config.add", "key": "slow", "row": "s:%d" % c})
        log_op(log, c, "add", "slow", "s:%d" % c, r)
        return
    for i in range(5):
        r = k.call({"op": "config.add", "key": "nw%d" % c, "row": "z:%d" % i})
        log_op(log, c, "add", "nw%d" % c, "z:%d" % i, r)


def run_threads(fn, socks):
    logs = [[] for _ in range(CLIENTS)]
    ths = [threading.Thread(target=fn, args=(c, socks[c % len(socks)], logs[c]))
           for c in range(CLIENTS)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return [e for l in logs for e in l]


def main():
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "run":
        iters = int(sys.argv[3])
        log = run_threads(lambda c, s, l: client_run(c, s, iters, l), sys.argv[4:])
        json.dump(log, open(out, "w"))
        bad = [e for e in log if not e["ok"] and e["code"] not in ("exists", "notfound")]
        if bad:
            sys.exit("unexpected failures: %s" % bad[:3])
        print("%d updates, %d acknowledged" % (len(log), sum(e["ok"] for e in log)))
    elif mode == "slow":
        log = run_threads(client_slow, sys.argv[3:])
        json.dump(log, open(out, "w"))
        for e in log:
            if e["key"] == "slow":
                if e["ok"] or "timed out" not in (e["error"] or ""):
                    sys.exit("slow update did not time out: %s" % e)
            elif not e["ok"]:
                sys.exit("update failed next to a timed-out one: %s" % e)
        print("slow: %d updates as expected" % len(log))
    elif mode == "gen":
        r = Conn(sys.argv[3]).call({"op": "config.checkpoint", "file": out})
        print(r["record"]["generation"])
    elif mode == "check":
        log = json.load(open(out))
        gen0, gen1 = int(sys.argv[3]), int(sys.argv[4])
        acked = sorted((e for e in log if e["ok"]), key=lambda e: e["gen"])
        gens = [e["gen"] for e in acked]
        if len(set(gens)) != len(gens):
            sys.exit("a generation was given to two updates")
        if gen1 - gen0 != len(acked):
            sys.exit("CCD generation grew by %d for %d acknowledged updates" % (gen1 - gen0, len(acked)))
        if gens and (gens[0] <= gen0 or gens[-1] > gen1):
            sys.exit("generations %d..%d outside %d..%d" % (gens[0], gens[-1], gen0, gen1))
        state = {}
        for e in acked:
            rows = state.setdefault(e["key"], set())
            if e["op"] == "add":
                if e["row"] in rows:
                    sys.exit("replay: add of a present row acknowledged: %s" % e)
                rows.add(e["row"])
            else:
                if e["row"] not in rows:
                    sys.exit("replay: remove of an absent row acknowledged: %s" % e)
                rows.discard(e["row"])
        # Each client's own updates got increasing generations (its order).
        for c in range(CLIENTS):
            g = [e["gen"] for e in log if e["client"] == c and e["ok"]]
            if g != sorted(g):
                sys.exit("client %d: generations out of its order" % c)
        for sock in sys.argv[5:]:
            k = Conn(sock)
            for key, rows in state.items():
                r = k.call({"op": "config.query", "key": key})
                got = set(r.get("rows", []))
                if got != rows:
                    sys.exit("%s key %s: %s, replay gives %s" % (sock, key, sorted(got), sorted(rows)))
        print("check: %d acknowledged updates, %d keys identical on %d nodes" %
              (len(acked), len(state), len(sys.argv) - 5))


main()
