"""A Sphinx extension for the book: the scripts in each page's head.

Jupyter Book adds every ``.js`` file under the static folder to the head of every page, as a
classic script. The attention explorer's files (``_static/explorer/``) are ES modules and
ONNX Runtime Web, which ``book/explorer.md`` loads itself; as classic scripts in every head,
``export`` is a SyntaxError in the reader's console. They are left out of the heads.

With the versions in requirements.lock (Sphinx 7.4, sphinx-book-theme 1.3, sphinx-thebe
0.3.1, sphinx-togglebutton 0.4.5), the inline configuration scripts of sphinx-thebe and
sphinx-togglebutton also reach every head twice, and the second ``const THEBE_JS_URL`` is a
SyntaxError too. Repeats are dropped, keeping the first of each, in order.
"""

OWN_SCRIPTS = "_static/explorer/"  # loaded by the explorer page's own markup


def _key(script):
    """What a script tag is: its source (an inline script's is None or "") and attributes."""
    attributes = getattr(script, "attributes", {})
    return getattr(script, "filename", script) or "", tuple(sorted(attributes.items()))


def page_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        source = _key(script)[0]
        if _key(script) in seen or source.startswith(OWN_SCRIPTS):
            continue
        seen.add(_key(script))
        kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", page_scripts, priority=900)  # after the theme's own
    return {"parallel_read_safe": True, "parallel_write_safe": True}
