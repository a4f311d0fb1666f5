"""The README stays short and points to the documentation site, whose layout page lists every module."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_is_short_and_keeps_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert "make run " in readme and "make test " in readme
    for link in ("docs/commands.md", "docs/reading-results.md", "docs/layout.md"):
        assert f"({link})" in readme and (ROOT / link).is_file()


def test_the_layout_page_lists_every_module():
    layout = (ROOT / "docs" / "layout.md").read_text()
    missing = [
        str(path.relative_to(ROOT))
        for layer in ("core", "tasks", "models", "search")
        for path in sorted((ROOT / layer).rglob("*.py"))
        if path.name != "__init__.py" and path.name not in layout
    ]
    assert not missing, missing


def test_every_page_in_the_docs_is_in_the_site_s_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = [p.relative_to(ROOT / "docs").as_posix() for p in sorted((ROOT / "docs").rglob("*.md"))]
    assert [p for p in pages if p not in nav] == []
