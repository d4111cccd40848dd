"""Picture side: pure functions from (analysis, topology, picture) to figures, images and tables.

Nothing here runs a model or knows about Gradio. Figures use the Agg backend and are returned to
the caller, who owns (and closes) them.
"""
import matplotlib

matplotlib.use("Agg")
