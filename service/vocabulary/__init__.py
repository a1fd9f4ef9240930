"""The words every layer shares: errors, ids, roles, names and the storage layout.

It sits beneath both `domain/` and `adapters/` and imports neither, so every arrow points down:
resources -> domain -> ports <- adapters, and all of them -> vocabulary.
"""
