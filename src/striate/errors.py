"""The one exception type users see.

Every problem a user can fix (bad flag, missing file, corrupt download, wrong checkpoint) is raised
as a StriateError whose message is one line naming the problem and the fix. The CLI prints it and
exits with status 2; anything else escaping is a bug in striate.
"""


class StriateError(Exception):
    """A user-fixable problem; str(error) is the one-line message shown to the user."""
