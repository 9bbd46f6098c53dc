"""The report of ``nn2mcu run``: figures, HTML and Markdown."""
