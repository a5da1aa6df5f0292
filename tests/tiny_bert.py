"""A tiny BERT written in the Hugging Face layout that keras-hub's converter
and `benchmarks/harness/minilm.py` read (`config.json`,
`model.safetensors`, `tokenizer.json`): random weights, a WordPiece
vocabulary of the given words. The loader's tests write it afresh;
`tests/data/tiny_bert` is one written by `python tests/tiny_bert.py`, for
the `--fast` runs of the study and the pretrained-text example."""

import json
import pathlib
import sys

import numpy as np

CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_attention_heads": 2,
    "num_hidden_layers": 2,
    "max_position_embeddings": 64,
    "type_vocab_size": 2,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
}
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tokenizer(words):
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    vocabulary = {token: i for i, token in enumerate(SPECIAL + sorted(set(words)))}
    made = Tokenizer(WordPiece(vocabulary, unk_token="[UNK]"))
    made.normalizer = normalizers.BertNormalizer(lowercase=True)
    made.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    made.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return made


def weights(config, seed):
    rng = np.random.default_rng(seed)
    h, m = config["hidden_size"], config["intermediate_size"]

    def normal(*shape):
        return (0.02 * rng.standard_normal(shape)).astype("float32")

    tensors = {
        "embeddings.word_embeddings.weight": normal(config["vocab_size"], h),
        "embeddings.position_embeddings.weight": normal(
            config["max_position_embeddings"], h
        ),
        "embeddings.token_type_embeddings.weight": normal(2, h),
        "pooler.dense.weight": normal(h, h),
        "pooler.dense.bias": normal(h),
    }
    dense = {"attention.self.query": h, "attention.self.key": h}
    dense |= {"attention.self.value": h, "attention.output.dense": h}
    dense |= {"intermediate.dense": m, "output.dense": h}
    norms = ("embeddings.LayerNorm",)
    for i in range(config["num_hidden_layers"]):
        prefix = f"encoder.layer.{i}."
        for name, out in dense.items():
            inputs = m if name == "output.dense" else h
            tensors[prefix + name + ".weight"] = normal(out, inputs)  # torch layout
            tensors[prefix + name + ".bias"] = normal(out)
        norms += (prefix + "attention.output.LayerNorm", prefix + "output.LayerNorm")
    for norm in norms:
        tensors[norm + ".weight"] = (1 + normal(h)).astype("float32")
        tensors[norm + ".bias"] = normal(h)
    return tensors


def write_tiny_bert(folder, words, seed=0):
    """Writes the tiny BERT into `folder`; returns `folder`."""
    from safetensors.numpy import save_file

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    made = tokenizer(words)
    config = {**CONFIG, "vocab_size": made.get_vocab_size()}
    (folder / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    save_file(weights(config, seed), str(folder / "model.safetensors"))
    made.save(str(folder / "tokenizer.json"))
    return folder


def sample_words():
    """The words of the committed WordNet and fortunes samples."""
    import re

    data = pathlib.Path(__file__).parent / "data"
    text = (data / "wordnet" / "data.noun").read_text()
    text += "".join(p.read_text() for p in sorted((data / "fortunes").iterdir()))
    return re.findall(r"[a-z]+", text.lower())


if __name__ == "__main__":
    out = (
        sys.argv[1]
        if len(sys.argv) > 1
        else pathlib.Path(__file__).parent / "data" / "tiny_bert"
    )
    print(write_tiny_bert(out, sample_words()))
