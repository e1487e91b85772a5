"""Programs you can trust: cards, verification before running, reference IO, signing."""
