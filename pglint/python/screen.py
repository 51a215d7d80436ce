"""CPython's view of a .py file: the second screen before libcst.

libcst costs five to ten times what CPython's own parser does, and the text hints pass every
file that merely mentions what a rule looks for (the ORM's own sources are full of `.save(`
and `select_for_update`). So a file that passes the text hints is parsed with `ast` first
(which also keeps pathological nesting away from libcst's native parser, see `parse`). The
embedded-SQL finder reads the SQL strings on this tree, and each consumer that wanted the file
(a Python rule's `screen_python`, the ORM and migration readers) looks at the `CodeIndex` to
say whether it can find anything there. libcst parses only the files some consumer still
wants.

A screen is a necessary condition, never a second implementation of the rule: it may pass a
file in which the rule then finds nothing, it must not refuse one in which the rule finds
something. The tests lint the same sources with and without screens and compare.
"""

from __future__ import annotations

# The tree and its helpers live in pglint.python.pyfile; the screens of the rules not yet
# reading it directly still import them from here.
from pglint.python.pyfile import (  # noqa: F401 - re-exported
    PythonFile as CodeIndex,
    arguments,
    dotted,
    has_star,
    is_string,
    keyword,
    last_name,
    manager_root,
    parse,
)
