"""The benchmarks run (in `--quick` mode) and write the JSON and PNG they
promise. Each runs in-process (as `__main__`, with the same arguments), once,
in one backend's pass; their full runs are measured per backend by hand."""

import json

import keras
import numpy as np
import pytest

from script_runner import run_script_in_process as run_script
from script_runner import runs_on


def load_results(folder, name):
    results = json.loads((folder / f"{name}.json").read_text())
    assert (folder / f"{name}.png").stat().st_size > 1000
    assert results["backend"] == keras.backend.backend()
    return results


@runs_on("tensorflow")
def test_fit_speed_quick(tmp_path):
    output = run_script("benchmarks/speed/fit_speed.py", "--quick", "--out", tmp_path)
    results = load_results(tmp_path, f"fit_speed_{keras.backend.backend()}")
    times = results["seconds_per_step"]["64"]
    for name in ("floor", "CZDense", "FastfoodDense", "Dense", "McKernel"):
        assert times[f"{name} train"] > 0 and times[f"{name} infer"] > 0
    grid = results["settings_seconds_per_step"]
    assert len(grid) == 12  # 3 layers x jit_compile x steps_per_execution
    # Every setting runs on TensorFlow (a "fails: ..." entry is for a
    # backend that lacks one, e.g. a PyTorch without torch.compile).
    assert all(isinstance(v, float) for v in grid.values()), grid
    assert "| / floor |" in output


@runs_on("torch", "torch.compile is PyTorch's")
def test_torch_compile_quick(tmp_path):
    output = run_script(
        "benchmarks/speed/torch_compile.py", "--quick", "--out", tmp_path
    )
    results = json.loads((tmp_path / "torch_compile.json").read_text())
    found = results["widths"]["64"]
    assert set(found["seconds"]) == {
        f"{name} {mode} {task}"
        for name in ("FastfoodDense", "Dense")
        for mode in ("eager", "compiled")
        for task in ("train", "infer")
    }
    assert all(seconds > 0 for seconds in found["seconds"].values())
    assert "| 64 | FastfoodDense |" in output


@runs_on("tensorflow", "TFLite's converter needs TensorFlow")
def test_int8_quick(tmp_path):
    output = run_script("benchmarks/quality/int8.py", "--quick", "--out", tmp_path)
    results = json.loads((tmp_path / "int8.json").read_text())
    for found in results["tasks"]["digits"].values():
        for method in ("keras int8", "tflite int8", "tflite dynamic"):
            # Top-1 agreement with the float model: 0.98-1.0 in the full run
            # (docs/benchmarks/int8.json); a wrong scale falls to chance (0.1).
            assert 0.9 <= found[f"{method} agreement"] <= 1, (method, found)
        assert 0 < len(found["tflite worst tensors"]) <= 4
    assert "| digits | Dense 256-256-10 |" in output


@runs_on("tensorflow")
def test_kernel_error_quick(tmp_path):
    run_script("benchmarks/quality/kernel_error.py", "--quick", "--out", tmp_path)
    results = load_results(tmp_path, f"kernel_error_{keras.backend.backend()}")
    for data in ("gaussian d=8", "digits d=64"):
        by_columns = results["errors"][data]
        assert set(by_columns) == {"16", "64"}
        for name in ("McKernel fastfood", "McKernel orthogonal", "RBFSampler"):
            # More columns, a better Gram matrix (the error is ~1/sqrt(D)).
            assert by_columns["64"]["1.0"][name] < by_columns["16"]["1.0"][name]
            assert by_columns["64"]["seconds"][name] > 0
    for accuracy in results["accuracy"]["digits"].values():
        assert 0.5 < accuracy["mean"] <= 1


@runs_on("tensorflow")
def test_laplacian_error_quick(tmp_path):
    run_script("benchmarks/quality/laplacian_error.py", "--quick", "--out", tmp_path)
    results = json.loads((tmp_path / "laplacian_error.json").read_text())
    for errors in results["errors"].values():
        assert set(errors) == {
            "McKernel (fastfood)",
            "RandomFourierFeatures (dense)",
            "RandomFourierFeatures (fastfood)",
        }
        assert all(0 < error < 2 for error in errors.values())


@runs_on("jax")
def test_accuracy_quick(tmp_path):
    output = run_script("benchmarks/quality/accuracy.py", "--quick", "--out", tmp_path)
    results = load_results(tmp_path, "accuracy")
    for dataset in ("MNIST-1D", "digits"):
        models = results[dataset]
        assert models["MLP 100-100 (reference)"]["trainable"] == (
            15_210 if dataset == "MNIST-1D" else 17_610
        )
        paper = models["random forest, 2 random c&z expansions (paper)"]
        # Draws: (2n + 2n) and (4n + 4n) for the expansions, 4n + 4n after.
        width = 40 if dataset == "MNIST-1D" else 64
        assert paper["random_weights"] == 20 * width
        assert 0.2 < paper["accuracy_mean"] <= 1, paper  # chance: 0.1
    # Equal-budget baselines for the searched model of ours (7,050 parameters).
    mnist1d = results["MNIST-1D"]
    baselines = [name for name in mnist1d if "budgets" in mnist1d[name]]
    assert {name.split(" ")[0] for name in baselines} == {"Dense", "MLP"}, baselines
    for name in baselines:
        assert 0 < mnist1d[name]["trainable"] <= 7_050
    (row, *_) = results["equal_budget_verdicts"]["MNIST-1D"]
    assert row[0] == "Dense 128, 1 FastfoodDense block(s)" and row[-1] in (
        "win",
        "tie",
        "loss",
    )
    assert "smallest FastfoodDense model matching the MLP" in output
    assert "most accurate of our models smaller than the MLP" in output


@runs_on("jax")
def test_compress_quick(tmp_path):
    output = run_script(
        "benchmarks/quality/compress.py",
        "--quick",
        "--teachers",
        "mnist1d_convnet",
        "--out",
        tmp_path,
    )
    results = json.loads((tmp_path / "compress.json").read_text())
    assert (tmp_path / "compress_mnist1d_convnet.png").stat().st_size > 1000
    summary = results["teachers"]["mnist1d_convnet"]["summary"]
    budget = summary["compress into fastfood"]["params"]
    assert budget < summary["teacher"]["params"] / 5
    for name in (
        "narrower Dense, trained",
        "narrower Dense, distilled",
        "SVD low rank, distilled",
    ):
        assert 0.8 * budget <= summary[name]["params"] <= budget  # equal budgets
    assert "naive recipe (fresh FastfoodDense, MSE to logits)" in summary
    int8 = summary["teacher int8 (quantize)"]
    assert int8["params"] == summary["teacher"]["params"]
    assert int8["bytes"] < summary["teacher"]["bytes"]  # tiny here: config dominates
    assert "| compress into cz |" in output


@runs_on("torch")
def test_wide_tasks_quick(tmp_path):
    output = run_script(
        "benchmarks/quality/wide_tasks.py", "--quick", "--out", tmp_path
    )
    results = load_results(tmp_path, f"wide_tasks_{keras.backend.backend()}")
    assert set(results["tasks"]) == {
        "friedman1, 1024 inputs",
        "friedman1, 10 inputs",
        "MNIST-1D autoencoder",
    }
    ours = {
        "friedman1, 1024 inputs": "McKernel 1024 (learned) + Dense 1",
        "friedman1, 10 inputs": "McKernel 4096 (fixed) + Dense 1",
        "MNIST-1D autoencoder": "FastfoodDense AE 40-1024-8",
    }
    # Counted by hand: B, G, S (3 x 1024) + sigma + Dense(2048 -> 1); the head
    # on 2 x 4096 fixed features; in the autoencoder, each Fastfood layer has
    # B and G of 1024 entries (blocks x n) and S of `units`: 3 x 1024 where it
    # widens (40 -> 1024, 8 -> 1024), 2 x 1024 + units where it narrows
    # (1024 -> 8, 1024 -> 40), plus the biases 1024 + 8 + 1024 + 40.
    budgets = {
        "friedman1, 1024 inputs": 3 * 1024 + 1 + 2049,
        "friedman1, 10 inputs": 8193,
        "MNIST-1D autoencoder": 2 * 3 * 1024
        + (2 * 1024 + 8)
        + (2 * 1024 + 40)
        + 1024
        + 8
        + 1024
        + 40,
    }
    for task, models in results["tasks"].items():
        assert models[ours[task]]["trainable"] == budgets[task]
        rows = results["verdicts"][task]
        assert rows and all(row[0] == ours[task] for row in rows)
        for _, _, baseline, _, gap, call in rows:
            assert models[baseline]["trainable"] <= budgets[task]
            # The call follows from the printed gap and the two stds.
            mine, theirs = models[ours[task]], models[baseline]
            spread = 100 * max(mine["r2_std"], theirs["r2_std"])
            assert abs(float(gap) - 100 * (mine["r2_mean"] - theirs["r2_mean"])) < 0.06
            expected = "win" if float(gap) > spread else "loss"
            if abs(float(gap)) <= spread:
                expected = "tie"
            if abs(abs(float(gap)) - spread) > 0.06:  # not on a rounding edge
                assert call == expected, (gap, spread, call)
        for r in models.values():
            assert r["r2_mean"] <= 1 and r["inference_ms"] > 0
        assert all(float(row[2]) > 0 for row in results["time_ratios"][task])
    # The low-rank family fits no budget of the 10-input task: 4096 ReLU
    # units after a rank-1 pair already cost 4,106 + 4,096 + 4,097.
    families = {
        row[2].split(" ")[0] for row in results["verdicts"]["friedman1, 10 inputs"]
    }
    assert families == {"Dense"}
    assert "none within 8,193" in output


@runs_on("jax")
def test_fwht_methods_quick(tmp_path):
    output = run_script(
        "benchmarks/speed/fwht_methods.py", "--quick", "--out", tmp_path
    )
    results = json.loads((tmp_path / "fwht_methods_jax_cpu.json").read_text())
    assert set(results["rule_over_fastest"]) == {str(2**k) for k in range(4, 9)}
    # Each ratio is the time of the method the rule picks (written out here
    # from docs/benchmarks.md's rule for JAX on a CPU: a matmul up to 128,
    # Kronecker factors of at most 32 above) over the fastest keras.ops
    # method's, in the same run.
    rule = {16: "matmul", 32: "matmul", 64: "matmul", 128: "matmul"}
    rule[256] = "kronecker 16x16"
    for n, ratio in results["rule_over_fastest"].items():
        measured = results["seconds"][f"256x{n}"]
        times = {k: v for k, v in measured.items() if k not in ("x * c", "native")}
        fastest = results["fastest_at_rule_batch"][n]
        assert times[fastest] == min(times.values())
        assert ratio == pytest.approx(times[rule[int(n)]] / times[fastest])
        if results["native"]["isa"] is not None:  # the kernel, where it is built
            native = results["native"]["ratios"][f"256x{n}"]
            assert native["native_over_floor"] == pytest.approx(
                measured["native"] / measured["x * c"]
            )
            assert native["fastest_keras_ops_over_native"] == pytest.approx(
                times[fastest] / measured["native"]
            )
    assert set(results["seconds"]["256x256"]) >= {"matmul", "butterfly", "x * c"}
    assert "rule / fastest at batch 256, n >= 256: worst" in output


@runs_on("torch", "PyTorch's eager path is the one the native kernel reworked")
def test_fastfood_forward_quick(tmp_path):
    output = run_script(
        "benchmarks/speed/fastfood_forward.py", "--quick", "--out", tmp_path
    )
    results = json.loads((tmp_path / "fastfood_forward_torch.json").read_text())
    (width,) = results["widths"].values()
    seconds, ratios = width["seconds"], width["over_floor"]
    expected = {"x * c", "Dense", "FastfoodDense, keras.ops"}
    if results["native_isa"] is not None:
        expected.add("FastfoodDense, native")
    assert set(seconds) == expected
    assert set(ratios) == expected and ratios["x * c"] == 1
    if "FastfoodDense, native" in expected:  # both paths compute one layer
        assert width["native_vs_keras_ops"] < 1e-5
    assert "width 256:" in output


@runs_on("tensorflow")
def test_fine_tuning_quick(tmp_path):
    output = run_script(
        "benchmarks/quality/fine_tuning.py", "--quick", "--out", tmp_path
    )
    results = load_results(tmp_path, "fine_tuning")
    (task,) = results["tasks"].values()
    methods = task["methods"]
    # Counted by hand on the MLP 64-256-256 with a 5-class head (1,285):
    # BitFit adds the 2 x 256 biases, cz the 2 x 256 output diagonals, cz_bias
    # both; fastfood learns d (64, 256) and s (256, 256); VeRA d (rank 256)
    # and b (256) per layer; LoRA r the r (n + units) of each kernel.
    expected = {
        "head": 1_285,
        "bitfit": 1_285 + 512,
        "cz": 1_285 + 512,
        "cz_bias": 1_285 + 1_024,
        "fastfood": 1_285 + 64 + 256 + 256 + 256,
        "vera": 1_285 + 2 * (256 + 256),
        "lora1": 1_285 + (64 + 256) + (256 + 256),
        "lora1+bias": 1_285 + (64 + 256) + (256 + 256) + 512,
        "lora4": 1_285 + 4 * ((64 + 256) + (256 + 256)),
        "full": 64 * 256 + 256 + 256 * 256 + 256 + 1_285,
    }
    for method, count in expected.items():
        assert methods[method]["trainable"] == count, method
        accuracies = methods[method]["accuracies"]
        assert methods[method]["accuracy_mean"] == pytest.approx(np.mean(accuracies))
    assert {row[0] for row in task["calls"]} == {"cz", "cz_bias", "fastfood"}
    for mine, other, points, call in task["calls"]:
        # From the per-seed accuracies: the paired gaps in points, their mean
        # and spread, and the call beyond the spread.
        gaps = [
            100 * (a - b)
            for a, b in zip(
                methods[mine]["accuracies"], methods[other]["accuracies"], strict=True
            )
        ]
        mean, spread = float(np.mean(gaps)), float(np.std(gaps))
        assert points == f"{mean:+.1f} ± {spread:.1f}", (mine, other)
        assert call == ("win" if mean > spread else "loss" if mean < -spread else "tie")
        # Only baselines with at least our trainable parameters, and BitFit.
        assert other == "bitfit" or (
            methods[other]["trainable"] >= methods[mine]["trainable"]
        )
    assert "| method | trainable | test accuracy | fit time / LoRA r1 |" in output


@runs_on("jax")
def test_adapter_memory_quick(tmp_path):
    output = run_script(
        "benchmarks/speed/adapter_memory.py", "--quick", "--out", tmp_path
    )
    results = json.loads((tmp_path / "adapter_memory_jax.json").read_text())
    tiny = results["results"]["tiny"]
    assert set(tiny) == {"cz_bias", "lora4"}
    # The adapters train far fewer weights than keras-hub's LoRA r=4 on the
    # same layers, and both only a sliver of the backbone.
    assert tiny["cz_bias"]["trainable"] < tiny["lora4"]["trainable"]
    assert tiny["lora4"]["trainable"] < 0.05 * tiny["lora4"]["parameters"]
    assert tiny["cz_bias"]["merge_seconds"] is not None
    # The training peak is read before the merge (LoRA has none), and each
    # method is set against LoRA r4 of the same run.
    for found in tiny.values():
        assert 0 < found["peak_train_mib"] <= found["peak_mib"]
    assert tiny["lora4"]["peak_train_over_lora4"] == 1.0
    assert tiny["cz_bias"]["step_over_lora4"] > 0
    assert "| tiny | cz_bias |" in output


@runs_on("torch", "the native kernel's eager PyTorch path")
def test_fwht_large_n_quick(tmp_path):
    output = run_script(
        "benchmarks/speed/fwht_large_n.py", "--quick", "--out", tmp_path
    )
    results = json.loads((tmp_path / "fwht_large_n_torch.json").read_text())
    assert results["backend"] == "torch"
    times = results["seconds"]["1024"]
    assert set(times) == {
        "x * c",
        "x * c, out=",
        "fwht",
        "kernel into a reused buffer",
        "kernel in place",
        "torch.empty",
        "torch.empty, written once",
    }
    assert all(seconds > 0 for seconds in times.values())
    assert "n = 1024, batch 8" in output
