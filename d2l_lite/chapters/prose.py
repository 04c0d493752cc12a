"""Values that the chapters' prose quotes: ``glue(name, value)`` hands them to myst-nb when
the book is built (``{glue:text}`name``` in the text), and does nothing where myst-nb is not
installed (in Colab, say), so that a chapter runs anywhere."""

try:
    from myst_nb import glue as _glue
except ImportError:  # not building the book: nothing quotes the values
    _glue = None


def glue(name, value, display=False):
    """Make ``value`` quotable as ``name`` in the chapter's text (when building the book)."""
    if _glue is not None:
        _glue(name, value, display=display)
