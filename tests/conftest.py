import os
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one worker per core: torch's default of a thread per core in every worker
    # would oversubscribe the cores (threads waiting on each other). Set before torch is imported.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"
PACKAGE_COPY = ROOT / "pgfselect" / "data" / "published"


@pytest.fixture
def reference_dir() -> Path:
    """The authors' published CSVs: ../shared/reference where it exists (a developer's or CI's
    checkout), else the byte-identical copy shipped in the package (a user's clone has no
    ../shared); test_reference_copy_is_identical checks the two agree."""
    return REFERENCE if REFERENCE.is_dir() else PACKAGE_COPY


# The real Qwen2.5-VL processor files (tokenizer with the real vocabulary, chat template, both
# preprocessor-config forms, a tiny config): ../shared/fixtures, absent from a user's clone.
QWEN_FILES = ROOT.parent / "shared" / "fixtures" / "qwen2.5-vl-processor"


@pytest.fixture(scope="session")
def qwen_files() -> Path:
    if not QWEN_FILES.is_dir():
        pytest.skip(f"real Qwen2.5-VL processor fixture not found at {QWEN_FILES} (needs ../shared)")
    return QWEN_FILES


@pytest.fixture(scope="session")
def real_qwen(qwen_files, tmp_path_factory) -> Path:
    """A random Qwen2.5-VL (20 M parameters, the real vocabulary) with the real processor files
    and the older preprocessor form (``Qwen2_5_VLImageProcessor``), built once per session."""
    import json

    from pgfselect.measure.checkpoints import build_random_checkpoint

    config = json.loads((qwen_files / "tiny-model-config.json").read_text())
    return build_random_checkpoint(qwen_files, config, tmp_path_factory.mktemp("real-qwen") / "ckpt",
                                   preprocessor="preprocessor_config.legacy.json")


@pytest.fixture(scope="session")
def benchmark_module():
    """Loads a script of benchmarks/ (not a package) as a module: ``benchmark_module("scarce_target")``."""
    import importlib.util

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
