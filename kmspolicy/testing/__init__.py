"""kmspolicy.testing (see DESIGN.md for this layer's role)."""
