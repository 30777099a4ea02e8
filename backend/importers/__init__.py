"""Importers for the authors' published feature layouts (Museums3k, GamingMV) -> backend.collection.Collection."""
from backend.importers.gamingmv import import_gamingmv
from backend.importers.museums3k import import_museums3k

__all__ = ["import_museums3k", "import_gamingmv"]
