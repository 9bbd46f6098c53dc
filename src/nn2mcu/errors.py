"""Errors that reach the user.

Library code raises :class:`InputError` for anything the user can fix (a bad file,
an unsupported layer, a value out of range). The command line prints its message on
one line and exits with code 2; nothing else is caught, so a bug still shows a
traceback.
"""


class InputError(Exception):
    """Bad input or usage. The message names the file, line, layer or value at fault."""
