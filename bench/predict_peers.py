"""The Python peers beside mkt-predict's learners, on the same rows (bench/predict_core.sh runs it).

argv: data dir, out dir (where the `peers` example wrote its scores). Prints one table per check.
"""
import sys, time, warnings
warnings.simplefilter("ignore", FutureWarning)
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
import lightgbm as lgb
from sklift.metrics import qini_auc_score, uplift_auc_score, uplift_at_k

data, out = sys.argv[1], sys.argv[2]
BANK = ["Age", "Experience", "Income", "Family", "CCAvg", "Education", "Mortgage", "Securities Account",
        "CD Account", "Online", "CreditCard"]
bank = pd.read_csv(f"{data}/UniversalBank.csv")
test = bank["ID"] % 5 == 0
X, y = bank.loc[~test, BANK].to_numpy(float), bank.loc[~test, "Personal Loan"].to_numpy()
Xt, yt = bank.loc[test, BANK].to_numpy(float), bank.loc[test, "Personal Loan"].to_numpy()
ours = pd.read_csv(f"{out}/bank_scores.csv")

print("UniversalBank (4,000 train / 1,000 test rows, 11 features): ROC-AUC on the test rows")
rows = [("mkt-predict gbdt (100 trees, 31 leaves)", roc_auc_score(yt, ours["gbdt"]), None),
        ("mkt-predict logistic (l2 = 1)", roc_auc_score(yt, ours["logistic"]), None)]
peers = {
    "scikit-learn HistGradientBoostingClassifier": HistGradientBoostingClassifier(
        max_iter=100, max_leaf_nodes=31, learning_rate=0.1, min_samples_leaf=20, early_stopping=False, random_state=0),
    "LightGBM LGBMClassifier": lgb.LGBMClassifier(
        n_estimators=100, num_leaves=31, learning_rate=0.1, min_child_samples=20, verbose=-1, n_jobs=2),
    "scikit-learn LogisticRegression (C = 1)": LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12, max_iter=1000),
}
for name, m in peers.items():
    m.fit(X, y)
    rows.append((name, roc_auc_score(yt, m.predict_proba(Xt)[:, 1]), m))
for name, auc, _ in rows:
    print(f"  {name:<48} {auc:.4f}")
best_tree_peer = max(auc for name, auc, _ in rows[2:4])
print(f"  gbdt minus the best tree peer: {rows[0][1] - best_tree_peer:+.4f} (target >= -0.005)")

# The design's network beside scikit-learn's of the same shape and training: standardised inputs,
# ReLU 128 and 64, Adam at 0.001, batches of 256, early stopping after 10 epochs without a better
# loss on a tenth of the training rows.
mlp = make_pipeline(StandardScaler(), MLPClassifier(
    hidden_layer_sizes=(128, 64), activation="relu", solver="adam", learning_rate_init=1e-3, batch_size=256,
    alpha=0.0, max_iter=200, early_stopping=True, validation_fraction=0.1, n_iter_no_change=10, random_state=0))
t0 = time.perf_counter()
mlp.fit(X, y)
sk_mlp_s = time.perf_counter() - t0
our_mlp = roc_auc_score(yt, ours["mlp"])
sk_mlp = roc_auc_score(yt, mlp.predict_proba(Xt)[:, 1])
our_mlp_s = float(open(f"{out}/bank_mlp_seconds.txt").read())
print(f"  {'mkt-predict mlp (128-64 ReLU, Adam, early stop)':<48} {our_mlp:.4f}  ({our_mlp_s:.2f} s)")
print(f"  {'scikit-learn MLPClassifier (same shape)':<48} {sk_mlp:.4f}  ({sk_mlp_s:.2f} s)")
print(f"  mlp minus scikit-learn's: {our_mlp - sk_mlp:+.4f}; time ratio(ours / scikit-learn) {our_mlp_s / sk_mlp_s:.2f}")

sk = peers["scikit-learn LogisticRegression (C = 1)"]
coef = np.loadtxt(f"{out}/bank_coef.csv")
diff = np.max(np.abs(coef - np.r_[sk.intercept_, sk.coef_[0]]))
print(f"  logistic coefficients, largest difference from scikit-learn's: {diff:.2e} (target <= 1e-4)")

# Multiclass: Education (1, 2, 3) of the same customers from the other columns and the loan answer.
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, log_loss
EDU = [c for c in BANK if c != "Education"] + ["Personal Loan"]
X, y = bank.loc[~test, EDU].to_numpy(float), bank.loc[~test, "Education"].to_numpy()
Xt, yt = bank.loc[test, EDU].to_numpy(float), bank.loc[test, "Education"].to_numpy()
print("\nUniversalBank Education (3 classes, same split, 11 features): test accuracy, macro-F1, log loss")
ours_m = pd.read_csv(f"{out}/education_metrics.csv").set_index("model")
def line(name, acc, f1, ll, extra=""):
    print(f"  {name:<56} {acc:.4f}  {f1:.4f}  {ll:.4f}{extra}")
worst_metric = 0.0
for model in ours_m.index:
    p = pd.read_csv(f"{out}/education_{model}.csv")
    probs, truth = p[["p1", "p2", "p3"]].to_numpy(), p["truth"].to_numpy()
    called = probs.argmax(axis=1) + 1
    theirs = [accuracy_score(truth, called), balanced_accuracy_score(truth, called),
              f1_score(truth, called, average="macro"), log_loss(truth, probs, labels=[1, 2, 3])]
    mine = ours_m.loc[model, ["accuracy", "balanced_accuracy", "macro_f1", "log_loss"]].to_numpy(float)
    worst_metric = max(worst_metric, float(np.max(np.abs(mine - np.array(theirs)))))
    how = {"gbdt": "softmax, a tree per class each round", "logistic": "multinomial, exact",
           "mlp": "one output per class, softmax"}[model]
    line(f"mkt-predict {model} ({how})", mine[0], mine[2], mine[3],
         f"  ({ours_m.loc[model, 'seconds']:.2f} s)")
multi_peers = {
    "scikit-learn HistGradientBoostingClassifier (softmax)": HistGradientBoostingClassifier(
        max_iter=100, max_leaf_nodes=31, learning_rate=0.1, min_samples_leaf=20, early_stopping=False, random_state=0),
    "LightGBM LGBMClassifier (softmax)": lgb.LGBMClassifier(
        n_estimators=100, num_leaves=31, learning_rate=0.1, min_child_samples=20, verbose=-1, n_jobs=2),
    "scikit-learn LogisticRegression (multinomial, C = 1)": LogisticRegression(C=1.0, max_iter=5000),
    "scikit-learn MLPClassifier (128-64, early stop)": make_pipeline(StandardScaler(), MLPClassifier(
        hidden_layer_sizes=(128, 64), activation="relu", solver="adam", learning_rate_init=1e-3, batch_size=256,
        alpha=0.0, max_iter=200, early_stopping=True, validation_fraction=0.1, n_iter_no_change=10, random_state=0)),
}
for name, m in multi_peers.items():
    t0 = time.perf_counter()
    m.fit(X, y)
    s = time.perf_counter() - t0
    probs = m.predict_proba(Xt)
    called = m.classes_[probs.argmax(axis=1)] if not hasattr(m, "steps") else m.steps[-1][1].classes_[probs.argmax(axis=1)]
    line(name, accuracy_score(yt, called), f1_score(yt, called, average="macro"), log_loss(yt, probs, labels=[1, 2, 3]),
         f"  ({s:.2f} s)")
print(f"  our metrics minus scikit-learn's on our probabilities: largest |diff| {worst_metric:.1e} (target <= 1e-12)")
sk = multi_peers["scikit-learn LogisticRegression (multinomial, C = 1)"]
sk_tight = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y)
ours_coef = np.loadtxt(f"{out}/education_coef.csv", delimiter=",")
theirs_coef = np.c_[sk_tight.intercept_ - sk_tight.intercept_.mean(), sk_tight.coef_]
print(f"  multinomial logistic coefficients (intercepts centred), largest difference from scikit-learn's "
      f"newton-cholesky at tol 1e-12: {np.max(np.abs(ours_coef - theirs_coef)):.2e} (target <= 1e-4)")

print("\nHair-Care-Product promotion (test rows: Validation = 1): our metrics minus scikit-uplift's on the same scores")
scores = pd.read_csv(f"{out}/hair_scores.csv")
metrics = pd.read_csv(f"{out}/hair_metrics.csv").set_index("model")
worst = 0.0
for model in metrics.index:
    u, yy, tt = scores[model].to_numpy(), scores["outcome"].to_numpy(), scores["treated"].to_numpy()
    theirs = [qini_auc_score(yy, u, tt), uplift_auc_score(yy, u, tt),
              uplift_at_k(yy, u, tt, strategy="overall", k=0.1), uplift_at_k(yy, u, tt, strategy="overall", k=0.3)]
    mine = metrics.loc[model, ["qini", "auuc", "uplift_at_10", "uplift_at_30"]].to_numpy(float)
    d = np.max(np.abs(mine - np.array(theirs)))
    worst = max(worst, d)
    print(f"  {model:<32} qini {mine[0]:+.4f} auuc {mine[1]:+.5f} uplift@10% {mine[2]:+.4f} @30% {mine[3]:+.4f}  |diff| {d:.1e}")
print(f"  largest difference: {worst:.1e} (target <= 1e-9)")

if len(sys.argv) > 3:
    n, f, trees = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    rng = np.random.default_rng(7)
    Xs = rng.normal(size=(n, f))
    z = Xs[:, :5] @ np.array([1.0, -0.8, 0.6, 0.4, -0.3]) + 0.5 * np.sin(Xs[:, 5] * 2) + 0.3 * Xs[:, 6] * Xs[:, 7] - 1.0
    ys = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)
    Xs.astype("<f8").tofile(f"{out}/synthetic_x.f64")
    ys.astype("<f8").tofile(f"{out}/synthetic_y.f64")
    m = lgb.LGBMClassifier(n_estimators=trees, num_leaves=31, learning_rate=0.1, min_child_samples=20, verbose=-1,
                           n_jobs=2, max_bin=255)
    start = time.time()
    m.fit(Xs, ys)
    secs = time.time() - start
    print(f"\nsynthetic {n:,} x {f}: LightGBM {trees} trees x 31 leaves on 2 threads: {secs:.2f} s, "
          f"training auc {roc_auc_score(ys, m.predict_proba(Xs)[:, 1]):.4f}")
