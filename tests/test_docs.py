"""Generated documentation stays in step with the model files."""

from pathlib import Path

from sts_dynamics.modeldoc import library_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_models_page_is_generated_from_the_model_files():
    page = (DOCS / "models.md").read_text(encoding="utf-8")
    assert page == library_markdown(), (
        "docs/models.md is out of date: regenerate it with "
        "`python -m sts_dynamics models --markdown > docs/models.md`"
    )


def test_models_page_documents_every_loop_and_constant():
    import sts_dynamics as sd

    page = library_markdown()
    m = sd.load("sts_core")
    for loop in m.metadata.get("loop", []):
        assert loop["name"] in page
    for name in m.constants:
        assert f"| {name} |" in page
