"""One DistributedDataParallel step with gloo on 2 CPU processes (PyTorch backend).

Keras does not drive torch DDP through `fit`: a Keras model on the torch
backend is a `torch.nn.Module`, so it is wrapped in DDP and trained with a plain
torch loop, as in Keras's distributed-training guide for torch. Run by
tests/test_distribution.py:

    KERAS_BACKEND=torch python tests/distributed/torch_ddp.py OUT.json
"""

import json
import os
import subprocess
import sys
import tempfile

import keras
import numpy as np
import torch
import torch.distributed as dist

from keras_crosswise.layers import CZDense, FastfoodDense

BATCH, LEARNING_RATE = 16, 0.05


def build_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((16,)),
            FastfoodDense(32, activation="relu"),
            CZDense(32, activation="relu"),
            keras.layers.Dense(8),
        ]
    )


def data():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((BATCH, 16)).astype("float32")
    y = rng.standard_normal((BATCH, 8)).astype("float32")
    return torch.from_numpy(x), torch.from_numpy(y)


def sgd_step(module, x, y):
    optimizer = torch.optim.SGD(module.parameters(), lr=LEARNING_RATE)
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(module(x), y)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def worker(rank, world_size, init_file, out_dir):
    """One rank: a DDP step on its half of the batch; weights saved to out_dir."""
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size
    )
    model = build_model()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    x, y = data()
    shard = slice(rank * BATCH // world_size, (rank + 1) * BATCH // world_size)
    loss = sgd_step(ddp, x[shard], y[shard])
    weights = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    np.savez(os.path.join(out_dir, f"rank{rank}.npz"), *weights, loss=loss)
    dist.barrier()  # both ranks are done with every collective
    # Exit without tearing down: on this machine the destructors of the gloo
    # process group and DDP's reducer sometimes block forever at exit.
    sys.stdout.flush()
    os._exit(0)


def launch_ranks(world_size, workdir, timeout=300):
    """Start each rank as its own process (like torchrun) and wait, bounded."""
    init_file = os.path.join(workdir, "init")
    ranks = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--rank",
                str(rank),
                str(world_size),
                init_file,
                workdir,
            ]
        )
        for rank in range(world_size)
    ]
    try:
        codes = [process.wait(timeout=timeout) for process in ranks]
    finally:
        for process in ranks:
            process.kill()
    if any(codes):
        raise RuntimeError(f"DDP ranks exited with codes {codes}")


def main(out_path):
    world_size = 2
    workdir = tempfile.mkdtemp()
    launch_ranks(world_size, workdir)
    model = build_model()
    x, y = data()
    single_loss = sgd_step(model, x, y)
    single = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    ranks = [np.load(os.path.join(workdir, f"rank{r}.npz")) for r in range(world_size)]
    per_rank = [[rank[f"arr_{i}"] for i in range(len(single))] for rank in ranks]
    report = {
        "world_size": world_size,
        "single_loss": single_loss,
        "rank_losses": [float(rank["loss"]) for rank in ranks],
        "max_weight_diff": max(
            float(np.abs(a - b).max())
            for weights in per_rank
            for a, b in zip(weights, single, strict=True)
        ),
    }
    with open(out_path, "w") as handle:
        json.dump(report, handle, indent=1)


if __name__ == "__main__":
    if sys.argv[1] == "--rank":
        rank, world_size, init_file, out_dir = sys.argv[2:6]
        worker(int(rank), int(world_size), init_file, out_dir)
    main(sys.argv[1])
