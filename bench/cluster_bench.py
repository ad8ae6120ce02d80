#!/usr/bin/env python3
"""Load generator for bench/cluster_bench.sh (issue 3 point 6).

  cluster_bench.py sanfs SOCKET MODE N CLIENTS
  cluster_bench.py etcd  URL    MODE N CLIENTS

MODE: update (committed writes; sanfs: `config add`, etcd: put), query
(local reads; sanfs: `config query` served from the node's copy, etcd:
serializable range) or queryp (the same, 64 requests in flight per
connection where the protocol allows it: sanfs pipelines, HTTP/1.1 does not). Prints one JSON line: ops, seconds, ops_per_s, p50_ms,
p99_ms. Every client keeps one connection and sends requests one after the
other; clients are separate processes."""
import base64, http.client, json, multiprocessing as mp, os, socket, sys, time


class Sanfs:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    def call(self, req):
        self.s.sendall((json.dumps(req) + "\n").encode())
        r = json.loads(self.f.readline())
        return r

    def update(self, cid, i):
        while True:
            r = self.call({"op": "config.add", "key": "bench", "row": "c%d:%d" % (cid, i)})
            if r["ok"]:
                return
            if r["code"] != "busy":  # one CCD update at a time: retry
                raise RuntimeError(r["error"])

    def query(self, cid, i):
        r = self.call({"op": "config.query", "key": "bench", "pattern": "c0:1"})
        if not r["ok"]:
            raise RuntimeError(r["error"])

    QREQ = (json.dumps({"op": "config.query", "key": "bench", "pattern": "c0:1"}) + "\n").encode()

    def queryp(self, cid, i):
        """64 pipelined queries on one connection (counted as 64 ops)."""
        self.s.sendall(self.QREQ * 64)
        for _ in range(64):
            if not json.loads(self.f.readline())["ok"]:
                raise RuntimeError("query failed")


class Etcd:
    def __init__(self, url):
        host = url.split("//")[1]
        self.c = http.client.HTTPConnection(host)

    def post(self, path, body):
        self.c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = self.c.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError(data)
        return data

    def update(self, cid, i):
        k = base64.b64encode(b"bench/c%d/%d" % (cid, i)).decode()
        self.post("/v3/kv/put", {"key": k, "value": base64.b64encode(b"x").decode()})

    def queryp(self, cid, i):
        for _ in range(64):
            self.query(cid, i)

    def query(self, cid, i):
        self.post("/v3/kv/range", {"key": base64.b64encode(b"bench/c0/1").decode(),
                                   "serializable": True})


def client(args):
    kind, target, mode, n, cid = args
    cid = os.getpid()  # unique rows per client process and run
    c = Sanfs(target) if kind == "sanfs" else Etcd(target)
    op = getattr(c, mode)
    lat = []
    for i in range(n):
        t = time.perf_counter()
        op(cid, i)
        lat.append(time.perf_counter() - t)
    return lat


def main():
    kind, target, mode, n, clients = sys.argv[1:6]
    n, clients = int(n), int(clients)
    if kind == "sanfs":
        s = Sanfs(target)
        s.call({"op": "config.format", "key": "bench", "format": "client:seq"})
        s.call({"op": "config.add", "key": "bench", "row": "c0:1"})
    else:
        Etcd(target).update(0, 1)
    per = max(1, n // clients // (64 if mode == "queryp" else 1))
    t0 = time.perf_counter()
    with mp.Pool(clients) as p:
        lats = p.map(client, [(kind, target, mode, per, 1000 + c) for c in range(clients)])
    dt = time.perf_counter() - t0
    all_ = sorted(x for l in lats for x in l)
    nops = len(all_) * (64 if mode == "queryp" else 1)
    pct = lambda q: all_[min(len(all_) - 1, int(q * len(all_)))] * 1e3
    print(json.dumps({"ops": nops, "seconds": round(dt, 3),
                      "ops_per_s": round(nops / dt), "p50_ms": round(pct(0.5), 3),
                      "p99_ms": round(pct(0.99), 3)}))


if __name__ == "__main__":
    main()
