"""NeckLab — run real CNN necks on a picture and see every step. Entry point: `python app.py`.

Only wires: the app is built in `necklab.ui.app` (the `necklab` command runs the same `main`).
"""
from necklab.ui.app import analyze, build_app, launch_settings, main, server_address, tab_groups

__all__ = ["analyze", "build_app", "launch_settings", "main", "server_address", "tab_groups"]

if __name__ == "__main__":
    main()
