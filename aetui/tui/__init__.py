"""The dashboard: a Textual app over the same store and job functions as the CLI.

`app.py` holds the app and `run_dashboard`; `screens/` one screen a module, `widgets/`
one widget a module, `graphics/` the image encoders (half-block, kitty, sixel) and the
choice between them, `data/` the blocking reads (SQLite windows, TensorBoard curves,
log tails, result images, device stats) that only ever run in Textual thread workers.
Styles live in `app.tcss`.
"""
