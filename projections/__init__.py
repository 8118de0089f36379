"""Read models built from the event log (lifecycle, satisfaction, retention, operations).

Arrives with the projections issue; the package exists so the layering contract holds now.
"""
