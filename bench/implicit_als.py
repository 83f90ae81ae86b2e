"""Times the `implicit` package's CPU ALS on the benchmark data, with the same factors, iterations,
regularization, alpha and threads as pg_marketing's run. Prints one line: seconds."""
import sys, time
import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits
import implicit

path, factors, iterations, reg, alpha, threads = sys.argv[1], *map(float, sys.argv[2:7])
data = np.loadtxt(path, delimiter=",", dtype=np.int64)
users, u = np.unique(data[:, 0], return_inverse=True)
items, i = np.unique(data[:, 1], return_inverse=True)
m = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=(len(users), len(items)))
m.sum_duplicates()
with threadpool_limits(1, "blas"):
    model = implicit.cpu.als.AlternatingLeastSquares(
        factors=int(factors), iterations=int(iterations), regularization=reg, alpha=alpha,
        num_threads=int(threads), calculate_training_loss=False, random_state=42)
    t = time.perf_counter()
    model.fit(m, show_progress=False)
    print(f"{time.perf_counter() - t:.3f}")
