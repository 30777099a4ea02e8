"""Result HTML without a browser: real-data rooms without images show their paragraph; text is escaped."""
from __future__ import annotations

from ui.search import render_cards, render_room_matches


class _NoImages:
    """The part of SearchService the renderers use, for a bundle without images (real features only)."""

    def thumbnail_data_uri(self, ref, size=64):
        return None

    def image_ref_key(self, mid, room, image):
        return f"{mid}/{room}/{image}"


RESULT = {"results": [{"rank": 1, "id": "museum-0012", "kind": "museum", "title": "Museum <12>", "score": 0.8,
                       "best_room": 1, "rooms": [
                           {"index": 0, "title": "Room 1", "score": 0.2, "contribution": 0.3,
                            "paragraph": "In the first room, there are 3 paintings. A harbour.", "images": [None] * 12},
                           {"index": 1, "title": "Room 2", "score": 0.6, "contribution": 0.7,
                            "paragraph": "In the second room, there are 2 paintings. A storm.", "images": [None] * 12}]}],
          "room_matches": [{"metaverse_id": "museum-0012", "metaverse_title": "Museum <12>", "kind": "museum",
                            "room_index": 1, "room_title": "Room 2", "score": 0.6,
                            "paragraph": "In the second room, there are 2 paintings. A storm.", "images": [None] * 12}]}


def test_rooms_without_images_show_their_paragraph():
    html = render_cards(_NoImages(), RESULT)
    assert "In the first room, there are 3 paintings. A harbour." in html
    assert "<img" not in html and "carried 70 %" in html and "mv-room-best" in html
    assert "Museum &lt;12&gt;" in html and "Museum <12>" not in html


def test_room_matches_without_images():
    html = render_room_matches(_NoImages(), RESULT)
    assert "Room 2" in html and "Museum &lt;12&gt;" in html
