"""The browser console of a rendered page: its errors, less one that the theme writes."""

import re

# pydata-sphinx-theme resets an unset light/dark mode to "auto" in a fresh profile, and says so
# at level SEVERE: a message of the theme's, not an error of the page.
NOT_THE_PAGES = re.compile(r'"Got invalid theme mode: \. Resetting to auto\."')


def page_errors(browser):
    """The console's SEVERE entries since the last call (``goog:loggingPrefs`` must be set),
    less the theme's message."""
    return [e for e in browser.get_log("browser")
            if e["level"] == "SEVERE" and not NOT_THE_PAGES.search(e["message"])]
