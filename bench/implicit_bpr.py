"""Times the `implicit` package's CPU BPR on the benchmark data, with the same factors, iterations,
learning rate, regularization and threads as pg_marketing's run. Prints one line: seconds."""
import sys, time
import numpy as np
import scipy.sparse as sp
import implicit

path, factors, iterations, lr, reg, threads = sys.argv[1], *map(float, sys.argv[2:7])
data = np.loadtxt(path, delimiter=",", dtype=np.int64)
users, u = np.unique(data[:, 0], return_inverse=True)
items, i = np.unique(data[:, 1], return_inverse=True)
m = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=(len(users), len(items)))
m.sum_duplicates()
model = implicit.cpu.bpr.BayesianPersonalizedRanking(
    factors=int(factors), learning_rate=lr, regularization=reg, iterations=int(iterations),
    num_threads=int(threads), random_state=42)
t = time.perf_counter()
model.fit(m, show_progress=False)
print(f"{time.perf_counter() - t:.3f}")
