"""The formulation library: shipped example TOML files plus the site's own folders.

See `dosecraft.formulary.loader` for where files are found and how user files override.
"""

from dosecraft.formulary.loader import (
    ENV_VAR,
    SHIPPED_DIR,
    clear_cache,
    formulary_search_dirs,
    formulation_files,
    formulation_ids,
    get_formulation,
    list_formulations,
    load_formulary,
    load_formulation_file,
    with_mass_factor,
)

__all__ = [
    "ENV_VAR", "SHIPPED_DIR", "clear_cache", "formulary_search_dirs", "formulation_files",
    "formulation_ids",
    "get_formulation", "list_formulations", "load_formulary", "load_formulation_file",
    "with_mass_factor",
]
