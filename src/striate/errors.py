"""The one exception type users see.

Every problem a user can fix (bad flag, missing file, corrupt download, wrong checkpoint) is raised
as a StriateError whose message is one line naming the problem and the fix. The CLI prints it and
exits with status 2; anything else escaping is a bug in striate.
"""


import re


class StriateError(Exception):
    """A user-fixable problem; str(error) is the one-line message shown to the user."""

    def __init__(self, message: str):
        # Text quoted from elsewhere (a library's exception, a file name) may hold line breaks.
        super().__init__(re.sub(r"\s*[\r\n]+\s*", " ", str(message)))
