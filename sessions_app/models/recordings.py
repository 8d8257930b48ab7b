"""Session recordings (see the recordings issue)."""

__all__: list[str] = []
