"""RecBole 1.2.1's SASRec and GRU4Rec on MovieLens-100K, leave-one-out, as bench/sequence_quality.sh
evaluates pg_marketing's models: each user's last rating by time is test (RecBole's 'LS' split
also holds out the one before it for validation), every item the user has not rated is ranked
('full' mode), HR@10 and NDCG@10. Each model runs with its documented defaults (RecBole's
model and overall properties: SASRec 2 layers, 2 heads, hidden 64, CE loss; GRU4Rec 1 layer,
embedding 64, CE loss; Adam 0.001, up to 300 epochs stopping after 10 without a better
validation NDCG@10), on the CPU.

usage: sequence_peers.py <folder holding ml-100k.inter> [model ...]
"""
import os
import sys
import tempfile
import time

import torch

# RecBole 1.2.1 saves its checkpoint with a config object inside, which torch >= 2.6 refuses to
# load under its new weights_only default; the checkpoint is the one this run just wrote.
_load = torch.load
torch.load = lambda *a, **k: _load(*a, **{**k, "weights_only": False})

# The pieces run_recbole calls, without importing recbole.quick_start (it imports ray, which does
# not import under numpy 2).
from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.utils import get_model, get_trainer, init_seed  # noqa: E402


def run(model, config_dict):
    config = Config(model=model, dataset="ml-100k", config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    net = get_model(config["model"])(config, train._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, net)
    trainer.fit(train, valid, saved=True, show_progress=False)
    return trainer.evaluate(test, load_best_model=True, show_progress=False)


def main():
    src = sys.argv[1]
    models = sys.argv[2:] or ["SASRec", "GRU4Rec"]
    work = tempfile.mkdtemp(prefix="recbole-")
    os.makedirs(os.path.join(work, "ml-100k"))
    os.symlink(os.path.join(os.path.abspath(src), "ml-100k.inter"),
               os.path.join(work, "ml-100k", "ml-100k.inter"))
    # RecBole writes its log and tensorboard folders under the working directory.
    os.chdir(work)
    torch.set_num_threads(int(os.environ.get("PEER_THREADS", "2")))
    for model in models:
        config = {
            "data_path": work,
            "checkpoint_dir": os.path.join(work, "saved"),
            "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full",
                          "group_by": "user"},
            "metrics": ["Hit", "NDCG"],
            "topk": [10],
            "valid_metric": "NDCG@10",
            "train_neg_sample_args": None,
            "device": "cpu",
            "use_gpu": False,
            "show_progress": False,
        }
        if os.environ.get("PEER_EPOCHS"):
            config["epochs"] = int(os.environ["PEER_EPOCHS"])
        started = time.time()
        test = run(model, config)
        print(f"recbole_{model:<15} {test['ndcg@10']:9.4f} {test['hit@10']:9.4f} "
              f"{time.time() - started:8.1f}", flush=True)


if __name__ == "__main__":
    main()
