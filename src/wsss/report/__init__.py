"""The HTML report of a run (``wsss report``): metrics tables, training curves and a gallery."""
