"""Operator screens generated from the served tree: Phoebus `.bob` (via pvi) and PyDM `.ui`.

Only `rogue-ioc screens` imports this package; the IOC itself never does, so serving needs
neither pvi nor Qt. Install the extras with `pip install 'rogue-ioc[screens]'`.
"""
