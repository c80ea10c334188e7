"""coredns-wizard's engine: Corefile handling, kube-dns translation, the lab cluster and the switch.

Never imports Textual or `screens`: the terminal UI and the headless commands share this engine.
"""

__version__ = "0.1.0"
