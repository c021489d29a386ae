"""The list of screens, in menu order (filled in by the screen modules)."""


def all_views():
    return []
