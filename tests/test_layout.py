"""The design card's layout, and the one deliberate change to it (README, 'Layout')."""

from pathlib import Path

import constructs

REPO = Path(__file__).resolve().parent.parent


def test_the_design_cards_layout_is_there():
    for path in ("app.py", "cdk.json", "requirements.txt", "stacks", "k8s", "tests", "specdec"):
        assert (REPO / path).exists(), path
    assert (REPO / "cdk_constructs" / "__init__.py").exists()


def test_constructs_is_the_library_and_not_a_project_folder_shadowing_it():
    assert not (REPO / "constructs").exists()
    assert "site-packages" in Path(constructs.__file__).parts
