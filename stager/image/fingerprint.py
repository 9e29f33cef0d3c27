"""The content hash that names a gold image.

It covers everything that changes what ends up on the image: the recipe's
fields (not its description, file path or timeouts), the bytes of every file it
references, and the stager that gets installed (its version and, with
``stager: wheel``, the reproducible wheel's sha256, so a changed trainer makes a
new image). Two recipes with the same hash build the same image; an image
tagged with a hash is reused instead of rebuilt.
"""

from __future__ import annotations

import hashlib
import json

import stager
from stager.hashing import sha256_file
from stager.image.recipe import Recipe
from stager.image.wheel import StagerWheel, build_wheel

__all__ = ["TAG_PREFIX", "fingerprint", "hash_tag", "recipe_hash"]

TAG_PREFIX = "recipe:"  # image tag "recipe:<first 40 hex digits>"; Linode tags hold at most 50 characters
_TAG_DIGITS = 40
_SCHEME = 1  # bump when the hashed fields change meaning, so old images are not mistaken for new ones


def recipe_hash(recipe: Recipe, wheel_sha256: str | None) -> str:
    """The hex sha256 naming the image ``recipe`` builds with the given stager wheel."""
    pip = recipe.pip
    content = {
        "scheme": _SCHEME,
        "name": recipe.name,
        "base": recipe.base,
        "builder": [recipe.builder_type, recipe.builder_region],
        "apt": list(recipe.apt),
        "pip": {
            "packages": list(pip.packages),
            "index_url": pip.index_url,
            "extra_index_urls": list(pip.extra_index_urls),
            "requirements": sha256_file(pip.requirements) if pip.requirements else None,
        },
        "stager": {"install": recipe.stager, "version": stager.__version__,
                   "wheel": wheel_sha256 if recipe.stager == "wheel" else None},
        "files": [[f.dest, f.mode, sha256_file(f.src)] for f in recipe.files],
        "env": [list(pair) for pair in recipe.env],
        "run": list(recipe.run),
        "smoke": list(recipe.smoke),
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def fingerprint(recipe: Recipe) -> tuple[str, StagerWheel | None]:
    """The recipe's hash, and the stager wheel it installs (None with ``stager: none``)."""
    wheel = build_wheel() if recipe.stager == "wheel" else None
    return recipe_hash(recipe, wheel.sha256 if wheel else None), wheel


def hash_tag(digest: str) -> str:
    """The image tag that carries ``digest``."""
    return TAG_PREFIX + digest[:_TAG_DIGITS]

