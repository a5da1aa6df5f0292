"""Every example runs with `--fast`, exactly as the README says, in a fresh
process, and prints sensible figures, in every backend's pass (an example
run on one backend only hid a failure on JAX). `switching_backends.py`
starts one process per backend itself, so it runs once."""

import re

from script_runner import BACKEND, run_script, runs_on


def table(output):
    """Rows of a printed results table: name -> the numbers after it."""
    rows = {}
    for line in output.splitlines():
        match = re.match(r"^(\S.*?)\s{2,}(-?\d[\d,.]*(?:\s+[-±\d.,]+)*)\s*$", line)
        if match:
            numbers = re.findall(r"-?\d[\d,]*\.?\d*", match.group(2))
            rows[match.group(1)] = [float(n.replace(",", "")) for n in numbers]
    return rows


def test_digits_comparison_fast():
    output = run_script("examples/digits_dense_vs_czdense.py", "--fast")
    assert f"backend: {BACKEND}" in output
    rows = table(output)
    assert len(rows) == 6, output
    trainable, stored, accuracy = rows["Dense 256-256-10"][:3]
    assert (trainable, stored) == (85_002, 85_002)
    assert rows["CZDense 256-256 + Dense 10"][:2] == [3_594, 3_594]
    assert accuracy > 0.8  # 3 epochs of a 256-256 MLP on digits


def test_save_and_serve_fast():
    output = run_script("examples/save_and_serve.py", "--fast")
    assert "reloaded under" in output and "onnxruntime: predicted class" in output
    difference = float(
        output.split("reloaded under")[1].split("|difference|")[1].split()[0]
    )
    assert difference < 1e-4, output  # logits of size ~10, float32


def test_quickstart_fast():
    output = run_script("examples/quickstart.py", "--fast")
    params = {
        name: int(count.replace(",", ""))
        for name, count in re.findall(r"^(.+?)\s+([\d,]+) params", output, re.M)
    }
    assert params["Dense"] == 64 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10
    assert params["CZDense + FastfoodDense"] < params["Dense"] / 20
    difference = float(output.split("max |difference| of the logits")[1])
    assert difference < 1e-5, output


def test_mnist1d_comparison_fast():
    output = run_script("examples/mnist1d_comparison.py", "--fast")
    assert "MNIST-1D: 4000 train, 1000 test" in output
    rows = table(output)
    assert len(rows) == 7, output
    assert rows["MLP 100-100 (reference)"][0] == 15_210
    assert "± 0.0000" not in output and "±0.0000" not in output
    assert rows["MLP 100-100 (reference)"][1] > 0.45  # chance is 0.1


def test_kernel_regression_fast():
    output = run_script("examples/kernel_regression.py", "--fast")
    scores = [float(s) for s in re.findall(r"test R\^2 (-?[\d.]+)", output)]
    assert len(scores) == 3, output
    exact, sampler, keras_fit = scores
    assert "see the README" not in output  # which said nothing about it
    assert exact > 0.85 and sampler > 0.85 and keras_fit > 0.5, output


@runs_on("tensorflow", "it starts one process per backend itself")
def test_switching_backends_fast():
    output = run_script("examples/switching_backends.py", "--fast")
    for backend in ("tensorflow", "jax", "torch"):
        assert f"{backend:10s} test accuracy" in output, output


def test_compress_a_trained_model_fast():
    output = run_script("examples/compress_a_trained_model.py", "--fast")
    counts = {
        who: int(count.replace(",", ""))
        for who, count in re.findall(
            r"^(teacher|student)\D*?([\d,]+) parameters", output, re.M
        )
    }
    assert counts["teacher"] == 64 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10
    assert counts["student"] < counts["teacher"] / 10, output
    assert "top-1 agreement" in output  # the report
    assert "━" not in output and "Epoch 1/" not in output  # no bars in the table
    reloaded = float(
        output.split("reloaded under")[1].split("|difference|")[1].split()[0]
    )
    served = float(output.split("onnxruntime:")[1].split("|difference|")[1].split()[0])
    assert reloaded < 1e-4 and served < 1e-4, output


def test_fine_tune_with_diagonals_fast():
    output = run_script("examples/fine_tune_with_diagonals.py", "--fast")
    counts = {
        name.strip(): int(count.replace(",", ""))
        for name, count in re.findall(r"^(.+?)\s+([\d,]+) trainable", output, re.M)
    }
    assert counts["head only"] == 5 * 256 + 5
    assert counts["cz_bias adapters"] == counts["head only"] + 4 * 256
    assert counts["Keras LoRA r=1 (biases frozen)"] == 1_285 + (64 + 256) + 512
    merged = output.split("merged into plain Dense layers: max |difference|")[1]
    merged = float(merged.split()[0])
    assert merged < 1e-5, output
    assert "reapplied to the base: max |difference| 0.00e+00" in output, output


def test_fine_tune_pretrained_text_fast():
    output = run_script("examples/fine_tune_pretrained_text.py", "--fast")
    assert f"backend: {BACKEND}" in output
    # The tiny BERT: 2 layers of width 16, a feed-forward of 32; (IA)³ on keys
    # and values (16 each) and the feed-forward output's input (32); a head
    # of 4 classes on 16 features.
    trainable = int(re.search(r"trainable \(ia3 \+ head\) ([\d,]+)", output)[1])
    assert trainable == 2 * (16 + 16 + 32) + 16 * 4 + 4, output
    reloaded = float(output.split("fresh backbone: max |difference|")[1].split()[0])
    merged = float(output.split("reloaded: max |difference|")[1].split()[0])
    assert reloaded < 1e-6 and merged < 1e-5, output
    assert 0 < float(output.split("test accuracy")[1].split()[0]) <= 1
