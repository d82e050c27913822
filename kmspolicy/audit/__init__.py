"""kmspolicy.audit (see DESIGN.md for this layer's role)."""
