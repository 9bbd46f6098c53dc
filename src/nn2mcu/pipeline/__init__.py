"""``nn2mcu run``: the whole workflow in stages, cached by hash."""
