from pathlib import Path

from domalign.config_docs import render


def test_configuration_page_is_up_to_date():
    page = Path(__file__).parents[2] / "docs" / "configuration.md"
    assert page.read_text() == render(), "run: python -m domalign.config_docs > docs/configuration.md"
