"""Memory and time of diagonal adapters on keras-hub BertBackbones, against
keras-hub's own `enable_lora` on the same layers, on this backend.

Each (config, method) runs in a fresh subprocess, so that its peak resident
memory (`ru_maxrss`) is its own. A run builds the backbone from its config
(random weights: memory and time do not depend on them), puts the adapters on
(`adapters.adapt(backbone, kind=...)`: keras-hub's query and value
projections; `backbone.enable_lora(rank)`: the same layers), then compiles
with Adam and takes training steps on `pooled_output` (batch 8 x 128 tokens),
and finally merges (ours; keras-hub's LoRA has no merge). Reported: the
weights' size, resident memory after build, after adapt, at its peak through
the training steps (before the merge, which LoRA has not: what the issue's
comparison is about) and at its peak over the whole run, on PyTorch the
bytes autograd keeps for one step's backward (`saved_for_backward_bytes`:
exact, where resident memory varies by hundreds of MiB between identical
processes), the median step time of steps 2-4, the trainable parameters and
merge time, and each method's training peak and step time over keras-hub
LoRA r4's of the same run. Run each backend alone (nothing else on the
machine) for step times.

    KERAS_BACKEND=jax python -m benchmarks.speed.adapter_memory
    python -m benchmarks.speed.adapter_memory --quick --out /tmp/x   # a tiny config
"""

import argparse
import json
import os
import pathlib
import resource
import statistics
import subprocess
import time

import keras

from benchmarks.harness.results import (
    ROOT,
    command_line,
    markdown_table,
    rerun_command,
    write_json,
)

CONFIGS = {  # keras-hub BertBackbone arguments
    "35M": {"num_layers": 6, "hidden_dim": 512, "num_heads": 8},
    "110M": {"num_layers": 12, "hidden_dim": 768, "num_heads": 12},  # BERT-base
}
QUICK = {"tiny": {"num_layers": 2, "hidden_dim": 64, "num_heads": 2}}
METHODS = ("cz_bias", "ia3", "fastfood", "lora4")
BATCH, TOKENS = 8, 128


def rss_mib():
    """Resident memory now, from /proc (Linux), in MiB."""
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_run(config, method, vocabulary):
    """Runs in its own process; returns the measurements as a dict."""
    import keras
    import keras_hub
    import numpy as np

    from keras_crosswise import adapters

    keras.utils.set_random_seed(0)
    start_rss = rss_mib()
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=vocabulary,
        intermediate_dim=4 * config["hidden_dim"],
        max_sequence_length=512,
        **config,
    )
    weights_mib = sum(int(np.prod(w.shape)) * 4 for w in backbone.weights) / 2**20
    built_rss = rss_mib()
    began = time.perf_counter()
    if method.startswith("lora"):
        backbone.enable_lora(int(method[4:]))
    else:
        adapters.adapt(backbone, kind=method, seed=0)
    adapt_seconds = time.perf_counter() - began
    adapted_rss = rss_mib()
    trainable = sum(int(np.prod(w.shape)) for w in backbone.trainable_weights)
    rng = np.random.default_rng(0)
    x = {
        "token_ids": rng.integers(0, vocabulary, (BATCH, TOKENS)).astype("int32"),
        "segment_ids": np.zeros((BATCH, TOKENS), "int32"),
        "padding_mask": np.ones((BATCH, TOKENS), "int32"),
    }
    y = {"pooled_output": rng.standard_normal((BATCH, config["hidden_dim"]))}
    saved_mib = None
    if keras.backend.backend() == "torch":
        from benchmarks.harness.models import saved_for_backward_bytes

        tensors = {k: keras.ops.convert_to_tensor(v) for k, v in x.items()}

        def loss():
            outputs = backbone(tensors, training=True)["pooled_output"]
            return keras.ops.mean(outputs**2)

        saved_mib = saved_for_backward_bytes(loss, backbone) / 2**20
    backbone.compile(optimizer="adam", loss={"pooled_output": "mse"})
    steps = []
    for _ in range(4):
        began = time.perf_counter()
        backbone.train_on_batch(x, y)
        steps.append(time.perf_counter() - began)
    peak_train_mib = peak_mib()
    merge_seconds = None
    if not method.startswith("lora"):
        began = time.perf_counter()
        adapters.merge(backbone)
        merge_seconds = time.perf_counter() - began
    return {
        "parameters": backbone.count_params(),
        "weights_mib": weights_mib,
        "rss_start_mib": start_rss,
        "rss_built_mib": built_rss,
        "rss_adapted_mib": adapted_rss,
        "adapt_growth_mib": adapted_rss - built_rss,
        "peak_train_mib": peak_train_mib,
        "saved_for_backward_mib": saved_mib,
        "peak_mib": peak_mib(),
        "trainable": trainable,
        "adapt_seconds": adapt_seconds,
        "step_ms": 1000 * statistics.median(steps[1:]),
        "first_step_ms": 1000 * steps[0],
        "merge_seconds": merge_seconds,
    }


def arguments(parser):
    parser.add_argument("--child", help=argparse.SUPPRESS)


def run(args):
    if args.child:  # a child process: one (config, method), printed as JSON
        config, method, vocabulary = json.loads(args.child)
        print(json.dumps(one_run(config, method, vocabulary)))
        raise SystemExit(0)
    configs, vocabulary = (QUICK, 500) if args.quick else (CONFIGS, 30522)
    methods = ("cz_bias", "lora4") if args.quick else METHODS
    results = {}
    for name, config in configs.items():
        for method in methods:
            child = json.dumps([config, method, vocabulary])
            done = subprocess.run(
                rerun_command(__spec__, "--child", child),
                cwd=ROOT,
                capture_output=True,
                text=True,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"{name} {method} failed:\n{done.stderr[-3000:]}")
            found = json.loads(done.stdout.strip().splitlines()[-1])
            results.setdefault(name, {})[method] = found
            print(name, method, found, flush=True)
        lora = results[name].get("lora4")
        for found in results[name].values():
            if lora is not None:
                found["peak_train_over_lora4"] = (
                    found["peak_train_mib"] / lora["peak_train_mib"]
                )
                found["step_over_lora4"] = found["step_ms"] / lora["step_ms"]
    backend = keras.backend.backend()
    results = {"backend": backend, "batch": [BATCH, TOKENS], "results": results}
    write_json(pathlib.Path(args.out) / f"adapter_memory_{backend}.json", results)
    return results


def report(results):
    rows = [
        (
            name,
            method,
            f"{found['parameters']:,}",
            f"{found['weights_mib']:.0f}",
            f"{found['adapt_growth_mib']:+.1f}",
            f"{100 * found['adapt_growth_mib'] / found['weights_mib']:+.1f}%",
            f"{found['peak_train_mib']:.0f}",
            f"{found.get('peak_train_over_lora4', float('nan')):.3f}",
            f"{found['peak_mib']:.0f}",
            "-"
            if found["saved_for_backward_mib"] is None
            else f"{found['saved_for_backward_mib']:.1f}",
            f"{found['trainable']:,}",
            f"{found['step_ms']:.0f}",
            f"{found.get('step_over_lora4', float('nan')):.2f}",
        )
        for name, methods in results["results"].items()
        for method, found in methods.items()
    ]
    header = (
        "backbone",
        "method",
        "parameters",
        "weights MiB",
        "RSS by adapt MiB",
        "of weights",
        "training peak RSS MiB",
        "/ LoRA r4",
        "peak RSS with merge MiB",
        "kept for backward MiB",
        "trainable",
        "step ms",
        "/ LoRA r4",
    )
    print(markdown_table(header, rows))


if __name__ == "__main__":
    command_line(__doc__, arguments, run, report)
