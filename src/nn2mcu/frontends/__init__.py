"""Front ends: network definitions and weights from other frameworks into the IR."""
