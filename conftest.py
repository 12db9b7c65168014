"""pytest configuration shared by the unit tests and the notebooks checked with nbval."""

import matplotlib

matplotlib.use("Agg")  # no window pops up while tests draw figures


def pytest_collectstart(collector):
    # Warnings written to stderr differ between machines and library versions: never compare them.
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)
