"""Plots of AL results."""

from __future__ import annotations

__all__ = ["ALCurveDisplay"]


class ALCurveDisplay:
    """Learning curves, mean over seeds with a band, in the style of sklearn's displays.

    Parameters
    ----------
    results : ALResults
        What to plot.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The axes plotted on.
    figure_ : matplotlib Figure
        Its figure.
    lines_ : dict of str to Line2D
        The mean curve of each strategy.
    """

    def __init__(self, results):
        self.results = results

    @classmethod
    def from_results(cls, results, *, ax=None, band="std"):
        """Build the display and plot it.

        Parameters
        ----------
        results : ALResults
            What to plot.
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a figure.
        band : {"std", None}, default="std"
            See :meth:`plot`.

        Returns
        -------
        ALCurveDisplay
        """
        return cls(results).plot(ax=ax, band=band)

    def plot(self, ax=None, *, band="std"):
        """Plot mean test accuracy against labels, one curve per strategy.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a figure.
        band : {"std", None}, default="std"
            Shade mean ± one standard deviation over seeds, or nothing.

        Returns
        -------
        self : ALCurveDisplay
        """
        import matplotlib.pyplot as plt  # optional dependency: imported only to plot

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.5))
        r, self.lines_ = self.results, {}
        for i, name in enumerate(r.strategies):
            mean, std = r.accuracy[i].mean(0), r.accuracy[i].std(0)
            (self.lines_[name],) = ax.plot(r.n_labeled, mean, marker="o", ms=3, label=name)
            if band == "std":
                ax.fill_between(r.n_labeled, mean - std, mean + std, alpha=0.15,
                                color=self.lines_[name].get_color())
        ax.set_xlabel("labeled samples")
        ax.set_ylabel("test accuracy")
        dataset = r.settings.get("dataset")
        seeds = f"{len(r.seeds)} seed{'s' if len(r.seeds) > 1 else ''}"
        ax.set_title(f"Learning curves{f' on {dataset}' if dataset else ''} ({seeds}, "
                     f"mean ± std)")
        ax.grid(alpha=0.3)
        ax.legend()
        self.ax_, self.figure_ = ax, ax.figure
        return self
