#!/usr/bin/python3
"""Independent PyTorch (CPU) SASRec-style reference on Amazon Beauty, leave-one-out.

The model Aisle's `aisle train --models sequence` trains, written directly in PyTorch, to
compare seconds per epoch and to sanity-check quality (bench/seq.sh runs both).

Data: each line `user item item ...` in time order, item ids 1..n. Per user the last item
is the test item, the second-to-last the validation item, the rest the training sequence
(users with fewer than 3 items keep everything for training). Training examples: users
with >= 2 training items, inputs = train[:-1], targets = train[1:], the last L positions.

Model: item embedding E ((n+1) x d, row 0 = padding), position embedding P (L x d) indexed
by reverse position (the newest input token is position 0); x = E[i] * sqrt(d) + P[rpos],
dropout, zeroed at padding; `blocks` pre-LN blocks of single-head causal self-attention
(never attending to padding; no dropout on the attention probabilities) and a ReLU
feed-forward of hidden size d, each residual branch through dropout; a final LayerNorm;
logits = z E^T. Loss: full softmax over items 1..n (--negatives 0) or a sampled softmax
[positive, N negatives drawn uniformly from 1..n per batch, shared by its tokens], class 0
= the positive, no correction; the mean over real target tokens. Adam(0.9, 0.98, 1e-8).

Windows are left-padded to L; each batch is trimmed to its longest window (the dropped
columns are padding only, which no real token sees: the results are the same).

Evaluation (full ranking): input = the training sequence (validation) or training +
validation item (test), last L items; all items are scored from the newest position;
items of the input history (all of it, not just the last L) are excluded except the
target itself; rank = number of remaining items scoring >= the target (ties count
against it: pessimistic). NDCG@10 = 1/log2(rank+1) when rank <= 10, HR@10 = rank <= 10.

    /usr/bin/python3 bench/seq_ref.py [--epochs 3] [--negatives 256] [--threads 2] [--test]

Output: a `# ...` header, then per epoch `epoch E/N loss X [valid ndcg@10 Y hr@10 Z]  S s`
(S = the epoch's training wall time, evaluation excluded; X = the token-weighted mean
loss of the epoch), then `time per epoch: mean X s (median Y s)` and, with --test,
`test ndcg@10 Y hr@10 Z`.
"""

import argparse
import ctypes
import math
import os
import statistics
import sys
import time

# torch's OpenMP threads spin while they wait, starving the OpenBLAS threads its matmuls
# run on (2 cores: twice slower per batch); passive waiting avoids that. Read when torch
# loads libgomp, so before the import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "datasets",
                            "amazon-beauty", "beauty.txt")


def load(path):
    """(train, valid, test) per user: item lists / ids (0 = none), and n_items."""
    train, valid, test, n = [], [], [], 0
    with open(path) as f:
        for line in f:
            seq = [int(t) for t in line.split()[1:]]
            if not seq:
                continue
            n = max(n, max(seq))
            if len(seq) >= 3:
                train.append(seq[:-2]), valid.append(seq[-2]), test.append(seq[-1])
            else:
                train.append(seq), valid.append(0), test.append(0)
    return train, valid, test, n


def left_pad(seqs, width):
    """int64 tensor (len(seqs), width): the last `width` items of each, left-padded with 0."""
    out = torch.zeros(len(seqs), width, dtype=torch.int64)
    for r, s in enumerate(seqs):
        s = s[-width:]
        if s:
            out[r, width - len(s):] = torch.tensor(s)
    return out


class Dropout(torch.nn.Module):
    """Inverted dropout, as torch.nn.Dropout, with the mask from torch.rand: Debian's
    torch (no MKL) draws bernoulli_ element by element, 2.5x slower on these shapes."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        return x * (torch.rand_like(x) >= self.p) * (1.0 / (1.0 - self.p))


class Block(torch.nn.Module):
    """Pre-LN block: causal single-head self-attention, then a ReLU feed-forward."""

    def __init__(self, d, p):
        super().__init__()
        self.d = d
        self.ln1, self.ln2 = torch.nn.LayerNorm(d, eps=1e-5), torch.nn.LayerNorm(d, eps=1e-5)
        self.qkv = torch.nn.Linear(d, 3 * d)  # Wq, Wk, Wv side by side (one matmul)
        self.out = torch.nn.Linear(d, d)
        self.ff1, self.ff2 = torch.nn.Linear(d, d), torch.nn.Linear(d, d)
        self.drop = Dropout(p)
        with torch.no_grad():
            for i in range(3):  # each of Wq, Wk, Wv its own d x d Xavier-uniform matrix
                torch.nn.init.xavier_uniform_(self.qkv.weight[i * d:(i + 1) * d])
            for lin in (self.out, self.ff1, self.ff2):
                torch.nn.init.xavier_uniform_(lin.weight)
            for lin in (self.qkv, self.out, self.ff1, self.ff2):
                lin.bias.zero_()

    def forward(self, x, allowed):
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        s = torch.bmm(q, k.transpose(1, 2)) / math.sqrt(self.d)
        a = torch.bmm(torch.softmax(s.masked_fill(~allowed, float("-inf")), dim=-1), v)
        x = x + self.drop(self.out(a))
        return x + self.drop(self.ff2(torch.relu(self.ff1(self.ln2(x)))))


class SASRec(torch.nn.Module):
    def __init__(self, n_items, d, blocks, maxlen, p):
        super().__init__()
        self.d = d
        self.E = torch.nn.Parameter(torch.randn(n_items + 1, d) / math.sqrt(d))
        self.P = torch.nn.Parameter(torch.randn(maxlen, d) / math.sqrt(d))
        with torch.no_grad():
            self.E[0].zero_()  # padding: never read (zeroed below), never a target
        self.blocks = torch.nn.ModuleList(Block(d, p) for _ in range(blocks))
        self.ln = torch.nn.LayerNorm(d, eps=1e-5)
        self.drop = Dropout(p)

    def forward(self, seq):
        """seq: (B, W) left-padded item ids -> z (B, W, d)."""
        w = seq.shape[1]
        real = seq != 0
        rpos = torch.arange(w - 1, -1, -1)  # column W-1 (the newest) is position 0
        x = self.drop(self.E[seq] * math.sqrt(self.d) + self.P[rpos]) * real.unsqueeze(-1)
        # query i sees key j <= i that is a real token; a padding query sees itself only
        # (its output is never used, but a fully masked row would be NaN)
        causal = torch.ones(w, w, dtype=torch.bool).tril()
        eye = torch.eye(w, dtype=torch.bool)
        allowed = causal & (real.unsqueeze(1) | eye)
        for b in self.blocks:
            x = b(x, allowed)
        return self.ln(x)


def train_epoch(model, opt, inp, tgt, a, n_items, gen):
    """One pass over the examples in a seeded random order; the token-weighted mean loss."""
    model.train()
    perm = torch.randperm(inp.shape[0], generator=gen)
    total, tokens = 0.0, 0
    for s in range(0, len(perm), a.batch):
        idx = perm[s:s + a.batch]
        w = int((inp[idx] != 0).sum(1).max())  # trim to the batch's longest window
        x, y = inp[idx, -w:], tgt[idx, -w:]
        mask = y != 0
        z = model(x)[mask]  # (T, d): real target tokens only
        pos = y[mask]
        if a.negatives > 0:
            neg = torch.randint(1, n_items + 1, (a.negatives,), generator=gen)
            logits = torch.cat([(z * model.E[pos]).sum(-1, keepdim=True), z @ model.E[neg].t()], dim=1)
            labels = torch.zeros(len(pos), dtype=torch.int64)
        else:
            logits, labels = z @ model.E[1:].t(), pos - 1
        loss = torch.nn.functional.cross_entropy(logits, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item() * len(pos)
        tokens += len(pos)
    return total / tokens


@torch.no_grad()
def evaluate(model, hists, targets, maxlen, batch=512):
    """(NDCG@10, HR@10) of full ranking; hists: input histories, targets: item ids."""
    model.eval()
    ndcg, hr = 0.0, 0
    for s in range(0, len(hists), batch):
        h, t = hists[s:s + batch], torch.tensor(targets[s:s + batch])
        seq = left_pad(h, min(maxlen, max(len(x) for x in h)))
        scores = model(seq)[:, -1, :] @ model.E.t()  # (U, n+1); column 0 = padding
        ts = scores.gather(1, t.unsqueeze(1))
        scores.scatter_(1, left_pad(h, max(len(x) for x in h)), float("-inf"))  # history (and col 0)
        scores.scatter_(1, t.unsqueeze(1), ts)  # the target is ranked even if seen before
        rank = (scores >= ts).sum(1)  # 1-based; ties against the target
        hit = rank <= 10
        hr += int(hit.sum())
        ndcg += float((1.0 / torch.log2(rank[hit].double() + 1.0)).sum())
    return ndcg / len(hists), hr / len(hists)


def blas_setup(threads):
    """Sets OpenBLAS's thread count (torch.set_num_threads does not reach Debian's
    OpenBLAS, which torch's float matmuls call through libblas.so.3) and describes the
    mapped BLAS libraries; warns when none of them is OpenBLAS."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split(None, 5)[-1].strip()
            if ".so" in p and "blas" in os.path.basename(p).lower():
                libs.add(p)
    desc = None
    for p in sorted(libs):
        try:
            lib = ctypes.CDLL(p)
            lib.openblas_set_num_threads(threads)
            lib.openblas_get_config.restype = ctypes.c_char_p
            desc = "%s, %d threads" % (lib.openblas_get_config().decode(), lib.openblas_get_num_threads())
            break
        except (OSError, AttributeError):
            continue
    if desc is None:
        print("WARNING: torch's BLAS is not OpenBLAS (%s): times mean little; apt-get install "
              "libopenblas0-pthread" % ("; ".join(sorted(libs)) or "none mapped"), file=sys.stderr)
    return "; ".join(sorted(libs)) + (" (%s)" % desc if desc else "")


def main():
    ap = argparse.ArgumentParser(description="PyTorch SASRec reference, leave-one-out on Amazon Beauty")
    ap.add_argument("--data", default=os.environ.get("BEAUTY", DEFAULT_DATA), help="beauty.txt [%(default)s]")
    ap.add_argument("--epochs", type=int, default=3, help="[%(default)s]")
    ap.add_argument("--negatives", type=int, default=256, help="sampled negatives per batch, 0 = full softmax [%(default)s]")
    ap.add_argument("--dim", type=int, default=64, help="[%(default)s]")
    ap.add_argument("--blocks", type=int, default=2, help="[%(default)s]")
    ap.add_argument("--maxlen", type=int, default=50, help="L [%(default)s]")
    ap.add_argument("--dropout", type=float, default=0.3, help="[%(default)s]")
    ap.add_argument("--lr", type=float, default=1e-3, help="[%(default)s]")
    ap.add_argument("--batch", type=int, default=128, help="sequences per batch [%(default)s]")
    ap.add_argument("--seed", type=int, default=42, help="[%(default)s]")
    ap.add_argument("--threads", type=int, default=2, help="torch and OpenBLAS threads [%(default)s]")
    ap.add_argument("--eval-every", type=int, default=5, help="validate every E epochs and after the last, 0 = never [%(default)s]")
    ap.add_argument("--valid-users", type=int, default=5000, help="seeded sample of users validated [%(default)s]")
    ap.add_argument("--test", action="store_true", help="test NDCG@10/HR@10 of all users at the end")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    blas = blas_setup(a.threads)
    torch.manual_seed(a.seed)  # init and dropout
    gen = torch.Generator().manual_seed(a.seed)  # order, negatives, validation sample

    t0 = time.perf_counter()
    train, valid, test, n_items = load(a.data)
    ex = [s for s in train if len(s) >= 2]
    inp = left_pad([s[:-1] for s in ex], a.maxlen)
    tgt = left_pad([s[1:] for s in ex], a.maxlen)
    has_valid = [u for u in range(len(train)) if valid[u]]
    vs = torch.randperm(len(has_valid), generator=gen)[:a.valid_users].tolist()
    vusers = [has_valid[i] for i in vs]
    print("# %s: %d users, %d items, %d training sequences, %d target tokens (read in %.2f s)"
          % (a.data, len(train), n_items, len(ex), int((tgt != 0).sum()), time.perf_counter() - t0))

    model = SASRec(n_items, a.dim, a.blocks, a.maxlen, a.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.98), eps=1e-8, weight_decay=0.0)
    print("# torch %s, %d threads; d=%d blocks=%d L=%d dropout=%g negatives=%d batch=%d lr=%g seed=%d"
          % (torch.__version__, torch.get_num_threads(), a.dim, a.blocks, a.maxlen, a.dropout,
             a.negatives, a.batch, a.lr, a.seed))
    print("# blas: %s" % blas)

    times = []
    for e in range(1, a.epochs + 1):
        t = time.perf_counter()
        loss = train_epoch(model, opt, inp, tgt, a, n_items, gen)
        times.append(time.perf_counter() - t)
        ev = ""
        if a.eval_every > 0 and (e % a.eval_every == 0 or e == a.epochs):
            nd, hr = evaluate(model, [train[u] for u in vusers], [valid[u] for u in vusers], a.maxlen)
            ev = " valid ndcg@10 %.4f hr@10 %.4f" % (nd, hr)
        print("epoch %d/%d loss %.4f%s  %.2f s" % (e, a.epochs, loss, ev, times[-1]), flush=True)
    if times:
        print("time per epoch: mean %.2f s (median %.2f s)" % (statistics.mean(times), statistics.median(times)))
    if a.test:
        us = [u for u in range(len(train)) if test[u]]
        nd, hr = evaluate(model, [train[u] + [valid[u]] for u in us], [test[u] for u in us], a.maxlen)
        print("test ndcg@10 %.4f hr@10 %.4f (%d users)" % (nd, hr, len(us)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
