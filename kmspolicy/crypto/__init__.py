"""kmspolicy.crypto (see DESIGN.md for this layer's role)."""
