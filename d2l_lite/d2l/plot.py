"""Figures: the live loss plot of training (``ProgressBoard``) and attention heatmaps.

Figures are PNG (retina) in notebooks: SVG text would differ between runs and machines.
The live plot draws only inside a Jupyter kernel, at most once per epoch, and replaces its
previous image instead of adding one. Redraws are spaced so that rendering takes at most 2% of
the wall time (and at least ``min_interval`` seconds apart).
"""

import sys
import time


def in_notebook():
    """True inside a Jupyter kernel (where figures can be displayed and updated)."""
    if "IPython" not in sys.modules:  # a kernel has imported it; a script need not pay for it
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def use_png_display():
    """Make the inline backend emit retina PNG figures (never SVG)."""
    if in_notebook():
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina")


class ProgressBoard:
    """Records (x, y) points per label and, in a notebook, plots them as they come.

    ``record`` is cheap and is all that happens outside a notebook; ``draw`` renders when
    ``final``, and otherwise only if ``min_interval`` seconds and 50 times the last render's
    duration have passed since the last render (or, for the first one, since the first call).
    """

    def __init__(self, xlabel=None, ylabel=None, xlim=None, ylim=None, xscale="linear",
                 yscale="linear", ls=("-", "--", "-.", ":"), colors=("C0", "C1", "C2", "C3"),
                 fig=None, axes=None, figsize=(3.5, 2.5), display=True, min_interval=2.0):
        self.xlabel, self.ylabel, self.xlim, self.ylim = xlabel, ylabel, xlim, ylim
        self.xscale, self.yscale, self.ls, self.colors = xscale, yscale, ls, colors
        self.fig, self.axes, self.figsize, self.display = fig, axes, figsize, display
        self.min_interval = min_interval
        self.data, self._handle, self._last_draw, self._render_seconds = {}, None, 0.0, 0.0
        self.raw_points, self.plotted_by_module = {}, set()

    def record(self, x, y, label, every_n=1):
        """Add the point (x, y) to the line ``label``; with ``every_n`` > 1, as d2l does, the
        line gets one point per ``every_n`` recorded, their mean."""
        raw = self.raw_points.setdefault(label, [])
        raw.append((x, y))
        if len(raw) < every_n:
            return
        self.data.setdefault(label, []).append((sum(p[0] for p in raw) / len(raw),
                                                sum(p[1] for p in raw) / len(raw)))
        raw.clear()

    def draw(self, x=None, y=None, label=None, every_n=1, final=False):
        """Redraw the figure in a notebook; ``draw(x, y, label, every_n)`` records a point
        first, as d2l's does."""
        if label is not None:
            self.record(x, y, label, every_n)
        if not (self.display and in_notebook() and self.data):
            return
        now = time.perf_counter()
        if not self._last_draw:
            self._last_draw = now  # the clock starts at the first call
        wait = max(self.min_interval, 50 * self._render_seconds)
        if not final and now - self._last_draw < wait:
            return
        from IPython import display
        from matplotlib import pyplot as plt

        use_png_display()
        if self.fig is None:
            self.fig = plt.figure(figsize=self.figsize)
            self.axes = self.fig.gca()
        ax = self.axes
        ax.cla()
        for (label, points), ls, color in zip(self.data.items(), self.ls, self.colors):
            ax.plot([p[0] for p in points], [p[1] for p in points], linestyle=ls, color=color,
                    label=label)
        if self.xlim:
            ax.set_xlim(self.xlim)
        if self.ylim:
            ax.set_ylim(self.ylim)
        ax.set_xlabel(self.xlabel or "x")
        ax.set_ylabel(self.ylabel or "y")
        ax.set_xscale(self.xscale)
        ax.set_yscale(self.yscale)
        ax.legend()
        if self._handle is None:
            self._handle = display.display(self.fig, display_id=True)
        else:
            self._handle.update(self.fig)
        self._last_draw = time.perf_counter()
        self._render_seconds = self._last_draw - now

    def close(self):
        """Close the figure so the notebook does not show it a second time."""
        if self.fig is not None:
            from matplotlib import pyplot as plt

            plt.close(self.fig)
        self.fig, self.axes, self._handle = None, None, None


def show_heatmaps(matrices, xlabel, ylabel, titles=None, figsize=(2.5, 2.5), cmap="Reds",
                  xticklabels=None, yticklabels=None, vmin=None, vmax=None):
    """Plot a grid of heatmaps; ``matrices`` has shape (rows, cols, Q, K).

    As d2l's, plus optional token labels for the axes (``xticklabels`` for the K keys,
    ``yticklabels`` for the Q queries) and a shared colour range (``vmin``, ``vmax``).
    """
    from matplotlib import pyplot as plt

    use_png_display()
    num_rows, num_cols = matrices.shape[0], matrices.shape[1]
    fig, axes = plt.subplots(num_rows, num_cols, figsize=figsize, sharex=True, sharey=True,
                             squeeze=False)
    for i, (row_axes, row_matrices) in enumerate(zip(axes, matrices)):
        for j, (ax, matrix) in enumerate(zip(row_axes, row_matrices)):
            matrix = matrix.detach().cpu().numpy() if hasattr(matrix, "detach") else matrix
            pcm = ax.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax)
            if xticklabels is not None:
                ax.set_xticks(range(len(xticklabels)), xticklabels, rotation=90)
            if yticklabels is not None:
                ax.set_yticks(range(len(yticklabels)), yticklabels)
            if i == num_rows - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(ylabel)
            if titles:
                ax.set_title(titles[j])
    fig.colorbar(pcm, ax=axes, shrink=0.6)
