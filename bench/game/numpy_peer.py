"""The numpy peer of `prefer game bench`: the same tabular updates, written the way the
papers' simulation code writes them (dense P @ pi, log-space updates, softmax).

Prints JSON rows [{"method": ..., "per_second": ...}] like `prefer game bench --json`.
Each figure is the best of --repeats timings of --iterations steps on a random
intransitive n x n matrix (P_ij ~ U(0,1) for i < j, P_ji = 1 - P_ij, P_ii = 1/2).
Defaults match the Rust configs: tau = 0.1, eta = 0.5 (selfplay: eta = 1 / sqrt(t + 1)).
"""

import argparse
import json
import time

import numpy as np


def softmax(t):
    e = np.exp(t - t.max())
    return e / e.sum()


def egpo(P, log_mu, iters, tau=0.1, eta=0.5):
    keep, pull = 1 - eta * tau, eta * tau
    theta = log_mu.copy()
    pi = softmax(theta)
    for _ in range(iters):
        w = P @ pi
        th = keep * theta + pull * log_mu + eta * w
        pi_half = softmax(th)
        w = P @ pi_half
        theta = keep * theta + pull * log_mu + eta * w
        theta -= theta.max()
        pi = softmax(theta)
    return pi


def inpo(P, log_mu, iters, tau=0.1, eta=0.5):
    keep, pull = 1 - eta * tau, eta * tau
    theta = log_mu.copy()
    pi = softmax(theta)
    for _ in range(iters):
        w = P @ pi
        theta = keep * theta + pull * log_mu + eta * w
        theta -= theta.max()
        pi = softmax(theta)
    return pi


def nash_md(P, log_mu, iters, tau=0.1, eta=0.5):
    keep, pull = 1 - eta * tau, eta * tau
    theta = log_mu.copy()
    pi = softmax(theta)
    for _ in range(iters):
        theta = keep * theta + pull * log_mu
        mix = softmax(theta)
        w = P @ mix
        theta = theta + eta * w
        theta -= theta.max()
        pi = softmax(theta)
    return pi


def sppo(P, log_mu, iters, eta=0.5):
    theta = log_mu.copy()
    pi = softmax(theta)
    for _ in range(iters):
        w = P @ pi
        theta = theta + eta * w
        theta -= theta.max()
        pi = softmax(theta)
    return pi


def selfplay(P, log_mu, iters, eta=1.0):
    cum = np.zeros_like(log_mu)
    pi = softmax(log_mu)
    total = np.zeros_like(log_mu)
    for t in range(1, iters + 1):
        w = P @ pi
        cum += w - 0.5
        pi = softmax(log_mu + eta / np.sqrt(t + 1) * cum)
        total += pi
    return total / iters


def matvec(P, q, iters):
    for _ in range(iters):
        w = P @ q
    return w


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    n = a.n
    U = np.triu(rng.random((n, n)), 1)
    P = U + np.tril(1 - U.T, -1)
    np.fill_diagonal(P, 0.5)
    P = np.ascontiguousarray(P)
    log_mu = np.full(n, -np.log(n))
    q = softmax(rng.standard_normal(n))
    rows = []

    def best(fn):
        b = float("inf")
        for _ in range(a.repeats):
            t = time.perf_counter()
            fn()
            b = min(b, time.perf_counter() - t)
        return a.iterations / b

    rows.append({"method": "matvec", "per_second": best(lambda: matvec(P, q, a.iterations))})
    for name, f in [("egpo", egpo), ("inpo", inpo), ("nash-md", nash_md), ("sppo", sppo), ("selfplay", selfplay)]:
        rows.append({"method": name, "per_second": best(lambda f=f: f(P, log_mu, a.iterations))})
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
