"""The README tells the truth about the environment keys and the commands."""

from pathlib import Path

from specdec.reference import environment_table

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_lists_every_environment_key_as_the_schema_defines_it():
    assert environment_table() in README, "run: python -m specdec env-table --write README.md"


def test_readme_gives_the_two_setup_commands_that_the_makefile_and_ci_run():
    assert "make synth" in README and "make test" in README
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "make test" in ci
