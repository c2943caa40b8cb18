"""The model registry workflow: promote the best run, roll back, list versions, read run metadata.

Aliases are the source of truth (`champion`, `previous`); stages mirror them for users who still
filter by `Production`.
"""
