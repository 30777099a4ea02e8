"""The About tab's words: what the collection is (synthetic for the demo), its size from the service, how to bring
your own (a link to the README's section on a Space), and the manifest's source and reports apart from the facts."""
from __future__ import annotations

from ui.tabs import about

COUNTS = {"metaverses": 650, "museums": 500, "games": 150, "rooms": 4121, "images": 16582, "added": 0}


def test_the_demo_world_is_called_synthetic_with_its_size_and_the_build_command():
    html = about.render_summary(COUNTS, {"type": "demo", "seed": 0})
    assert "synthetic demo world" in html and "python -m backend build demo" in html and "backend/world/" in html
    assert "650 metaverses" in html and "500 museums" in html and "150 gaming worlds" in html
    assert "4,121 rooms" in html and "16,582 images" in html and "added while" not in html
    assert "python -m backend add" in html and "python -m backend import" in html


def test_an_imported_collection_is_not_called_synthetic_and_additions_are_counted():
    html = about.render_summary({**COUNTS, "added": 2}, {"type": "museums3k<script>"})
    assert "synthetic" not in html and "museums3k&lt;script&gt;" in html and "<script>" not in html
    assert "2 of them were added while the app runs" in html
    assert "1 of them was added" in about.render_summary({**COUNTS, "added": 1}, {"type": "demo"})


def test_the_readme_link_goes_to_the_spaces_readme_or_names_the_file(monkeypatch):
    title, anchor = about.README_SECTION
    monkeypatch.setenv("SPACE_ID", "someone/metaverse-search")
    link = about.readme_link()
    assert f'href="https://huggingface.co/spaces/someone/metaverse-search/blob/main/README.md#{anchor}"' in link
    assert 'rel="noopener"' in link and title in link
    monkeypatch.delenv("SPACE_ID")
    assert "<a " not in about.readme_link() and f"README.md#{anchor}" in about.readme_link()


def test_the_anchor_is_a_section_of_the_readme():
    from tests.conftest import REPO
    title, anchor = about.README_SECTION
    headings = [line.lstrip("#").strip() for line in (REPO / "README.md").read_text().splitlines()
                if line.startswith("## ")]
    assert title in headings and anchor == title.lower().replace(" ", "-")


def test_counts_come_from_the_served_collection(service):
    counts = about.collection_counts(service)
    col = service.collection
    assert counts["metaverses"] == col.n_metaverses == counts["museums"] + counts["games"]
    assert counts["rooms"] == col.n_rooms and counts["images"] == len(col.image_feats) and counts["added"] == 0


def test_reports_render_as_readable_lists_and_leave_the_facts_table():
    reports = {"hicalm_training": {"best_epoch": 15, "seconds_per_epoch": 3.249768438399988,
                                   "config": {"lr": 0.001}}, "build_seconds": 304.6}
    html = about.render_reports(reports)
    assert "HiCALM training" in html and "Build time (s)" in html and "3.25" in html and "3.2497" not in html
    assert "{" not in html
    assert "no training or build reports" in about.render_reports({})
    with_source = about.render_reports(reports, {"type": "demo", "seed": 0})
    assert "Source" in with_source and "seed" in with_source and "{" not in with_source
