"""Gold images: recipes, their content hash, and the builder that turns one into the other."""

from stager.image.recipe import Recipe, load_recipe

__all__ = ["Recipe", "load_recipe"]
