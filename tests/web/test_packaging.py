"""Every directory of static files is a package, so pyproject's package-data ships its files."""

from __future__ import annotations

from hotline.web.pages import PAGES, STATIC_DIR


def test_static_directories_are_packages() -> None:
    dirs = {p.parent for p in STATIC_DIR.rglob("*") if p.is_file() and p.suffix in {".html", ".js", ".css"}}
    assert dirs and all((d / "__init__.py").is_file() for d in dirs), sorted(map(str, dirs))


def test_every_page_has_its_file() -> None:
    assert all((STATIC_DIR / name).is_file() for name in PAGES.values())
