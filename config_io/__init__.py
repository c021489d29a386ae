"""Config as code: one YAML document in and out, validated whole.

`importer` checks and applies a document all or nothing, `export` writes the
configuration back out, `yaml_text` reads and writes the YAML itself. The CLI,
the admin panel and the API all use it; `seed/` keeps only demo and synthetic data.
"""
