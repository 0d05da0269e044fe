"""Optional integrations: importers and helpers for particular alert sources."""
