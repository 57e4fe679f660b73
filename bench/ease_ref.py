#!/usr/bin/python3
"""Independent numpy EASE reference (Steck 2019) on Amazon Beauty, leave-one-out.

Protocol (full ranking): per user the last item is the test item and every item before it
is the history; X is the binary user x item matrix of the histories (duplicates -> 1).
G = X^T X (float64) + lambda I, P = inv(G), B[i,j] = -P[i,j] / P[j,j], diag(B) = 0.
A user's scores are x_u @ B (computed as the sum of the rows of B of the history items,
which is the same product for a binary x_u); history items are excluded (-inf); users with
an empty history are skipped. The test item's rank is 1 + #(items scoring above it) + a
seeded random integer in [0, #other items scoring the same]: ties are broken at random,
never by id. Metrics: HR@10, NDCG@10, HR@20, NDCG@20 (1/log2(rank+1) when rank <= k), MRR
of the rank within the first 100.

Only numpy (Debian's python3-numpy, hence /usr/bin/python3). The BLAS/LAPACK numpy really
uses is read from /proc/self/maps after the inverse: Debian's numpy links libblas.so.3 and
liblapack.so.3, which are the slow reference implementations unless libopenblas0-pthread
(or another optimised provider) is installed; a loud warning is printed when it is not
OpenBLAS.

    /usr/bin/python3 bench/ease_ref.py [--data PATH] [--lambda 100] [--seed 42] [--json]

Without --json the human lines go to stdout; with --json they go to stderr and stdout is
one JSON object: train_seconds (G build + inverse + B), score_seconds (scoring + ranking),
hr@10, ndcg@10, hr@20, ndcg@20, mrr, users, items, blas (plus openblas: true/false, lapack,
lambda, seed).
"""

import argparse
import ctypes
import json
import math
import os
import sys
import time

import numpy as np

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "datasets",
                            "amazon-beauty", "beauty.txt")
KS = (10, 20)
MAX_RANK = 100


def load(path):
    """Histories (lists of item ids, time order, last item removed) and test items."""
    users, hist, test = [], [], []
    with open(path) as f:
        for line in f:
            t = line.split()
            if len(t) < 2:
                continue
            users.append(t[0])
            seq = [int(x) for x in t[1:]]
            hist.append(seq[:-1])
            test.append(seq[-1])
    return users, hist, test


def mapped_libs():
    """Shared objects of this process whose name mentions blas or lapack (real paths)."""
    libs = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) < 6:
                continue
            p = parts[5].strip()
            base = os.path.basename(p).lower()
            if ".so" in base and ("blas" in base or "lapack" in base) and p not in libs:
                libs.append(p)
    return libs


def openblas_config(path):
    """OpenBLAS's own description of itself when the library at PATH is (or pulls in)
    OpenBLAS, else None."""
    try:
        lib = ctypes.CDLL(path)
        fn = lib.openblas_get_config
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_char_p
    cfg = fn().decode(errors="replace").strip()
    try:
        cfg += ", %d threads" % lib.openblas_get_num_threads()
    except AttributeError:
        pass
    return cfg


def describe(paths):
    """'PATH; PATH (OpenBLAS config)' for the mapped libraries, or a note when none is."""
    if not paths:
        return None
    cfg = None
    for p in paths:
        cfg = cfg or openblas_config(p)
    return "; ".join(paths) + (" (%s)" % cfg if cfg else "")


def main():
    ap = argparse.ArgumentParser(description="numpy EASE reference, leave-one-out on Amazon Beauty")
    ap.add_argument("--data", default=os.environ.get("BEAUTY", DEFAULT_DATA), help="beauty.txt [%(default)s]")
    ap.add_argument("--lambda", dest="lam", type=float, default=100.0, help="L2 regularisation [%(default)s]")
    ap.add_argument("--seed", type=int, default=42, help="for tie-breaking [%(default)s]")
    ap.add_argument("--batch", type=int, default=256, help="users scored at once [%(default)s]")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    a = ap.parse_args()
    human = sys.stderr if a.json else sys.stdout

    t_load = time.perf_counter()
    users, hist, test = load(a.data)
    n_items = max(max(test), max((max(h) for h in hist if h), default=0))  # ids are 1..n
    n_inter = sum(len(h) for h in hist) + len(test)
    t_load = time.perf_counter() - t_load
    print("# %s: %d users, %d items, %d interactions (read in %.2f s)"
          % (a.data, len(users), n_items, n_inter, t_load), file=human)

    # ---- training: G = X^T X + lambda I, P = inv(G), B ----
    t0 = time.perf_counter()
    hidx = [np.unique(np.asarray(h, dtype=np.int64) - 1) for h in hist]  # X's rows, binary
    G = np.zeros((n_items, n_items), dtype=np.float64)
    for idx in hidx:
        if idx.size:
            G[np.ix_(idx, idx)] += 1.0  # idx has no duplicates, so this adds x_u^T x_u
    G[np.diag_indices(n_items)] += a.lam
    t_g = time.perf_counter()
    P = np.linalg.inv(G)
    del G
    t_inv = time.perf_counter()
    B = P
    B /= -np.diag(P)[None, :]  # B[i,j] = -P[i,j] / P[j,j]; the division reads diag(P) first
    B[np.diag_indices(n_items)] = 0.0
    t1 = time.perf_counter()
    train_s = t1 - t0

    libs = mapped_libs()
    # libblas.so.3 (what Debian's numpy links) first, then what it pulled in.
    blas = sorted((p for p in libs if "blas" in os.path.basename(p).lower()),
                  key=lambda p: not os.path.basename(p).startswith("libblas"))
    lapack = [p for p in libs if "lapack" in os.path.basename(p).lower()]
    blas_s = describe(blas) or "none mapped (a numpy without an external BLAS?)"
    lapack_s = describe(lapack) or "none mapped"
    print("# blas: %s" % blas_s, file=human)
    print("# lapack: %s" % lapack_s, file=human)
    openblas = any(openblas_config(p) or "openblas" in p.lower() for p in blas)
    if not openblas:
        bar = "!" * 78
        print("%s\nWARNING: numpy is NOT using OpenBLAS: %s\n"
              "WARNING: the training time is that of a slow BLAS and means nothing; install the\n"
              "WARNING: Debian package libopenblas0-pthread (apt-get install libopenblas0-pthread)\n%s"
              % (bar, blas_s, bar), file=sys.stderr)

    # ---- scoring and ranking ----
    t2 = time.perf_counter()
    rng = np.random.default_rng(a.seed)
    hr = [0.0] * len(KS)
    ndcg = [0.0] * len(KS)
    mrr = 0.0
    n_users = 0
    tied = 0  # users whose test item shares its score with another item
    order = [u for u in range(len(users)) if hidx[u].size]
    skipped = len(users) - len(order)
    for s in range(0, len(order), a.batch):
        us = order[s:s + a.batch]
        lens = np.array([hidx[u].size for u in us])
        flat = np.concatenate([hidx[u] for u in us])
        starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
        S = np.add.reduceat(B[flat], starts, axis=0)  # = X_batch @ B for binary rows
        rows = np.repeat(np.arange(len(us)), lens)
        S[rows, flat] = -np.inf  # history excluded
        tgt = np.array([test[u] - 1 for u in us])
        st = S[np.arange(len(us)), tgt]
        above = (S > st[:, None]).sum(axis=1)
        ties = (S == st[:, None]).sum(axis=1) - 1  # the other items with the test item's score
        rank = 1 + above + rng.integers(0, ties + 1)  # in [0, ties], ties at random
        tied += int((ties > 0).sum())
        for r in rank.tolist():
            n_users += 1
            for k in range(len(KS)):
                if r <= KS[k]:
                    hr[k] += 1
                    ndcg[k] += 1.0 / math.log2(r + 1.0)
            if r <= MAX_RANK:
                mrr += 1.0 / r
    score_s = time.perf_counter() - t2

    res = {
        "train_seconds": round(train_s, 3),
        "score_seconds": round(score_s, 3),
        "hr@10": round(hr[0] / n_users, 4),
        "ndcg@10": round(ndcg[0] / n_users, 4),
        "hr@20": round(hr[1] / n_users, 4),
        "ndcg@20": round(ndcg[1] / n_users, 4),
        "mrr": round(mrr / n_users, 4),
        "users": n_users,
        "tied_users": tied,
        "items": n_items,
        "blas": blas_s,
        "openblas": openblas,
        "lapack": lapack_s,
        "lambda": a.lam,
        "seed": a.seed,
    }
    print("numpy EASE lambda=%g: train %.2f s (G %.2f s, inverse %.2f s, B %.2f s), score %.2f s; "
          "%d users (%d skipped, %d with ties), %d items: HR@10 %.4f NDCG@10 %.4f HR@20 %.4f NDCG@20 %.4f MRR %.4f"
          % (a.lam, train_s, t_g - t0, t_inv - t_g, t1 - t_inv, score_s, n_users, skipped, tied, n_items,
             res["hr@10"], res["ndcg@10"], res["hr@20"], res["ndcg@20"], res["mrr"]), file=human)
    if a.json:
        print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
