from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"
PACKAGE_COPY = ROOT / "pgfselect" / "data" / "published"


@pytest.fixture
def reference_dir() -> Path:
    """The authors' published CSVs: ../shared/reference where it exists (a developer's or CI's
    checkout), else the byte-identical copy shipped in the package (a user's clone has no
    ../shared); test_reference_copy_is_identical checks the two agree."""
    return REFERENCE if REFERENCE.is_dir() else PACKAGE_COPY
