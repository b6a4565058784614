"""Paths of test data shared by the test modules."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent
ENGINE_DATA = ROOT / "data" / "engine"
TEST_MODELS = ROOT / "test-models"
TEACUP = TEST_MODELS / "samples" / "teacup" / "teacup.mdl"
