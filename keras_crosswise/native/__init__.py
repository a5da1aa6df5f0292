"""The native fast Walsh-Hadamard kernel (CPU): optional, built on first use.

`fwht(method="auto")` runs a small C kernel (`fwht.c`, AVX2 and AVX-512
variants chosen at run time, a portable one elsewhere) on CPU: under JAX
through XLA's FFI, under PyTorch through a `torch.library` custom op, and
under TensorFlow through an op loaded with `tf.load_op_library` (eagerly and
in the graphs of Keras's `fit`, `evaluate` and `predict`; not under XLA).
On JAX and PyTorch the Fastfood layers' whole product, with its gradient,
is one kernel call each way too (`fastfood_for`). It
is compiled from the package's own source by the machine's C/C++ compiler
the first time it is needed, into a cache folder, and reused after. Where it
cannot be built (no compiler, an unsupported platform, a JAX without
`jax.ffi`), everything runs on the portable `keras.ops` path, which also
serves GPUs and every export format.

Environment variables:

- `KERAS_CROSSWISE_NATIVE=0` (or `false`, `off`, `no`) turns the native
  path off; `1` (`true`, `on`, `yes`), the default, leaves it on; another
  value warns and leaves it on.
- `KERAS_CROSSWISE_NATIVE_ISA=portable|avx2|avx512` caps the instruction set
  (default: the widest the CPU runs).
- `KERAS_CROSSWISE_CACHE` is the cache folder (default
  `~/.cache/keras_crosswise`, or `$XDG_CACHE_HOME/keras_crosswise`).
- `CC` and `CXX` name the compilers (default `cc` and `c++`).

Check it with `keras_crosswise.native.status()`.
"""

import contextlib
import ctypes
import functools
import hashlib
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings

import keras

from keras_crosswise._backend_internals import jax2onnx_converting
from keras_crosswise._files import write_atomically
from keras_crosswise._portable_hadamard import (
    device_kind,
    is_power_of_two,
    transform_factor,
)

SOURCE = pathlib.Path(__file__).parent
ISA_LEVELS = ("portable", "avx2", "avx512")
COMPILE_TIMEOUT_S = 120
_OFF = ("0", "false", "off", "no")
_ON = ("1", "true", "on", "yes", "")
# Building, loading and registering happen once per process, under this lock:
# threads whose first call is concurrent (a threaded GridSearchCV) wait for
# the first one instead of defining the op or the FFI target twice.
_LOCK = threading.RLock()


def _once(function):
    """`functools.cache` for a function of no arguments, whose first call
    runs once however many threads make it at the same time."""
    made = []

    @functools.wraps(function)
    def once():
        if not made:
            with _LOCK:
                if not made:
                    made.append(function())
        return made[0]

    return once


def enabled():
    """Whether the environment leaves the native path on
    (`KERAS_CROSSWISE_NATIVE`: `0`, `false`, `off` or `no` turn it off; `1`,
    `true`, `on`, `yes` or unset leave it on; another value warns and leaves
    it on)."""
    value = os.environ.get("KERAS_CROSSWISE_NATIVE", "1").strip().lower()
    if value not in _OFF + _ON:
        warnings.warn(
            f"KERAS_CROSSWISE_NATIVE={value!r} is not one of {_OFF + _ON}; the "
            "native kernel stays on (set it to 0 to turn it off).",
            stacklevel=2,
        )
    return value not in _OFF


_disabled_depth = 0  # how many `disabled()` blocks are open, process-wide


@contextlib.contextmanager
def disabled():
    """Inside the block, every transform takes the portable `keras.ops` path,
    as with `KERAS_CROSSWISE_NATIVE=0`, in the whole process (a plain module
    flag: `torch.compile` guards on it and traces again, where a context
    variable would break its graph); a function traced inside it
    (`jax.jit`, `tf.function`) keeps the path it was traced with.

    Example:

    >>> import keras_crosswise.native
    >>> with keras_crosswise.native.disabled():
    ...     keras_crosswise.native.in_use()
    False
    """
    global _disabled_depth
    with _LOCK:
        _disabled_depth += 1
    try:
        yield
    finally:
        with _LOCK:
            _disabled_depth -= 1


def in_use():
    """Whether a transform may take the native kernel now: not inside
    `disabled()` (whether it is built and applies is `status()`'s)."""
    return _disabled_depth == 0


def cache_folder():
    """Where built kernels are kept."""
    if os.environ.get("KERAS_CROSSWISE_CACHE"):
        return pathlib.Path(os.environ["KERAS_CROSSWISE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "keras_crosswise"


class BuildError(RuntimeError):
    """The native kernel could not be built or loaded."""


def _compiler(variable, default):
    name = os.environ.get(variable, default)
    found = shutil.which(name)
    if found is None:
        raise BuildError(f"no C compiler: ${variable} or `{name}` is not on PATH")
    return found


def _version(compiler):
    try:
        run = subprocess.run(
            [compiler, "--version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise BuildError(f"{compiler} --version failed: {error}") from error
    return run.stdout.splitlines()[0] if run.stdout else ""


def _run(command):
    try:
        run = subprocess.run(
            command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise BuildError(f"{command[0]} failed: {error}") from error
    if run.returncode != 0:
        raise BuildError(
            f"{' '.join(map(str, command))} failed ({run.returncode}):\n"
            + run.stderr[-2000:]
        )


def _build(name, steps, key_parts):
    """Run `steps(folder)` (compile commands writing `folder / "lib.so"`) in a
    temporary folder of the cache, unless an intact library of the same
    sources, compilers and flags is there; then
    move it into place atomically, with its checksum beside it. Returns the
    library's path."""
    key = hashlib.sha256()
    for part in (*key_parts, sys.platform, platform.machine()):
        key.update(str(part).encode() + b"\0")
    target = cache_folder() / f"{name}-{key.hexdigest()[:16]}.so"
    if _intact(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as folder:
        folder = pathlib.Path(folder)
        for command in steps(folder):
            _run(command)
        built = (folder / "lib.so").read_bytes()
    # Atomic and on disk: a process loading the library meanwhile sees all of
    # it or none; the checksum, written last, vouches for it.
    write_atomically(target, lambda file: file.write(built))
    checksum = hashlib.sha256(built).hexdigest().encode()
    write_atomically(_checksum_path(target), lambda file: file.write(checksum))
    return target


def _checksum_path(library):
    return library.with_name(library.name + ".sha256")


def _intact(library):
    """Whether `library` is there whole: its SHA-256 is the one written
    beside it when it was built. A truncated library (a full disk, a killed
    copy) would kill the process with SIGBUS when loaded; an empty or
    foreign one would never load."""
    try:
        expected = _checksum_path(library).read_bytes().strip().decode()
        return hashlib.sha256(library.read_bytes()).hexdigest() == expected
    except (OSError, UnicodeDecodeError):
        return False


def _sources(*names):
    return [(SOURCE / name).read_bytes() for name in names]


C_FLAGS = ("-O3", "-fPIC", "-std=c11")


def _check_posix():
    if os.name != "posix":
        raise BuildError(
            f"the native kernel is built on POSIX systems; this is {os.name}"
        )


def _build_core():
    _check_posix()
    cc = _compiler("CC", "cc")
    return _build(
        "fwht",
        lambda folder: [
            [
                cc,
                *C_FLAGS,
                "-shared",
                str(SOURCE / "fwht.c"),
                "-o",
                str(folder / "lib.so"),
            ]
        ],
        [*_sources("fwht.c", "fwht_kernel.h"), _version(cc), C_FLAGS],
    )


def _build_binding(name, binding, cxx_flags, link_flags, versions):
    """Build the library `name`: `fwht.c` compiled by the C compiler, linked
    with the C++ `binding` beside it (`cxx_flags` before the sources,
    `link_flags` after); `versions` (the framework's) join the cache key."""
    cc, cxx = _compiler("CC", "cc"), _compiler("CXX", "c++")

    def steps(folder):
        return [
            [cc, *C_FLAGS, "-c", str(SOURCE / "fwht.c"), "-o", str(folder / "fwht.o")],
            [
                cxx,
                "-O2",
                "-fPIC",
                "-shared",
                *cxx_flags,
                str(SOURCE / binding),
                str(folder / "fwht.o"),
                "-o",
                str(folder / "lib.so"),
                *link_flags,
            ],
        ]

    return _build(
        name,
        steps,
        [
            *_sources("fwht.c", "fwht_kernel.h", binding),
            _version(cc),
            _version(cxx),
            C_FLAGS,
            cxx_flags,
            link_flags,
            *versions,
        ],
    )


def _build_jax():
    _check_posix()
    try:
        import jax
        import jax.ffi
    except ImportError as error:
        raise BuildError(f"this JAX has no `jax.ffi` ({error})") from error
    flags = ["-std=c++17", f"-I{jax.ffi.include_dir()}"]
    return _build_binding("fwht_jax", "fwht_jax.cc", flags, [], [jax.__version__])


def _build_tensorflow():
    _check_posix()
    try:
        import tensorflow as tf
    except ImportError as error:  # pragma: no cover (the TF backend has it)
        raise BuildError(f"TensorFlow is not importable ({error})") from error
    # TensorFlow's headers warn by the hundred: `-w`.
    return _build_binding(
        "fwht_tf",
        "fwht_tf.cc",
        ["-w", *tf.sysconfig.get_compile_flags()],
        tf.sysconfig.get_link_flags(),
        [tf.__version__],
    )


def _isa_wanted():
    wanted = os.environ.get("KERAS_CROSSWISE_NATIVE_ISA", "").strip().lower()
    if not wanted:
        return -1
    if wanted not in ISA_LEVELS:
        raise BuildError(
            f"KERAS_CROSSWISE_NATIVE_ISA must be one of {ISA_LEVELS}; got {wanted!r}"
        )
    return ISA_LEVELS.index(wanted)


def _open(path):
    library = ctypes.CDLL(str(path))
    sizes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64]
    for suffix in ("f32", "f64"):
        # (src, dst, rows, n, factor) -> status
        plain = getattr(library, f"crosswise_fwht_{suffix}")
        plain.argtypes, plain.restype = [*sizes, ctypes.c_double], ctypes.c_int
        # (src, dst, rows, n, factor, diagonal, permutation, blocks) -> status
        step = getattr(library, f"crosswise_fastfood_step_{suffix}")
        step.argtypes = [
            *sizes,
            ctypes.c_double,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int64,
        ]
        step.restype = ctypes.c_int
        # (x, y, rows, d, n, blocks, outputs, signs, perm, gaussian, scale,
        # bias) -> status; the backward: (x, g, rows, d, n, blocks, outputs,
        # signs, perm, gaussian, scale, dx, dsigns, dgaussian, dscale, dbias)
        forward = getattr(library, f"crosswise_fastfood_forward_{suffix}")
        forward.argtypes = [*sizes, *[ctypes.c_int64] * 3, *[ctypes.c_void_p] * 5]
        backward = getattr(library, f"crosswise_fastfood_backward_{suffix}")
        backward.argtypes = [*sizes, *[ctypes.c_int64] * 3, *[ctypes.c_void_p] * 9]
        forward.restype = backward.restype = ctypes.c_int
    library.crosswise_fwht_level_name.restype = ctypes.c_char_p
    library.crosswise_fwht_select(_isa_wanted())
    return library


class _Loaded:
    """One library, or why there is none."""

    def __init__(self, build):
        self.library = self.path = self.error = None
        if not enabled():
            self.error = "turned off by KERAS_CROSSWISE_NATIVE"
            return
        try:
            self.path = build()
        except (BuildError, OSError) as error:
            self.error = str(error)
            return
        try:
            self.library = _open(self.path)
        except BuildError as error:  # a bad KERAS_CROSSWISE_NATIVE_ISA
            self.error = str(error)
        except (OSError, AttributeError) as error:
            # Intact by its checksum, yet not our kernel (both files edited):
            # removed, so that the next process builds it again (this one
            # cannot load another file of the same name).
            for path in (self.path, _checksum_path(self.path)):
                path.unlink(missing_ok=True)
            self.error = (
                f"the cached {self.path.name} was not a keras-crosswise kernel "
                f"({error}); removed, the next process builds it again"
            )

    @property
    def isa(self):
        if self.library is None:
            return None
        return self.library.crosswise_fwht_level_name(
            self.library.crosswise_fwht_level()
        ).decode()


@_once
def core():
    """The C library for PyTorch (through ctypes); built on first call."""
    return _Loaded(_build_core)


@_once
def jax_library():
    """The C library with its XLA FFI handler, registered with JAX; built and
    registered on first call."""
    loaded = _Loaded(_build_jax)
    if loaded.library is not None:
        try:  # a JAX without these internals, or an XLA refusing the handler
            from keras_crosswise.native import _jax

            _jax.register(loaded.library)
        except Exception as error:
            loaded.library, loaded.error = None, f"registering with JAX failed: {error}"
    return loaded


def _build_and_load_tensorflow():
    # TensorFlow must load the library first: it registers the op from the
    # library's static initialisers, which run at the first `dlopen` only.
    path = _build_tensorflow()
    try:
        from keras_crosswise.native import _tensorflow

        _tensorflow.register(path)
    except Exception as error:  # a TensorFlow refusing the library
        raise BuildError(f"loading into TensorFlow failed: {error}") from error
    return path


@_once
def tensorflow_library():
    """The C library with its TensorFlow op, loaded into TensorFlow (its
    gradient registered); built and loaded on first call."""
    return _Loaded(_build_and_load_tensorflow)


_LIBRARIES = {"jax": jax_library, "tensorflow": tensorflow_library, "torch": core}


def status(backend=None):
    """What the native path does on `backend` (default: Keras's backend).

    Builds (first call) and loads the kernel. Returns a dict: `backend`,
    `available` (bool: `fwht(method="auto")` runs it on CPU), `isa` (the
    instruction set in use), `library` (its path) and `reason` (why it is
    not available, else `None`).

    Example:

    >>> import keras_crosswise.native
    >>> keras_crosswise.native.status("numpy")["reason"]
    'the numpy backend runs the keras.ops path'
    """
    if backend is None:
        backend = keras.backend.backend()
    if backend not in _LIBRARIES:
        return {
            "backend": backend,
            "available": False,
            "isa": None,
            "library": None,
            "reason": f"the {backend} backend runs the keras.ops path",
        }
    loaded = _LIBRARIES[backend]()
    if backend == "torch" and loaded.library is not None:
        from keras_crosswise.native import _torch

        with _LOCK:
            _torch.register(loaded.library)
    return {
        "backend": backend,
        "available": loaded.library is not None,
        "isa": loaded.isa,
        "library": None if loaded.path is None else str(loaded.path),
        "reason": loaded.error,
    }


# The dispatch: what `keras_crosswise.ops.fwht` and `ops.fastfood` ask. The
# backend's binding (`_jax`, `_tensorflow`, `_torch`) is imported on first
# use: it imports its backend.


def transform_for(x, asked=False):
    """The native `(x, factor) -> factor * x @ H` for the tensor `x`, or `None`
    where it does not apply: inside `disabled()`, not built, not on a CPU,
    or while a model is exported. On TensorFlow, outside XLA, eagerly and in
    Keras's trainer graphs, or in any graph where the caller `asked` for
    the kernel (`_tensorflow.serves_this_trace`). On JAX, jax2onnx and
    symbolic sizes (a shape-polymorphic export) take the `keras.ops` path
    here, and `jax.export` (jax2tf) lowers the kernel's primitive to it
    (`_jax`); on PyTorch, `torch.jit` and `torch.export` take it, and
    `torch.compile` keeps the native op."""
    binding = _binding_for(x, asked)
    return None if binding is None else binding.fwht


def fastfood_for(x):
    """The native fused Fastfood product `(x, signs, permutation, gaussian,
    scale, bias) -> scale * (H G Pi H B x)[..., :outputs] + bias` (x of
    `d <= n` features, zero-padded; one float dtype; gradients by the kernel
    too) for the tensor `x`, or `None` where `transform_for(x)` would be, and
    on TensorFlow (its op is the transform alone)."""
    if keras.backend.backend() == "tensorflow":
        return None
    if keras.backend.standardize_dtype(x.dtype) not in ("float32", "float64"):
        return None  # the kernel's types; the keras.ops path takes the rest
    binding = _binding_for(x)
    return None if binding is None else binding.fastfood


def _binding_for(x, asked=False):
    """The backend's binding module where it serves `x` now (`transform_for`
    says when), else `None`."""
    if not in_use():
        return None
    backend = keras.backend.backend()
    if backend == "jax":
        if device_kind() != "cpu" or not all(isinstance(d, int) for d in x.shape):
            return None  # a symbolic size: an export traces
        if jax_library().library is None:
            return None
        from keras_crosswise.native import _jax

        return None if jax2onnx_converting() else _jax
    if backend == "torch":
        import torch

        if x.device.type != "cpu" or torch.jit.is_tracing():
            return None
        if torch.compiler.is_exporting():
            return None
        return torch_binding()
    if backend == "tensorflow":
        if device_kind() != "cpu" or tensorflow_library().library is None:
            return None
        from keras_crosswise.native import _tensorflow

        return _tensorflow if _tensorflow.serves_this_trace(asked) else None
    return None


def torch_binding():
    """`_torch` with its op defined (built and loaded on the first eager
    call), or `None` where the kernel is not available or a compiled call
    would have to build it."""
    import torch

    from keras_crosswise.native import _torch

    if not in_use():
        return None
    if _torch.op() is None and not torch.compiler.is_compiling():
        status("torch")  # builds and defines the op, once
    return None if _torch.op() is None else _torch


def eager_transform(x, normalize):
    """`fwht(x, normalize)` by the kernel, with none of `fwht`'s checks and
    casts (they cost more than the transform below n = 4096), where the
    backend has that shortcut: an eager float32/float64 CPU torch tensor
    that needs no gradient (`_torch.runs_directly`); `None` elsewhere, or
    where the kernel is not loaded."""
    if keras.backend.backend() != "torch":
        return None
    from keras_crosswise.native import _torch

    if not (in_use() and _torch.runs_directly(x)) or x.dim() == 0:
        return None
    n = x.shape[-1]
    if not is_power_of_two(n):
        return None  # fwht's own error
    return _torch.run(x, transform_factor(n, normalize))


def reason():
    """Why `fwht(method="native")` cannot run on this backend now, or `None`."""
    found = status()
    if found["available"] and device_kind() == "cpu":
        return None
    return found["reason"] or "the native kernel runs on CPUs only"
