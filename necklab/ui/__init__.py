"""The app's tabs. app.py assembles them; each tab wires `necks/` analysis to `viz/` figures."""
