"""Importers for the authors' published feature layouts (Museums3k, GamingMV) -> backend.data.collection.Collection."""
from backend.data.importers.gamingmv import import_gamingmv
from backend.data.importers.museums3k import import_museums3k

__all__ = ["import_museums3k", "import_gamingmv"]
