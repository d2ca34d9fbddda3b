"""Printer profiles: TOML files with ``inherits``, checked against a schema with units.

See `dosecraft.profiles.loader` for where profiles are found and
`dosecraft.profiles.schema` for the keys they may hold.
"""

from dosecraft.profiles.loader import (
    ENV_VAR,
    ProfileSummary,
    clear_cache,
    list_profiles,
    load_profile,
    profile_search_dirs,
    shipped_profiles_dir,
)
from dosecraft.profiles.schema import (
    PROFILE_FIELD_DOCS,
    PROFILE_SCHEMA,
    TEMPLATE_PLACEHOLDERS,
    FieldSpec,
    profile_as_table_rows,
)

__all__ = [
    "ENV_VAR", "PROFILE_FIELD_DOCS", "PROFILE_SCHEMA", "TEMPLATE_PLACEHOLDERS", "FieldSpec",
    "ProfileSummary", "clear_cache", "list_profiles", "load_profile", "profile_as_table_rows",
    "profile_search_dirs", "shipped_profiles_dir",
]
